// vCPU pinning on today's hardware (#16): L3 groups (AMD CCX, SNC), isolated and nohz_full CPUs, whole cores. The
// plain rules (a core per vCPU, other guests' cores last, round-robin) are test/unit/libvirt-protocol.test.ts's and
// test/unit/rebalancer.test.ts's; those calls pass no L3 data and no options, and keep today's order.
import { describe, expect, it } from 'vitest';
import { assignVcpus, chooseVcpus, coresOf, l3MapOf, planDomainMove, type CoreCpu } from '../../src/balance/vcpu-assignment.js';
import { DomainMoves, hostPinning, type DomainMechanism } from '../../src/daemon/domain-moves.js';
import type { DomainChange, DomainMoveOutcome, DomainPlacement } from '../../src/apply/domain-mover.js';
import type { TrackedDomain } from '../../src/libvirt/tracked-domain.js';
import { formatIdList } from '../../src/topology/idlist.js';

/**
 * An EPYC-like host in NPS2: two nodes of 8 CCX × 4 cores × 2 threads. Core g (0..63) has CPUs g and g+64, as Linux
 * numbers them on EPYC; its CCX (L3) is g/4.
 */
const epyc: CoreCpu[] = Array.from({ length: 128 }, (_, id) => {
  const core = id % 64;
  return { id, node: core < 32 ? 0 : 1, packageId: 0, coreId: core, l3Id: Math.floor(core / 4) };
});
const l3 = l3MapOf(epyc);
const node0 = coresOf(epyc, [0]);
/** The CPUs of cores `from`..`to` (both threads). */
const coreCpus = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => [from + i, from + i + 64]).flat();
const l3sOf = (pins: number[][]): number[] => [...new Set(pins.flat().map((c) => l3.get(c) as number))].sort((a, b) => a - b);

describe('L3 groups: a guest keeps to as few CCXs as hold its vCPUs', () => {
  it('a 4-vCPU guest lands in one CCX, one core per vCPU', () => {
    const pins = assignVcpus(4, node0, new Set(), { l3Of: l3 });
    expect(pins).toEqual([
      [0, 64],
      [1, 65],
      [2, 66],
      [3, 67],
    ]);
    // One core of CCX 0 given to another guest: CCX 0 no longer holds 4, the next CCX does.
    expect(l3sOf(assignVcpus(4, node0, new Set([1]), { l3Of: l3 }))).toEqual([1]);
  });

  it('a 6-vCPU guest lands in two CCXs, the emptiest first', () => {
    expect(l3sOf(assignVcpus(6, node0, new Set(), { l3Of: l3 }))).toEqual([0, 1]);
    // CCX 0 and 1 each have a busy core: the two full CCXs after them are taken.
    const pins = assignVcpus(6, node0, new Set([0, 4]), { l3Of: l3 });
    expect(l3sOf(pins)).toEqual([2, 3]);
    expect(new Set(pins.map((p) => p[0])).size).toBe(6);
  });

  it('more vCPUs than one node has cores: free cores first, CCX by CCX, then round-robin', () => {
    const pins = assignVcpus(40, node0, new Set(), { l3Of: l3 });
    expect(pins.slice(0, 32).map((p) => p[0])).toEqual(Array.from({ length: 32 }, (_, i) => i));
    expect(pins[32]).toEqual([0, 64]);
  });

  it('ties between CCXs with equal room: fewer busy cores first, then the lower id', () => {
    // Everything busy but three free cores of CCX 0 (its fourth busy) and three of CCX 5 (its fourth isolated).
    const busy = new Set(node0.flat().filter((c) => ![0, 1, 2, 20, 21, 22, 3].includes(c % 64)));
    busy.add(3);
    const chosen = assignVcpus(3, node0, busy, { l3Of: l3, isolatedCpus: new Set([23, 87]) });
    expect(chosen.map((p) => p[0])).toEqual([20, 21, 22]);
  });

  it('without L3 ids (or with a core missing one), node and core order as before', () => {
    const plain = epyc.map(({ l3Id: _l3, ...c }) => c);
    expect(assignVcpus(3, coresOf(plain, [0]), new Set([0]), { l3Of: l3MapOf(plain) }).map((p) => p[0])).toEqual([1, 2, 3]);
    const partial = new Map(l3);
    partial.delete(5);
    expect(assignVcpus(3, node0, new Set([1]), { l3Of: partial }).map((p) => p[0])).toEqual([0, 2, 3]);
  });

  it("planDomainMove reads the L3 ids from the host's CPUs and names the caches in the reason", () => {
    const plan = planDomainMove({ mode: 'restrictive', nodeset: '0', vcpus: 6, iothreadIds: [] }, [1], epyc, new Set());
    expect(l3sOf(plan.vcpus)).toEqual([8, 9]);
    expect(plan.reason).toMatch(/; vCPUs on L3 caches 8-9$/);
  });
});

describe('isolated and nohz_full CPUs', () => {
  const isolatedCpus = new Set(coreCpus(0, 3));

  it('are never given to a vCPU, the emulator or an IOThread', () => {
    const plan = planDomainMove({ mode: 'restrictive', nodeset: '1', vcpus: 4, iothreadIds: [1] }, [0], epyc, new Set(), { isolatedCpus });
    expect(l3sOf(plan.vcpus)).toEqual([1]);
    expect(plan.emulator).toEqual(node0.flat().filter((c) => !isolatedCpus.has(c)).sort((a, b) => a - b));
    expect(plan.iothreads[0]?.cpus).toEqual(plan.emulator);
    // A core with one thread isolated keeps the other.
    expect(assignVcpus(1, node0, new Set(), { isolatedCpus: new Set([64]) })).toEqual([[0]]);
    // All of the nodes' CPUs isolated: nothing to pin to (DomainMoves refuses with noCpusToPin).
    const all = planDomainMove({ mode: 'restrictive', nodeset: '1', vcpus: 1, iothreadIds: [] }, [0], epyc, new Set(), { isolatedCpus: new Set(node0.flat()) });
    expect(all).toMatchObject({ vcpus: [], emulator: [] });
  });

  it('a guest an administrator pinned onto isolated CPUs keeps its vCPUs there; the rest of it still moves', () => {
    const plan = planDomainMove({ mode: 'restrictive', nodeset: '1', vcpus: 2, iothreadIds: [], adminVcpuPins: [[0], [1]] }, [0], epyc, new Set(), { isolatedCpus });
    expect(plan.vcpus).toEqual([]);
    expect(plan.memoryNodes).toEqual([0]);
    expect(plan.emulator.some((c) => isolatedCpus.has(c))).toBe(false);
    expect(plan.reason).toMatch(/vCPUs left where an administrator pinned them, on isolated CPUs 0-1$/);
    // Admin pins partly outside the isolated CPUs: an ordinary guest, planned off them.
    const mixed = planDomainMove({ mode: 'restrictive', nodeset: '1', vcpus: 2, iothreadIds: [], adminVcpuPins: [[0], [8]] }, [0], epyc, new Set(), { isolatedCpus });
    expect(mixed.vcpus).toHaveLength(2);
    expect(mixed.vcpus.flat().some((c) => isolatedCpus.has(c))).toBe(false);
  });

  it("hostPinning keeps both isolcpus= and nohz_full= CPUs from us, and carries --pin-whole-cores", () => {
    expect(hostPinning({ cpus: epyc, isolatedCpus: [2, 3], nohzFullCpus: [3, 4] }, true).options).toEqual({ isolatedCpus: new Set([2, 3, 4]), wholeCores: true });
    expect(hostPinning({ cpus: epyc }).options).toEqual({ isolatedCpus: new Set(), wholeCores: false });
  });

  it("DomainMoves hands the planner the administrator's vCPU pins as libvirt reports them now", async () => {
    const placement: DomainPlacement = { mode: 'restrictive', nodeset: '1', vcpuPins: [[2], [32, 33]], emulatorPin: [], iothreadPins: [] };
    const applied: DomainChange[] = [];
    const outcome: DomainMoveOutcome = { ok: true, domain: 'rt', uuid: 'u', action: 'apply', memoryMoved: true, reason: '', before: placement, after: placement, elapsedMs: 1 };
    const mechanism: DomainMechanism = {
      placement: async () => placement,
      readOtherGuestsVcpuCpus: () => new Set(),
      apply: async (_d, change) => {
        applied.push(change);
        return { outcome, memoryNodes: change.memoryNodes };
      },
      rollback: async () => ({ outcome, memoryNodes: undefined }),
      readHistory: () => [],
    };
    const d = { name: 'rt', uuid: 'u', id: 1, spec: { vcpus: 2 }, nodeset: [1], adminPins: { vcpus: [0], emulator: false, iothreads: [] } } as unknown as TrackedDomain;
    await new DomainMoves(mechanism, () => hostPinning({ cpus: epyc, isolatedCpus: [0, 1, 2, 3] })).apply(d, [0]);
    expect(applied[0]?.vcpus).toEqual([]);
    expect(applied[0]?.reason).toMatch(/on isolated CPUs 2$/);
    // Not isolated on this host: an ordinary move, off nothing.
    await new DomainMoves(mechanism, () => epyc).apply(d, [0]);
    expect(applied[1]?.vcpus).toHaveLength(2);
  });
});

describe('whole cores (--pin-whole-cores)', () => {
  it('each vCPU gets one hardware thread; consecutive vCPUs fill the sibling threads of one core', () => {
    expect(assignVcpus(3, node0, new Set(), { wholeCores: true })).toEqual([[0], [64], [1]]);
    // Within one CCX when it holds them: 6 vCPUs are 3 cores of CCX 0.
    const pins = assignVcpus(6, node0, new Set(), { wholeCores: true, l3Of: l3 });
    expect(pins.map((p) => formatIdList(p))).toEqual(['0', '64', '1', '65', '2', '66']);
    // 10 vCPUs (5 cores) do not fit in a CCX of 4: the fewest CCXs.
    expect(l3sOf(assignVcpus(10, node0, new Set(), { wholeCores: true, l3Of: l3 }))).toEqual([0, 1]);
  });

  it("skips cores another guest's vCPUs are on, even on one thread", () => {
    expect(assignVcpus(2, node0, new Set([64]), { wholeCores: true })).toEqual([[1], [65]]);
    expect(assignVcpus(4, node0, new Set([0, 5]), { wholeCores: true, l3Of: l3 }).flat()).toEqual([8, 72, 9, 73]);
  });

  it('falls back to one core per vCPU, and says so, when too few whole cores are free', () => {
    const busy = new Set(node0.flat().filter((c) => c % 64 !== 7));
    const choice = chooseVcpus(3, node0, busy, { wholeCores: true });
    expect(choice.vcpus).toEqual([
      [7, 71],
      [0, 64],
      [1, 65],
    ]);
    expect(choice.notes[0]).toMatch(/^too few whole cores free \(2 threads on cores no other guest uses, 3 vCPUs\)/);
    const plan = planDomainMove({ mode: 'restrictive', nodeset: '0', vcpus: 3, iothreadIds: [] }, [0], epyc, busy, { wholeCores: true });
    // Beyond the free core, the busy cores of the CCX the guest is already in.
    expect(plan.vcpus.map((p) => p[0])).toEqual([7, 4, 5]);
    expect(plan.reason).toMatch(/; too few whole cores free .*; vCPUs on L3 cache 1$/);
    expect(planDomainMove({ mode: 'restrictive', nodeset: '0', vcpus: 2, iothreadIds: [] }, [0], epyc, new Set(), { wholeCores: true }).reason).toMatch(
      /; whole cores: one hardware thread per vCPU; vCPUs on L3 cache 0$/,
    );
  });
});
