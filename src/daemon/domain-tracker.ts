// Keeps the running libvirt domains and ties the capacity numad -w promised to the VM that took it: on a domain's
// STARTED event (or, for a domain that started while we were not connected, on the next connection) its own answer is
// bound to it, released on STOPPED, and shrunk as the guest's memory materialises. The rules are model/'s
// (reservation-binding, domain-filter), what the QEMU process looks like is observe/'s (qemu-processes); this service
// listens to libvirt and carries them out on the ledger.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { FsRoot } from '../topology/fsroot.js';
import { parseIdList } from '../topology/idlist.js';
import type { Reservation, ReservationLedger } from '../model/reservations.js';
import { domainSelected, type DomainFilter } from '../model/domain-filter.js';
import { askedNumad, pickAnswer, RESYNC_BIND_WINDOW_MS, sameHolding, shrinkBoundReservation } from '../model/reservation-binding.js';
import { readMemoryMiBByNodeAsync, readProcessStartMs, readQemuPid, readQemuStatusXml, readQemuThreads } from '../observe/qemu-processes.js';
import { LIFECYCLE, type Domain, type LibvirtClient, type LifecycleEvent, type TunableEvent } from '../libvirt/client.js';
import { parseDomainXml, parseStatusXml } from '../libvirt/domain-xml.js';
import type { TrackedDomain, TunableAnnouncer } from '../libvirt/tracked-domain.js';
import type { StartingDomain } from './advisor-service.js';

/** virDomainGetXMLDesc's VIR_DOMAIN_XML_INACTIVE: the persistent definition, what the next start will use. */
const VIR_DOMAIN_XML_INACTIVE = 2;

/** numa_maps reads of guests at once (readGuestMemories), hanging ones included: two of libuv's four pool threads. */
export const GUEST_READS_IN_FLIGHT = 2;

/** What a `numad -w` needs of a defined domain to tell whether it is the one starting (startingCandidates). */
interface DefinedDomain {
  name: string;
  vcpus: number;
  memoryMiB: number;
  /** placement='auto' of its vCPUs or memory: libvirt asks numad -w before starting it */
  asksNumad: boolean;
  hugepageSizesKiB: number[] | undefined;
}

export interface TrackerEvents {
  bound: [TrackedDomain, Reservation];
  released: [TrackedDomain, Reservation];
}

export class DomainTracker extends EventEmitter<TrackerEvents> implements TunableAnnouncer {
  readonly domains = new Map<string, TrackedDomain>();
  /**
   * libvirt's persistent domains by UUID, running or not, from their inactive XML: read at connect and on DEFINED
   * events, dropped on UNDEFINED, so a `numad -w` is matched to its domain without a libvirt call on its path.
   */
  readonly defined = new Map<string, DefinedDomain>();
  /** QEMU pids whose numa_maps read has not returned yet (readGuestMemories) */
  private readonly pendingReads = new Set<number>();
  /** every running domain's UUID, excluded ones too (a running domain is never the one `numad -w` is asked for) */
  private readonly running = new Set<string>();
  /** what each bound reservation held when bound, per node, so shrinking is relative to the promise */
  private readonly promised = new Map<string, Reservation['perNode']>();
  /** pins we are about to make: their TUNABLE events are not an administrator's */
  private readonly expectedTunables = new Set<string>();
  filter: DomainFilter;

  constructor(
    readonly client: LibvirtClient,
    private readonly ledger: ReservationLedger,
    private readonly fs: FsRoot,
    private readonly logger: Logger,
    filter: DomainFilter,
    private readonly reservationTtlMs: number,
    private readonly clock: () => number = Date.now,
  ) {
    super();
    this.filter = filter;
    client.on('connected', () => {
      this.resync().catch((err: unknown) => this.logger.error({ err }, 'libvirt: cannot list domains'));
      this.loadDefined().catch((err: unknown) => this.logger.error({ err }, 'libvirt: cannot list defined domains'));
    });
    client.on('lifecycle', (e) => {
      this.onLifecycle(e).catch((err: unknown) => this.logger.error({ err, domain: e.domain.name }, 'libvirt: lifecycle event not handled'));
    });
    client.on('tunable', (e) => this.onTunable(e));
  }

  /** Called when the filter is changed at run time (the daemon persists it). */
  onFilterChange: ((filter: DomainFilter) => void) | undefined;

  setFilter(filter: DomainFilter): void {
    this.filter = filter;
    this.onFilterChange?.(filter);
    for (const d of this.domains.values()) d.excluded = !domainSelected(filter, d);
  }

  byPid(pid: number): TrackedDomain | undefined {
    for (const d of this.domains.values()) if (d.pid === pid) return d;
    return undefined;
  }

  byNameOrUuid(key: string): TrackedDomain | undefined {
    for (const d of this.domains.values()) if (d.name === key || d.uuid === key) return d;
    return undefined;
  }

  /**
   * The defined domains `numad -w` may be asked for now (never a libvirt call: the cache of `defined`): those not
   * running, with placement='auto', of these vCPUs and MiB (as libvirt passes them to numad -w).
   */
  startingCandidates(vcpus: number, memMiB: number): StartingDomain[] {
    const out: StartingDomain[] = [];
    for (const [uuid, d] of this.defined) {
      if (d.asksNumad && d.vcpus === vcpus && d.memoryMiB === memMiB && !this.running.has(uuid) && !this.domains.has(uuid)) out.push({ name: d.name, hugepageSizesKiB: d.hugepageSizesKiB });
    }
    return out;
  }

  /** All domains' persistent definitions, replacing the cache (after (re)connecting: events were missed meanwhile). */
  async loadDefined(): Promise<void> {
    const all = await this.client.listDomains(false);
    const seen = new Set<string>();
    for (const d of all) {
      seen.add(d.uuid);
      await this.loadDefinition(d);
    }
    for (const uuid of [...this.defined.keys()]) if (!seen.has(uuid)) this.defined.delete(uuid);
  }

  private async loadDefinition(d: Domain): Promise<void> {
    try {
      const spec = parseDomainXml(await this.client.xml(d, VIR_DOMAIN_XML_INACTIVE));
      this.defined.set(d.uuid, { name: d.name, vcpus: spec.vcpus, memoryMiB: spec.memoryMiB, asksNumad: askedNumad(spec), hugepageSizesKiB: spec.hugepageSizesKiB });
    } catch (err) {
      // Gone meanwhile, or a definition we cannot read: a numad -w for it is then answered as ordinary memory.
      this.defined.delete(d.uuid);
      this.logger.debug({ err, domain: d.name }, 'libvirt: cannot read a defined domain');
    }
  }

  /** After (re)connecting: the running domains now; bound reservations of domains that are gone are released. */
  async resync(): Promise<void> {
    const running = await this.client.listDomains(true);
    const seen = new Set<string>();
    this.running.clear();
    for (const d of running) this.running.add(d.uuid);
    for (const d of running) {
      seen.add(d.uuid);
      await this.load(d);
    }
    for (const uuid of [...this.domains.keys()]) if (!seen.has(uuid)) this.forget(uuid);
    for (const r of this.ledger.list()) {
      if (r.domain && !seen.has(r.domain.uuid)) this.ledger.release(r.id);
      else if (r.domain) {
        const d = this.domains.get(r.domain.uuid);
        if (d) d.reservationId = r.id;
        if (!this.promised.has(r.id)) this.promised.set(r.id, r.perNode);
      }
    }
    // Domains that started while we were not connected (libvirtd autostarts guests before our client is back): their
    // STARTED event is gone, so bind them now — each to its own answer, given before and at most RESYNC_BIND_WINDOW_MS
    // before its QEMU process started, never a long-running guest to an answer meant for a VM about to start. The
    // latest-started domain chooses first, so two of the same size take the answers in the order they were given.
    const late = [...this.domains.values()]
      .filter((d) => !d.reservationId)
      .map((d) => ({ d, started: d.pid === undefined ? undefined : readProcessStartMs(this.fs, d.pid, this.clock()) }))
      .filter((x): x is { d: TrackedDomain; started: number } => x.started !== undefined)
      .sort((a, b) => b.started - a.started);
    for (const { d, started } of late) this.bind(d, { startedMs: started, withinMs: RESYNC_BIND_WINDOW_MS });
  }

  private async load(d: Domain): Promise<TrackedDomain> {
    const spec = parseDomainXml(await this.client.xml(d));
    const numa = await this.client.numaParameters(d).catch(() => ({ mode: undefined, nodeset: '' }));
    const status = this.readStatus(d.name);
    const prior = this.domains.get(d.uuid);
    const tracked: TrackedDomain = {
      name: d.name,
      uuid: d.uuid,
      id: d.id,
      spec,
      numaMode: numa.mode,
      nodeset: numa.nodeset ? parseIdList(numa.nodeset) : (status?.numad?.nodeset ?? []),
      numadNodeset: status?.numad?.nodeset ?? prior?.numadNodeset,
      pid: status?.pid ?? readQemuPid(this.fs, d.name),
      ...readQemuThreads(this.fs, status?.pid ?? readQemuPid(this.fs, d.name), status?.vcpuTids),
      adminPins: prior?.adminPins ?? { vcpus: [...spec.vcpuPins.keys()], emulator: spec.emulatorPin !== undefined, iothreads: [...spec.iothreadPins.keys()] },
      reservationId: prior?.reservationId,
      excluded: !domainSelected(this.filter, d),
      seenAt: new Date(this.clock()).toISOString(),
    };
    this.domains.set(d.uuid, tracked);
    return tracked;
  }

  private readStatus(name: string): ReturnType<typeof parseStatusXml> | undefined {
    const text = readQemuStatusXml(this.fs, name);
    if (text === undefined) return undefined;
    try {
      return parseStatusXml(text);
    } catch {
      return undefined;
    }
  }

  private async onLifecycle(e: LifecycleEvent): Promise<void> {
    if (e.event === LIFECYCLE.DEFINED) await this.loadDefinition(e.domain);
    else if (e.event === LIFECYCLE.UNDEFINED) this.defined.delete(e.domain.uuid);
    else if (e.event === LIFECYCLE.STARTED) {
      this.running.add(e.domain.uuid);
      const d = await this.load(e.domain);
      this.bind(d, d.pid === undefined ? {} : { startedMs: readProcessStartMs(this.fs, d.pid, this.clock()) });
    } else if (e.event === LIFECYCLE.STOPPED || e.event === LIFECYCLE.CRASHED) {
      this.running.delete(e.domain.uuid);
      this.forget(e.domain.uuid);
      // A transient domain (virsh create) is gone once stopped, with no UNDEFINED event: read its definition again,
      // which drops it from the cache when libvirt no longer has it.
      if (this.defined.has(e.domain.uuid)) await this.loadDefinition(e.domain);
    }
  }

  /**
   * Bind this domain's own numad answer to it: an unbound reservation of its vCPUs and MiB, of the nodeset libvirt
   * recorded for it (preferring the live nodeset when the status XML is unreadable), given closest before its QEMU
   * process started (`startedMs`; now when unknown). With `withinMs` (a domain found running on (re)connect) only an
   * answer given before the start and at most that long before it; otherwise (its STARTED event) the closest answer
   * after the start is taken when none came before. A domain without placement='auto' asked numad nothing and binds
   * nothing.
   */
  bind(d: TrackedDomain, o: { startedMs?: number | undefined; withinMs?: number } = {}): Reservation | undefined {
    if (d.reservationId && this.ledger.get(d.reservationId)) return this.ledger.get(d.reservationId);
    const pick = pickAnswer(this.ledger.list(), d, o.startedMs ?? this.clock(), o.withinMs);
    if (!pick) return undefined;
    const now = this.clock();
    const bound = this.ledger.update(pick.id, { domain: { name: d.name, uuid: d.uuid, boundAt: new Date(now).toISOString() }, expiresAtMs: now + this.reservationTtlMs });
    if (!bound) return undefined;
    d.reservationId = bound.id;
    this.promised.set(bound.id, bound.perNode);
    this.logger.info({ domain: d.name, uuid: d.uuid, reservation: bound.id, nodeset: bound.nodeset }, 'reservation bound to domain');
    this.emit('bound', d, bound);
    return bound;
  }

  private forget(uuid: string): void {
    const d = this.domains.get(uuid);
    this.domains.delete(uuid);
    for (const r of this.ledger.list()) {
      if (r.domain?.uuid === uuid) {
        this.ledger.release(r.id);
        this.promised.delete(r.id);
        if (d) this.emit('released', d, r);
        this.logger.info({ domain: r.domain.name, reservation: r.id }, 'domain stopped: reservation released');
      }
    }
  }

  /**
   * Each running guest's memory per node (numa_maps of its QEMU process), by domain UUID, read off the event loop
   * (readMemoryMiBByNodeAsync) for the guests `wanted` says, all at once, waiting at most `deadlineMs`. A guest whose
   * read does not finish in time is left out (and logged), and is not read again while that read is still pending:
   * a stuck read holds one of libuv's four pool threads, and the daemon's other file reads need the rest.
   */
  async readGuestMemories(wanted: (d: TrackedDomain) => boolean, deadlineMs: number): Promise<Map<string, Map<number, number>>> {
    const read = new Map<string, Map<number, number>>();
    const slow: string[] = [];
    let late = false;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => {
        late = true;
        resolve('late');
      }, deadlineMs);
      timer.unref();
    });
    const queue = [...this.domains.values()].filter((d) => d.pid !== undefined && wanted(d));
    // At most GUEST_READS_IN_FLIGHT reads at a time, counting reads still hanging from earlier cycles: each holds one
    // of libuv's four pool threads, and the ledger's journal writes (fdatasync) need the others to answer at all.
    const worker = async (): Promise<void> => {
      for (let d = queue.shift(); d !== undefined && !late; d = queue.shift()) {
        const pid = d.pid as number;
        if (this.pendingReads.has(pid)) {
          slow.push(`${d.name} (pid ${pid}, still reading since an earlier cycle)`);
          continue;
        }
        if (this.pendingReads.size >= GUEST_READS_IN_FLIGHT) {
          queue.unshift(d);
          return;
        }
        this.pendingReads.add(pid);
        const reading = readMemoryMiBByNodeAsync(this.fs, pid).finally(() => this.pendingReads.delete(pid));
        const result = await Promise.race([reading, deadline]);
        if (result === 'late') slow.push(`${d.name} (pid ${pid})`);
        else if (result !== undefined) read.set(d.uuid, result);
      }
    };
    await Promise.all(Array.from({ length: GUEST_READS_IN_FLIGHT }, worker));
    clearTimeout(timer);
    for (const d of queue) slow.push(`${d.name} (pid ${d.pid}, not read: ${late ? 'deadline passed' : 'earlier reads still hanging'})`);
    if (slow.length > 0) this.logger.warn({ domains: slow, deadlineMs }, 'guest memory: numa_maps not read in time (a guest in reclaim?); left out this cycle');
    return read;
  }

  /**
   * Shrink bound reservations by what their guests have materialised on each node (`read`: readGuestMemories'
   * numa_maps of each QEMU process), and drop their CPU part once the guest's CPU use is measured: measured use and
   * the reservation must not both count the same MiB or CPU. A guest missing from `read` is left as it is this cycle.
   */
  materialise(read: ReadonlyMap<string, ReadonlyMap<number, number>>): void {
    for (const d of this.domains.values()) {
      if (!d.reservationId || d.pid === undefined) continue;
      const promised = this.promised.get(d.reservationId);
      const used = read.get(d.uuid);
      if (!promised || used === undefined) continue;
      const current = this.ledger.get(d.reservationId);
      if (!current) {
        d.reservationId = undefined;
        continue;
      }
      const boundForMs = current.domain === undefined ? undefined : this.clock() - Date.parse(current.domain.boundAt);
      const perNode = shrinkBoundReservation(promised, used, boundForMs);
      if (sameHolding(perNode, current.perNode)) continue;
      const next = this.ledger.update(d.reservationId, { perNode });
      if (!next) d.reservationId = undefined;
    }
  }

  /** The apply path announces its own pins so their TUNABLE events are not taken for an administrator's. */
  expectTunable(uuid: string, field: string): void {
    this.expectedTunables.add(`${uuid} ${field}`);
  }

  private onTunable(e: TunableEvent): void {
    const d = this.domains.get(e.domain.uuid);
    if (!d) return;
    for (const p of e.params) {
      const key = `${e.domain.uuid} ${p.field}`;
      if (this.expectedTunables.delete(key)) continue;
      const vcpu = /^cputune\.vcpupin(\d+)$/.exec(p.field);
      const io = /^cputune\.iothreadpin(\d+)$/.exec(p.field);
      if (vcpu) d.adminPins.vcpus = [...new Set([...d.adminPins.vcpus, Number(vcpu[1])])];
      else if (io) d.adminPins.iothreads = [...new Set([...d.adminPins.iothreads, Number(io[1])])];
      else if (p.field === 'cputune.emulatorpin') d.adminPins.emulator = true;
      else continue;
      this.logger.info({ domain: d.name, field: p.field, value: p.value }, 'pin set by someone else: numadvisor will leave it');
    }
  }
}
