// numad.md §5.3: the real numad binary's answers on synthetic topologies. Cases that do not hinge on numad's
// bugs must give the same nodeset; the bug cases (S7, S17, E1) assert our corrected answer and say why.
import { describe, expect, it } from 'vitest';
import { adviseNumad, nodeMagnitude } from '../../src/policy/numad.js';
import { advise, D2, D4, synthSnapshot } from '../helpers/synthetic.js';

const n4 = (idle: number, freeMB = 7000) => ({ cpus: 4, idle, freeMB });

describe('numad node value', () => {
  it('reproduces the worked example A (magnitudes and weighted totals in the DEBUG log)', () => {
    const req = { cpuHundredths: 200, memMiB: 1024 };
    expect(nodeMagnitude(6500, 100, req)).toBe(19_286_400);
    expect(nodeMagnitude(6500, 400, req)).toBe(45_001_600);
    const snap = synthSnapshot(
      [
        { cpus: 4, idle: 25, freeMB: 6000, inactiveMB: 500 },
        { cpus: 4, idle: 100, freeMB: 6000, inactiveMB: 500 },
      ],
      D2,
    );
    const a = advise(snap, 200, 1024);
    expect(a.nodeset).toBe('1');
    expect(a.centres).toEqual([
      { centre: 0, weightedMagnitude: 192_864 },
      { centre: 1, weightedMagnitude: 450_016 },
    ]);
  });
});

describe('observed answers of numad 20150602 (numad.md §5.3)', () => {
  const cases: { id: string; nodes: Parameters<typeof synthSnapshot>[0]; dist: number[][]; cpu: number; mem: number; opts?: object; want: string }[] = [
    { id: 'S2 memory outweighs CPU', nodes: [{ idle: 100, freeMB: 500 }, { idle: 50, freeMB: 6000 }], dist: D2, cpu: 200, mem: 1024, want: '1' },
    { id: 'S3 k_mem = 2', nodes: [{ freeMB: 7000 }, { freeMB: 7000 }], dist: D2, cpu: 100, mem: 9000, want: '0-1' },
    { id: 'S4 best pair', nodes: [n4(20), n4(20), n4(100), n4(100)], dist: D4, cpu: 600, mem: 2048, want: '2-3' },
    { id: 'S5', nodes: [n4(100), n4(100), n4(10), n4(100)], dist: D4, cpu: 600, mem: 2048, want: '0-1' },
    { id: 'S6 HT: 500 > 480', nodes: [{ cpus: 8, tpc: 2 }, { cpus: 8, tpc: 2 }], dist: D2, cpu: 500, mem: 100, want: '0-1' },
    { id: 'S6b HT: 480 fits exactly', nodes: [{ cpus: 8, tpc: 2 }, { cpus: 8, tpc: 2 }], dist: D2, cpu: 480, mem: 100, want: '0' },
    { id: 'S8 -C 1', nodes: [{ freeMB: 1000, inactiveMB: 5000 }, { freeMB: 3000 }], dist: D2, cpu: 100, mem: 2000, want: '0' },
    { id: "S8' -C 0", nodes: [{ freeMB: 1000, inactiveMB: 5000 }, { freeMB: 3000 }], dist: D2, cpu: 100, mem: 2000, opts: { inactiveFileIsFree: false }, want: '1' },
    { id: 'S9 tie → centre 0', nodes: [n4(100), n4(100), n4(100), n4(100)], dist: D4, cpu: 100, mem: 100, want: '0' },
    { id: 'S11 everything', nodes: [n4(100), n4(100), n4(100), n4(100)], dist: D4, cpu: 10_000, mem: 999_999, want: '0-3' },
    { id: 'S13 no CPU flex', nodes: [{ idle: 90 }, { idle: 90 }], dist: D2, cpu: 400, mem: 100, want: '0-1' },
    { id: 'S13b 100 MB margin', nodes: [{ freeMB: 1050 }, { freeMB: 1000 }], dist: D2, cpu: 100, mem: 1000, want: '0-1' },
    { id: 'S14 sparse ids, empty request', nodes: [{ id: 0 }, { id: 8 }], dist: [[10, 40], [40, 10]], cpu: 0, mem: 0, want: '0' },
    { id: 'S14b sparse ids', nodes: [{ id: 0, idle: 10 }, { id: 8 }], dist: [[10, 40], [40, 10]], cpu: 100, mem: 100, want: '8' },
    { id: 'S15 centre 2, nearest neighbour', nodes: [n4(50), n4(50), n4(60), n4(30)], dist: D4, cpu: 300, mem: 1000, want: '2-3' },
    { id: 'S16 distance over magnitude', nodes: [n4(100, 3000), n4(100, 7000), n4(100, 7000), n4(100, 3000)], dist: D4, cpu: 200, mem: 12_000, want: '0-2' },
    { id: 'E2 memory-only node', nodes: [{ cpus: 0, freeMB: 7000 }, { cpus: 4 }], dist: D2, cpu: 200, mem: 100, want: '1' },
    { id: 'E3 64 GB memory-only node', nodes: [{ cpus: 4 }, { cpus: 0, totalMB: 65536, freeMB: 65000 }], dist: D2, cpu: 200, mem: 10_000, want: '0-1' },
    { id: 'D2 no idle time at all', nodes: [{ idle: 0 }, { idle: 0 }], dist: D2, cpu: 200, mem: 1024, want: '0-1' },
  ];
  for (const c of cases) {
    it(`${c.id} → ${c.want}`, () => {
      expect(advise(synthSnapshot(c.nodes, c.dist), c.cpu, c.mem, c.opts).nodeset).toBe(c.want);
    });
  }
});

describe('where numad is wrong, we answer right', () => {
  it('S7 (-R 0-2): sizes node 1 by itself, so 2 CPUs fit on node 1 alone (numad: 0-1)', () => {
    const snap = synthSnapshot([{ cpus: 4 }, { cpus: 4 }], D2);
    const a = advise(snap, 200, 100, { reservedCpus: new Set([0, 1, 2]) });
    expect(a.nodeset).toBe('1');
    expect(a.fits).toBe(true);
  });

  it('S17 (4 nodes, -w 0:0): answers the best node, not kernfs position 0 (numad: 2)', () => {
    const snap = synthSnapshot([n4(100), n4(100), n4(100), n4(100)], D4);
    expect(advise(snap, 0, 0).nodeset).toBe('0');
  });

  it('E1: a memoryless node gives CPUs without raising the memory still needed (numad: 0,2)', () => {
    const snap = synthSnapshot([{ cpus: 4 }, { cpus: 4, totalMB: 0 }, { cpus: 4 }], [
      [10, 11, 21],
      [11, 10, 21],
      [21, 21, 10],
    ]);
    const a = advise(snap, 500, 100);
    expect(a.nodeset).toBe('0-1');
    expect(a.fits).toBe(true);
  });

  it('never answers a memoryless node alone, even when it is the only one with idle CPU', () => {
    const snap = synthSnapshot([{ cpus: 4, idle: 0 }, { cpus: 4, idle: 100, totalMB: 0 }], D2);
    for (const [cpu, mem] of [[0, 0], [100, 0], [100, 100]] as const) {
      const a = advise(snap, cpu, mem);
      expect(a.nodes).toContain(0);
    }
  });

  it('a request larger than the host gets every memory node and says it does not fit', () => {
    const snap = synthSnapshot([{ cpus: 4 }, { cpus: 4, totalMB: 0 }, { cpus: 4 }], [
      [10, 11, 21],
      [11, 10, 21],
      [21, 21, 10],
    ]);
    const a = advise(snap, 100, 1_000_000);
    expect(a.fits).toBe(false);
    expect(a.nodes).toEqual(expect.arrayContaining([0, 2]));
    expect(a.unmet.memMiB).toBeGreaterThan(0);
    expect(a.reasons.join('\n')).toMatch(/does not fit/);
  });

  it('uneven nodes: a big node alone covers what two small ones would', () => {
    const snap = synthSnapshot([{ cpus: 4, totalMB: 4096, freeMB: 4000 }, { cpus: 16, totalMB: 65536, freeMB: 60000 }], D2);
    expect(advise(snap, 800, 20_000).nodeset).toBe('1');
  });

  it('never returns an empty set or an unknown node', () => {
    const snap = synthSnapshot([{ id: 3 }, { id: 7 }], D2);
    for (const [cpu, mem] of [[0, 0], [1, 1], [100_000, 100_000_000], [800, 7000]] as const) {
      const a = advise(snap, cpu, mem);
      expect(a.nodes.length).toBeGreaterThan(0);
      for (const id of a.nodes) expect([3, 7]).toContain(id);
    }
  });

  it('is pure: the same input gives the same answer and the input is not modified', () => {
    const nodes = [
      { id: 0, hasMemory: true, hasCpu: true, cpuTotalHundredths: 400, memTotalMiB: 8192, cpuFreeHundredths: 300, memFreeMiB: 5000, distances: [10, 21] },
      { id: 1, hasMemory: true, hasCpu: true, cpuTotalHundredths: 400, memTotalMiB: 8192, cpuFreeHundredths: 400, memFreeMiB: 6000, distances: [21, 10] },
    ];
    const before = JSON.stringify(nodes);
    const a = adviseNumad(nodes, { cpuHundredths: 200, memMiB: 1000 });
    const b = adviseNumad(nodes, { cpuHundredths: 200, memMiB: 1000 });
    expect(a).toEqual(b);
    expect(JSON.stringify(nodes)).toBe(before);
  });
});
