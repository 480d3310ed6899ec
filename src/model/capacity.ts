// Derive per-node capacity from a raw snapshot with numad's option semantics (-C, -t, -R), each node sized by
// itself. Units: CPU in hundredths of a CPU (numad's unit), memory in MiB (KiB integer-divided by 1024, as numad).
import type { HostSnapshot, SnapshotCpu } from './snapshot.js';
import { nodeIdleHundredths, type IdleTicks } from './cpu-idle.js';
import type { PolicyNode } from '../policy/types.js';
import { NODE_MEMORY_MARGIN_MIB } from '../policy/numad.js';
import { formatIdList } from '../topology/idlist.js';

export interface CapacityOptions {
  /** numad -C: count the node's Inactive(file) page cache as free memory. */
  inactiveFileIsFree: boolean;
  /** numad -t: what a second (third…) hyper-thread of a core is worth, in percent of a core. */
  htPercent: number;
  /** numad -R: CPUs kept for non-numad use; never counted, never handed out. */
  reservedCpus: ReadonlySet<number>;
}

export const NUMAD_DEFAULT_CAPACITY_OPTIONS: CapacityOptions = {
  inactiveFileIsFree: true,
  htPercent: 20,
  reservedCpus: new Set(),
};

export interface NodeCapacity {
  id: number;
  /** CPUs counted for placement: online, not reserved (-R). */
  cpus: number[];
  hasMemory: boolean;
  hasCpu: boolean;
  cpuTotalHundredths: number;
  cpuFreeHundredths: number;
  memTotalMiB: number;
  memFreeMiB: number;
  distances: number[];
  /** kernel memory tier and HMAT access0 initiators, for policy/memory-tiers.ts (absent where the host has none) */
  memoryTier?: number;
  initiators?: number[];
  /** set where the counted CPUs mislead: true for memory with no CPU in the hardware, false for DRAM whose CPUs are all kept (PolicyNode.memoryOnly) */
  memoryOnly?: boolean;
}

const kibToMiB = (kib: number): number => Math.floor(kib / 1024);

/**
 * A CPU's idle ticks over its window. A snapshot without ticks (taken before they were recorded, or built by hand)
 * has only the share in hundredths: it is read back as millionths of a hundredth, exact for whole hundredths. A CPU
 * the snapshot does not list (just hot-added) counts as busy.
 */
function cpuIdleTicks(cpu: SnapshotCpu | undefined): IdleTicks {
  if (cpu === undefined) return { idleTicks: 0, windowTicks: 1 };
  if (cpu.idleTicks !== undefined && cpu.windowTicks !== undefined) return { idleTicks: cpu.idleTicks, windowTicks: cpu.windowTicks };
  return { idleTicks: Math.round(cpu.idleHundredths * 1e6), windowTicks: 1e8 };
}

export function deriveCapacity(snapshot: HostSnapshot, options: CapacityOptions): NodeCapacity[] {
  const cpuById = new Map(snapshot.cpus.map((c) => [c.id, c]));
  // isolcpus= and nohz_full= CPUs are kept for what the administrator put there (real-time guests): never capacity to
  // hand out, like -R's. They are idle to the scheduler, so counting them made their node look the idlest.
  const isolated = new Set([...(snapshot.isolatedCpus ?? []), ...(snapshot.nohzFullCpus ?? [])]);
  return snapshot.nodes.map((node) => {
    const counted = node.cpus.filter((c) => !options.reservedCpus.has(c) && !isolated.has(c));
    // Cores are counted per node from each CPU's own package/core ids (numad uses cpu0's sibling count for all).
    const cores = new Set(counted.map((c) => {
      const t = cpuById.get(c);
      return t ? `${t.packageId}:${t.coreId}` : `cpu${c}`;
    })).size;
    const threads = counted.length;
    const extraThreads = threads - cores;
    const ht = Math.min(Math.max(options.htPercent, 0), 100);
    const cpuTotalHundredths = ht >= 100 ? threads * 100 : cores * 100 + extraThreads * ht;
    // Integer ticks summed per node, as numad does: flooring a sum of floating-point shares lost a hundredth.
    const idleSum = nodeIdleHundredths(counted.map((c) => cpuIdleTicks(cpuById.get(c))));
    const htDiscount = ht >= 100 ? 0 : extraThreads * (100 - ht);
    const cpuFreeHundredths = Math.min(cpuTotalHundredths, Math.max(0, idleSum - htDiscount));
    const memTotalMiB = node.hasMemory ? kibToMiB(node.memTotalKiB) : 0;
    // Each counter is divided separately, as numad does, so answers match numad's to the MiB.
    const freeMiB = kibToMiB(node.memFreeKiB) + (options.inactiveFileIsFree ? kibToMiB(node.inactiveFileKiB) : 0);
    return {
      id: node.id,
      cpus: counted,
      hasMemory: node.hasMemory && memTotalMiB >= 1,
      hasCpu: counted.length > 0,
      cpuTotalHundredths,
      cpuFreeHundredths,
      memTotalMiB,
      memFreeMiB: node.hasMemory ? Math.min(memTotalMiB, freeMiB) : 0,
      distances: node.distances,
      ...(node.memoryTier !== undefined ? { memoryTier: node.memoryTier } : {}),
      ...(node.hmat?.access0 !== undefined ? { initiators: node.hmat.access0.initiators } : {}),
      // a slower tier only when the hardware has no CPU there, not when -R or isolcpus took them all
      // (set only where counted CPUs alone would say otherwise, so other hosts' capacity is what it was)
      ...(node.hasMemory && node.cpus.length === 0 ? { memoryOnly: true } : node.hasMemory && counted.length === 0 ? { memoryOnly: false } : {}),
    };
  });
}

/** The nodes with memory, as numad's log names them (the "from" list of the pre-placement line). */
export function memoryNodeset(caps: NodeCapacity[]): string {
  return formatIdList(caps.filter((c) => c.hasMemory).map((c) => c.id));
}

/** What the policy sees of a node: free capacity after reservations (a reserved vCPU counts 1/ratio of a CPU). */
export function toPolicyNode(cap: NodeCapacity, reserved: { cpuHundredths: number; memMiB: number }, ratio: number): PolicyNode {
  return {
    id: cap.id,
    hasMemory: cap.hasMemory,
    hasCpu: cap.hasCpu,
    cpuTotalHundredths: cap.cpuTotalHundredths,
    memTotalMiB: cap.memTotalMiB,
    cpuFreeHundredths: Math.max(0, Math.floor(cap.cpuFreeHundredths - reserved.cpuHundredths / ratio)),
    memFreeMiB: Math.max(0, cap.memFreeMiB - reserved.memMiB),
    distances: cap.distances,
    ...(cap.memoryTier !== undefined ? { memoryTier: cap.memoryTier } : {}),
    ...(cap.initiators !== undefined ? { initiators: cap.initiators } : {}),
    ...(cap.memoryOnly !== undefined ? { memoryOnly: cap.memoryOnly } : {}),
  };
}

/** The page sizes (KiB) the host has hugepage pools of, on any node, ascending. */
export function hugepagePoolSizes(snapshot: HostSnapshot): number[] {
  return [...new Set(snapshot.nodes.flatMap((n) => n.hugepages.map((p) => p.sizeKiB)))].sort((a, b) => a - b);
}

/** One node's pool of one page size, as a hugepage-backed request sees it (for the answer's reasons). */
export interface HugepagePoolView {
  node: number;
  /** free_hugepages of the node's pool (0 when the node has no such pool) */
  freePages: number;
  /** this node's share of the kernel's global resv_hugepages, not counted as free (see hugepageCapacity) */
  kernelReservedPages: number;
  /** what is left, in MiB: (freePages - kernelReservedPages) pages of the size */
  freeMiB: number;
}

/**
 * Capacity for a request backed by hugepages of `sizeKiB`: each node's memory is its pool of that size (free pages
 * times the size, in MiB, floored), not MemFree, which hugepages are already outside of; CPU is as in `caps`.
 *
 * resv_hugepages (global per size, no per-node count exists) are pages promised to mappings at mmap() time and not yet
 * faulted in: they are still in every node's free_hugepages, and the kernel lets only their owners take them (the
 * pages "generally available" are free - resv, Documentation/mm/hugetlbfs_reserv.rst). Which node they will be faulted
 * from depends on the owner's memory policy at fault time, which nothing exported tells. They are therefore taken out
 * of the nodes in proportion to each node's free pages, rounded up per node: host-wide at least all of them are
 * counted out, so no answer promises a page the kernel has promised already, while a node is not emptied by pages
 * that are more likely to come from the others. Taking the whole count from every node instead would, on a host
 * with one large unfaulted mapping, refuse every node for pages that can only be faulted once. (A guest libvirt
 * starts preallocates its hugepages, so its own pages are faulted, not reserved, by the time it is bound.)
 * Surplus pages (overcommitted beyond nr_hugepages) are in use by definition, a freed one goes back to the buddy
 * allocator, so free_hugepages alone is what can be had; the persistent pool (total - surplus) is the node's size.
 */
export function hugepageCapacity(caps: readonly NodeCapacity[], snapshot: HostSnapshot, sizeKiB: number): { caps: NodeCapacity[]; pools: HugepagePoolView[] } {
  const poolOf = new Map(snapshot.nodes.map((n) => [n.id, n.hugepages.find((p) => p.sizeKiB === sizeKiB)]));
  const reserved = snapshot.hugepageReserved?.find((r) => r.sizeKiB === sizeKiB)?.reserved ?? 0;
  const freeSum = [...poolOf.values()].reduce((a, p) => a + (p?.free ?? 0), 0);
  const pagesToMiB = (pages: number): number => Math.floor((pages * sizeKiB) / 1024);
  const anyPages = [...poolOf.values()].some((p) => (p?.total ?? 0) > 0);
  const pools: HugepagePoolView[] = [];
  const out = caps.map((cap) => {
    const pool = poolOf.get(cap.id);
    const free = pool?.free ?? 0;
    const share = freeSum > 0 && reserved > 0 ? Math.min(free, Math.ceil((reserved * free) / freeSum)) : 0;
    const persistent = Math.max(0, (pool?.total ?? 0) - (pool?.surplus ?? 0));
    const freeMiB = pagesToMiB(free - share);
    pools.push({ node: cap.id, freePages: free, kernelReservedPages: share, freeMiB });
    return {
      ...cap,
      // A node with no pages of the size holds none of the request's memory. When no node has any, the memory nodes
      // stay what they are, so the answer is "does not fit" over them rather than a host without memory nodes.
      hasMemory: anyPages ? cap.hasMemory && persistent > 0 : cap.hasMemory,
      memTotalMiB: pagesToMiB(persistent),
      memFreeMiB: freeMiB,
    };
  });
  return { caps: out, pools };
}

/**
 * The policy's view for a request backed by hugepages of `sizeKiB`: each node's pool of that size (hugepageCapacity)
 * less what `reserved` says earlier hugepage answers of that size hold there (`memMiB`), CPU less every reservation
 * (`cpuHundredths`). The walk leaves numad's 100 MiB on every node it takes from, for the kernel's own allocations out
 * of MemFree; a pool serves nothing else and can be used to its last page (pools are often sized to their guests
 * exactly), so the margin is given back here and the walk takes at most what the pool has. `available` is each
 * node's view before that (what the answer's reasons show).
 */
export function hugepagePolicyNodes(
  caps: readonly NodeCapacity[],
  snapshot: HostSnapshot,
  sizeKiB: number,
  reserved: (node: number) => { cpuHundredths: number; memMiB: number },
  ratio: number,
): { nodes: PolicyNode[]; available: PolicyNode[]; pools: HugepagePoolView[] } {
  const { caps: pooled, pools } = hugepageCapacity(caps, snapshot, sizeKiB);
  const available = pooled.map((cap) => toPolicyNode(cap, reserved(cap.id), ratio));
  const nodes = available.map((n) => (n.memFreeMiB > 0 ? { ...n, memFreeMiB: n.memFreeMiB + NODE_MEMORY_MARGIN_MIB } : n));
  return { nodes, available, pools };
}
