// The rebalancer with fakes: no daemon, no /proc, no real time. Its loop sequences observe → plan → act, acting is
// one named case per action (rebalance-actions.ts), and the planner rebalances by the policy the answers use.
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { Rebalancer, MAX_TIMER_MS, type CycleTimer, type ProcessScans, type RebalancerService } from '../../src/daemon/rebalancer.js';
import { actionFor, type DomainSide, type ProcessMoves } from '../../src/daemon/rebalance-actions.js';
import { DomainMoves, type DomainMechanism } from '../../src/daemon/domain-moves.js';
import { AdvisorService } from '../../src/daemon/advisor-service.js';
import { planDomainMove, type CoreCpu } from '../../src/balance/vcpu-assignment.js';
import type { PlannedMove } from '../../src/balance/plan.js';
import type { DomainMoveOutcome, DomainPlacement } from '../../src/apply/domain-mover.js';
import type { MoveOutcome } from '../../src/apply/process-mover.js';
import type { HostObserver } from '../../src/observe/host-observer.js';
import type { TrackedProcess } from '../../src/observe/process-scanner.js';
import { ReservationLedger } from '../../src/model/reservations.js';
import { NUMAD_DEFAULTS, type NumadSettings } from '../../src/model/numad-settings.js';
import { policyNamed, type PolicyName } from '../../src/policy/registry.js';
import { numadPolicy } from '../../src/policy/numad.js';
import { numadvisorPolicy } from '../../src/policy/numadvisor.js';
import type { Policy, PolicyNode } from '../../src/policy/types.js';
import type { TrackedDomain } from '../../src/libvirt/tracked-domain.js';
import type { GuardNode } from '../../src/balance/memory-guard.js';
import { D2, D4 } from '../helpers/slit.js';
import { formatIdList, parseIdList } from '../../src/topology/idlist.js';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DomainMover } from '../../src/apply/domain-mover.js';
import type { LibvirtClient } from '../../src/libvirt/client.js';

const silent = pino({ level: 'silent' });
const ALL = Array.from({ length: 40 }, (_, i) => i);
const cpusOf = (node: number): number[] => ALL.slice(node * 10, node * 10 + 10);

/** A busy 4-node host: no node has the ~3.5 CPUs the process asks for, so numad spreads it and numadvisor does not. */
const BUSY_FREE = [150, 250, 100, 200];

/** AdvisorService's side as a cycle reads it; `calls` records what was read, in order. */
function fakeService(freeCpu: number[], calls: string[] = [], o: { memTotalMiB?: number; memFreeMiB?: number } = {}): RebalancerService & { freeCpu: number[]; guardFreeMiB: number[] } {
  const n = freeCpu.length;
  const distances = n === 2 ? D2 : D4;
  const svc = {
    freeCpu,
    /** each node's free memory as the memory guard sees it */
    guardFreeMiB: freeCpu.map(() => o.memFreeMiB ?? 20_000),
    get nodeCount() {
      return n;
    },
    sampleCpu: () => void calls.push('sampleCpu'),
    adoptLocalAnswers: () => {
      calls.push('adoptLocalAnswers');
      return true;
    },
    refreshMemory: () => void calls.push('refreshMemory'),
    freshCapacity: () => svc.freeCpu.map((_, id) => ({ cpus: n === 2 ? ALL.slice(id * 10, id * 10 + 10) : cpusOf(id) })),
    freshPolicyNodes: (): PolicyNode[] => {
      calls.push('policyNodes');
      return svc.freeCpu.map((free, id) => ({
        id,
        hasMemory: true,
        hasCpu: true,
        cpuTotalHundredths: 1000,
        memTotalMiB: o.memTotalMiB ?? 32_768,
        cpuFreeHundredths: free,
        memFreeMiB: o.memFreeMiB ?? 20_000,
        distances: distances[id] as number[],
      }));
    },
    freshMemoryGuardNodes: (): GuardNode[] => {
      calls.push('guardNodes');
      return svc.guardFreeMiB.map((memFreeMiB, id) => ({ id, hasMemory: true, memFreeMiB, memTotalMiB: o.memTotalMiB ?? 65_536, distances: distances[id] as number[] }));
    },
  };
  return svc;
}

/** observe/'s scanner: the table is what the test says /proc holds. */
class FakeScanner implements ProcessScans {
  constructor(
    public table: TrackedProcess[],
    private readonly calls: string[] = [],
  ) {}
  scan(): TrackedProcess[] {
    this.calls.push('scan');
    return this.table;
  }
  async measureMemoryAsync(pid: number): Promise<TrackedProcess | undefined> {
    this.calls.push(`measureMemory ${pid}`);
    return this.table.find((p) => p.pid === pid);
  }
  get tracked(): TrackedProcess[] {
    return this.table;
  }
}

const proc = (o: Partial<TrackedProcess> & { pid: number }): TrackedProcess => ({
  comm: 'db',
  threads: 8,
  rssMiB: 4096,
  vsizeMiB: 8192,
  cpuUsedHundredths: 300,
  cpusAllowed: ALL,
  memsAllowed: [0, 1, 2, 3],
  isLibvirtDomain: false,
  excluded: false,
  included: false,
  memoryMiBByNode: { '0': 1024, '1': 1024, '2': 1024, '3': 1024 },
  ...o,
});

/** apply/'s ProcessMover: records each call and reports a verified move in 0.5 s. */
class FakeMover implements ProcessMoves {
  readonly calls: { pid: number; cpus: number[]; migrate?: { fromNodes: number[]; toNodes: number[] } }[] = [];
  swaps = 0;
  private outcome(ok = true): MoveOutcome {
    return { ok, cpusAllowedBefore: [], cpusAllowedAfter: [], memoryMiBBefore: {}, memoryMiBAfter: {}, elapsedMs: 500 };
  }
  async move(pid: number, cpus: number[], migrate?: { fromNodes: number[]; toNodes: number[] }): Promise<MoveOutcome> {
    this.calls.push({ pid, cpus, ...(migrate ? { migrate } : {}) });
    return this.outcome();
  }
  async swap(): Promise<[MoveOutcome, MoveOutcome]> {
    this.swaps++;
    return [this.outcome(), this.outcome()];
  }
}

/** A timer that runs nothing by itself: the test fires it. */
class FakeTimer implements CycleTimer {
  readonly delays: number[] = [];
  private next: (() => void) | undefined;
  after(ms: number, run: () => void): { cancel(): void } {
    this.delays.push(ms);
    this.next = run;
    return { cancel: () => (this.next = undefined) };
  }
  get armed(): boolean {
    return this.next !== undefined;
  }
  fire(): void {
    const run = this.next;
    this.next = undefined;
    run?.();
  }
}

/** Let the promise jobs of a fired cycle run (no time passes). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Setup {
  reb: Rebalancer;
  lines: string[];
  scanner: FakeScanner;
  service: ReturnType<typeof fakeService>;
  calls: string[];
}

function setup(o: { policy?: Policy; freeCpu?: number[]; table?: TrackedProcess[]; mover?: ProcessMoves; settings?: NumadSettings; timer?: CycleTimer; clock?: () => number; mem?: { memTotalMiB?: number; memFreeMiB?: number } } = {}): Setup {
  const calls: string[] = [];
  const lines: string[] = [];
  const scanner = new FakeScanner(o.table ?? [proc({ pid: 7 })], calls);
  const service = fakeService(o.freeCpu ?? [...BUSY_FREE], calls, o.mem);
  const reb = new Rebalancer({
    scanner,
    service,
    policy: o.policy ?? numadvisorPolicy,
    settings: () => o.settings ?? NUMAD_DEFAULTS,
    numadLog: { log: (_level: number, ...m: string[]) => void lines.push(...m) },
    logger: silent,
    processMover: o.mover,
    clock: o.clock ?? (() => 1_000_000),
    ...(o.timer ? { timer: o.timer } : {}),
  });
  return { reb, lines, scanner, service, calls };
}

describe('rebalancer cycle: observe → plan → act', () => {
  it('observes (readings, local answers, the scan, node memory, the candidates\' memory), then plans, then acts', async () => {
    const mover = new FakeMover();
    const { reb, calls } = setup({ mover });
    const recorded = mover.move.bind(mover);
    vi.spyOn(mover, 'move').mockImplementation((...args) => {
      calls.push('act');
      return recorded(...args);
    });
    expect(await reb.cycle()).toBe(true);
    expect(calls).toEqual(['sampleCpu', 'adoptLocalAnswers', 'scan', 'refreshMemory', 'policyNodes', 'measureMemory 7', 'act']);
    expect(reb.cycles).toBe(1);
    expect(reb.lastPlan?.moves[0]).toMatchObject({ pid: 7, kind: 'cpu', to: [1] });
  });

  it('a single-node host is never scanned, as numad never examines processes there', async () => {
    const { reb, calls, scanner } = setup({ freeCpu: [500] });
    const scan = vi.spyOn(scanner, 'scan');
    expect(await reb.cycle()).toBe(false);
    expect(scan).not.toHaveBeenCalled();
    expect(calls).toEqual(['sampleCpu', 'adoptLocalAnswers']);
    expect(reb.lastPlan).toBeUndefined();
  });

  it('nothing big and busy: an empty plan, and no node memory read', async () => {
    const { reb, calls } = setup({ table: [proc({ pid: 7, cpuUsedHundredths: 40 })] });
    expect(await reb.cycle()).toBe(false);
    expect(calls).toEqual(['sampleCpu', 'adoptLocalAnswers', 'scan']);
    expect(reb.lastPlan).toEqual({ atMs: 1_000_000, moves: [], skipped: [] });
  });

  it('advise only: numad\'s Advising line once, remembered by the planner, nothing acted on', async () => {
    const { reb, lines } = setup();
    expect(reb.mode).toBe('none');
    expect(await reb.cycle()).toBe(false);
    expect(lines).toEqual(['Advising pid 7 (db) move from nodes (0-3) to nodes (1)']);
    expect(await reb.cycle()).toBe(false);
    expect(lines).toHaveLength(1);
    expect(reb.lastPlan?.skipped[0]?.reason).toMatch(/^advised 0 s ago/);
    expect((await reb.planNow()).skipped[0]?.reason).toMatch(/^advised 0 s ago/);
  });

  it('probation: the CPU step first, the memory step on a later cycle, then numad\'s moved line', async () => {
    const mover = new FakeMover();
    const { reb, lines, scanner } = setup({ mover });
    expect(reb.mode).toBe('processes');
    expect(await reb.cycle()).toBe(true);
    expect(mover.calls).toEqual([{ pid: 7, cpus: cpusOf(1) }]);
    expect(lines).toEqual(['Advising pid 7 (db) move from nodes (0-3) to nodes (1)']);
    // The next scan sees the affinity we set; the advice still covers node 1, so the pages follow.
    scanner.table = [proc({ pid: 7, cpusAllowed: cpusOf(1) })];
    expect(await reb.cycle()).toBe(true);
    expect(reb.lastPlan?.moves[0]).toMatchObject({ kind: 'memory', to: [1], migrateMiB: 3072 });
    expect(mover.calls[1]).toEqual({ pid: 7, cpus: cpusOf(1), migrate: { fromNodes: [0, 2, 3], toNodes: [1] } });
    expect(lines[1]).toBe('PID 7 moved to node(s) 1 in 0.50 seconds');
  });

  it('probation failed: the revert case gives the process its whole-host affinity back', async () => {
    const mover = new FakeMover();
    const { reb, scanner, service } = setup({ mover });
    await reb.cycle();
    scanner.table = [proc({ pid: 7, cpusAllowed: cpusOf(1) })];
    // Node 1 is now saturated and node 3 idle: the advice left node 1, so the CPU step is undone.
    service.freeCpu = [150, 0, 100, 900];
    expect(await reb.cycle()).toBe(true);
    expect(reb.lastPlan?.moves[0]).toMatchObject({ kind: 'revert', to: [0, 1, 2, 3] });
    expect(mover.calls[1]).toEqual({ pid: 7, cpus: ALL });
  });

  it('a swap is acted on only when two cycles in a row propose it', async () => {
    const mover = new FakeMover();
    const ALL2 = ALL.slice(0, 20);
    const table = [
      proc({ pid: 21, rssMiB: 12_000, cpusAllowed: ALL2, memsAllowed: [0, 1], memoryMiBByNode: { '0': 6000, '1': 6000 } }),
      proc({ pid: 22, rssMiB: 12_000, cpusAllowed: ALL2, memsAllowed: [0, 1], memoryMiBByNode: { '0': 5000, '1': 7000 } }),
    ];
    const { reb, lines } = setup({ mover, table, freeCpu: [500, 500], mem: { memTotalMiB: 16_000, memFreeMiB: 4000 } });
    expect(await reb.cycle()).toBe(false);
    expect(reb.lastPlan?.moves[0]).toMatchObject({ kind: 'swap', pid: 21, to: [0], partner: { pid: 22, to: [1] } });
    expect(mover.swaps).toBe(0);
    expect(await reb.cycle()).toBe(true);
    expect(mover.swaps).toBe(1);
    expect(lines.filter((l) => l.startsWith('Advising'))).toEqual(['Advising pid 21 (db) move from nodes (0-1) to nodes (0)', 'Advising pid 22 (db) move from nodes (0-1) to nodes (1)']);
  });
});

describe("issue #13: `daemon --policy numad` answered with numad's walk but rebalanced with numadvisor's rules", () => {
  /** The daemon's wiring: the Rebalancer is given the policy of the AdvisorService that answers. */
  const daemonRebalancer = (policy: PolicyName): Setup => {
    const service = new AdvisorService({} as HostObserver, new ReservationLedger(), { policy, capacity: { inactiveFileIsFree: true, htPercent: 20, reservedCpus: new Set<number>() }, cpuAllocationRatio: 4, reservationTtlMs: 300_000 }, undefined);
    expect(service.policy).toBe(policyNamed(policy));
    return setup({ policy: service.policy });
  };

  it('with --policy numad the planner makes numad\'s decision (spread over two nodes), with numadvisor one node', async () => {
    const numad = daemonRebalancer('numad');
    await numad.reb.cycle();
    expect(numad.reb.lastPlan?.moves[0]).toMatchObject({ kind: 'cpu', to: [0, 1] });
    expect(numad.lines).toEqual(['Advising pid 7 (db) move from nodes (0-3) to nodes (0-1)']);

    const ours = daemonRebalancer('numadvisor');
    await ours.reb.cycle();
    expect(ours.reb.lastPlan?.moves[0]).toMatchObject({ kind: 'cpu', to: [1] });
    expect(ours.lines).toEqual(['Advising pid 7 (db) move from nodes (0-3) to nodes (1)']);
    // GET /v1/plan plans by the same policy.
    expect((await setup({ policy: numadPolicy }).reb.planNow()).moves[0]?.to).toEqual([0, 1]);
  });

  it('answers and the planner take the policy from one registry, by name', () => {
    expect(policyNamed('numad')).toBe(numadPolicy);
    expect(policyNamed('numadvisor')).toBe(numadvisorPolicy);
    expect(numadPolicy.rebalancing).toEqual({ stayWhenLocal: false, leaveWhenNoRoom: false, swaps: false });
    expect(numadvisorPolicy.rebalancing).toEqual({ stayWhenLocal: true, leaveWhenNoRoom: true, swaps: true });
  });
});

describe("rebalancer cadence (numad's, with an injected timer)", () => {
  const withTimer = (settings: NumadSettings, acted: () => Promise<boolean>): { reb: Rebalancer; timer: FakeTimer } => {
    const timer = new FakeTimer();
    const { reb } = setup({ settings, timer });
    vi.spyOn(reb, 'cycle').mockImplementation(acted);
    return { reb, timer };
  };

  it('first after min/2 s, then min after a move, max when idle, max after a failed cycle; stop() cancels', async () => {
    const results = [true, false];
    const { reb, timer } = withTimer({ ...NUMAD_DEFAULTS, intervalMinS: 5, intervalMaxS: 15 }, async () => {
      const next = results.shift();
      if (next === undefined) throw new Error('cycle failed');
      return next;
    });
    reb.start();
    expect(timer.delays).toEqual([2000]);
    for (let i = 0; i < 3; i++) {
      timer.fire();
      await settle();
    }
    expect(timer.delays).toEqual([2000, 5000, 15_000, 15_000]);
    await reb.stop();
    expect(timer.armed).toBe(false);
  });

  it('waits longer than a timer holds are clamped to MAX_TIMER_MS (issue #12 F5)', async () => {
    const { reb, timer } = withTimer({ ...NUMAD_DEFAULTS, intervalMinS: 5_000_000, intervalMaxS: 5_000_000 }, async () => true);
    reb.start();
    timer.fire();
    await settle();
    expect(timer.delays).toEqual([MAX_TIMER_MS, MAX_TIMER_MS]);
    await reb.stop();
  });
});

describe('acting: one named case per action', () => {
  const move = (o: Partial<PlannedMove>): PlannedMove => ({
    pid: 7,
    comm: 'db',
    kind: 'cpu',
    from: [0],
    to: [1],
    toNodeset: '1',
    cpus: cpusOf(1),
    migrateMiB: 0,
    localityBeforePercent: 0,
    localityAfterPercent: 100,
    costMiBPerPoint: 0,
    applicable: true,
    reason: '',
    ...o,
  });
  const mover = new FakeMover();
  const domains = { apply: true } as DomainSide;
  const kinds = (m: PlannedMove, can: Parameters<typeof actionFor>[1]): string => actionFor(m, can).kind;

  it('processes: CPU step, memory step, revert, swap; advised without a mover', () => {
    const can = { processMover: mover, domains: undefined };
    expect(kinds(move({ kind: 'cpu' }), can)).toBe('cpu-step');
    expect(kinds(move({ kind: 'memory' }), can)).toBe('memory-step');
    expect(kinds(move({ kind: 'revert' }), can)).toBe('revert');
    const partner = { pid: 8, comm: 'b', from: [0], to: [0], toNodeset: '0', cpus: cpusOf(0), migrateMiB: 0, localityBeforePercent: 0 };
    expect(actionFor(move({ kind: 'swap', partner }), can)).toMatchObject({ kind: 'swap', other: { pid: 8, to: [0], partner: undefined } });
    expect(kinds(move({ kind: 'swap' }), can)).toBe('none');
    const advising = { processMover: undefined, domains: undefined };
    expect(actionFor(move({ kind: 'cpu' }), advising)).toMatchObject({ kind: 'advise', why: 'advise-only mode' });
    expect(kinds(move({ kind: 'swap', partner }), advising)).toBe('advise-swap');
    expect(kinds(move({ kind: 'memory' }), advising)).toBe('none');
    expect(kinds(move({ kind: 'revert' }), advising)).toBe('none');
  });

  it('a libvirt domain moves through libvirt with --apply domains, and is only advised otherwise', () => {
    expect(kinds(move({ applicable: false }), { processMover: mover, domains })).toBe('domain-move');
    expect(actionFor(move({ applicable: false }), { processMover: mover, domains: { ...domains, apply: false } })).toMatchObject({ kind: 'advise', why: 'libvirt domain: advised only' });
    expect(kinds(move({ kind: 'swap', applicable: false, partner: { pid: 8, comm: 'b', from: [0], to: [0], toNodeset: '0', cpus: [], migrateMiB: 0, localityBeforePercent: 0 } }), { processMover: mover, domains })).toBe('advise-swap');
  });
});

describe('domain moves: the pins are planned in balance/, the mover carries them out, the tracker records', () => {
  // Two nodes of two 2-thread cores each.
  const cpus: CoreCpu[] = Array.from({ length: 8 }, (_, id) => ({ id, node: id < 4 ? 0 : 1, packageId: id < 4 ? 0 : 1, coreId: Math.floor((id % 4) / 2) }));

  it('restrictive: the memory moves and each vCPU gets its own core on the target; strict: the CPUs go to the memory', () => {
    expect(planDomainMove({ mode: 'restrictive', nodeset: '0', vcpus: 2, iothreadIds: [1] }, [1], cpus, new Set())).toMatchObject({
      memoryNodes: [1],
      cpuNodes: [1],
      vcpus: [
        [4, 5],
        [6, 7],
      ],
      emulator: [4, 5, 6, 7],
      iothreads: [{ id: 1, cpus: [4, 5, 6, 7] }],
    });
    expect(planDomainMove({ mode: 'restrictive', nodeset: '1', vcpus: 1, iothreadIds: [] }, [1], cpus, new Set([4])).memoryNodes).toBeUndefined();
    expect(planDomainMove({ mode: 'restrictive', nodeset: '1', vcpus: 1, iothreadIds: [] }, [1], cpus, new Set([4])).vcpus).toEqual([[6, 7]]);
    const strict = planDomainMove({ mode: 'strict', nodeset: '0', vcpus: 1, iothreadIds: [] }, [1], cpus, new Set());
    expect(strict).toMatchObject({ memoryNodes: undefined, cpuNodes: [0], vcpus: [[0, 1]] });
    expect(strict.reason).toMatch(/^strict mode: memory cannot move live/);
  });

  it('the memory nodeset a move or a rollback set is recorded in the tracked domain', async () => {
    const placement: DomainPlacement = { mode: 'restrictive', nodeset: '0', vcpuPins: [[0, 1, 2, 3]], emulatorPin: [0, 1, 2, 3], iothreadPins: [] };
    const outcome = (action: 'apply' | 'rollback'): DomainMoveOutcome => ({ ok: true, domain: 'vm', uuid: 'u', action, memoryMoved: true, reason: '', before: placement, after: placement, elapsedMs: 1 });
    const applied: unknown[] = [];
    const mechanism: DomainMechanism = {
      placement: async () => placement,
      readOtherGuestsVcpuCpus: () => new Set(),
      apply: async (_d, change) => {
        applied.push(change);
        return { outcome: outcome('apply'), memoryNodes: change.memoryNodes };
      },
      rollback: async () => ({ outcome: outcome('rollback'), memoryNodes: [0] }),
      readHistory: () => [],
    };
    const d = { name: 'vm', uuid: 'u', id: 1, spec: { vcpus: 1 }, nodeset: [0], adminPins: { vcpus: [], emulator: false, iothreads: [] } } as unknown as TrackedDomain;
    const moves = new DomainMoves(mechanism, () => cpus);
    expect(await moves.apply(d, [1])).toMatchObject({ action: 'apply' });
    expect(applied).toEqual([expect.objectContaining({ memoryNodes: [1], vcpus: [[4, 5]] })]);
    expect(d.nodeset).toEqual([1]);
    await moves.rollback(d);
    expect(d.nodeset).toEqual([0]);
  });
});

describe('a nodeset-only change (the memory guard\'s) through the real DomainMover, over a fake libvirt', () => {
  it('sets the nodeset, pins nothing, verifies the nodeset alone, journals it; rollback restores it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nv-guard-'));
    const live = { nodeset: '0', pins: [[0, 1]] };
    const calls: string[] = [];
    const client = {
      numaParameters: async () => ({ mode: 'restrictive', nodeset: live.nodeset }),
      setNumaNodeset: async (_d: unknown, nodeset: string) => {
        calls.push(`nodeset ${nodeset}`);
        live.nodeset = nodeset;
      },
      vcpuPins: async () => live.pins,
      emulatorPin: async () => [0, 1],
      iothreads: async () => [],
      pinVcpu: async (_d: unknown, v: number, cpus: number[]) => void calls.push(`pin vcpu ${v} ${formatIdList(cpus)}`),
      pinEmulator: async (_d: unknown, cpus: number[]) => void calls.push(`pin emulator ${formatIdList(cpus)}`),
      pinIOThread: async () => undefined,
    } as unknown as LibvirtClient;
    const d = { name: 'web', uuid: 'u-web', id: 1, spec: { vcpus: 1, iothreadIds: [] }, nodeset: [0], adminPins: { vcpus: [], emulator: false, iothreads: [] } } as unknown as TrackedDomain;
    const moves = new DomainMoves(new DomainMover(client, { expectTunable: () => undefined }, path.join(dir, 'domain-moves.jsonl')), () => []);
    try {
      const out = await moves.setNodeset(d, [0, 1], 'memory guard: widened nodes (0) → (0-1): test');
      expect(out).toMatchObject({ ok: true, memoryMoved: true, before: { nodeset: '0' }, after: { nodeset: '0-1', vcpuPins: [[0, 1]] } });
      expect(calls).toEqual(['nodeset 0-1']);
      expect(d.nodeset).toEqual([0, 1]);
      expect(moves.lastChanges().get('u-web')).toMatchObject({ action: 'apply', reason: 'memory guard: widened nodes (0) → (0-1): test', at: expect.any(String) });
      const back = await moves.rollback(d);
      expect(back).toMatchObject({ ok: true, action: 'rollback', after: { nodeset: '0' } });
      expect(d.nodeset).toEqual([0]);
      expect(moves.lastChanges().get('u-web')?.action).toBe('rollback');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('memory guard in the cycle: evaluated every cycle, acted on through the domain mover (nodeset only), journaled', () => {
  const placementOf = (d: TrackedDomain): DomainPlacement => ({ mode: 'restrictive', nodeset: formatIdList(d.nodeset), vcpuPins: [[0, 1]], emulatorPin: [0, 1], iothreadPins: [] });

  /** apply/'s DomainMover with a journal in memory: what was asked of libvirt, in order. */
  function fakeMechanism(): DomainMechanism & { journal: DomainMoveOutcome[]; asked: string[] } {
    const journal: DomainMoveOutcome[] = [];
    const asked: string[] = [];
    return {
      journal,
      asked,
      placement: async (d) => placementOf(d),
      readOtherGuestsVcpuCpus: () => new Set(),
      readHistory: () => journal,
      apply: async (d, change, before) => {
        asked.push(`apply ${change.memoryNodes === undefined ? '-' : formatIdList(change.memoryNodes)} pins ${change.vcpus.length}`);
        const after = { ...before, nodeset: change.memoryNodes ? formatIdList(change.memoryNodes) : before.nodeset };
        const outcome: DomainMoveOutcome = { ok: true, domain: d.name, uuid: d.uuid, action: 'apply', memoryMoved: change.memoryNodes !== undefined, reason: change.reason, before, after, elapsedMs: 1 };
        journal.push(outcome);
        return { outcome, memoryNodes: change.memoryNodes };
      },
      rollback: async (d) => {
        const last = journal.filter((e) => e.uuid === d.uuid).at(-1) as DomainMoveOutcome;
        asked.push(`rollback to ${last.before.nodeset}`);
        const outcome: DomainMoveOutcome = { ...last, action: 'rollback', before: last.after, after: last.before };
        journal.push(outcome);
        return { outcome, memoryNodes: parseIdList(last.before.nodeset) };
      },
    };
  }

  function guardSetup(o: { mode?: string; apply?: boolean; guard?: 'warn' | 'widen'; table?: TrackedProcess[]; mover?: ProcessMoves; excluded?: boolean } = {}) {
    let now = 1_000_000;
    const lines: string[] = [];
    const calls: string[] = [];
    const service = fakeService([900, 900], calls);
    service.guardFreeMiB = [4096, 8192];
    const web = {
      name: 'web',
      uuid: 'u-web',
      id: 1,
      pid: 77,
      numaMode: o.mode ?? 'restrictive',
      nodeset: [0],
      excluded: o.excluded ?? false,
      spec: { vcpus: 2, memoryMiB: 8192, numatune: { mode: o.mode ?? 'restrictive', placement: 'auto', nodeset: undefined }, vcpuPlacement: 'auto' },
      adminPins: { vcpus: [], emulator: false, iothreads: [] },
    } as unknown as TrackedDomain;
    const guest = { memory: new Map([[0, 2048]]) };
    const tracker = {
      domains: new Map([[web.uuid, web]]),
      client: { poke: () => undefined },
      materialise: () => undefined,
      byPid: () => undefined,
      // the tracker reads the guests the cycle asks for (off the event loop, with a deadline: domain-tracker.test.ts)
      readGuestMemories: async (wanted: (d: TrackedDomain) => boolean) => new Map(wanted(web) ? [[web.uuid, guest.memory]] : []),
    } as unknown as DomainSide['tracker'];
    const mechanism = fakeMechanism();
    const domains: DomainSide = { tracker, mover: new DomainMoves(mechanism, () => []), apply: o.apply ?? true };
    const reb = new Rebalancer({
      scanner: new FakeScanner(o.table ?? [], calls),
      service,
      policy: numadvisorPolicy,
      settings: () => NUMAD_DEFAULTS,
      numadLog: { log: (_level: number, ...m: string[]) => void lines.push(...m) },
      logger: silent,
      processMover: o.mover,
      domains,
      memoryGuard: { mode: o.guard ?? 'widen', headroomMiB: 1024 },
      clock: () => now,
    });
    return { reb, lines, service, web, guest, mechanism, calls, advance: (ms: number) => void (now += ms) };
  }

  it('a short restrictive domain is logged and widened to the nearest node with room; the pins stay; once the pressure is gone and the dwell passed, narrowed back by rolling the widening back', async () => {
    const g = guardSetup();
    expect(await g.reb.cycle()).toBe(true);
    expect(g.lines).toEqual([
      'Memory guard: domain web (pid 77) short of memory on nodes (0): headroom -2048 MBs < 1024 MBs (6144 MBs untouched, 4096 MBs free, 0 MBs for other guests)',
      'Memory guard: widened domain web (pid 77) from nodes (0) to nodes (0-1)',
    ]);
    expect(g.mechanism.asked).toEqual(['apply 0-1 pins 0']);
    expect(g.mechanism.journal[0]?.reason).toMatch(/^memory guard: widened nodes \(0\) → \(0-1\): short: /);
    expect(g.web.nodeset).toEqual([0, 1]);
    expect(g.reb.guardWidenings.get('u-web')).toEqual({ from: [0], to: [0, 1], atMs: 1_000_000 });

    // The guest touched the rest, partly on node 1: no longer short, but the widening is held for the dwell.
    g.guest.memory = new Map([[0, 6144], [1, 2048]]);
    g.service.guardFreeMiB = [8192, 6144];
    g.advance(15_000);
    expect(await g.reb.cycle()).toBe(false);
    expect(g.lines.at(-1)).toBe('Memory guard: domain web (pid 77) no longer short on nodes (0-1): headroom 14336 MBs');
    expect(g.reb.lastGuard.verdicts[0]).toMatchObject({ state: 'ok', action: { kind: 'none' }, widened: { from: [0] } });

    g.advance(300_000);
    expect(await g.reb.cycle()).toBe(true);
    expect(g.mechanism.asked).toEqual(['apply 0-1 pins 0', 'rollback to 0']);
    expect(g.lines.at(-1)).toBe('Memory guard: narrowed domain web (pid 77) from nodes (0-1) back to nodes (0)');
    expect(g.web.nodeset).toEqual([0]);
    expect(g.reb.guardWidenings.size).toBe(0);
  });

  it('warn mode (no --apply domains) logs the warning once per 300 s while it stays short, and changes nothing', async () => {
    const g = guardSetup({ apply: false, guard: 'warn' });
    expect(await g.reb.cycle()).toBe(false);
    g.advance(15_000);
    await g.reb.cycle();
    expect(g.lines.filter((l) => l.includes('short of memory'))).toHaveLength(1);
    g.advance(300_000);
    await g.reb.cycle();
    expect(g.lines.filter((l) => l.includes('short of memory'))).toHaveLength(2);
    expect(g.mechanism.asked).toEqual([]);
    expect(g.reb.lastGuard.verdicts[0]?.reason).toMatch(/warned only \(memory guard in warn mode\)$/);
  });

  it('strict and excluded domains are warned only, never widened', async () => {
    for (const o of [{ mode: 'strict' }, { excluded: true }]) {
      const g = guardSetup(o);
      expect(await g.reb.cycle()).toBe(false);
      expect(g.lines).toHaveLength(1);
      expect(g.mechanism.asked).toEqual([]);
      expect(g.reb.lastGuard.verdicts[0]?.state).toBe('short');
    }
  });

  it('a widening comes before the rebalancing move, which waits for the next cycle; with the guard off nothing is read for it', async () => {
    const mover = new FakeMover();
    const g = guardSetup({ table: [proc({ pid: 7 })], mover });
    expect(await g.reb.cycle()).toBe(true);
    expect(g.mechanism.asked).toEqual(['apply 0-1 pins 0']);
    expect(mover.calls).toEqual([]);
    const off = setup();
    await off.reb.cycle();
    expect(off.calls).not.toContain('guardNodes');
    expect(off.reb.lastGuard).toMatchObject({ settings: { mode: 'off' }, verdicts: [] });
  });

  it('a restarted daemon takes back its widenings from the domain-moves journal, so it can still narrow them', async () => {
    const g = guardSetup();
    g.web.nodeset = [0, 1];
    g.mechanism.journal.push({
      ok: true,
      domain: 'web',
      uuid: 'u-web',
      action: 'apply',
      memoryMoved: true,
      reason: 'memory guard: widened nodes (0) → (0-1): short: …',
      before: { ...placementOf(g.web), nodeset: '0' },
      after: placementOf(g.web),
      elapsedMs: 1,
      at: new Date(0).toISOString(),
    } as DomainMoveOutcome);
    g.guest.memory = new Map([[0, 8192]]);
    g.service.guardFreeMiB = [8192, 8192];
    expect(await g.reb.cycle()).toBe(true);
    expect(g.mechanism.asked).toEqual(['rollback to 0']);
  });
});
