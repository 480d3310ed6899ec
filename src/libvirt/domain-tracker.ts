// Keeps the running libvirt domains and ties the capacity numad -w promised to the VM that took it.
// A numad -w answer carries no VM identity and must never call libvirt (the starting domain is locked, libvirt.md
// §1.2), so the reservation is bound afterwards: on the domain's STARTED event (or, for a domain that started while we
// were not connected, on the next connection), to the domain's own answer — an unbound reservation of its vCPUs and
// MiB and of the nodeset libvirt recorded, given closest before its QEMU process started —, released on STOPPED, and
// shrunk node by node as the guest's memory materialises, so that capacity is never counted twice (once reserved,
// once measured as used).
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { FsRoot } from '../topology/fsroot.js';
import { formatIdList, parseIdList } from '../topology/idlist.js';
import { parseNumaMaps } from '../observe/processes.js';
import type { Reservation, ReservationLedger } from '../model/reservations.js';
import { LIFECYCLE, type Domain, type LibvirtClient, type LifecycleEvent, type TunableEvent } from './client.js';
import { parseDomainXml, parseStatusXml, type DomainSpec } from './domain-xml.js';

/**
 * A running guest's CPU use is in the host's /proc/stat samples once one sample window has passed since it started
 * (the daemon samples per answer and per cycle, at most numad's 15 s apart); after that the reservation's CPU part
 * would count the same CPU twice, so it is dropped. Its memory part shrinks as the guest touches its memory.
 */
export const RESERVED_CPU_UNTIL_MEASURED_MS = 15_000;

/** After a reconnect, a running domain takes an unbound answer given at most this long before its QEMU started. */
export const RESYNC_BIND_WINDOW_MS = 60_000;

/**
 * libvirt runs numad -w before it forks QEMU, so a domain's answer is older than its process. The process start is
 * known only to ~20 ms (/proc/<pid>/stat's starttime and /proc/uptime both count 10 ms), so an answer up to this
 * much after the computed start may still be the domain's.
 */
export const PROCESS_START_SLACK_MS = 50;

/** Where the QEMU driver keeps status XML and pid files (libvirt.md §3). */
export const QEMU_RUN_DIR = '/run/libvirt/qemu';

export interface DomainFilter {
  /** names or UUIDs; when non-empty only these are advised or moved */
  include: string[];
  /** names or UUIDs never advised or moved */
  exclude: string[];
}

export interface TrackedDomain {
  name: string;
  uuid: string;
  id: number;
  spec: DomainSpec;
  /** live NUMA mode and nodeset (GetNumaParameters LIVE) */
  numaMode: string | undefined;
  nodeset: number[];
  pid: number | undefined;
  vcpuTids: Record<string, number>;
  /** IOThread id → thread id, from the thread names QEMU gives them (`IO iothread<N>`; libvirt.md §3) */
  iothreadTids: Record<string, number>;
  /** thread id → its cgroup (the v2 path, else the v1 cpuset path), read from /proc/<tid>/cgroup, never guessed */
  cgroups: Record<string, string>;
  /** pins an administrator made: in the XML at start, or announced by a TUNABLE event we did not cause */
  adminPins: { vcpus: number[]; emulator: boolean; iothreads: number[] };
  /** the numad answer libvirt recorded in the status XML (`<numad nodeset=…>`; placement='auto'), when readable */
  numadNodeset?: number[] | undefined;
  reservationId: string | undefined;
  excluded: boolean;
  seenAt: string;
}

export interface TrackerEvents {
  bound: [TrackedDomain, Reservation];
  released: [TrackedDomain, Reservation];
}

/** Whether libvirt asked numad -w for this domain before starting it (placement='auto' of its vCPUs or memory). */
export function askedNumad(spec: DomainSpec): boolean {
  return spec.vcpuPlacement === 'auto' || spec.numatune?.placement === 'auto';
}

/**
 * The unbound reservation that is `d`'s numad answer (DomainTracker.bind): same vCPUs and MiB; the nodeset libvirt
 * recorded, else preferably the live one; answered before `startedMs` (within PROCESS_START_SLACK_MS), the closest
 * first; with `withinMs`, only those and at most that long before the start, otherwise the closest after it next.
 */
export function pickAnswer(
  reservations: readonly Reservation[],
  d: Pick<TrackedDomain, 'spec' | 'nodeset' | 'numadNodeset'>,
  startedMs: number,
  withinMs?: number,
): Reservation | undefined {
  if (!askedNumad(d.spec)) return undefined;
  const recorded = d.numadNodeset && d.numadNodeset.length > 0 ? formatIdList(d.numadNodeset) : undefined;
  const live = formatIdList(d.nodeset);
  const before = (r: Reservation): boolean => Date.parse(r.createdAt) <= startedMs + PROCESS_START_SLACK_MS;
  // Rank: answers before the computed start, the closest first; then those within the slack after it; then (STARTED
  // only) later ones, the closest first.
  const distance = (r: Reservation): number => {
    const ago = startedMs - Date.parse(r.createdAt);
    if (ago >= 0) return ago;
    return (before(r) ? 1e13 : 2e13) - ago;
  };
  const candidates = reservations.filter(
    (r) =>
      !r.domain &&
      r.request.cpuHundredths === d.spec.vcpus * 100 &&
      r.request.memMiB === d.spec.memoryMiB &&
      (recorded === undefined || r.nodeset === recorded) &&
      (withinMs === undefined || (before(r) && startedMs - Date.parse(r.createdAt) <= withinMs)),
  );
  candidates.sort((a, b) => (recorded === undefined ? Number(b.nodeset === live) - Number(a.nodeset === live) : 0) || distance(a) - distance(b));
  return candidates[0];
}

export function domainSelected(filter: DomainFilter, d: { name: string; uuid: string }): boolean {
  const hit = (list: string[]): boolean => list.includes(d.name) || list.includes(d.uuid);
  if (hit(filter.exclude)) return false;
  return filter.include.length === 0 || hit(filter.include);
}

export class DomainTracker extends EventEmitter<TrackerEvents> {
  readonly domains = new Map<string, TrackedDomain>();
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

  /** After (re)connecting: the running domains now; bound reservations of domains that are gone are released. */
  async resync(): Promise<void> {
    const running = await this.client.listDomains(true);
    const seen = new Set<string>();
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
      .map((d) => ({ d, started: d.pid === undefined ? undefined : this.processStartMs(d.pid) }))
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
      pid: status?.pid ?? this.readPid(d.name),
      ...this.threads(status?.pid ?? this.readPid(d.name), status?.vcpuTids),
      adminPins: prior?.adminPins ?? { vcpus: [...spec.vcpuPins.keys()], emulator: spec.emulatorPin !== undefined, iothreads: [...spec.iothreadPins.keys()] },
      reservationId: prior?.reservationId,
      excluded: !domainSelected(this.filter, d),
      seenAt: new Date(this.clock()).toISOString(),
    };
    this.domains.set(d.uuid, tracked);
    return tracked;
  }

  private readStatus(name: string): ReturnType<typeof parseStatusXml> | undefined {
    const text = this.fs.readTextMaybe(`${QEMU_RUN_DIR}/${name}.xml`);
    if (text === undefined) return undefined;
    try {
      return parseStatusXml(text);
    } catch {
      return undefined;
    }
  }

  /**
   * vCPU threads from the status XML, checked against (or, without it, taken from) the thread names `CPU n/KVM`
   * (`CPU n/TCG` under emulation), IOThreads from `IO iothread<N>`, and every one's cgroup from /proc.
   */
  private threads(pid: number | undefined, fromStatus: Map<number, number> | undefined): Pick<TrackedDomain, 'vcpuTids' | 'iothreadTids' | 'cgroups'> {
    const vcpuTids: Record<string, number> = {};
    const iothreadTids: Record<string, number> = {};
    const cgroups: Record<string, string> = {};
    if (pid === undefined) return { vcpuTids, iothreadTids, cgroups };
    for (const name of this.fs.listOr(`/proc/${pid}/task`)) {
      const tid = Number(name);
      const comm = this.fs.readTextMaybe(`/proc/${pid}/task/${tid}/comm`)?.trim() ?? '';
      const vcpu = /^CPU (\d+)\/(KVM|TCG|HVF|WHPX)$/.exec(comm);
      const io = /^IO iothread(\d+)$/.exec(comm);
      if (vcpu) vcpuTids[vcpu[1] as string] = tid;
      else if (io) iothreadTids[io[1] as string] = tid;
      else if (tid !== pid) continue;
      const cg = this.fs.readTextMaybe(`/proc/${pid}/task/${tid}/cgroup`) ?? '';
      const v2 = /^0::(.+)$/m.exec(cg)?.[1];
      const v1 = /^\d+:[^:]*\bcpuset\b[^:]*:(.+)$/m.exec(cg)?.[1];
      const path = v1 ?? v2;
      if (path) cgroups[String(tid)] = path;
    }
    // The status XML is libvirt's own record of vCPU threads; it wins where both exist.
    for (const [v, tid] of fromStatus ?? []) vcpuTids[String(v)] = tid;
    return { vcpuTids, iothreadTids, cgroups };
  }

  private readPid(name: string): number | undefined {
    const n = Number(this.fs.readTextMaybe(`${QEMU_RUN_DIR}/${name}.pid`)?.trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  }

  private async onLifecycle(e: LifecycleEvent): Promise<void> {
    if (e.event === LIFECYCLE.STARTED) {
      const d = await this.load(e.domain);
      this.bind(d, d.pid === undefined ? {} : { startedMs: this.processStartMs(d.pid) });
    } else if (e.event === LIFECYCLE.STOPPED || e.event === LIFECYCLE.CRASHED) {
      this.forget(e.domain.uuid);
    }
  }

  /** When a process started, from its stat starttime and /proc/uptime; undefined when unreadable. */
  private processStartMs(pid: number): number | undefined {
    const stat = this.fs.readTextMaybe(`/proc/${pid}/stat`);
    const uptime = Number.parseFloat(this.fs.readTextMaybe('/proc/uptime') ?? '');
    const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTicks = Number(fields?.[19]); // field 22
    if (!Number.isFinite(uptime) || !Number.isFinite(startTicks)) return undefined;
    return this.clock() - (uptime - startTicks / 100) * 1000;
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
   * Shrink bound reservations by what their guests have materialised on each node (numa_maps of the QEMU process),
   * and drop their CPU part once the guest's CPU use is measured: measured use and the reservation must not both
   * count the same MiB or CPU.
   */
  materialise(): void {
    for (const d of this.domains.values()) {
      if (!d.reservationId || d.pid === undefined) continue;
      const promised = this.promised.get(d.reservationId);
      const text = this.fs.readTextMaybe(`/proc/${d.pid}/numa_maps`);
      if (!promised || text === undefined) continue;
      const used = parseNumaMaps(text).perNodeKiB;
      const current = this.ledger.get(d.reservationId);
      if (!current) {
        d.reservationId = undefined;
        continue;
      }
      const measured = current.domain !== undefined && this.clock() - Date.parse(current.domain.boundAt) >= RESERVED_CPU_UNTIL_MEASURED_MS;
      const perNode = promised.map((p) => ({
        ...p,
        cpuHundredths: measured ? 0 : p.cpuHundredths,
        memMiB: Math.max(0, p.memMiB - Math.floor((used.get(p.node) ?? 0) / 1024)),
      }));
      if (perNode.every((p, i) => p.memMiB === current.perNode[i]?.memMiB && p.cpuHundredths === current.perNode[i]?.cpuHundredths)) continue;
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
