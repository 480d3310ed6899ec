// The HTTP API's contract. Inputs are validated here and nowhere else; outputs are typed from the same schemas,
// and `numadvisor schemas` exports all of them as JSON Schema into schemas/.
import { z } from 'zod';
import { MAX_RESERVATION_TTL_MS } from '../model/reservations.js';
import { ReservationSchema } from '../model/reservation-schema.js';
import { HostSnapshotSchema, HugepagePoolSchema, HugepageReservedSchema, MemoryTierSchema, NodeHmatSchema } from '../model/snapshot.js';
import { NumadOpSchema, NumadSettingsSchema } from '../model/numad-settings-schema.js';

/** Beyond any host Linux runs on (libvirt's own vCPU limit is 16384 on x86), so larger is a caller's bug. */
export const MAX_REQUEST_CPUS = 1_000_000;
/** 1 PiB in MiB. */
export const MAX_REQUEST_MEM_MIB = 1_073_741_824;

import { CPUS_TEXT } from '../policy/request-units.js';
const UINT_TEXT = /^\d{1,16}$/;

export const AdviceQuerySchema = z
  .object({
    cpus: z.string().regex(CPUS_TEXT, 'cpus must be a number of CPUs with at most two decimals, e.g. 2 or 1.5'),
    mem: z.string().regex(UINT_TEXT, 'mem must be a whole number of MiB').default('0'),
    /**
     * The memory is hugepages of this size in KiB (e.g. 2048, 1048576): placed on and reserved against each node's
     * pool of that size instead of MemFree; mem must then be a whole number of pages.
     */
    hugepages: z.string().regex(/^[1-9]\d{0,9}$/, 'hugepages must be a page size in KiB, e.g. 2048').optional(),
    reserve: z.enum(['true', 'false', '1', '0']).default('true'),
    ttl: z.string().regex(UINT_TEXT, 'ttl must be a whole number of seconds').optional(),
    client: z.string().max(64).optional(),
    /** true: the score of every node and every centre; false (default): only the chosen nodes'. */
    explain: z.enum(['true', 'false', '1', '0']).default('false'),
    /** true: add `layout`, a guest NUMA layout for an answer over several nodes (null for one node). */
    layout: z.enum(['true', 'false', '1', '0']).default('false'),
    /**
     * true: the memory may go to a slower tier (CPU-less memory nodes: CXL expanders, GPU memory) even when the CPU
     * nodes' own memory holds it; by default slower memory is used only when nothing else fits (docs/policy.md).
     */
    slowtier: z.enum(['true', 'false', '1', '0']).default('false'),
    /**
     * When the client gives up (Unix time in ms): past it the daemon reserves nothing and answers 503
     * NUMADVISOR_ERR_DEADLINE, because the client has answered itself (`numad -w` sends it).
     */
    deadline: z.string().regex(/^\d{1,15}$/, 'deadline must be a Unix time in milliseconds').optional(),
    /** json (default), or nodeset: the bare nodeset line as text/plain (what `numad -w` prints). */
    format: z.enum(['json', 'nodeset']).default('json'),
  })
  .strict();

export const AdviceBodySchema = z
  .object({
    cpus: z.number().min(0),
    mem: z.number().int().min(0).default(0),
    /** as the query's hugepages: the page size in KiB of hugepage-backed memory */
    hugepagesKiB: z.number().int().positive().max(9_999_999_999).optional(),
    reserve: z.boolean().default(true),
    ttlSeconds: z.number().int().positive().optional(),
    client: z.string().max(64).optional(),
    explain: z.boolean().default(false),
    /** as the query's layout */
    layout: z.boolean().default(false),
    /** as the query's slowtier */
    allowSlowTier: z.boolean().default(false),
  })
  .strict();

export const OptionsBodySchema = z.object({ ops: z.array(NumadOpSchema).max(64) }).strict();
export const OptionsResponseSchema = z.object({ settings: NumadSettingsSchema, shutdown: z.boolean().optional() });

/** A domain by name or UUID: libvirt names are free text but never contain a slash or a control character. */
const DomainKeySchema = z.string().min(1).max(256).regex(/^[^/\u0000-\u001f]+$/, 'a domain name or UUID');
export const DomainFilterBodySchema = z.object({ include: z.array(DomainKeySchema).max(4096).default([]), exclude: z.array(DomainKeySchema).max(4096).default([]) }).strict();
export const DomainKeyParamsSchema = z.object({ key: DomainKeySchema }).strict();

/**
 * Any id the ledger may hold, not only a UUID: an id that was stored must be deletable (ids are checked when they
 * are stored and restored; an older daemon restored non-UUID ids that then could not be deleted).
 */
export const ReservationIdParamsSchema = z
  .object({ id: z.string().min(1).max(256).regex(/^[^\u0000-\u001f/]+$/, 'a reservation id') })
  .strict();

export const ErrorResponseSchema = z.object({
  error: z.object({ code: z.string(), message: z.string() }),
});

export const GuestLayoutSchema = z.object({
  cells: z.array(
    z.object({
      id: z.number().int(),
      hostNode: z.number().int(),
      vcpus: z.array(z.number().int()),
      memKiB: z.number().int(),
      vcpuPins: z.array(z.object({ vcpu: z.number().int(), cpus: z.array(z.number().int()) })),
    }),
  ),
  memKiB: z.number().int(),
  alignKiB: z.number().int(),
  reasons: z.array(z.string()),
});

const PlacementRequestSchema = z.object({
  cpuHundredths: z.number().int().nonnegative(),
  memMiB: z.number().int().nonnegative(),
});

export const AdviceResponseSchema = z.object({
  nodeset: z.string(),
  nodes: z.array(z.number().int()),
  fits: z.boolean(),
  policy: z.string(),
  request: PlacementRequestSchema,
  unmet: PlacementRequestSchema,
  centre: z.number().int(),
  minNodes: z.number().int(),
  reasons: z.array(z.string()),
  /** Every centre's weighted value; empty unless explain=true. */
  centres: z.array(z.object({ centre: z.number().int(), weightedMagnitude: z.number() })),
  /** Score breakdown of the chosen nodes, or of every node with explain=true. */
  perNode: z.array(
    z.object({
      node: z.number().int(),
      cpuFreeHundredths: z.number(),
      memFreeMiB: z.number(),
      magnitude: z.number(),
      takenCpuHundredths: z.number(),
      takenMemMiB: z.number(),
      chosen: z.boolean(),
    }),
  ),
  reservation: ReservationSchema.nullable(),
  /**
   * Only when the request asked for it (layout=true): the guest NUMA cells for an answer over several nodes (one
   * cell per host node that gives memory or CPU; libvirt's <cpu><numa>, <numatune><memnode>, <vcpupin>), null when
   * the answer is one node. vCPUs are ceil(cpus); docs/policy.md "Guest NUMA layouts".
   */
  layout: GuestLayoutSchema.nullable().optional(),
});

export const NodeViewSchema = z.object({
  id: z.number().int(),
  cpus: z.array(z.number().int()),
  hasMemory: z.boolean(),
  hasCpu: z.boolean(),
  cpuTotalHundredths: z.number(),
  cpuFreeHundredths: z.number(),
  memTotalMiB: z.number(),
  memFreeMiB: z.number(),
  distances: z.array(z.number().int()),
  reservedCpuHundredths: z.number(),
  reservedMemMiB: z.number(),
  availableCpuHundredths: z.number(),
  availableMemMiB: z.number(),
  /** each hugepage pool; reservedMiB: what hugepage-backed answers hold of it (absent in older daemons) */
  hugepages: z.array(HugepagePoolSchema.extend({ reservedMiB: z.number().int().nonnegative().optional() })),
  // Today's hardware: optional, a host may lack each (no memory tiering, no HMAT, no cache/ in sysfs).
  /** N of the memory_tierN that lists this node (smaller = faster) */
  memoryTier: z.number().int().optional(),
  /** HMAT figures for this node's memory, as in the snapshot */
  hmat: NodeHmatSchema.optional(),
  /** the node's CPUs grouped by the L3 they share (one group per CCX, SNC domain or socket) */
  l3Groups: z.array(z.object({ id: z.number().int(), cpus: z.array(z.number().int()) })).optional(),
  /** the node's CPUs that are isolated or nohz_full */
  isolatedCpus: z.array(z.number().int()).optional(),
});

export const NodesResponseSchema = z.object({
  takenAt: z.string(),
  cpuSampleWindowMs: z.number(),
  options: z.object({
    inactiveFileIsFree: z.boolean(),
    htPercent: z.number(),
    reservedCpus: z.string(),
    cpuAllocationRatio: z.number(),
    reservationTtlSeconds: z.number(),
  }),
  nodes: z.array(NodeViewSchema),
  /** memory tiers, fastest first; absent without memory tiering (before Linux 6.1) */
  memoryTiers: z.array(MemoryTierSchema).optional(),
  /** /proc/sys/kernel/numa_balancing: 0 off, bit 0 NUMA balancing, bit 1 memory tiering */
  numaBalancing: z.number().int().optional(),
  /** /sys/kernel/mm/numa/demotion_enabled */
  demotionEnabled: z.boolean().optional(),
  /** host-wide resv_hugepages per page size (per-node free_hugepages still counts these) */
  hugepageReserved: z.array(HugepageReservedSchema).optional(),
});

export const ReservationsResponseSchema = z.object({ reservations: z.array(ReservationSchema) });

export const HealthResponseSchema = z.object({
  status: z.literal('ok'),
  version: z.string(),
  pid: z.number().int(),
  uptimeSeconds: z.number(),
  nodes: z.number().int(),
  reservations: z.number().int(),
});

export { HostSnapshotSchema, ReservationSchema, MAX_RESERVATION_TTL_MS };

/** Everything exported to schemas/, by file name. */
export const EXPORTED_SCHEMAS: Record<string, z.ZodType> = {
  'advice-query': AdviceQuerySchema,
  'advice-body': AdviceBodySchema,
  'advice-response': AdviceResponseSchema,
  'nodes-response': NodesResponseSchema,
  'reservations-response': ReservationsResponseSchema,
  reservation: ReservationSchema,
  'health-response': HealthResponseSchema,
  'options-body': OptionsBodySchema,
  'options-response': OptionsResponseSchema,
  error: ErrorResponseSchema,
  'host-snapshot': HostSnapshotSchema,
};

export type AdviceResponse = z.infer<typeof AdviceResponseSchema>;
