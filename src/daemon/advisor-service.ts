// The daemon's state in one place: the host observer, derived capacity, the reservation ledger and the policy.
// The API (advisor-api-impl.ts, for the routes) and the rebalancer call this; it is the only code that combines
// measurement with reservations. It answers in the API's own types (server/advisor-api.ts), defined once there.
import type { HostObserver } from '../observe/host-observer.js';
import { deriveCapacity, hugepageCapacity, hugepagePolicyNodes, hugepagePoolSizes, memoryNodeset, toPolicyNode, type CapacityOptions, type NodeCapacity } from '../model/capacity.js';
import { nodeHardwareFacts, type HostSnapshot } from '../model/snapshot.js';
import { ReservationLedger, type Reservation } from '../model/reservations.js';
import { DEFAULT_POLICY, policyNamed, type PolicyName } from '../policy/registry.js';
import type { PlacementRequest, Policy, PolicyNode } from '../policy/types.js';
import { LOG_NOTICE, preplacementLines, type NumadLog } from '../log/numad-log.js';
import { ledgerBusy, noHugepagePool, notWholeHugepages, stateError } from '../errors.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AdviseOptions, AdviseResult, NodeView } from '../server/advisor-api.js';
import type { GuardNode } from '../balance/memory-guard.js';
import { guestLayout } from '../balance/guest-layout.js';

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

/** A scrape of GET /metrics re-reads node memory (asynchronously) when the reading is older than this. */
export const METRICS_MEMORY_STALE_MS = 1_000;

/** How long an answer waits for a client's hold on the spool of local answers before turning its client away. */
export const SPOOL_BUSY_WAIT_MS = 250;

/** The client name `numad -w` gives when it asks the daemon (cli/numad-main.ts, cli/numad-fast.c). */
export const NUMAD_W_CLIENT = 'numad -w';

/**
 * A domain libvirt has defined that may be the one a `numad -w` is asked for: not running, placement='auto', of the
 * request's vCPUs and MiB (DomainTracker.startingCandidates, from its cache: never a libvirt call on this path).
 */
export interface StartingDomain {
  name: string;
  /** <memoryBacking><hugepages>: its page sizes in KiB, [] for the host's default size; undefined: ordinary memory */
  hugepageSizesKiB: number[] | undefined;
}

export interface AdvisorOptions {
  capacity: CapacityOptions;
  /** numadvisor (default): numad's walk without spreading for CPU alone; numad: numad's walk exactly */
  policy?: PolicyName;
  cpuAllocationRatio: number;
  reservationTtlMs: number;
}

/** The ledger's durability, as the answers need it (ReservationStore). */
export interface LedgerDurability {
  /** resolves once every change made so far is on disk */
  durable(): Promise<void>;
}

/** Answers `numad -w` gave without us (LocalAnswerSpool). */
export interface LocalAnswers {
  hasNew(): boolean;
  /** adopt new ones into the ledger; undefined when a client holds the spool's lock right now */
  ingest(ledger: ReservationLedger, nowMs: number): number | undefined;
  /** whether adopted lines are still in the spool */
  hasConsumed(): boolean;
  /** empty the spool of what was adopted (once that is durable) */
  truncateConsumed(): boolean;
}

export class AdvisorService {
  private snapshotCache: HostSnapshot | undefined;
  private snapshotVersion = -1;
  private capacityCache: NodeCapacity[] | undefined;
  readonly startedAtMs: number;
  /** The configured policy, picked from the registry once; the daemon gives the rebalancer's planner this same one. */
  readonly policy: Policy;
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
    this.policy = policyNamed(options.policy ?? DEFAULT_POLICY);
  }

  /** Set by the daemon: answers and releases are acknowledged only once durable. */
  durability: LedgerDurability | undefined;
  /** Set by the daemon: local answers to adopt before answering. */
  localAnswers: LocalAnswers | undefined;
  /** Set by the daemon when it tracks libvirt: the defined domains a `numad -w` of this size may be starting. */
  startingDomains: ((vcpus: number, memMiB: number) => StartingDomain[]) | undefined;
  /** how many times local answers were adopted (the spool is emptied once the journal holds all of them) */
  private ingests = 0;
  private truncating = false;

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

  /**
   * The observer's readings, first brought up to date (may read /proc/stat and node memory: see freshen), then
   * rebuilt only when it has read something new. "fresh" in a name here means that: the call may read.
   */
  freshSnapshot(): HostSnapshot {
    this.freshen();
    return this.heldSnapshot();
  }

  /** The readings the observer holds, as a snapshot rebuilt only when it has read something new; reads nothing. */
  private heldSnapshot(): HostSnapshot {
    if (!this.snapshotCache || this.snapshotVersion !== this.observer.version) {
      this.snapshotCache = this.observer.snapshot();
      this.snapshotVersion = this.observer.version;
      this.capacityCache = undefined;
    }
    return this.snapshotCache;
  }

  /** Each node's capacity from freshSnapshot() (so it may read), derived again only when the readings changed. */
  freshCapacity(): NodeCapacity[] {
    this.freshen();
    return this.heldCapacity();
  }

  private heldCapacity(): NodeCapacity[] {
    const snap = this.heldSnapshot();
    if (!this.capacityCache) this.capacityCache = deriveCapacity(snap, this.options.capacity);
    return this.capacityCache;
  }

  /**
   * What GET /v1/nodes shows. Changes the ledger first: local answers are adopted and expired reservations dropped;
   * then the readings are freshened as in freshSnapshot(), unless `read` is false (the readings held are used as
   * they are: GET /metrics, which re-reads memory asynchronously itself, see viewNodesForMetrics).
   */
  updateLedgerAndViewNodes({ read = true }: { read?: boolean } = {}): NodeView[] {
    this.adoptLocalAnswers();
    this.ledger.expire(this.clock());
    if (read) this.freshen();
    const snap = this.heldSnapshot();
    return this.heldCapacity().map((cap, i) => {
      const reserved = this.ledger.reservedOn(cap.id);
      const policy = toPolicyNode(cap, reserved, this.options.cpuAllocationRatio);
      return {
        ...cap,
        reservedCpuHundredths: reserved.cpuHundredths,
        reservedMemMiB: reserved.memMiB,
        availableCpuHundredths: policy.cpuFreeHundredths,
        availableMemMiB: policy.memFreeMiB,
        // each pool with the MiB of it that answers hold (hugepage-backed reservations are kept apart from MemFree's)
        hugepages: (snap.nodes[i]?.hugepages ?? []).map((p) => ({ ...p, reservedMiB: this.ledger.reservedHugepagesOn(cap.id, p.sizeKiB) })),
        ...nodeHardwareFacts(snap, cap.id),
      };
    });
  }

  /**
   * The node views for GET /metrics, without a synchronous read: node memory older than METRICS_MEMORY_STALE_MS is
   * re-read asynchronously first (the answers' event loop keeps running meanwhile); CPU idle is the last /proc/stat
   * sample, an answer's or the rebalancer cycle's, so a scrape never changes the window an answer sees.
   */
  async viewNodesForMetrics(): Promise<NodeView[]> {
    if (this.observer.memoryAgeMs > METRICS_MEMORY_STALE_MS) {
      try {
        await this.observer.refreshMemoryAsync();
      } catch (err) {
        this.onReadError?.(err, 'node memory');
      }
    }
    return this.updateLedgerAndViewNodes({ read: false });
  }

  /**
   * What the memory guard sees: each node's free memory (freshCapacity(), so it may read; -C as for answers) less
   * what unbound reservations hold for VMs about to start. Bound reservations are left in: they hold running guests'
   * untouched memory, which the guard counts from each guest's numa_maps, and subtracting them too would count it twice.
   */
  freshMemoryGuardNodes(): GuardNode[] {
    const unbound = new Map<number, number>();
    // Hugepage reservations hold pool pages, which MemFree never counted.
    for (const r of this.ledger.list()) if (!r.domain && r.hugepageSizeKiB === undefined) for (const p of r.perNode) unbound.set(p.node, (unbound.get(p.node) ?? 0) + p.memMiB);
    return this.freshCapacity().map((cap) => ({ id: cap.id, hasMemory: cap.hasMemory, memFreeMiB: Math.max(0, cap.memFreeMiB - (unbound.get(cap.id) ?? 0)), memTotalMiB: cap.memTotalMiB, distances: cap.distances }));
  }

  /** What the policy sees: each node's capacity (freshCapacity(), so it may read) less what is reserved on it. */
  freshPolicyNodes(): PolicyNode[] {
    return this.freshCapacity().map((cap) => toPolicyNode(cap, this.ledger.reservedOn(cap.id), this.options.cpuAllocationRatio));
  }

  /**
   * Adopt answers `numad -w` gave without us. Returns false when a client holds the spool's lock: an answer made
   * now could not count what it is recording, so the caller should not answer (the client falls back locally).
   */
  adoptLocalAnswers(): boolean {
    const spool = this.localAnswers;
    if (!spool) return true;
    if (spool.hasNew()) {
      const adopted = spool.ingest(this.ledger, this.clock());
      if (adopted === undefined) return false;
      this.ingests++;
    }
    if (spool.hasConsumed() && !this.truncating) void this.truncateSpoolWhenDurable(spool);
    return true;
  }

  /**
   * Empty the spool once everything taken from it is in the journal: a crash before that would lose answers libvirt
   * used. Waits again while later ingests add lines to the journal; a client holding the lock makes it give up until
   * the next answer or cycle asks again.
   */
  private async truncateSpoolWhenDurable(spool: LocalAnswers): Promise<void> {
    this.truncating = true;
    try {
      for (;;) {
        const seen = this.ingests;
        await (this.durability?.durable() ?? Promise.resolve());
        if (seen === this.ingests) break;
      }
      spool.truncateConsumed();
    } catch {
      // not durable yet (a failed write): the next answer or cycle tries again
    } finally {
      this.truncating = false;
    }
  }

  /** Adopt local answers, waiting up to SPOOL_BUSY_WAIT_MS for a client that holds the spool. */
  private async adoptLocalAnswersWaiting(): Promise<boolean> {
    let adopted = this.adoptLocalAnswers();
    for (let waited = 0; !adopted && waited < SPOOL_BUSY_WAIT_MS; waited += 2) {
      await sleep(2);
      adopted = this.adoptLocalAnswers();
    }
    return adopted;
  }

  /**
   * An answer for a client: local answers adopted first, the reservation durable before it is returned, withdrawn
   * if it cannot be made durable or if a local answer recorded meanwhile promised the same memory.
   */
  async adviseDurably(request: PlacementRequest, opts: AdviseOptions): Promise<AdviseResult> {
    // A client recording a local answer holds the spool for a few milliseconds: wait for it rather than turn this
    // client away too (which would make it answer locally as well, and keep the spool busy).
    const adopted = await this.adoptLocalAnswersWaiting();
    if (!adopted && opts.reserve) throw ledgerBusy('a local numad -w answer is being recorded; ask again');
    const result = this.advise(request, opts);
    const r = result.reservation;
    if (!r) return result;
    try {
      await this.durability?.durable();
    } catch (err) {
      this.ledger.release(r.id);
      throw err;
    }
    // A client may have recorded a local answer while ours was being written, having read our files before it: it
    // counted everything but ours. Whoever commits second must see the other, so look again now — waiting for the
    // spool if a client holds it — and withdraw ours if the two together promise a node more than it has.
    if (this.localAnswers?.hasNew()) {
      const seen = await this.adoptLocalAnswersWaiting();
      if (!seen || (result.advice.fits && this.overPromised(r))) {
        await this.releaseDurably(r.id).catch(() => undefined);
        throw ledgerBusy(seen ? 'a local numad -w answer took the same memory meanwhile; ask again' : 'a local numad -w answer is being recorded; ask again');
      }
    }
    return result;
  }

  /** The live reservations; changes the ledger first: local answers adopted, expired reservations dropped. */
  updateLedgerAndListReservations(): Reservation[] {
    this.adoptLocalAnswers();
    this.ledger.expire(this.clock());
    return this.ledger.list();
  }

  /** Whether any node of this reservation is now promised more memory than it has free (in its pool, for hugepages). */
  private overPromised(r: Reservation): boolean {
    const size = r.hugepageSizeKiB;
    const fresh = this.freshCapacity();
    const caps = new Map((size === undefined ? fresh : hugepageCapacity(fresh, this.heldSnapshot(), size).caps).map((c) => [c.id, c]));
    const held = (node: number): number => (size === undefined ? this.ledger.reservedOn(node).memMiB : this.ledger.reservedHugepagesOn(node, size));
    return r.perNode.some((p) => {
      const cap = caps.get(p.node);
      return cap !== undefined && p.memMiB > 0 && cap.memFreeMiB - held(p.node) < 0;
    });
  }

  /**
   * The policy's view for a request backed by hugepages of `sizeKiB`: each node's pool of that size (model/capacity.ts
   * hugepageCapacity) less earlier hugepage answers of the same size; CPU less every reservation, as always.
   */
  private freshHugepagePolicyNodes(sizeKiB: number): { nodes: PolicyNode[]; reasons: string[] } {
    const { nodes, available, pools } = hugepagePolicyNodes(
      this.freshCapacity(),
      this.heldSnapshot(),
      sizeKiB,
      (node) => ({ cpuHundredths: this.ledger.reservedOn(node).cpuHundredths, memMiB: this.ledger.reservedHugepagesOn(node, sizeKiB) }),
      this.options.cpuAllocationRatio,
    );
    const reasons = pools.map((p, i) => {
      const held = this.ledger.reservedHugepagesOn(p.node, sizeKiB);
      const notes = [
        ...(p.kernelReservedPages > 0 ? [`${p.kernelReservedPages} of them reserved by the kernel for mappings not yet faulted in`] : []),
        ...(held > 0 ? [`${held} MiB held by earlier answers`] : []),
      ];
      return `hugepages ${sizeKiB} kB: node ${p.node} has ${p.freePages} free${notes.length > 0 ? ` (${notes.join(', ')})` : ''}, ${available[i]?.memFreeMiB ?? 0} MiB available`;
    });
    return { nodes, reasons };
  }

  /**
   * Whether this request's memory is hugepages, and of which size: the size asked for (a size the host has no pool of,
   * or memory that is not a whole number of pages, is the caller's mistake), else for `numad -w`, which carries no page
   * size, the size of the one defined domain it can be starting. sizeKiB undefined: ordinary memory (the reasons say
   * why when a hugepage-backed domain was in question).
   */
  private hugepageChoice(request: PlacementRequest, opts: AdviseOptions): { sizeKiB: number | undefined; reasons: string[] } {
    const ordinary = (reason?: string): { sizeKiB: undefined; reasons: string[] } => ({ sizeKiB: undefined, reasons: reason === undefined ? [] : [reason] });
    const snap = this.heldSnapshot();
    const sizes = hugepagePoolSizes(snap);
    if (opts.hugepageSizeKiB !== undefined) {
      if (!sizes.includes(opts.hugepageSizeKiB)) throw noHugepagePool(opts.hugepageSizeKiB, sizes);
      if ((request.memMiB * 1024) % opts.hugepageSizeKiB !== 0) throw notWholeHugepages(request.memMiB, opts.hugepageSizeKiB);
      return { sizeKiB: opts.hugepageSizeKiB, reasons: [] };
    }
    if (opts.client !== NUMAD_W_CLIENT || !this.startingDomains || request.cpuHundredths % 100 !== 0) return ordinary();
    const candidates = this.startingDomains(request.cpuHundredths / 100, request.memMiB);
    // Only a single defined domain of this size is known to be the one starting; with several (or a transient domain,
    // defined nowhere) it is not, and counting an ordinary guest against a pool would be as wrong as the reverse.
    if (candidates.length !== 1) {
      if (!candidates.some((c) => c.hugepageSizesKiB !== undefined)) return ordinary();
      return ordinary(`hugepages: ${candidates.length} defined domains of this size could be starting (${candidates.map((c) => c.name).join(', ')}); counted as ordinary memory`);
    }
    const only = candidates[0] as StartingDomain;
    if (only.hugepageSizesKiB === undefined) return ordinary();
    const distinct = [...new Set(only.hugepageSizesKiB.length > 0 ? only.hugepageSizesKiB : [snap.meminfo.hugepageSizeKiB])];
    const sizeKiB = distinct[0] as number;
    const refuse = (why: string): { sizeKiB: undefined; reasons: string[] } => ordinary(`hugepages: domain ${only.name} is starting ${why}; counted as ordinary memory`);
    if (distinct.length !== 1) return refuse(`with pages of ${distinct.map((k) => `${k} kB`).join(' and ')}`);
    if (!sizes.includes(sizeKiB)) return refuse(`with ${sizeKiB} kB pages, a size this host has no pool of`);
    if ((request.memMiB * 1024) % sizeKiB !== 0) return refuse(`but ${request.memMiB} MiB is not a whole number of its ${sizeKiB} kB pages`);
    return { sizeKiB, reasons: [`hugepages: ${sizeKiB} kB pages, as defined for domain ${only.name}, the only defined domain of this size`] };
  }

  /** Release a reservation and return once the release is durable (undefined: no such reservation). */
  async releaseDurably(id: string): Promise<Reservation | undefined> {
    const released = this.ledger.release(id);
    if (!released) return undefined;
    try {
      await this.durability?.durable();
    } catch (err) {
      // Released here already: the next successful write rewrites the whole ledger without it. Say so, since a
      // crash before then would bring it back, and a retry would find nothing to release.
      throw stateError(`released, but not yet saved (${(err as Error).message}); it may come back if the daemon crashes before its next successful write`, err);
    }
    return released;
  }

  advise(request: PlacementRequest, opts: AdviseOptions): AdviseResult {
    const now = this.clock();
    this.ledger.expire(now);
    const { sizeKiB: hugepageSizeKiB, reasons } = this.hugepageChoice(request, opts);
    const pools = hugepageSizeKiB === undefined ? undefined : this.freshHugepagePolicyNodes(hugepageSizeKiB);
    // hugepages: a multi-node answer splits the memory in whole pages (policy: memUnitMiB)
    const unit = hugepageSizeKiB !== undefined && hugepageSizeKiB % 1024 === 0 ? { memUnitMiB: hugepageSizeKiB / 1024 } : {};
    const advice = this.policy.advise(pools?.nodes ?? this.freshPolicyNodes(), { ...request, ...unit });
    advice.reasons.unshift(...reasons, ...(pools?.reasons ?? []));
    const reservation = opts.reserve
      ? this.ledger.reserve(advice, { nowMs: now, ttlMs: opts.ttlMs ?? this.options.reservationTtlMs, client: opts.client, hugepageSizeKiB })
      : undefined;
    if (reservation) advice.reasons.push(`reserved as ${reservation.id} until ${reservation.expiresAt}`);
    this.numadLog?.log(LOG_NOTICE, ...preplacementLines(request.cpuHundredths, request.memMiB, memoryNodeset(this.freshCapacity()), advice.nodeset));
    if (!opts.layout) return { advice, reservation };
    // The API knows CPUs, not vCPUs: a guest asking for 1.5 CPUs has 2 vCPUs. Pins avoid the CPUs -R keeps for the host.
    // Isolated and nohz_full CPUs get no pins, as in a domain move (daemon/domain-moves.ts hostPinning).
    const usable = new Set(this.heldCapacity().flatMap((c) => c.cpus));
    const snap = this.heldSnapshot();
    const layout = guestLayout(
      { vcpus: Math.ceil(request.cpuHundredths / 100), memKiB: request.memMiB * 1024, hugepageKiB: hugepageSizeKiB },
      advice,
      snap.cpus.filter((c) => usable.has(c.id)),
      { isolatedCpus: new Set([...(snap.isolatedCpus ?? []), ...(snap.nohzFullCpus ?? [])]) },
    );
    return { advice, reservation, layout };
  }
}
