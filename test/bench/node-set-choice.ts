// Time of one placement answer on large hosts: numad's walk (policy/numad.ts), numadvisor's policy (which adds the
// O(n³) node-set choice of policy/node-set.ts and the memory-tier split) and the node-set choice alone.
// Run: npx tsx test/bench/node-set-choice.ts   (about 2 s of CPU; the numbers in docs/benchmarks.md come from it)
// Hosts: (i) 64 nodes, 8 sockets × 8 SNC nodes, SLIT 10 own / 12 inside a socket / 20-32 across (2 per socket hop),
// a VM needing 3 nodes; (ii) NVIDIA GB200's 34 nodes (kubernetes #135541: Topology Manager's O(2^n) hint search
// never finished there): 2 Grace nodes (72 cores, 480 GiB), nodes 2-3 with 190 GiB of GPU memory and no CPU, nodes
// 4-33 with neither. The GB200 SLIT is assumed (no dump was at hand): 10 own, 40 Grace↔Grace, 80 Grace↔its own GPU
// memory, 120 everything else.
import { adviseNumad } from '../../src/policy/numad.js';
import { adviseNumadvisor } from '../../src/policy/numadvisor.js';
import { chooseNodeSet } from '../../src/policy/node-set.js';
import type { Advice, PlacementRequest, PolicyNode } from '../../src/policy/types.js';

const GiB = 1024;

function node(id: number, cpus: number, memGiB: number, freeGiB: number, idle: number, distances: number[]): PolicyNode {
  return {
    id,
    hasMemory: memGiB > 0,
    hasCpu: cpus > 0,
    cpuTotalHundredths: cpus * 100,
    memTotalMiB: memGiB * GiB,
    cpuFreeHundredths: Math.round(cpus * 100 * idle),
    memFreeMiB: freeGiB * GiB,
    distances,
  };
}

function snc64(): PolicyNode[] {
  const ids = Array.from({ length: 64 }, (_, i) => i);
  const socket = (i: number) => Math.floor(i / 8);
  const slit = ids.map((a) => ids.map((b) => (a === b ? 10 : socket(a) === socket(b) ? 12 : 18 + 2 * Math.abs(socket(a) - socket(b)))));
  return ids.map((i) => node(i, 8, 32, 20 + ((i * 7) % 11), 0.5 + ((i * 3) % 5) / 10, slit[i] as number[]));
}

function gb200(): PolicyNode[] {
  const ids = Array.from({ length: 34 }, (_, i) => i);
  const near = (a: number, b: number) => (a === 0 && b === 2) || (a === 1 && b === 3);
  const slit = ids.map((a) => ids.map((b) => (a === b ? 10 : a < 2 && b < 2 ? 40 : near(a, b) || near(b, a) ? 80 : 120)));
  return ids.map((i) => (i < 2 ? node(i, 72, 480, 470, 0.9, slit[i] as number[]) : i < 4 ? node(i, 0, 190, 190, 0, slit[i] as number[]) : node(i, 0, 0, 0, 0, slit[i] as number[])));
}

/** Median microseconds per call, over `rounds` batches of `batch` calls (a batch hides the timer's granularity). */
function time(fn: () => unknown, rounds = 41, batch = 20): number {
  for (let i = 0; i < batch; i++) fn(); // warm-up: JIT
  const per: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn();
    per.push(Number(process.hrtime.bigint() - t) / 1000 / batch);
  }
  per.sort((a, b) => a - b);
  return per[Math.floor(per.length / 2)] as number;
}

const rows: string[] = ['| host | request | numad walk: answer, µs | numadvisor: answer, µs | node-set choice alone, µs |', '|---|---|---|---|---|'];
const cases: [string, PolicyNode[], string, PlacementRequest][] = [
  ['64 nodes (8 × SNC-8)', snc64(), '16 vCPUs, 80 GiB (3 nodes)', { cpuHundredths: 1600, memMiB: 80 * GiB }],
  ['64 nodes (8 × SNC-8)', snc64(), '4 vCPUs, 8 GiB (1 node)', { cpuHundredths: 400, memMiB: 8 * GiB }],
  ['GB200 (34 nodes)', gb200(), '100 vCPUs, 600 GiB (both Grace)', { cpuHundredths: 10_000, memMiB: 600 * GiB }],
  ['GB200 (34 nodes)', gb200(), '64 vCPUs, 600 GiB, allowSlowTier', { cpuHundredths: 6400, memMiB: 600 * GiB, allowSlowTier: true }],
  ['GB200 (34 nodes)', gb200(), '8 vCPUs, 1000 GiB (spills)', { cpuHundredths: 800, memMiB: 1000 * GiB }],
];
const answer = (a: Advice): string => `${a.nodeset}${a.fits ? '' : ' (does not fit)'}`;
for (const [host, nodes, what, req] of cases) {
  const numad = time(() => adviseNumad(nodes, req));
  const ours = time(() => adviseNumadvisor(nodes, req));
  const set = time(() => chooseNodeSet(nodes, req));
  rows.push(`| ${host} | ${what} | ${answer(adviseNumad(nodes, req))}, ${numad.toFixed(1)} | ${answer(adviseNumadvisor(nodes, req))}, ${ours.toFixed(1)} | ${set.toFixed(1)} |`);
}
console.log(`node ${process.version}, median of 41 batches of 20 answers each\n`);
console.log(rows.join('\n'));
