// What the HTTP server serves: one method per thing a route asks. The server knows nothing else of the daemon; the
// daemon implements this (daemon/advisor-api-impl.ts) and tests serve a fake. Values are in the model's units (node
// ids as numbers, milliseconds); rendering them for HTTP (nodeset text, seconds) is the server's job.
import type { CapacityOptions, NodeCapacity } from '../model/capacity.js';
import type { NumadOp, NumadSettings } from '../model/numad-settings.js';
import type { Reservation } from '../model/reservations.js';
import type { HostSnapshot } from '../model/snapshot.js';
import type { Advice, PlacementRequest } from '../policy/types.js';

export interface AdviseOptions {
  /** hold what the answer took until a VM appears or the TTL passes */
  reserve: boolean;
  /** the reservation's TTL; the daemon's default when unset */
  ttlMs?: number;
  /** who asked, recorded with the reservation */
  client: string;
}

export interface AdviseResult {
  advice: Advice;
  /** undefined when nothing was reserved */
  reservation: Reservation | undefined;
}

/** A node as an answer sees it: measured capacity, less what is reserved on it. */
export interface NodeView extends NodeCapacity {
  reservedCpuHundredths: number;
  reservedMemMiB: number;
  /** free after reservations: what the next answer can use */
  availableCpuHundredths: number;
  availableMemMiB: number;
  hugepages: HostSnapshot['nodes'][number]['hugepages'];
}

export interface NodesView {
  takenAt: string;
  cpuSampleWindowMs: number;
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

/** A process the rebalancer tracks (observe/'s scan). */
export interface ProcessView {
  pid: number;
  comm: string;
  threads: number;
  rssMiB: number;
  vsizeMiB: number;
  /** peak CPU use over the sample ring, hundredths of a CPU */
  cpuUsedHundredths: number;
  cpusAllowed: number[];
  memsAllowed: number[];
  isLibvirtDomain: boolean;
  excluded: boolean;
  included: boolean;
  /** MiB per node id; measured for candidates only */
  memoryMiBByNode?: Record<string, number>;
  memorySource?: 'cgroup' | 'numa_maps';
  interleavedMiB?: number;
}

export type ApplyModeView = 'none' | 'processes' | 'domains' | 'processes,domains';

export type MoveKindView = 'cpu' | 'memory' | 'revert' | 'swap';

export interface PlannedMoveView {
  pid: number;
  comm: string;
  kind: MoveKindView;
  from: number[];
  to: number[];
  toNodeset: string;
  cpus: number[];
  migrateMiB: number;
  localityBeforePercent: number;
  localityAfterPercent: number;
  costMiBPerPoint: number;
  /** false for libvirt domains: they move through libvirt only */
  applicable: boolean;
  reason: string;
  /** kind 'swap': the other process, moving to where this one leaves */
  partner?: Pick<PlannedMoveView, 'pid' | 'comm' | 'from' | 'to' | 'toNodeset' | 'cpus' | 'migrateMiB' | 'localityBeforePercent'>;
}

export interface PlanView {
  atMs: number;
  moves: PlannedMoveView[];
  skipped: { pid: number; comm: string; reason: string }[];
}

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
export interface DomainFilterView {
  include: string[];
  exclude: string[];
}

export interface DomainView {
  name: string;
  uuid: string;
  id: number;
  vcpus: number;
  memoryMiB: number;
  numaMode: string | null;
  nodeset: number[];
  pid: number | null;
  vcpuTids: Record<string, number>;
  iothreadTids: Record<string, number>;
  cgroups: Record<string, string>;
  adminPins: { vcpus: number[]; emulator: boolean; iothreads: number[] };
  excluded: boolean;
  reservation: Reservation | null;
}

export interface DomainPlacementView {
  mode: string | undefined;
  nodeset: string;
  vcpuPins: number[][];
  emulatorPin: number[];
  iothreadPins: { id: number; cpus: number[] }[];
}

export interface DomainMoveOutcomeView {
  ok: boolean;
  domain: string;
  uuid: string;
  action: 'apply' | 'rollback';
  memoryMoved: boolean;
  reason: string;
  before: DomainPlacementView;
  after: DomainPlacementView;
  elapsedMs: number;
  error?: string;
}

/** The libvirt side of the daemon, present only when it talks to libvirt. */
export interface DomainsApi {
  connection(): LibvirtConnectionView;
  /** --apply domains: the rebalancer moves VMs itself */
  movesDomains(): boolean;
  filter(): DomainFilterView;
  setFilter(filter: DomainFilterView): void;
  /** the running domains */
  list(): DomainView[];
  count(): number;
  /** undo the last move of a running domain (by name or UUID); undefined: no such running domain */
  rollback(key: string): Promise<DomainMoveOutcomeView | undefined>;
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
  nodes(): NodesView;
  reservations(): Reservation[];
  numadSettings(): NumadSettings;
  /** numad option changes, all or nothing (a bad op throws and nothing is applied) */
  applyNumadOps(ops: NumadOp[]): NumadOptionsResult;
  processes(): ProcessView[];
  /** what the rebalancer would do now */
  plan(): PlanResult;
  health(): HealthView;
  /** undefined when the daemon runs without libvirt (--libvirt none) */
  readonly domains: DomainsApi | undefined;
}
