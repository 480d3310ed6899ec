// Derive per-node capacity from a raw snapshot with numad's option semantics (-C, -t, -R), each node sized by
// itself. Units: CPU in hundredths of a CPU (numad's unit), memory in MiB (KiB integer-divided by 1024, as numad).
import type { HostSnapshot, SnapshotCpu } from './snapshot.js';
import { nodeIdleHundredths, type IdleTicks } from './cpu-idle.js';
import type { PolicyNode } from '../policy/types.js';
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
  return snapshot.nodes.map((node) => {
    const counted = node.cpus.filter((c) => !options.reservedCpus.has(c));
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
  };
}
