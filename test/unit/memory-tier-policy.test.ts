// numadvisor on today's hosts (issue #16): CPU-less memory nodes (CXL, GPU memory) are a slower tier attached to a
// CPU node; a VM never gets a memory-only answer, its memory stays in the fastest tier that holds it and spills only
// when asked or when nothing else fits; a VM larger than a node gets a node set chosen by distance in O(n³).
// The property test runs with a fixed seed and a random one; replay a failure with
//   POLICY_SEED=<seed> npx vitest run test/unit/memory-tier-policy.test.ts
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adviseNumad } from '../../src/policy/numad.js';
import { adviseNumadvisor } from '../../src/policy/numadvisor.js';
import { attachToCpuNode, splitTiers, subsetNodes } from '../../src/policy/memory-tiers.js';
import { chooseNodeSet, pairwiseDistanceSum } from '../../src/policy/node-set.js';
import type { PlacementRequest, PolicyNode } from '../../src/policy/types.js';
import { D4 } from '../helpers/slit.js';
import { fixture } from '../helpers/fixtures.js';
import { FsRoot } from '../../src/topology/fsroot.js';
import { HostObserver } from '../../src/observe/host-observer.js';
import { ReservationLedger } from '../../src/model/reservations.js';
import { deriveCapacity, NUMAD_DEFAULT_CAPACITY_OPTIONS, toPolicyNode } from '../../src/model/capacity.js';
import { AdvisorService } from '../../src/daemon/advisor-service.js';

const GiB = 1024;

interface NodeSpec {
  cpus?: number;
  memGiB?: number;
  freeGiB?: number;
  idle?: number;
  tier?: number;
  initiators?: number[];
}

function hostOf(specs: NodeSpec[], slit: number[][]): PolicyNode[] {
  return specs.map((s, id) => {
    const cpus = s.cpus ?? 0;
    const mem = (s.memGiB ?? 0) * GiB;
    return {
      id,
      hasMemory: mem > 0,
      hasCpu: cpus > 0,
      cpuTotalHundredths: cpus * 100,
      memTotalMiB: mem,
      cpuFreeHundredths: Math.round(cpus * 100 * (s.idle ?? 1)),
      memFreeMiB: s.freeGiB !== undefined ? s.freeGiB * GiB : mem,
      distances: slit[id] as number[],
      ...(s.tier !== undefined ? { memoryTier: s.tier } : {}),
      ...(s.initiators !== undefined ? { initiators: s.initiators } : {}),
    };
  });
}

/** 2 sockets (32 cores, 64 GiB) and a 128 GiB CXL expander behind each; kernel tiers 4 (DRAM) and 22 (CXL), HMAT. */
const CXL_SLIT = [
  [10, 21, 14, 24],
  [21, 10, 24, 14],
  [14, 24, 10, 26],
  [24, 14, 26, 10],
];
const cxlHost = (over: Partial<Record<number, NodeSpec>> = {}): PolicyNode[] =>
  hostOf(
    [
      { cpus: 32, memGiB: 64, tier: 4, ...over[0] },
      { cpus: 32, memGiB: 64, tier: 4, ...over[1] },
      { memGiB: 128, tier: 22, initiators: [0], ...over[2] },
      { memGiB: 128, tier: 22, initiators: [1], ...over[3] },
    ],
    CXL_SLIT,
  );

/** 8 sockets × 8 SNC nodes (8 cores, 32 GiB each): 10 own, 12 inside a socket, 20-32 across (2 per socket hop). */
function snc64(): PolicyNode[] {
  const ids = Array.from({ length: 64 }, (_, i) => i);
  const socket = (i: number) => Math.floor(i / 8);
  const slit = ids.map((a) => ids.map((b) => (a === b ? 10 : socket(a) === socket(b) ? 12 : 18 + 2 * Math.abs(socket(a) - socket(b)))));
  // uneven load so that neither the walk nor the set choice can win on ties alone
  return hostOf(ids.map((i) => ({ cpus: 8, memGiB: 32, freeGiB: 20 + ((i * 7) % 11), idle: 0.5 + ((i * 3) % 5) / 10 })), slit);
}

/**
 * NVIDIA GB200 compute tray as the kernel shows it (kubernetes #135541): 2 Grace CPU nodes (72 cores, 480 GiB), nodes
 * 2-3 with ~190 GiB of GPU memory and no CPU, nodes 4-33 with neither (GPU instance placeholders). SLIT assumed:
 * 10 own, 40 Grace↔Grace, 80 Grace↔its own GPU memory, 120 for everything else.
 */
function gb200(): PolicyNode[] {
  const ids = Array.from({ length: 34 }, (_, i) => i);
  const near = (a: number, b: number) => (a === 0 && b === 2) || (a === 1 && b === 3);
  const slit = ids.map((a) => ids.map((b) => (a === b ? 10 : a < 2 && b < 2 ? 40 : near(a, b) || near(b, a) ? 80 : 120)));
  return hostOf(ids.map((i) => (i < 2 ? { cpus: 72, memGiB: 480, freeGiB: 470 } : i < 4 ? { memGiB: 190 } : {})), slit);
}

const req = (cpus: number, memGiB: number, allowSlowTier?: boolean): PlacementRequest => ({ cpuHundredths: cpus * 100, memMiB: memGiB * GiB, ...(allowSlowTier !== undefined ? { allowSlowTier } : {}) });

describe('memory tiers', () => {
  it('attaches a CPU-less node by its HMAT initiators first (lowest id), by SLIT otherwise (ties to the lower id)', () => {
    expect(attachToCpuNode(cxlHost(), 2)).toEqual({ cpuIndex: 0, via: 'hmat' });
    // HMAT says node 1's CPUs are nearest to node 2's memory, whatever the SLIT says
    expect(attachToCpuNode(cxlHost({ 2: { memGiB: 128, initiators: [1] } }), 2)).toEqual({ cpuIndex: 1, via: 'hmat' });
    expect(attachToCpuNode(cxlHost({ 2: { memGiB: 128, initiators: [1, 0] } }), 2)).toEqual({ cpuIndex: 0, via: 'hmat' });
    // no HMAT: SLIT; an initiator that is not a CPU node does not count
    expect(attachToCpuNode(cxlHost({ 3: { memGiB: 128, initiators: [2] } }), 3)).toEqual({ cpuIndex: 1, via: 'slit' });
    const tie = hostOf([{ cpus: 4, memGiB: 8 }, { cpus: 4, memGiB: 8 }, { memGiB: 8 }], [[10, 20, 30], [20, 10, 30], [30, 30, 10]]);
    expect(attachToCpuNode(tie, 2)).toEqual({ cpuIndex: 0, via: 'slit' });
  });

  it('ranks by the kernel tiers when any node has one, else a CPU-less node below every CPU node', () => {
    const tiered = hostOf(
      [{ cpus: 4, memGiB: 8, tier: 4 }, { memGiB: 8, tier: 30, initiators: [0] }, { memGiB: 8, tier: 22, initiators: [0] }],
      [[10, 14, 20], [14, 10, 30], [20, 30, 10]],
    );
    // tier 22 before tier 30 although node 1 is nearer
    expect(splitTiers(tiered)?.slow.map((s) => [s.index, s.rank])).toEqual([[2, 22], [1, 30]]);
    const untiered = hostOf([{ cpus: 4, memGiB: 8 }, { memGiB: 8 }, { memGiB: 8 }], [[10, 20, 14], [20, 10, 30], [14, 30, 10]]);
    expect(splitTiers(untiered)).toMatchObject({ fast: [0], tiered: false, slow: [{ index: 2, rank: 1, distance: 14 }, { index: 1, rank: 1, distance: 20 }] });
    // nothing to split: no CPU-less memory node, or no CPU node at all
    expect(splitTiers(hostOf([{ cpus: 4, memGiB: 8 }, { cpus: 4 }, {}], [[10, 11, 20], [11, 10, 20], [20, 20, 10]]))).toBeUndefined();
    expect(splitTiers(hostOf([{ memGiB: 8 }], [[10]]))).toBeUndefined();
  });

  it('cuts each SLIT row to the kept nodes, since policies look distances up by position', () => {
    expect(subsetNodes(cxlHost(), [0, 1]).map((n) => n.distances)).toEqual([[10, 21], [21, 10]]);
  });
});

describe('numadvisor on a CXL host', () => {
  it('keeps a VM in the fastest tier that holds it and names the slower nodes it left out', () => {
    const a = adviseNumadvisor(cxlHost(), req(8, 16));
    expect(a).toMatchObject({ nodes: [0], fits: true });
    expect(a.reasons[0]).toMatch(/own memory \(the fastest tier\) holds it; slower memory left out: node 2 \(tier 22, attached to node 0 by HMAT initiator\), node 3/);
    expect(a.perNode.map((p) => p.node)).toEqual([0, 1, 2, 3]);
    // 100 GiB fits the two sockets' DRAM: both sockets, no CXL
    const big = adviseNumadvisor(cxlHost(), req(8, 100));
    expect(big).toMatchObject({ nodes: [0, 1], fits: true });
    // numad's own policy would have taken the CXL memory (it values memory-only nodes like any other)
    expect(adviseNumad(cxlHost(), req(8, 100)).nodes).toContain(2);
  });

  it('spills to the slower tier when asked: one socket and its own CXL instead of two sockets', () => {
    const a = adviseNumadvisor(cxlHost(), req(8, 100, true));
    expect(a).toMatchObject({ nodes: [0, 2], fits: true, centre: 0 });
    const taken = Object.fromEntries(a.perNode.map((p) => [p.node, p.takenMemMiB]));
    expect(taken).toEqual({ 0: 64 * GiB - 100, 1: 0, 2: 100 * GiB - (64 * GiB - 100), 3: 0 });
    expect(a.reasons[0]).toBe(
      `memory tiers: the request allows a slower tier; ${64 * GiB - 100} MiB on the CPU nodes' own memory (0), ` +
        `${36 * GiB + 100} MiB on node 2 (tier 22, attached to node 0 by HMAT initiator)`,
    );
    // asked, but the fast tier holds it on one node: nothing goes to CXL
    expect(adviseNumadvisor(cxlHost(), req(8, 16, true))).toMatchObject({ nodes: [0], fits: true });
    expect(adviseNumadvisor(cxlHost(), req(8, 16, true)).reasons[0]).toMatch(/no slower memory needed/);
  });

  it('spills when nothing else fits, and says which memory went to which tier', () => {
    // sockets half full: 64 GiB does not fit their DRAM together (2 × 30 GiB free)
    const host = cxlHost({ 0: { cpus: 32, memGiB: 64, freeGiB: 30, tier: 4 }, 1: { cpus: 32, memGiB: 64, freeGiB: 30, tier: 4 } });
    const a = adviseNumadvisor(host, req(8, 64));
    expect(a.fits).toBe(true);
    expect(a.nodes).toEqual([0, 2]);
    expect(a.reasons[0]).toMatch(/^memory tiers: the CPU nodes' own memory is \d+ MiB short of it; 30620 MiB on the CPU nodes' own memory \(0\), 34916 MiB on node 2/);
    // larger than everything: every memory node and the CPU nodes, not fitting
    const all = adviseNumadvisor(host, req(8, 400));
    expect(all).toMatchObject({ fits: false, nodes: [0, 1, 2, 3] });
  });

  it('does not spill for a shortage of idle CPU, which slower memory cannot cover', () => {
    const busy = cxlHost({ 0: { cpus: 32, memGiB: 64, idle: 0.1, tier: 4 }, 1: { cpus: 32, memGiB: 64, idle: 0.1, tier: 4 } });
    const a = adviseNumadvisor(busy, req(40, 16));
    expect(a.nodes.every((n) => n < 2)).toBe(true);
    expect(a.reasons[0]).toMatch(/lack \d+ idle CPU hundredths, which slower memory cannot add/);
  });

  it('hosts with only CPU-less memory on one side still answer CPU nodes (numad could answer the memory node alone)', () => {
    // node 1's CPUs are busy, so numad values the big memory-only node 0 most and answers it alone
    const host = hostOf([{ memGiB: 64 }, { cpus: 4, memGiB: 1, idle: 0 }], [[10, 20], [20, 10]]);
    expect(adviseNumad(host, req(0, 4)).nodes).toEqual([0]);
    expect(adviseNumadvisor(host, req(0, 4))).toMatchObject({ nodes: [0, 1], fits: true });
    // CPU nodes without memory of their own: straight to their attached memory
    const memless = hostOf([{ cpus: 4 }, { memGiB: 64 }], [[10, 20], [20, 10]]);
    expect(adviseNumadvisor(memless, req(2, 4))).toMatchObject({ nodes: [0, 1], fits: true });
    // even for an empty request: a memoryless CPU node alone would leave the VM no memory to bind to
    expect(adviseNumadvisor(memless, req(0, 0)).nodes).toEqual([0, 1]);
  });
});

// a CXL-like host: 1-4 CPU nodes (some memoryless), 1-4 CPU-less memory nodes, some nodes with neither
const tierHost = fc
  .record({
    cpuNodes: fc.array(fc.record({ cpus: fc.integer({ min: 1, max: 16 }), memGiB: fc.integer({ min: 0, max: 64 }), freeFrac: fc.double({ min: 0, max: 1, noNaN: true }), idle: fc.double({ min: 0, max: 1, noNaN: true }) }), { minLength: 1, maxLength: 4 }),
    memNodes: fc.array(fc.record({ memGiB: fc.integer({ min: 1, max: 256 }), freeFrac: fc.double({ min: 0, max: 1, noNaN: true }), hmat: fc.boolean() }), { minLength: 1, maxLength: 4 }),
    empty: fc.integer({ min: 0, max: 3 }),
    tiered: fc.boolean(),
    shuffle: fc.integer({ min: 0, max: 1000 }),
    far: fc.array(fc.integer({ min: 11, max: 40 }), { minLength: 100, maxLength: 100 }),
  })
  .map(({ cpuNodes, memNodes, empty, tiered, shuffle, far }) => {
    const specs: NodeSpec[] = [
      ...cpuNodes.map((c) => ({ cpus: c.cpus, memGiB: c.memGiB, freeGiB: Math.floor(c.memGiB * c.freeFrac), idle: c.idle, ...(tiered && c.memGiB > 0 ? { tier: 4 } : {}) })),
      ...memNodes.map((m, i) => ({ memGiB: m.memGiB, freeGiB: Math.floor(m.memGiB * m.freeFrac), ...(tiered ? { tier: 22 } : {}), ...(m.hmat ? { initiators: [(shuffle + i) % cpuNodes.length] } : {}) })),
      ...Array.from({ length: empty }, () => ({})),
    ];
    const n = specs.length;
    const slit = Array.from({ length: n }, (_, a) => Array.from({ length: n }, (_, b) => (a === b ? 10 : (far[(Math.min(a, b) * 10 + Math.max(a, b)) % 100] as number))));
    return hostOf(specs, slit);
  });
const tierRequest = fc.record({ cpus: fc.integer({ min: 0, max: 40 }), memGiB: fc.integer({ min: 0, max: 600 }), allowSlowTier: fc.boolean() });

const FIXED_SEED = 1616;
const RANDOM_SEED = process.env.POLICY_SEED !== undefined ? Number(process.env.POLICY_SEED) : Math.floor(Math.random() * 2 ** 31);

describe('property: a CXL-like host never gets a memory-only answer', () => {
  for (const [label, seed] of [
    ['fixed', FIXED_SEED],
    ['random', RANDOM_SEED],
  ] as const) {
    it(`${label} seed ${seed}`, () => {
      fc.assert(
        fc.property(tierHost, tierRequest, (nodes, r) => {
          const a = adviseNumadvisor(nodes, { cpuHundredths: r.cpus * 100, memMiB: r.memGiB * GiB, allowSlowTier: r.allowSlowTier });
          const byId = new Map(nodes.map((n) => [n.id, n]));
          // never memory-only, every answered node exists, and the answer holds memory
          expect(a.nodes.some((id) => byId.get(id)?.hasCpu)).toBe(true);
          expect(a.nodes.some((id) => byId.get(id)?.hasMemory)).toBe(true);
          expect(a.perNode.map((p) => p.node)).toEqual(nodes.map((n) => n.id));
          expect(a.perNode.filter((p) => p.chosen).map((p) => p.node)).toEqual(a.nodes);
          const slowIn = a.nodes.filter((id) => !byId.get(id)?.hasCpu && byId.get(id)?.hasMemory);
          // fastest tier first: unasked, slow memory only when the fast tier could not hold the memory
          if (!r.allowSlowTier && nodes.some((n) => n.hasCpu && n.hasMemory)) {
            const fast = adviseNumadvisor(subsetNodes(nodes, nodes.flatMap((n, i) => (n.hasCpu ? [i] : []))), { cpuHundredths: r.cpus * 100, memMiB: r.memGiB * GiB });
            if (fast.unmet.memMiB === 0) expect(slowIn).toEqual([]);
          }
          // a slow node in a fitting answer holds some of the VM's memory, or is the only memory the answer has
          const memoryIn = a.nodes.filter((id) => byId.get(id)?.hasMemory);
          if (a.fits && memoryIn.length > 1) for (const id of slowIn) expect(a.perNode.find((p) => p.node === id)?.takenMemMiB).toBeGreaterThan(0);
          if (a.fits) expect(a.perNode.reduce((s, p) => s + p.takenMemMiB, 0)).toBe(r.memGiB * GiB);
        }),
        { seed, numRuns: 300 },
      );
    });
  }
});

describe('node sets for VMs larger than a node', () => {
  it('answers a tighter set than numad\'s walk when the walk\'s centre has small neighbours', () => {
    const n4 = (cpuFree: number, freeGiB: number) => ({ cpus: 10, memGiB: 32, freeGiB, idle: cpuFree / 1000 });
    const nodes = hostOf([n4(1000, 30), n4(1000, 5), n4(300, 26), n4(300, 26)], D4);
    const r = req(4, 50);
    expect(adviseNumad(nodes, r).nodeset).toBe('0-2');
    const a = adviseNumadvisor(nodes, r);
    expect(a).toMatchObject({ nodeset: '2-3', fits: true, centre: 2 });
    expect(a.reasons[0]).toBe("node set 2-3 by distance: grown from node 2 by the node adding the least distance, pairwise distance 12; numad's walk answers 0-2 (pairwise distance 46)");
    expect(a.perNode.reduce((s, p) => s + p.takenMemMiB, 0)).toBe(50 * GiB);
  });

  it('64 SNC nodes: a VM needing 3 nodes gets 3 nodes of one socket, quickly', () => {
    const nodes = snc64();
    const t = performance.now();
    const a = adviseNumadvisor(nodes, req(16, 80));
    const ms = performance.now() - t;
    expect(a.fits).toBe(true);
    expect(a.nodes).toHaveLength(3);
    expect(new Set(a.nodes.map((id) => Math.floor(id / 8))).size).toBe(1);
    expect(pairwiseDistanceSum(nodes, a.nodes)).toBe(36);
    expect(ms).toBeLessThan(1000);
  });

  it('GB200 (34 nodes, 32 without CPUs): sane answers in bounded time (Kubernetes\' O(2^n) hint search hung here)', () => {
    const nodes = gb200();
    const t = performance.now();
    expect(adviseNumadvisor(nodes, req(64, 400))).toMatchObject({ nodes: [0], fits: true });
    // larger than a Grace node's memory: both Grace nodes, not the GPU memory
    expect(adviseNumadvisor(nodes, req(64, 600))).toMatchObject({ nodes: [0, 1], fits: true });
    // asked to use the slower tier: one Grace node and its own GPU memory
    expect(adviseNumadvisor(nodes, req(64, 600, true))).toMatchObject({ nodes: [0, 2], fits: true });
    // more CPUs than one Grace has
    expect(adviseNumadvisor(nodes, req(100, 64))).toMatchObject({ nodes: [0, 1], fits: true });
    // more memory than both Grace nodes: both Grace nodes' own memory first, the rest on node 0's GPU memory
    const huge = adviseNumadvisor(nodes, req(8, 1000));
    expect(huge).toMatchObject({ nodes: [0, 1, 2], fits: true });
    expect(huge.perNode.slice(0, 4).map((p) => p.takenMemMiB)).toEqual([470 * GiB - 100, 470 * GiB - 100, 1000 * GiB - 2 * (470 * GiB - 100), 0]);
    expect(huge.reasons[0]).toMatch(/^memory tiers: the CPU nodes' own memory is \d+ MiB short of it; 962360 MiB on the CPU nodes' own memory \(0-1\), 61640 MiB on node 2 \(CPU-less, attached to node 0 by SLIT distance 80\)$/);
    expect(performance.now() - t).toBeLessThan(1000);
    // the set chooser alone, over all 34 nodes
    expect(chooseNodeSet(nodes, req(100, 600))?.nodes).toEqual([0, 1]);
  });
});

describe('fixture trees, through the daemon\'s own capacity path', () => {
  const policyNodes = (name: string): PolicyNode[] =>
    new AdvisorService(new HostObserver(new FsRoot(fixture(name))), new ReservationLedger(), { capacity: NUMAD_DEFAULT_CAPACITY_OPTIONS, cpuAllocationRatio: 1, reservationTtlMs: 300_000 }, undefined).freshPolicyNodes();

  it('cxl-2s2c: tiers and HMAT initiators reach the policy; DRAM first, CXL only when asked or needed', () => {
    const nodes = policyNodes('cxl-2s2c');
    expect(nodes.map((n) => [n.memoryTier, n.initiators])).toEqual([[4, [0]], [4, [1]], [5, [0]], [5, [1]]]);
    const small = adviseNumadvisor(nodes, { cpuHundredths: 400, memMiB: 4096 });
    expect(small.nodes.every((id) => id < 2)).toBe(true);
    expect(small.reasons[0]).toMatch(/left out: node 2 \(tier 5, attached to node 0 by HMAT initiator\), node 3 \(tier 5, attached to node 1 by HMAT initiator\)/);
    // more than both sockets' free DRAM (numad takes node 3's CXL memory; we fill DRAM, then the nearest CXL)
    const big = adviseNumadvisor(nodes, { cpuHundredths: 800, memMiB: 200_000 });
    expect(big).toMatchObject({ nodeset: '0-2', fits: true });
    expect(adviseNumad(nodes, { cpuHundredths: 800, memMiB: 200_000 }).nodeset).toBe('0-1,3');
  });

  it('gb200-34node: Grace nodes only, until memory runs out; never a GPU node alone', () => {
    const nodes = policyNodes('gb200-34node');
    expect(adviseNumadvisor(nodes, { cpuHundredths: 800, memMiB: 600_000 })).toMatchObject({ nodeset: '0-1', fits: true });
    // numad spreads a CPU-short request over all 34 nodes; the CPUs are on 0-1 only
    expect(adviseNumad(nodes, { cpuHundredths: 20_000, memMiB: 4096 }).nodeset).toBe('0-33');
    expect(adviseNumadvisor(nodes, { cpuHundredths: 20_000, memMiB: 4096 }).nodeset).toBe('0-1');
    const spill = adviseNumadvisor(nodes, { cpuHundredths: 800, memMiB: 1_000_000 });
    expect(spill.fits).toBe(true);
    expect(spill.nodes.slice(0, 2)).toEqual([0, 1]);
    expect(spill.nodes.every((id) => nodes[id]?.hasMemory)).toBe(true);
  });
});

describe('review fixes: kept CPUs, hugepage units, empty memory requests', () => {
  it('isolated and nohz_full CPUs are not capacity; a DRAM node whose CPUs are all kept is not a slower tier', () => {
    const snap = new HostObserver(new FsRoot(fixture('gnr-snc3'))).snapshot();
    const kept = new Set([...(snap.isolatedCpus ?? []), ...(snap.nohzFullCpus ?? [])]);
    expect(kept.size).toBeGreaterThan(0);
    const caps = deriveCapacity(snap, NUMAD_DEFAULT_CAPACITY_OPTIONS);
    for (const c of caps) expect(c.cpus.filter((cpu) => kept.has(cpu)), `node ${c.id}`).toEqual([]);
    // -R takes every CPU of node 0 of the CXL fixture: its DRAM stays fast memory, only the CXL nodes are memory-only
    const cxl = new HostObserver(new FsRoot(fixture('cxl-2s2c'))).snapshot();
    const reserved = new Set(cxl.nodes[0]?.cpus);
    const nodes = deriveCapacity(cxl, { ...NUMAD_DEFAULT_CAPACITY_OPTIONS, reservedCpus: reserved }).map((c) => toPolicyNode(c, { cpuHundredths: 0, memMiB: 0 }, 1));
    expect(nodes.map((n) => [n.id, n.hasCpu, n.memoryOnly])).toEqual([
      [0, false, false],
      [1, true, undefined],
      [2, false, true],
      [3, false, true],
    ]);
    const split = splitTiers(nodes);
    expect(split?.fast).toEqual([0, 1]);
    expect(split?.slow.map((s) => s.index).sort()).toEqual([2, 3]);
  });

  it('a multi-node hugepage answer is split in whole pages (1 GiB pages: 2 + 1, not 1.5 + 1.5)', () => {
    // two nodes, each with 2 GiB of 1 GiB pages (+ the 100 MiB margin the pool view gives back)
    const host = hostOf([{ cpus: 8, memGiB: 2 }, { cpus: 8, memGiB: 2 }], [[10, 20], [20, 10]]).map((n) => ({ ...n, memFreeMiB: n.memFreeMiB + 100 }));
    const a = adviseNumadvisor(host, { cpuHundredths: 200, memMiB: 3 * GiB, memUnitMiB: GiB });
    expect(a.fits).toBe(true);
    expect(a.perNode.filter((p) => p.chosen).map((p) => p.takenMemMiB).sort()).toEqual([GiB, 2 * GiB]);
    // ordinary memory on the same nodes: even
    const b = adviseNumadvisor(host, { cpuHundredths: 200, memMiB: 3 * GiB });
    expect(b.perNode.filter((p) => p.chosen).map((p) => p.takenMemMiB)).toEqual([1536, 1536]);
  });

  it('a node set for a request of no memory still holds a memory node', () => {
    // node 0: CPUs and memory; nodes 1 and 2: CPUs only, nearer each other than to node 0
    const host = hostOf([{ cpus: 4, memGiB: 16 }, { cpus: 4 }, { cpus: 4 }], [[10, 30, 30], [30, 10, 12], [30, 12, 10]]);
    const choice = chooseNodeSet(host, { cpuHundredths: 600, memMiB: 0 });
    expect(choice?.nodes.some((i) => host[i]?.hasMemory)).toBe(true);
  });
});
