import { describe, expect, it } from 'vitest';
import { deriveCapacity, NUMAD_DEFAULT_CAPACITY_OPTIONS } from '../../src/model/capacity.js';
import { idleHundredths, parseProcStat } from '../../src/observe/proc-stat.js';
import { HostObserver } from '../../src/observe/host-observer.js';
import { FsRoot } from '../../src/topology/fsroot.js';
import { D2, synthSnapshot } from '../helpers/synthetic.js';
import { fixture } from '../helpers/fixtures.js';

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
