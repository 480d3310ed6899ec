// What the HTTP server serves: one method per thing a route asks. The server knows nothing else of the daemon; the
// daemon implements this (daemon/advisor-api-impl.ts) and tests serve a fake. Values are in the model's units (node
// ids as numbers, milliseconds); rendering them for HTTP (nodeset text, seconds) is the server's job.
// Types of what is served come from the layers below, where they are made (server/ sits above them): a copy here
// would drift silently when a field is added there.
import type { DomainMoveOutcome } from '../apply/domain-mover.js';
import type { Plan } from '../balance/plan.js';
import type { GuardVerdict, MemoryGuardSettings } from '../balance/memory-guard.js';
import type { GuestLayout } from '../balance/guest-layout.js';
import type { CapacityOptions, NodeCapacity } from '../model/capacity.js';
import type { DomainFilter } from '../model/domain-filter.js';
import type { NumadOp, NumadSettings } from '../model/numad-settings.js';
import type { Reservation } from '../model/reservations.js';
import type { HostSnapshot } from '../model/snapshot.js';
import type { TrackedProcess } from '../observe/process-scanner.js';
import type { TrackedDomain } from '../libvirt/tracked-domain.js';
import type { Advice, PlacementRequest } from '../policy/types.js';

export interface AdviseOptions {
  /** hold what the answer took until a VM appears or the TTL passes */
  reserve: boolean;
  /** the reservation's TTL; the daemon's default when unset */
  ttlMs?: number;
  /** who asked, recorded with the reservation */
  client: string;
  /** the memory is hugepages of this size (KiB): placed and reserved against each node's pool of it, not MemFree */
  hugepageSizeKiB?: number | undefined;
  /** also make a guest NUMA layout (balance/guest-layout.ts) for an answer over several nodes */
  layout?: boolean | undefined;
}

export interface AdviseResult {
  advice: Advice;
  /** undefined when nothing was reserved */
  reservation: Reservation | undefined;
  /** asked for with `layout`: the guest layout, undefined when the answer is one node or none can be made */
  layout?: GuestLayout | undefined;
}

/** A node as an answer sees it: measured capacity, less what is reserved on it. */
export interface NodeView extends NodeCapacity {
  reservedCpuHundredths: number;
  reservedMemMiB: number;
  /** free after reservations: what the next answer can use */
  availableCpuHundredths: number;
  availableMemMiB: number;
  /** each pool, with the MiB of it hugepage-backed answers hold */
  hugepages: (HostSnapshot['nodes'][number]['hugepages'][number] & { reservedMiB?: number })[];
  /** today's hardware, each absent where the host does not export it */
  memoryTier?: number;
  hmat?: HostSnapshot['nodes'][number]['hmat'];
  /** the node's CPUs grouped by the L3 they share */
  l3Groups?: { id: number; cpus: number[] }[];
  /** the node's CPUs that are isolated or nohz_full */
  isolatedCpus?: number[];
}

export interface NodesView {
  takenAt: string;
  cpuSampleWindowMs: number;
  /** host-wide facts of today's hardware, as in the snapshot; absent where the host does not export them */
  memoryTiers?: HostSnapshot['memoryTiers'];
  numaBalancing?: number;
  demotionEnabled?: boolean;
  hugepageReserved?: HostSnapshot['hugepageReserved'];
  capacity: CapacityOptions;
  cpuAllocationRatio: number;
  reservationTtlMs: number;
  nodes: NodeView[];
}

export interface NumadOptionsResult {
  settings: NumadSettings;
  /** numad's `-i 0`: the daemon stops once the reply is sent */
  shutdown: boolean;
}

/** A process the rebalancer tracks, as observe/'s scan has it. */
export type ProcessView = TrackedProcess;

export type ApplyModeView = 'none' | 'processes' | 'domains' | 'processes,domains';

/** The rebalancer's current plan, as balance/ makes it. */
export type PlanView = Plan;

export interface PlanResult {
  /** what the rebalancer is allowed to carry out (--apply) */
  apply: ApplyModeView;
  plan: PlanView;
}

export interface HealthView {
  startedAtMs: number;
  nodeCount: number;
  reservationCount: number;
}

export interface LibvirtConnectionView {
  uri: string;
  connected: boolean;
  connects: number;
  lastError: string | null;
}

/** Names or UUIDs: with include non-empty only those are advised or moved; exclude are never. */
export type DomainFilterView = DomainFilter;

/** A running domain as GET /v1/domains shows it: the tracker's record with its definition's size and its reservation. */
export type DomainView = Pick<TrackedDomain, 'name' | 'uuid' | 'id' | 'nodeset' | 'vcpuTids' | 'iothreadTids' | 'cgroups' | 'adminPins' | 'excluded'> & {
  vcpus: number;
  memoryMiB: number;
  numaMode: string | null;
  pid: number | null;
  reservation: Reservation | null;
  /** the memory guard's last verdict on it; null when the guard is off or has not evaluated it yet */
  memoryGuard: MemoryGuardVerdictView | null;
};

/** The memory guard's verdict on one domain, as balance/memory-guard.ts makes it. */
export type MemoryGuardVerdictView = GuardVerdict;

/** GET /v1/memory-guard: the guard's settings and its last evaluation. */
export interface MemoryGuardView {
  settings: MemoryGuardSettings;
  /** whether it may widen and narrow (mode widen and --apply domains) */
  acts: boolean;
  /** undefined before its first evaluation */
  evaluatedAtMs: number | undefined;
  verdicts: MemoryGuardVerdictView[];
}

/** What a domain move or rollback did, as apply/'s domain mover reports it. */
export type DomainMoveOutcomeView = DomainMoveOutcome;

/** The libvirt side of the daemon, present only when it talks to libvirt. */
export interface DomainsApi {
  connection(): LibvirtConnectionView;
  /** --apply domains: the rebalancer moves VMs itself */
  movesDomains(): boolean;
  filter(): DomainFilterView;
  setFilter(filter: DomainFilterView): void;
  /** the running domains */
  list(): DomainView[];
  /** each running domain's memory per node and locality, read now (cgroup memory.numa_stat) or as last measured */
  memory(): Promise<DomainMetricsView[]>;
  count(): number;
  /** undo the last move of a running domain (by name or UUID); undefined: no such running domain */
  rollback(key: string): Promise<DomainMoveOutcomeView | undefined>;
  /** the memory guard: settings and last verdicts (issue #14) */
  memoryGuard(): MemoryGuardView;
}

/** A running domain as GET /metrics reports it: its name (libvirt's, never a client's), memory and locality. */
export interface DomainMetricsView {
  name: string;
  /** the guest's memory per node id, in MiB, as last read; undefined when the daemon has no reading of it */
  memoryMiBByNode: ReadonlyMap<number, number> | undefined;
  /**
   * the share (0 to 1) of that memory on the domain's home nodes: those its vCPUs may run on when its affinity is
   * narrower than the host, else its NUMA nodeset, else the one node holding most of it; undefined without a reading
   */
  localityRatio: number | undefined;
}

/** What GET /metrics reports (the gauges; the counters are the server's own, server/metrics.ts). */
export interface MetricsView {
  /** each node as GET /v1/nodes shows it, from the readings the daemon holds (see AdvisorApi.metrics) */
  nodes: NodeView[];
  /** --cpu-allocation-ratio: a reserved vCPU holds 1/ratio of a core against what is available */
  cpuAllocationRatio: number;
  /** live reservations: held for a VM about to start (unbound) or taken over by a running domain (bound) */
  reservations: { unbound: number; bound: number };
  /** moves in the rebalancer's last plan (0 before its first plan) */
  planMoves: number;
  /** undefined when the daemon runs without libvirt */
  libvirtConnected: boolean | undefined;
  /** the running domains (empty without libvirt) */
  domains: DomainMetricsView[];
}

/** Labels of numadvisor_moves_total: what the rebalancer carried out, and how it ended. */
export type MoveEventKind = 'advise' | 'cpu_step' | 'memory_step' | 'revert' | 'swap' | 'domain_move' | 'guard_widen' | 'guard_narrow';
/** ok: done and verified; failed: tried, not done or not verified; advised: logged only, nothing changed */
export type MoveEventResult = 'ok' | 'failed' | 'advised';

/** The rebalancer reports each action it carries out here (the server's metrics count them). */
export interface MoveEvents {
  moveCarriedOut(kind: MoveEventKind, result: MoveEventResult): void;
}

export interface AdvisorApi {
  /**
   * An answer is about to be given, so a VM is probably about to start (libvirt asks before it starts one): the
   * daemon connects to a libvirtd that has just come up, so the VM's start is seen.
   */
  beforeAdvice(): void;
  /** an answer; a reservation it makes is on disk when this resolves */
  advise(request: PlacementRequest, options: AdviseOptions): Promise<AdviseResult>;
  /** release a reservation, resolving once that is on disk; undefined: no such reservation */
  release(id: string): Promise<Reservation | undefined>;
  /** GET /v1/nodes; not a plain getter: the daemon adopts local answers, drops expired reservations and may re-read stale readings first */
  nodes(): NodesView;
  /** GET /v1/reservations; the daemon adopts local answers and drops expired reservations first */
  reservations(): Reservation[];
  numadSettings(): NumadSettings;
  /** numad option changes, all or nothing (a bad op throws and nothing is applied) */
  applyNumadOps(ops: NumadOp[]): NumadOptionsResult;
  processes(): ProcessView[];
  /** what the rebalancer would do now */
  plan(): Promise<PlanResult> | PlanResult;
  health(): HealthView;
  /**
   * GET /metrics. Never reads the host synchronously (a scrape must not hold up an answer): node memory older than a
   * second is re-read asynchronously first, CPU idle is the last sample (an answer's or the rebalancer cycle's); local
   * answers are adopted and expired reservations dropped, as for GET /v1/nodes.
   */
  metrics(): Promise<MetricsView>;
  /** undefined when the daemon runs without libvirt (--libvirt none) */
  readonly domains: DomainsApi | undefined;
}
