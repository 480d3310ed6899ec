// The daemon's libvirt client: a LibvirtConnection that comes back when libvirtd restarts (backoff 0.5 s doubling
// to 30 s), re-registering its event callbacks each time, with the procedures numadvisor uses as typed methods.
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { libvirtUnavailable, noLibvirtSocket, NoLibvirtSocketError } from '../errors.js';
import { LibvirtConnection } from './connection.js';
import { decodeCpuMap, encodeCpuMap } from './cpumap.js';
import {
  ParamType,
  Proc,
  readDomain,
  readTypedParam,
  uuidBytes,
  uuidString,
  writeDomain,
  writeTypedParam,
  type DomainRef,
  type TypedParam,
} from './protocol.js';
import { XdrReader, XdrWriter } from './xdr.js';

/** Where libvirtd listens: the monolithic daemon's socket, else the modular QEMU daemon's. */
export const LIBVIRT_SOCKETS = ['/run/libvirt/libvirt-sock', '/run/libvirt/virtqemud-sock'];

export const VIR_DOMAIN_AFFECT_LIVE = 1;
export const VIR_DOMAIN_AFFECT_CONFIG = 2;
/** Without it, GET_NUMA_PARAMETERS silently leaves out the nodeset string (libvirt.md §5b). */
export const VIR_TYPED_PARAM_STRING_OKAY = 4;
export const VIR_CONNECT_LIST_DOMAINS_ACTIVE = 1;

export const EVENT_LIFECYCLE = 0;
export const EVENT_TUNABLE = 17;

export const LIFECYCLE = { DEFINED: 0, UNDEFINED: 1, STARTED: 2, SUSPENDED: 3, RESUMED: 4, STOPPED: 5, SHUTDOWN: 6, PMSUSPENDED: 7, CRASHED: 8 } as const;
export const NUMA_MODES = ['strict', 'preferred', 'interleave', 'restrictive'] as const;
export type NumaMode = (typeof NUMA_MODES)[number];

export interface Domain {
  name: string;
  uuid: string;
  /** -1 when not running */
  id: number;
}

export interface LifecycleEvent {
  domain: Domain;
  event: number;
  detail: number;
}

export interface TunableEvent {
  domain: Domain;
  params: TypedParam[];
}

export interface NumaParameters {
  mode: NumaMode | undefined;
  nodeset: string;
}

const toDomain = (d: DomainRef): Domain => ({ name: d.name, uuid: uuidString(d.uuid), id: d.id });
const toRef = (d: Domain): DomainRef => ({ name: d.name, uuid: uuidBytes(d.uuid), id: d.id });

export interface ClientEvents {
  connected: [];
  disconnected: [err: Error | undefined];
  lifecycle: [LifecycleEvent];
  tunable: [TunableEvent];
}

export interface ClientOptions {
  uri: string;
  /** defaults to the first of LIBVIRT_SOCKETS that accepts a connection */
  socketPath?: string;
  /** subscribe to lifecycle and tunable events for every domain */
  events?: boolean;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class LibvirtClient extends EventEmitter<ClientEvents> {
  private conn: LibvirtConnection | undefined;
  private connecting: Promise<LibvirtConnection> | undefined;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** no socket file exists: no timer runs; poke() connects once one appears */
  private parked = false;
  private backoffMs: number;
  /** times a connection was made (1 on the first) */
  connects = 0;
  lastError: Error | undefined;
  hostCpus = 0;

  constructor(readonly options: ClientOptions) {
    super();
    this.backoffMs = options.minBackoffMs ?? 500;
  }

  /** keepalive pings answered on the current connection */
  get pings(): number {
    return this.conn?.pings ?? 0;
  }

  private get maxBackoffMs(): number {
    return this.options.maxBackoffMs ?? 30_000;
  }

  get connected(): boolean {
    return this.conn !== undefined && !this.conn.isClosed;
  }

  /** Connect now (and keep reconnecting in the background if this fails and start() was used). */
  async connect(): Promise<LibvirtConnection> {
    if (this.conn && !this.conn.isClosed) return this.conn;
    if (!this.connecting) {
      this.connecting = this.openOnce().finally(() => {
        this.connecting = undefined;
      });
    }
    return this.connecting;
  }

  /** Keep a connection: connect, and after every loss reconnect with backoff until close(). */
  start(): void {
    this.connect().catch((err: unknown) => this.scheduleRetry(err as Error));
  }

  /**
   * Try again now if the client is waiting for libvirtd's socket to appear (after a full backoff found none). Cheap,
   * a stat per socket path: the daemon calls it from each rebalancer cycle and before each answer, so a host without
   * libvirtd has no retry timer waking the daemon, and a libvirtd that starts is found within one cycle (or at once
   * by the numad -w it sends before its first VM).
   */
  poke(): void {
    if (!this.parked || this.stopped || this.connecting || !this.socketPaths().some((p) => existsSync(p))) return;
    this.parked = false;
    this.connect().catch((err: unknown) => this.scheduleRetry(err as Error));
  }

  private socketPaths(): readonly string[] {
    return this.options.socketPath ? [this.options.socketPath] : LIBVIRT_SOCKETS;
  }

  private scheduleRetry(err: Error | undefined): void {
    this.lastError = err;
    if (this.stopped || this.retryTimer) return;
    // A libvirtd restarting is back within the backoff; one not running at all is waited for without a timer.
    if (err instanceof NoLibvirtSocketError && this.backoffMs >= this.maxBackoffMs) {
      this.parked = true;
      return;
    }
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect().catch((e: unknown) => this.scheduleRetry(e as Error));
    }, delay);
    this.retryTimer.unref();
  }

  private async openOnce(): Promise<LibvirtConnection> {
    const paths = this.socketPaths().filter((p) => existsSync(p));
    if (paths.length === 0) throw noLibvirtSocket(this.socketPaths());
    let lastErr: unknown;
    for (const p of paths) {
      try {
        const conn = await LibvirtConnection.open(p, this.options.uri);
        await this.adopt(conn);
        return conn;
      } catch (err) {
        lastErr = err;
      }
    }
    throw lastErr instanceof Error ? lastErr : libvirtUnavailable('no libvirt socket');
  }

  private async adopt(conn: LibvirtConnection): Promise<void> {
    conn.on('message', (proc, payload) => this.onMessage(proc, payload));
    if (this.options.events) {
      for (const ev of [EVENT_LIFECYCLE, EVENT_TUNABLE]) {
        await conn.call(Proc.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, new XdrWriter().int(ev).optional(undefined, () => undefined).toBuffer());
      }
    }
    const map = new XdrReader(await conn.call(Proc.NODE_GET_CPU_MAP, new XdrWriter().int(0).int(0).uint(0).toBuffer()));
    map.optional((r) => r.opaque());
    map.optional((r) => r.uint());
    this.hostCpus = map.int();
    this.conn = conn;
    this.connects++;
    this.backoffMs = this.options.minBackoffMs ?? 500;
    this.lastError = undefined;
    conn.once('close', (err) => {
      if (this.conn === conn) this.conn = undefined;
      this.emit('disconnected', err);
      if (!this.stopped) this.scheduleRetry(err);
    });
    this.emit('connected');
  }

  private onMessage(proc: number, payload: Buffer): void {
    try {
      const r = new XdrReader(payload);
      if (proc === Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE) {
        r.int(); // callbackID
        const domain = toDomain(readDomain(r));
        this.emit('lifecycle', { domain, event: r.int(), detail: r.int() });
      } else if (proc === Proc.DOMAIN_EVENT_CALLBACK_TUNABLE) {
        r.int();
        const domain = toDomain(readDomain(r));
        this.emit('tunable', { domain, params: r.array(readTypedParam) });
      }
    } catch {
      // an event we cannot decode is dropped; the next state read corrects what it would have told us
    }
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const c = this.conn;
    this.conn = undefined;
    await c?.disconnect();
  }

  private async call(proc: number, args?: Buffer): Promise<XdrReader> {
    const conn = await this.connect();
    return new XdrReader(await conn.call(proc, args));
  }

  // --- procedures ---

  async libVersion(): Promise<bigint> {
    return (await this.call(Proc.CONNECT_GET_LIB_VERSION)).uhyper();
  }

  async capabilities(): Promise<string> {
    return (await this.call(Proc.CONNECT_GET_CAPABILITIES)).string();
  }

  async listDomains(activeOnly = true): Promise<Domain[]> {
    const r = await this.call(Proc.CONNECT_LIST_ALL_DOMAINS, new XdrWriter().int(1).uint(activeOnly ? VIR_CONNECT_LIST_DOMAINS_ACTIVE : 0).toBuffer());
    return r.array(readDomain).map(toDomain);
  }

  /** Start a transient domain (virDomainCreateXML). */
  async createXml(xml: string, flags = 0): Promise<Domain> {
    return toDomain(readDomain(await this.call(Proc.DOMAIN_CREATE_XML, new XdrWriter().string(xml).uint(flags).toBuffer())));
  }

  async destroy(d: Domain): Promise<void> {
    await this.call(Proc.DOMAIN_DESTROY, this.dom(d).toBuffer());
  }

  async lookupByName(name: string): Promise<Domain> {
    return toDomain(readDomain(await this.call(Proc.DOMAIN_LOOKUP_BY_NAME, new XdrWriter().string(name).toBuffer())));
  }

  async lookupByUuid(uuid: string): Promise<Domain> {
    return toDomain(readDomain(await this.call(Proc.DOMAIN_LOOKUP_BY_UUID, new XdrWriter().fixedOpaque(uuidBytes(uuid)).toBuffer())));
  }

  async state(d: Domain): Promise<{ state: number; reason: number }> {
    const r = await this.call(Proc.DOMAIN_GET_STATE, this.dom(d).uint(0).toBuffer());
    return { state: r.int(), reason: r.int() };
  }

  async xml(d: Domain, flags = 0): Promise<string> {
    return (await this.call(Proc.DOMAIN_GET_XML_DESC, this.dom(d).uint(flags).toBuffer())).string();
  }

  async numaParameters(d: Domain, flags = VIR_DOMAIN_AFFECT_LIVE): Promise<NumaParameters> {
    const r = await this.call(Proc.DOMAIN_GET_NUMA_PARAMETERS, this.dom(d).int(16).uint(flags | VIR_TYPED_PARAM_STRING_OKAY).toBuffer());
    const params = r.array(readTypedParam);
    const mode = params.find((p) => p.field === 'numa_mode');
    const nodeset = params.find((p) => p.field === 'numa_nodeset');
    return {
      mode: mode && typeof mode.value === 'number' ? NUMA_MODES[mode.value] : undefined,
      nodeset: nodeset && typeof nodeset.value === 'string' ? nodeset.value : '',
    };
  }

  async setNumaNodeset(d: Domain, nodeset: string, flags = VIR_DOMAIN_AFFECT_LIVE): Promise<void> {
    const params: TypedParam[] = [{ field: 'numa_nodeset', type: ParamType.String, value: nodeset }];
    await this.call(Proc.DOMAIN_SET_NUMA_PARAMETERS, this.dom(d).array(params, writeTypedParam).uint(flags).toBuffer());
  }

  private async maplen(): Promise<number> {
    await this.connect();
    return Math.ceil(this.hostCpus / 8);
  }

  /** Effective CPUs of every vCPU (explicit pin, else the domain's cpuset, else libvirt's auto cpuset). */
  async vcpuPins(d: Domain, vcpus: number, flags = VIR_DOMAIN_AFFECT_LIVE): Promise<number[][]> {
    const maplen = await this.maplen();
    const r = await this.call(Proc.DOMAIN_GET_VCPU_PIN_INFO, this.dom(d).int(vcpus).int(maplen).uint(flags).toBuffer());
    const maps = r.opaque();
    const num = r.int();
    return Array.from({ length: num }, (_, i) => decodeCpuMap(maps.subarray(i * maplen, (i + 1) * maplen)));
  }

  async pinVcpu(d: Domain, vcpu: number, cpus: readonly number[], flags = VIR_DOMAIN_AFFECT_LIVE): Promise<void> {
    await this.maplen();
    await this.call(Proc.DOMAIN_PIN_VCPU_FLAGS, this.dom(d).uint(vcpu).opaque(encodeCpuMap(cpus, this.hostCpus)).uint(flags).toBuffer());
  }

  async emulatorPin(d: Domain, flags = VIR_DOMAIN_AFFECT_LIVE): Promise<number[]> {
    const maplen = await this.maplen();
    const r = await this.call(Proc.DOMAIN_GET_EMULATOR_PIN_INFO, this.dom(d).int(maplen).uint(flags).toBuffer());
    return decodeCpuMap(r.opaque());
  }

  async pinEmulator(d: Domain, cpus: readonly number[], flags = VIR_DOMAIN_AFFECT_LIVE): Promise<void> {
    await this.maplen();
    await this.call(Proc.DOMAIN_PIN_EMULATOR, this.dom(d).opaque(encodeCpuMap(cpus, this.hostCpus)).uint(flags).toBuffer());
  }

  async iothreads(d: Domain, flags = VIR_DOMAIN_AFFECT_LIVE): Promise<{ id: number; cpus: number[] }[]> {
    const r = await this.call(Proc.DOMAIN_GET_IOTHREAD_INFO, this.dom(d).uint(flags).toBuffer());
    return r.array((x) => ({ id: x.uint(), cpus: decodeCpuMap(x.opaque()) }));
  }

  async pinIOThread(d: Domain, id: number, cpus: readonly number[], flags = VIR_DOMAIN_AFFECT_LIVE): Promise<void> {
    await this.maplen();
    await this.call(Proc.DOMAIN_PIN_IOTHREAD, this.dom(d).uint(id).opaque(encodeCpuMap(cpus, this.hostCpus)).uint(flags).toBuffer());
  }

  private dom(d: Domain): XdrWriter {
    const w = new XdrWriter();
    writeDomain(w, toRef(d));
    return w;
  }
}
