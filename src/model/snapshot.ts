// The host snapshot: raw facts read from sysfs/procfs at one moment, before any policy option (-C, -t, -R) is
// applied. Keeping facts and derived capacity apart lets an operator capture a host once (`numadvisor snapshot`)
// and replay requests against it with other options (`numadvisor advise --snapshot`).
import { z } from 'zod';
import { groupByL3 } from '../topology/cpu-caches.js';

export const HugepagePoolSchema = z.object({
  sizeKiB: z.number().int().positive(),
  total: z.number().int().nonnegative(),
  free: z.number().int().nonnegative(),
  /** surplus_hugepages (pages beyond nr_hugepages, from overcommit); absent when none, and in older snapshots */
  surplus: z.number().int().nonnegative().optional(),
});

/** One HMAT access class of a memory node: its nearest initiators and their rated figures (each absent if not rated). */
export const HmatAccessSchema = z.object({
  initiators: z.array(z.number().int().nonnegative()),
  readBandwidthMiBps: z.number().int().nonnegative().optional(),
  writeBandwidthMiBps: z.number().int().nonnegative().optional(),
  readLatencyNs: z.number().int().nonnegative().optional(),
  writeLatencyNs: z.number().int().nonnegative().optional(),
});

export const NodeHmatSchema = z.object({
  /** access class 0: the best initiators of any kind */
  access0: HmatAccessSchema.optional(),
  /** access class 1: the best CPU initiators (Linux 5.10+) */
  access1: HmatAccessSchema.optional(),
  /** memory_side_cache/indexN: caches in front of this node's memory (indexing 0 = direct-mapped, writePolicy 0 = write-back) */
  memorySideCaches: z
    .array(
      z.object({
        index: z.number().int().nonnegative(),
        sizeBytes: z.number().int().nonnegative(),
        lineSize: z.number().int().nonnegative(),
        indexing: z.number().int().nonnegative(),
        writePolicy: z.number().int().nonnegative(),
      }),
    )
    .optional(),
});

export const MemoryTierSchema = z.object({
  /** N of /sys/devices/virtual/memory_tiering/memory_tierN (smaller = faster) */
  tier: z.number().int().nonnegative(),
  nodes: z.array(z.number().int().nonnegative()),
});

export const HugepageReservedSchema = z.object({
  sizeKiB: z.number().int().positive(),
  /** resv_hugepages: promised to mappings, not yet faulted in; host-wide only (per-node free_hugepages still counts them) */
  reserved: z.number().int().nonnegative(),
});

export const SnapshotNodeSchema = z.object({
  id: z.number().int().nonnegative(),
  /** Online CPUs of the node, ascending. */
  cpus: z.array(z.number().int().nonnegative()),
  hasMemory: z.boolean(),
  hasCpu: z.boolean(),
  memTotalKiB: z.number().int().nonnegative(),
  memFreeKiB: z.number().int().nonnegative(),
  inactiveFileKiB: z.number().int().nonnegative(),
  filePagesKiB: z.number().int().nonnegative(),
  hugepages: z.array(HugepagePoolSchema),
  /** SLIT row, one entry per node of `nodes`, in the same (numeric) order. */
  distances: z.array(z.number().int().positive()),
  // Today's hardware (all optional: older kernels lack them, and older snapshots must still parse).
  /** In has_normal_memory: memory the kernel can use itself (false for movable-only CXL or GPU memory). */
  hasNormalMemory: z.boolean().optional(),
  /** N of the memory_tierN that lists this node (smaller = faster; DRAM is usually 4). */
  memoryTier: z.number().int().nonnegative().optional(),
  /** HMAT figures for this node's memory. */
  hmat: NodeHmatSchema.optional(),
});

export const SnapshotCpuSchema = z.object({
  id: z.number().int().nonnegative(),
  node: z.number().int().nonnegative(),
  packageId: z.number().int(),
  coreId: z.number().int(),
  threadSiblings: z.array(z.number().int().nonnegative()),
  /** Idle share of this CPU over the sample window, in hundredths of a CPU (0..100). */
  idleHundredths: z.number().min(0).max(100),
  /**
   * The same as whole /proc/stat ticks: idle ticks over the window's ticks. Capacity sums these per node in integers
   * as numad does (a node's free CPU is not the floor of a floating-point sum); absent in snapshots taken before.
   */
  idleTicks: z.number().int().nonnegative().optional(),
  windowTicks: z.number().int().positive().optional(),
  /** topology/die_id (Linux 5.2+). */
  dieId: z.number().int().optional(),
  /** topology/core_cpus_list (Linux 5.6+): the CPUs of this CPU's core. */
  coreCpus: z.array(z.number().int().nonnegative()).optional(),
  /** The L3 this CPU shares: the cache's `id`, or the first CPU of its shared_cpu_list when the kernel gives none. */
  l3Id: z.number().int().nonnegative().optional(),
  /** That L3's shared_cpu_list. */
  l3Cpus: z.array(z.number().int().nonnegative()).optional(),
});

export const HostSnapshotSchema = z
  .object({
    schemaVersion: z.literal(1),
    takenAt: z.string(),
    /** Length of the CPU idle window the idle figures were measured over; 0 means "average since boot". */
    cpuSampleWindowMs: z.number().nonnegative(),
    nodes: z.array(SnapshotNodeSchema).min(1),
    cpus: z.array(SnapshotCpuSchema),
    meminfo: z.object({
      memTotalKiB: z.number().int().nonnegative(),
      memFreeKiB: z.number().int().nonnegative(),
      memAvailableKiB: z.number().int().nonnegative(),
      hugepageSizeKiB: z.number().int().nonnegative(),
    }),
    // Host-wide facts of today's hardware, each absent where the kernel does not export it (and in older snapshots).
    /** Memory tiers, fastest first. */
    memoryTiers: z.array(MemoryTierSchema).optional(),
    /** /proc/sys/kernel/numa_balancing: 0 off, bit 0 NUMA balancing, bit 1 memory tiering (promotion). */
    numaBalancing: z.number().int().optional(),
    /** /sys/kernel/mm/numa/demotion_enabled: reclaim demotes to slower tiers instead of dropping pages. */
    demotionEnabled: z.boolean().optional(),
    /** /sys/devices/system/cpu/isolated ([] when the file is empty). */
    isolatedCpus: z.array(z.number().int().nonnegative()).optional(),
    /** /sys/devices/system/cpu/nohz_full ([] when empty or "(null)"). */
    nohzFullCpus: z.array(z.number().int().nonnegative()).optional(),
    /** Host-wide resv_hugepages per page size. */
    hugepageReserved: z.array(HugepageReservedSchema).optional(),
  })
  .superRefine((snap, ctx) => {
    const ids = snap.nodes.map((n) => n.id);
    for (let i = 1; i < ids.length; i++) {
      if ((ids[i] as number) <= (ids[i - 1] as number)) {
        ctx.addIssue({ code: 'custom', message: 'nodes must be in strictly ascending id order', path: ['nodes', i, 'id'] });
      }
    }
    snap.nodes.forEach((n, i) => {
      if (n.distances.length !== snap.nodes.length) {
        ctx.addIssue({
          code: 'custom',
          message: `distance row has ${n.distances.length} entries for ${snap.nodes.length} nodes`,
          path: ['nodes', i, 'distances'],
        });
      }
    });
    const known = new Set(ids);
    snap.cpus.forEach((c, i) => {
      if (!known.has(c.node)) ctx.addIssue({ code: 'custom', message: `cpu ${c.id} on unknown node ${c.node}`, path: ['cpus', i, 'node'] });
    });
  });

export type HugepagePool = z.infer<typeof HugepagePoolSchema>;
export type HmatAccess = z.infer<typeof HmatAccessSchema>;
export type NodeHmatFacts = z.infer<typeof NodeHmatSchema>;
export type MemoryTierFacts = z.infer<typeof MemoryTierSchema>;
export type SnapshotNode = z.infer<typeof SnapshotNodeSchema>;
export type SnapshotCpu = z.infer<typeof SnapshotCpuSchema>;
export type HostSnapshot = z.infer<typeof HostSnapshotSchema>;

/** What GET /v1/nodes adds to a node for today's hardware; each key only where the snapshot has the fact. */
export interface NodeHardwareFacts {
  memoryTier?: number;
  hmat?: NodeHmatFacts;
  l3Groups?: { id: number; cpus: number[] }[];
  isolatedCpus?: number[];
}

/**
 * A node's tier, HMAT figures, CPUs by L3 and isolated (or nohz_full) CPUs from a snapshot. Keys are left out, not
 * set to undefined, so a host without these facts serves exactly the node view it served before.
 */
export function nodeHardwareFacts(snap: HostSnapshot, nodeId: number): NodeHardwareFacts {
  const out: NodeHardwareFacts = {};
  const node = snap.nodes.find((n) => n.id === nodeId);
  if (!node) return out;
  if (node.memoryTier !== undefined) out.memoryTier = node.memoryTier;
  if (node.hmat !== undefined) out.hmat = node.hmat;
  const cpus = snap.cpus.filter((c) => c.node === nodeId);
  const groups = groupByL3(cpus);
  if (groups.length > 0) out.l3Groups = groups;
  if (snap.isolatedCpus !== undefined || snap.nohzFullCpus !== undefined) {
    const kept = new Set([...(snap.isolatedCpus ?? []), ...(snap.nohzFullCpus ?? [])]);
    out.isolatedCpus = node.cpus.filter((c) => kept.has(c));
  }
  return out;
}
