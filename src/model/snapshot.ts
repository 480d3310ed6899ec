// The host snapshot: raw facts read from sysfs/procfs at one moment, before any policy option (-C, -t, -R) is
// applied. Keeping facts and derived capacity apart lets an operator capture a host once (`numadvisor snapshot`)
// and replay requests against it with other options (`numadvisor advise --snapshot`).
import { z } from 'zod';

export const HugepagePoolSchema = z.object({
  sizeKiB: z.number().int().positive(),
  total: z.number().int().nonnegative(),
  free: z.number().int().nonnegative(),
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
export type SnapshotNode = z.infer<typeof SnapshotNodeSchema>;
export type SnapshotCpu = z.infer<typeof SnapshotCpuSchema>;
export type HostSnapshot = z.infer<typeof HostSnapshotSchema>;
