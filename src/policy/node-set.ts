// The node set for a VM larger than one node, chosen by distance in polynomial time.
// numad's walk grows a chain by distance from one centre only, so on hosts whose SLIT is not a simple two-level tree
// (SNC/NPS sockets, CPU-less memory far from everything) the set it ends with can be wider than needed. Kubernetes'
// Topology Manager instead scores every subset of nodes, O(2^n): on a 34-node GB200 host it never finished
// (kubernetes #135541, #135581). Here, from every CPU node as a seed, the set grows greedily by the node that adds the
// least distance to the nodes already in it, until the request fits; the answer is the seed's set with the least sum
// of pairwise distances.
// Complexity: n seeds × at most n additions × O(n) to pick the next node and update the added-distance sums = O(n³)
// time, O(n) memory per seed (64 nodes: about 260 000 steps).
import { NODE_MEMORY_MARGIN_MIB } from './numad.js';
import { nodeDistance } from './memory-tiers.js';
import type { PlacementRequest, PolicyNode } from './types.js';

export interface NodeSetChoice {
  /** positions in the node list, ascending */
  nodes: number[];
  /** position of the CPU node the set grew from */
  seed: number;
  /** sum of SLIT distances over every pair of nodes in the set (each pair once) */
  pairwiseDistance: number;
  /** per position: the memory and idle CPU this set takes from the node (nodes in order of addition fill first) */
  takenMemMiB: number[];
  takenCpuHundredths: number[];
}

/** Memory a node can give with numad's margin kept free (what numad's walk takes from it). */
export function usableMemMiB(node: PolicyNode): number {
  return node.hasMemory ? Math.max(0, node.memFreeMiB - NODE_MEMORY_MARGIN_MIB) : 0;
}

const usableCpu = (node: PolicyNode): number => (node.hasCpu ? Math.max(0, node.cpuFreeHundredths) : 0);

/** Sum of distances over every pair of the given positions (each pair once, both directions averaged down). */
export function pairwiseDistanceSum(nodes: readonly PolicyNode[], set: readonly number[]): number {
  let sum = 0;
  for (let a = 0; a < set.length; a++) {
    for (let b = a + 1; b < set.length; b++) {
      // SLIT may be asymmetric (ACPI allows it); count each pair as the mean of its two directions, rounded down
      sum += Math.floor((nodeDistance(nodes, set[a] as number, set[b] as number) + nodeDistance(nodes, set[b] as number, set[a] as number)) / 2);
    }
  }
  return sum;
}

/**
 * The tightest node set that covers the request's memory (with numad's 100 MiB margin per node) and idle CPU, or
 * undefined when no set does (the whole host is short). Ties between sets: fewer nodes, then more free memory, then
 * the lower seed id.
 */
export function chooseNodeSet(nodes: readonly PolicyNode[], req: PlacementRequest): NodeSetChoice | undefined {
  const n = nodes.length;
  const mem = nodes.map(usableMemMiB);
  const cpu = nodes.map(usableCpu);
  // a node that gives neither memory nor idle CPU only widens the set
  const useful = nodes.map((_, i) => (mem[i] as number) > 0 || (cpu[i] as number) > 0);
  let best: { set: number[]; seed: number; cost: number; free: number } | undefined;
  const added = new Float64Array(n);
  const inSet = new Uint8Array(n);
  for (let seed = 0; seed < n; seed++) {
    if (!(nodes[seed] as PolicyNode).hasCpu) continue;
    added.fill(0);
    inSet.fill(0);
    const set: number[] = [];
    let memHave = 0;
    let cpuHave = 0;
    let cost = 0;
    // an answer must hold memory (a cpuset's mems cannot be empty), even for a request of 0 MiB
    let hasMemory = false;
    let next = seed;
    for (;;) {
      set.push(next);
      inSet[next] = 1;
      cost += added[next] as number;
      memHave += mem[next] as number;
      cpuHave += cpu[next] as number;
      hasMemory ||= (nodes[next] as PolicyNode).hasMemory;
      if (memHave >= req.memMiB && cpuHave >= req.cpuHundredths && hasMemory) break;
      for (let j = 0; j < n; j++) if (!inSet[j]) added[j] = (added[j] as number) + Math.floor((nodeDistance(nodes, next, j) + nodeDistance(nodes, j, next)) / 2);
      next = -1;
      for (let j = 0; j < n; j++) {
        if (inSet[j] || !useful[j]) continue;
        if (next < 0) {
          next = j;
          continue;
        }
        const byDistance = (added[j] as number) - (added[next] as number);
        const byMem = (mem[next] as number) - (mem[j] as number);
        const byCpu = (cpu[next] as number) - (cpu[j] as number);
        const byId = (nodes[j] as PolicyNode).id - (nodes[next] as PolicyNode).id;
        if ((byDistance || byMem || byCpu || byId) < 0) next = j;
      }
      if (next < 0) break;
    }
    if (memHave < req.memMiB || cpuHave < req.cpuHundredths || !hasMemory) continue;
    const free = memHave;
    const better =
      best === undefined ||
      cost < best.cost ||
      (cost === best.cost && (set.length < best.set.length || (set.length === best.set.length && (free > best.free || (free === best.free && (nodes[seed] as PolicyNode).id < (nodes[best.seed] as PolicyNode).id)))));
    if (better) best = { set: [...set], seed, cost, free };
  }
  if (best === undefined) return undefined;
  const takenMemMiB = new Array<number>(n).fill(0);
  const takenCpuHundredths = new Array<number>(n).fill(0);
  let memLeft = req.memMiB;
  let cpuLeft = req.cpuHundredths;
  for (const i of best.set) {
    takenMemMiB[i] = Math.min(mem[i] as number, memLeft);
    memLeft -= takenMemMiB[i] as number;
    takenCpuHundredths[i] = Math.min(cpu[i] as number, cpuLeft);
    cpuLeft -= takenCpuHundredths[i] as number;
  }
  return { nodes: [...best.set].sort((a, b) => a - b), seed: best.seed, pairwiseDistance: best.cost, takenMemMiB, takenCpuHundredths };
}
