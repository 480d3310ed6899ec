// Memory tiers for placement: which nodes' memory is the fast tier a VM should live in, and which CPU-less memory
// nodes (CXL expanders, GPU memory, dax/kmem) are a slower tier, each attached to the CPU node nearest to it.
// A CPU-less node is never local to any vCPU, so the policy treats its memory as an extension of one CPU node's memory
// (numad valued such a node 0 and could still answer it alone: numad.md E2/E3). Pure functions, no I/O.
import type { PolicyNode } from './types.js';

/** How a CPU-less node was attached to its CPU node, for the reasons. */
export type AttachedVia = 'hmat' | 'slit';

export interface SlowNode {
  /** position of the CPU-less memory node in the policy's node list */
  index: number;
  /** its rank: memoryTier when the host reports tiers, else 1 (every CPU node's memory is rank 0) */
  rank: number;
  /** position of the CPU node it is attached to */
  cpuIndex: number;
  via: AttachedVia;
  /** SLIT distance from that CPU node to it */
  distance: number;
}

export interface TierSplit {
  /** positions of the nodes the first pass advises over: every node with CPUs, with or without memory */
  fast: number[];
  /** CPU-less memory nodes, in the order memory spills into them (rank, then distance to their CPU node, then id) */
  slow: SlowNode[];
  /** true when the rank comes from the kernel's memory tiers (memoryTier), false when only from has-CPU */
  tiered: boolean;
}

const FAR = Number.MAX_SAFE_INTEGER;

/** SLIT distance between two positions of the node list (rows are aligned with the list). */
export function nodeDistance(nodes: readonly PolicyNode[], from: number, to: number): number {
  return (nodes[from] as PolicyNode).distances[to] ?? FAR;
}

/** Does the host report memory tiers for any node? Then a smaller memoryTier is faster memory. */
export function hasMemoryTiers(nodes: readonly PolicyNode[]): boolean {
  return nodes.some((n) => n.memoryTier !== undefined);
}

/**
 * Memory with no CPU in the hardware (CXL, GPU memory): the slower tier. A DRAM node whose CPUs are all kept from guests
 * (-R, isolcpus) has no CPU for the policy (hasCpu false) but is not memory-only: `memoryOnly` says which is which
 * when the capacity model set it; without it (the simulator, hand-made nodes) no CPU means memory-only.
 */
export function isMemoryOnly(node: PolicyNode): boolean {
  return node.hasMemory && (node.memoryOnly ?? !node.hasCpu);
}

/**
 * A memory node's speed rank (smaller = faster). With kernel tiers: its memoryTier (a memory node the kernel did not
 * place in a tier ranks last). Without: a node with CPUs ranks 0, a CPU-less one 1, the kernel's own default when it
 * has no HMAT figures (dax/kmem memory goes below DRAM).
 */
export function memoryRank(node: PolicyNode, tiered: boolean): number {
  if (tiered) return node.memoryTier ?? FAR;
  return isMemoryOnly(node) ? 1 : 0;
}

/**
 * The CPU node a CPU-less memory node belongs to: among its HMAT initiators (the CPU nodes nearest to that memory)
 * the lowest id; without usable initiators, the nearest CPU node by SLIT, ties to the lower id. Undefined when the
 * host has no CPU node.
 */
export function attachToCpuNode(nodes: readonly PolicyNode[], index: number): { cpuIndex: number; via: AttachedVia } | undefined {
  const node = nodes[index] as PolicyNode;
  const cpuIndexById = new Map<number, number>();
  nodes.forEach((n, i) => {
    if (n.hasCpu) cpuIndexById.set(n.id, i);
  });
  const initiators = (node.initiators ?? []).filter((id) => cpuIndexById.has(id)).sort((a, b) => a - b);
  if (initiators.length > 0) return { cpuIndex: cpuIndexById.get(initiators[0] as number) as number, via: 'hmat' };
  let best = -1;
  for (let i = 0; i < nodes.length; i++) {
    if (!(nodes[i] as PolicyNode).hasCpu) continue;
    const d = nodeDistance(nodes, i, index);
    // ties go to the lower id; positions are in id order but compare ids so an unordered list gives the same answer
    if (best < 0 || d < nodeDistance(nodes, best, index) || (d === nodeDistance(nodes, best, index) && (nodes[i] as PolicyNode).id < (nodes[best] as PolicyNode).id)) best = i;
  }
  return best < 0 ? undefined : { cpuIndex: best, via: 'slit' };
}

/**
 * Split a host into the nodes a VM's CPUs and fast memory come from and the slower CPU-less memory nodes. Undefined
 * when there is nothing to split (no CPU-less memory node, or no CPU node at all): the policy then answers as before.
 * Nodes with neither CPUs nor memory (GB200's GPU-instance nodes) are in neither list: they give a VM nothing.
 */
export function splitTiers(nodes: readonly PolicyNode[]): TierSplit | undefined {
  const fast: number[] = [];
  const memoryOnly: number[] = [];
  nodes.forEach((n, i) => {
    if (isMemoryOnly(n)) memoryOnly.push(i);
    else if (n.hasCpu || n.hasMemory) fast.push(i);
  });
  if (!fast.some((i) => (nodes[i] as PolicyNode).hasCpu) || memoryOnly.length === 0) return undefined;
  const tiered = hasMemoryTiers(nodes);
  const slow: SlowNode[] = memoryOnly.map((index) => {
    const at = attachToCpuNode(nodes, index) as { cpuIndex: number; via: AttachedVia };
    return { index, rank: memoryRank(nodes[index] as PolicyNode, tiered), cpuIndex: at.cpuIndex, via: at.via, distance: nodeDistance(nodes, at.cpuIndex, index) };
  });
  slow.sort((a, b) => a.rank - b.rank || a.distance - b.distance || (nodes[a.index] as PolicyNode).id - (nodes[b.index] as PolicyNode).id);
  return { fast, slow, tiered };
}

/**
 * The nodes at `keep` (positions, ascending) as a policy node list of their own: each SLIT row is cut to the kept
 * columns, since policies look distances up by position.
 */
export function subsetNodes(nodes: readonly PolicyNode[], keep: readonly number[]): PolicyNode[] {
  return keep.map((i) => {
    const n = nodes[i] as PolicyNode;
    return { ...n, distances: keep.map((j) => n.distances[j] ?? FAR) };
  });
}

/** "node 2 (tier 22, attached to node 0 by HMAT)" — how the reasons name a slow node. */
export function describeSlowNode(nodes: readonly PolicyNode[], s: SlowNode, tiered: boolean): string {
  const tier = tiered ? (nodes[s.index]?.memoryTier !== undefined ? `tier ${nodes[s.index]?.memoryTier}` : 'no tier') : 'CPU-less';
  const how = s.via === 'hmat' ? 'HMAT initiator' : `SLIT distance ${s.distance}`;
  return `node ${(nodes[s.index] as PolicyNode).id} (${tier}, attached to node ${(nodes[s.cpuIndex] as PolicyNode).id} by ${how})`;
}
