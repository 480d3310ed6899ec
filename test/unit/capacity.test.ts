import { copyFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { deriveCapacity, hugepageCapacity, hugepagePoolSizes, NUMAD_DEFAULT_CAPACITY_OPTIONS, toPolicyNode } from '../../src/model/capacity.js';
import { idleHundredths, parseProcStat } from '../../src/observe/proc-stat.js';
import { nodeIdleHundredths } from '../../src/model/cpu-idle.js';
import { HostObserver } from '../../src/observe/host-observer.js';
import { adviseNumad } from '../../src/policy/numad.js';
import { FsRoot } from '../../src/topology/fsroot.js';
import { D2, synthSnapshot, twoByFourSpec } from '../helpers/synthetic.js';
import { fixture, tempDir } from '../helpers/fixtures.js';
import { generate } from '../fixtures/make-fixtures.js';

const opts = (o: Partial<typeof NUMAD_DEFAULT_CAPACITY_OPTIONS> = {}) => ({ ...NUMAD_DEFAULT_CAPACITY_OPTIONS, ...o });

describe('CPU capacity (numad -t semantics, cores counted per node)', () => {
  const ht = synthSnapshot([{ cpus: 8, tpc: 2 }, { cpus: 8, tpc: 2 }], D2);
  it.each([
    [20, 480],
    [50, 600],
    [0, 400],
    [100, 800],
  ])('8 threads on 4 cores at -t %i → %i hundredths', (t, total) => {
    const c = deriveCapacity(ht, opts({ htPercent: t }))[0]!;
    expect(c.cpuTotalHundredths).toBe(total);
    expect(c.cpuFreeHundredths).toBe(total);
  });
  it('8 threads at 50 % idle with -t 50 gives 200 free (numad observation)', () => {
    const snap = synthSnapshot([{ cpus: 8, tpc: 2, idle: 50 }, { cpus: 8, tpc: 2 }], D2);
    expect(deriveCapacity(snap, opts({ htPercent: 50 }))[0]!.cpuFreeHundredths).toBe(200);
  });
  it('-R removes reserved CPUs from total and free', () => {
    const snap = synthSnapshot([{ cpus: 4 }, { cpus: 4 }], D2);
    const caps = deriveCapacity(snap, opts({ reservedCpus: new Set([0, 1, 2]) }));
    expect(caps.map((c) => c.cpuTotalHundredths)).toEqual([100, 400]);
    expect(caps[0]!.cpus).toEqual([3]);
  });
  it('uneven hyper-threading per node is valued per node (numad uses cpu0 for all)', () => {
    const snap = synthSnapshot([{ cpus: 8, tpc: 2 }, { cpus: 8, tpc: 1 }], D2);
    expect(deriveCapacity(snap, opts()).map((c) => c.cpuTotalHundredths)).toEqual([480, 800]);
  });
});

describe('memory (numad -C semantics)', () => {
  const snap = synthSnapshot([{ freeMB: 1000, inactiveMB: 5000 }, { freeMB: 3000 }], D2);
  it('-C 1 counts inactive file cache as free', () => {
    expect(deriveCapacity(snap, opts()).map((c) => c.memFreeMiB)).toEqual([6000, 3000]);
  });
  it('-C 0 does not', () => {
    expect(deriveCapacity(snap, opts({ inactiveFileIsFree: false })).map((c) => c.memFreeMiB)).toEqual([1000, 3000]);
  });
  it('memoryless nodes have no memory at all', () => {
    const s = synthSnapshot([{ cpus: 4 }, { cpus: 4, totalMB: 0 }], D2);
    expect(deriveCapacity(s, opts())[1]).toMatchObject({ hasMemory: false, memTotalMiB: 0, memFreeMiB: 0 });
  });
  it('the 2-node fixture: each node by itself', () => {
    const caps = deriveCapacity(new HostObserver(new FsRoot(fixture('2node-2s12c24t'))).snapshot(), opts());
    expect(caps.map((c) => c.memFreeMiB)).toEqual([40 * 1024 + 6 * 1024, 52 * 1024 + 2 * 1024]);
    // 6 cores + 6 threads at 20 % = 720; 60 % idle → 12*60 = 720 idle − 6*80 = 240
    expect(caps[0]).toMatchObject({ cpuTotalHundredths: 720, cpuFreeHundredths: 240 });
  });
});

describe('/proc/stat idle share', () => {
  const a = parseProcStat('cpu  1 2 3 4\ncpu0 100 0 100 800 0 0 0 0 0 0\ncpu1 0 0 0 1000 0 0 0 0 0 0\n');
  it('uses the average since boot when only one sample exists', () => {
    expect(idleHundredths({ atMs: 0, perCpu: a }, undefined)).toEqual(new Map([[0, 80], [1, 100]]));
  });
  it('uses the delta between samples; iowait and steal count as busy', () => {
    const b = parseProcStat('cpu0 150 0 100 850 0 0 0 0 0 0\ncpu1 0 0 0 1050 25 0 0 25 0 0\n');
    const idle = idleHundredths({ atMs: 1000, perCpu: b }, { atMs: 0, perCpu: a });
    expect(idle.get(0)).toBe(50);
    expect(idle.get(1)).toBe(50);
  });
  it('guest columns are not double counted', () => {
    const s = parseProcStat('cpu0 100 0 0 100 0 0 0 0 100 0\n');
    expect(s.get(0)).toEqual({ idle: 100, total: 200 });
  });
});

describe("idle CPU in integer ticks (numad's arithmetic, numad.md §4.3)", () => {
  it('2 nodes x 4 CPUs at 29 % idle (fixture /proc/stat samples): 116 free hundredths per node, and -w 1.16:100 gives 0 as numad', () => {
    const t = tempDir();
    try {
      generate(twoByFourSpec('2x4', 'Two nodes of 4 CPUs; /proc/stat comes from test/fixtures/proc-samples.', 50), t.dir);
      const stat = path.join(t.dir, '2x4/proc/stat');
      copyFileSync(fixture('proc-samples/stat-2x4-29idle-a'), stat);
      const observer = new HostObserver(new FsRoot(path.join(t.dir, '2x4')));
      // 0.29 * 100 is 28.999999999999996 in floating point: four of them floored to 115.
      expect(deriveCapacity(observer.snapshot(), opts()).map((c) => c.cpuFreeHundredths)).toEqual([116, 116]);
      copyFileSync(fixture('proc-samples/stat-2x4-29idle-b'), stat);
      observer.sampleCpu();
      const caps = deriveCapacity(observer.snapshot(), opts());
      expect(caps.map((c) => c.cpuFreeHundredths)).toEqual([116, 116]);
      const nodes = caps.map((c) => toPolicyNode(c, { cpuHundredths: 0, memMiB: 0 }, 1));
      expect(adviseNumad(nodes, { cpuHundredths: 116, memMiB: 100 }).nodeset).toBe('0');
      expect(adviseNumad(nodes, { cpuHundredths: 117, memMiB: 100 }).nodeset).toBe('0-1');
    } finally {
      t.cleanup();
    }
  });

  it("a node's free CPU is floor(100 x the exact sum of idle ticks over windows), not a sum of rounded per-CPU shares", () => {
    // 3 CPUs at 100/300 and one at 87/300: numad's 100 * 387 / 300 = 129 exactly (per-CPU floats gave 128.99…).
    const w = (idleTicks: number, windowTicks: number) => ({ idleTicks, windowTicks });
    expect(nodeIdleHundredths([w(100, 300), w(100, 300), w(100, 300), w(87, 300)])).toBe(129);
    // Windows that differ (a CPU's counters are its own): 1/3 + 2/3 of a CPU is exactly one CPU.
    expect(nodeIdleHundredths([w(1, 3), w(2, 3)])).toBe(100);
    expect(nodeIdleHundredths([w(1, 3), w(2, 6), w(1, 7)])).toBe(Math.floor(100 * (1 / 3 + 1 / 3 + 1 / 7)));
    expect(nodeIdleHundredths([w(29, 100), w(29, 101)])).toBe(57);
    expect(nodeIdleHundredths([])).toBe(0);
    // Since-boot counters of a long-running 8192-CPU host stay exact.
    expect(nodeIdleHundredths(Array.from({ length: 8192 }, () => w(29_000_000_000, 100_000_000_000)))).toBe(8192 * 29);
  });
});

describe('hugepage capacity (a request backed by hugepages of one size)', () => {
  const G = 1_048_576;
  /** two nodes with 2 MiB pools (512 and 1024 free) and 1 GiB pools (node 1 only); ordinary memory is untouched */
  const withPools = (reserved?: { sizeKiB: number; reserved: number }[], surplus = 0) => {
    const snap = synthSnapshot([{ cpus: 4 }, { cpus: 4 }], D2);
    snap.nodes[0]!.hugepages = [{ sizeKiB: 2048, total: 1024, free: 512, surplus }];
    snap.nodes[1]!.hugepages = [{ sizeKiB: 2048, total: 1024, free: 1024 }, { sizeKiB: G, total: 4, free: 3 }];
    if (reserved) snap.hugepageReserved = reserved;
    return snap;
  };

  it('lists the sizes of every node\'s pools, ascending', () => {
    expect(hugepagePoolSizes(withPools())).toEqual([2048, G]);
    expect(hugepagePoolSizes(synthSnapshot([{ cpus: 4 }], [[10]]))).toEqual([]);
  });

  it('each node\'s free memory is its free pages of the size, in MiB; CPU and the ordinary figures stay', () => {
    const snap = withPools();
    const caps = deriveCapacity(snap, opts());
    const { caps: huge, pools } = hugepageCapacity(caps, snap, 2048);
    expect(huge.map((c) => [c.memFreeMiB, c.memTotalMiB])).toEqual([[1024, 2048], [2048, 2048]]);
    expect(huge.map((c) => c.cpuFreeHundredths)).toEqual(caps.map((c) => c.cpuFreeHundredths));
    expect(pools).toEqual([
      { node: 0, freePages: 512, kernelReservedPages: 0, freeMiB: 1024 },
      { node: 1, freePages: 1024, kernelReservedPages: 0, freeMiB: 2048 },
    ]);
    // the ordinary capacity is not changed by it
    expect(caps[0]!.memFreeMiB).toBe(deriveCapacity(snap, opts())[0]!.memFreeMiB);
  });

  it('a node without a pool of the size holds none of the memory', () => {
    const snap = withPools();
    const { caps } = hugepageCapacity(deriveCapacity(snap, opts()), snap, G);
    expect(caps.map((c) => [c.hasMemory, c.memFreeMiB, c.memTotalMiB])).toEqual([[false, 0, 0], [true, 3072, 4096]]);
    const advice = adviseNumad(caps.map((c) => toPolicyNode(c, { cpuHundredths: 0, memMiB: 0 }, 1)), { cpuHundredths: 100, memMiB: 2048 });
    expect(advice.nodeset).toBe('1');
  });

  it('resv_hugepages are taken from the nodes in proportion to their free pages, rounded up per node', () => {
    // 300 reserved of 1536 free: node 0 holds 1/3 of the free pages → 100, node 1 2/3 → 200
    const snap = withPools([{ sizeKiB: 2048, reserved: 300 }]);
    const { caps, pools } = hugepageCapacity(deriveCapacity(snap, opts()), snap, 2048);
    expect(pools.map((p) => p.kernelReservedPages)).toEqual([100, 200]);
    expect(caps.map((c) => c.memFreeMiB)).toEqual([(512 - 100) * 2, (1024 - 200) * 2]);
    // rounding up: at least every reserved page is counted out host-wide, never fewer
    const odd = withPools([{ sizeKiB: 2048, reserved: 7 }]);
    const shares = hugepageCapacity(deriveCapacity(odd, opts()), odd, 2048).pools.map((p) => p.kernelReservedPages);
    expect(shares).toEqual([3, 5]);
    expect(shares[0]! + shares[1]!).toBeGreaterThanOrEqual(7);
  });

  it('a reserved count of another size, or more reserved than free, never goes below zero', () => {
    const other = withPools([{ sizeKiB: G, reserved: 3 }]);
    expect(hugepageCapacity(deriveCapacity(other, opts()), other, 2048).caps.map((c) => c.memFreeMiB)).toEqual([1024, 2048]);
    expect(hugepageCapacity(deriveCapacity(other, opts()), other, G).caps.map((c) => c.memFreeMiB)).toEqual([0, 0]);
    const over = withPools([{ sizeKiB: 2048, reserved: 5000 }]);
    expect(hugepageCapacity(deriveCapacity(over, opts()), over, 2048).caps.map((c) => c.memFreeMiB)).toEqual([0, 0]);
  });

  it('surplus pages are not part of the persistent pool', () => {
    const snap = withPools(undefined, 24);
    expect(hugepageCapacity(deriveCapacity(snap, opts()), snap, 2048).caps[0]!.memTotalMiB).toBe((1024 - 24) * 2);
  });

  it('when no node has pages of the size, the memory nodes stay memory nodes (the answer does not fit)', () => {
    const snap = withPools();
    snap.nodes[1]!.hugepages = [{ sizeKiB: 2048, total: 0, free: 0 }];
    snap.nodes[0]!.hugepages = [{ sizeKiB: 2048, total: 0, free: 0 }];
    const { caps } = hugepageCapacity(deriveCapacity(snap, opts()), snap, 2048);
    const advice = adviseNumad(caps.map((c) => toPolicyNode(c, { cpuHundredths: 0, memMiB: 0 }, 1)), { cpuHundredths: 100, memMiB: 2 });
    expect(advice.fits).toBe(false);
    expect(advice.nodeset).toBe('0-1');
  });
});
