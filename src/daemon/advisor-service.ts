// The daemon's state in one place: the host observer, derived capacity, the reservation ledger and the policy.
// Routes and the numad command call this; it is the only code that combines measurement with reservations.
import type { HostObserver } from '../observe/host-observer.js';
import { deriveCapacity, memoryNodeset, toPolicyNode, type CapacityOptions, type NodeCapacity } from '../model/capacity.js';
import type { HostSnapshot } from '../model/snapshot.js';
import { ReservationLedger, type Reservation } from '../model/reservations.js';
import { advise, type PolicyName } from '../policy/numadvisor.js';
import type { Advice, PlacementRequest, PolicyNode } from '../policy/types.js';
import { LOG_NOTICE, preplacementLines, type NumadLog } from '../log/numad-log.js';

/**
 * A reserved vCPU is expected to keep 1/ratio of a CPU busy. Counting it as a whole CPU would make a host refuse
 * single-node answers after one vCPU per core, although KVM hosts overcommit vCPUs routinely; Nova's default
 * initial_cpu_allocation_ratio is 4.0 for the same reason. Measured load is still counted in full.
 */
export const CPU_ALLOCATION_RATIO = 4;

/**
 * While answering, memory counters older than this are re-read in the background (numad re-reads per query, but on
 * a 64-node host that is ~400 sysfs reads, milliseconds on the answer path). Capacity an answer promised is in the
 * ledger at once, so only memory taken by others in the last quarter second is not yet seen.
 */
export const MEMORY_REFRESH_MS = 250;

/**
 * Counters older than this (the daemon was idle) are re-read before answering, not after: the first VM start after a
 * quiet spell must not be placed on a picture from the last rebalancer cycle, up to 15 s old.
 */
export const MEMORY_SYNC_REFRESH_MS = 2_000;

/**
 * numad takes a /proc/stat sample per query when the last is more than 0.07 s old (numad.md §5.5). We sample per
 * query too, but only when the last sample is a second old, so a burst of answers shares one window of at least a
 * second instead of 70 ms of noise. With nobody asking there is no timer at all: the rebalancer cycle samples, which
 * keeps the idle daemon as cheap as numad's (a fixed 2 s sampler and 5 s memory timer cost 13x numad's CPU in the lab).
 */
export const CPU_SAMPLE_STALE_MS = 1_000;

export interface AdvisorOptions {
  capacity: CapacityOptions;
  /** numadvisor (default): numad's walk without spreading for CPU alone; numad: numad's walk exactly */
  policy?: PolicyName;
  cpuAllocationRatio: number;
  reservationTtlMs: number;
}

export interface NodeView extends NodeCapacity {
  reservedCpuHundredths: number;
  reservedMemMiB: number;
  /** Free after reservations: what the next answer can use. */
  availableCpuHundredths: number;
  availableMemMiB: number;
  hugepages: HostSnapshot['nodes'][number]['hugepages'];
}

export interface AdviseOptions {
  reserve: boolean;
  ttlMs?: number;
  client: string;
}

export interface AdviseResult {
  advice: Advice;
  reservation: Reservation | undefined;
}

export class AdvisorService {
  private snapshotCache: HostSnapshot | undefined;
  private snapshotVersion = -1;
  private capacityCache: NodeCapacity[] | undefined;
  readonly startedAtMs: number;
  /** Called when an answer used memory counters older than MEMORY_REFRESH_MS; the daemon re-reads in the background. */
  onStaleMemory: (() => void) | undefined;
  /** Reports a failed on-demand read; the answer then uses the previous readings. */
  onReadError: ((err: unknown, what: string) => void) | undefined;

  constructor(
    readonly observer: HostObserver,
    readonly ledger: ReservationLedger,
    readonly options: AdvisorOptions,
    readonly numadLog: NumadLog | undefined,
    private readonly clock: () => number = Date.now,
  ) {
    this.startedAtMs = clock();
  }

  setCapacityOptions(capacity: CapacityOptions): void {
    this.options.capacity = capacity;
    this.capacityCache = undefined;
  }

  /** Bring CPU and memory readings up to date for an answer: see CPU_SAMPLE_STALE_MS and MEMORY_*_MS. */
  private freshen(): void {
    try {
      if (this.observer.cpuSampleAgeMs >= CPU_SAMPLE_STALE_MS) this.observer.sampleCpu();
    } catch (err) {
      this.onReadError?.(err, '/proc/stat');
    }
    const memoryAge = this.observer.memoryAgeMs;
    if (memoryAge > MEMORY_SYNC_REFRESH_MS) {
      try {
        this.observer.refreshMemory();
      } catch (err) {
        this.onReadError?.(err, 'node memory');
      }
    } else if (memoryAge > MEMORY_REFRESH_MS) this.onStaleMemory?.();
  }

  /** A /proc/stat sample now: the rebalancer cycle takes one, so an answer's CPU window is at most a cycle long. */
  sampleCpu(): void {
    this.observer.sampleCpu();
  }

  /** Node memory now (the rebalancer, when it has candidates to plan for). */
  refreshMemory(): void {
    this.observer.refreshMemory();
  }

  /** How many nodes the host has, without reading anything. */
  get nodeCount(): number {
    return this.observer.shape().nodes.length;
  }

  /** The observer's latest readings, rebuilt only when it has read something new. */
  snapshot(): HostSnapshot {
    this.freshen();
    if (!this.snapshotCache || this.snapshotVersion !== this.observer.version) {
      this.snapshotCache = this.observer.snapshot();
      this.snapshotVersion = this.observer.version;
      this.capacityCache = undefined;
    }
    return this.snapshotCache;
  }

  capacity(): NodeCapacity[] {
    const snap = this.snapshot();
    if (!this.capacityCache) this.capacityCache = deriveCapacity(snap, this.options.capacity);
    return this.capacityCache;
  }

  nodes(): NodeView[] {
    this.ledger.expire(this.clock());
    const snap = this.snapshot();
    return this.capacity().map((cap, i) => {
      const reserved = this.ledger.reservedOn(cap.id);
      const policy = toPolicyNode(cap, reserved, this.options.cpuAllocationRatio);
      return {
        ...cap,
        reservedCpuHundredths: reserved.cpuHundredths,
        reservedMemMiB: reserved.memMiB,
        availableCpuHundredths: policy.cpuFreeHundredths,
        availableMemMiB: policy.memFreeMiB,
        hugepages: snap.nodes[i]?.hugepages ?? [],
      };
    });
  }

  /** What the policy sees: each node's capacity less what is reserved on it. */
  policyNodes(): PolicyNode[] {
    return this.capacity().map((cap) => toPolicyNode(cap, this.ledger.reservedOn(cap.id), this.options.cpuAllocationRatio));
  }

  advise(request: PlacementRequest, opts: AdviseOptions): AdviseResult {
    const now = this.clock();
    this.ledger.expire(now);
    const advice = advise(this.options.policy ?? 'numadvisor', this.policyNodes(), request);
    const reservation = opts.reserve
      ? this.ledger.reserve(advice, { nowMs: now, ttlMs: opts.ttlMs ?? this.options.reservationTtlMs, client: opts.client })
      : undefined;
    if (reservation) advice.reasons.push(`reserved as ${reservation.id} until ${reservation.expiresAt}`);
    this.numadLog?.log(LOG_NOTICE, ...preplacementLines(request.cpuHundredths, request.memMiB, memoryNodeset(this.capacity()), advice.nodeset));
    return { advice, reservation };
  }
}
