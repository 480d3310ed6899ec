// One connection to a libvirt daemon socket: calls keyed by serial (pipelined), asynchronous MESSAGE frames
// (events, keepalive pings) dispatched as they arrive between replies. AUTH_LIST must be the first call: on the
// polkit socket it is what authenticates a root client (libvirt.md §5b). Reconnecting is LibvirtClient's job.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { libvirtCallFailed, libvirtCallTimedOut, libvirtConnectFailed, libvirtConnectionClosed, libvirtUnavailable } from '../errors.js';
import {
  encodeFrame,
  FEATURE_PROGRAM_KEEPALIVE,
  FrameDecoder,
  KEEPALIVE_PING,
  KEEPALIVE_PONG,
  KEEPALIVE_PROGRAM,
  MessageStatus,
  MessageType,
  Proc,
  readRemoteError,
  REMOTE_PROGRAM,
  REMOTE_VERSION,
  type Header,
} from './protocol.js';
import { XdrReader, XdrWriter } from './xdr.js';

/** A job lock held by a starting domain can stall a call for libvirt's own 30 s; we give up a little later. */
export const CALL_TIMEOUT_MS = 35_000;
export const CONNECT_TIMEOUT_MS = 5_000;
/**
 * With keepalive on, libvirtd pings an idle client every 5 s. Nothing at all for this long means a hung daemon (a
 * dead one closes the socket): drop the connection so the client reconnects instead of waiting on it forever.
 */
export const SILENCE_LIMIT_MS = 30_000;

interface Pending {
  proc: number;
  resolve: (payload: Buffer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export interface ConnectionEvents {
  message: [proc: number, payload: Buffer];
  close: [err: Error | undefined];
}

export class LibvirtConnection extends EventEmitter<ConnectionEvents> {
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<number, Pending>();
  private serial = 1;
  private closed = false;
  /** pings answered since connecting (tests and status); -1 when the daemon has no keepalive */
  pings = 0;
  private lastFrameAtMs = Date.now();
  private watchdog: NodeJS.Timeout | undefined;

  private constructor(private readonly socket: net.Socket) {
    super();
    socket.on('data', (chunk: Buffer) => {
      try {
        this.lastFrameAtMs = Date.now();
        for (const f of this.decoder.push(chunk)) this.dispatch(f.header, f.payload);
      } catch (err) {
        socket.destroy(err as Error);
      }
    });
    socket.on('error', () => {
      // 'close' follows with hadError; the pending calls are failed there
    });
    socket.on('close', () => this.shutdown(libvirtConnectionClosed()));
  }

  /** Connect to `socketPath` and open `uri` (qemu:///system, test:///default, …). */
  static async open(socketPath: string, uri: string, opts: { keepalive?: boolean } = {}): Promise<LibvirtConnection> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.createConnection({ path: socketPath });
      const timer = setTimeout(() => s.destroy(libvirtUnavailable(`no answer from ${socketPath} in ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(libvirtConnectFailed(socketPath, err));
      });
    });
    const conn = new LibvirtConnection(socket);
    try {
      await conn.call(Proc.AUTH_LIST);
      await conn.call(Proc.CONNECT_OPEN, new XdrWriter().optional(uri, (w, v) => w.string(v)).uint(0).toBuffer());
      if (opts.keepalive !== false) {
        const r = new XdrReader(await conn.call(Proc.CONNECT_SUPPORTS_FEATURE, new XdrWriter().int(FEATURE_PROGRAM_KEEPALIVE).toBuffer()));
        if (r.int() !== 1) conn.pings = -1;
        else conn.watch();
      }
    } catch (err) {
      conn.close();
      throw err;
    }
    return conn;
  }

  private watch(): void {
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastFrameAtMs > SILENCE_LIMIT_MS) this.socket.destroy(libvirtUnavailable(`libvirt silent for ${SILENCE_LIMIT_MS / 1000} s`));
    }, SILENCE_LIMIT_MS / 2);
    this.watchdog.unref();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  call(proc: number, args: Buffer = Buffer.alloc(0), timeoutMs = CALL_TIMEOUT_MS): Promise<Buffer> {
    if (this.closed) return Promise.reject(libvirtConnectionClosed());
    const serial = this.serial++;
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(serial);
        reject(libvirtCallTimedOut(proc, timeoutMs));
      }, timeoutMs);
      this.pending.set(serial, { proc, resolve, reject, timer });
      this.socket.write(encodeFrame({ prog: REMOTE_PROGRAM, vers: REMOTE_VERSION, proc, type: MessageType.Call, serial, status: MessageStatus.Ok }, args));
    });
  }

  private dispatch(h: Header, payload: Buffer): void {
    if (h.prog === KEEPALIVE_PROGRAM) {
      if (h.proc === KEEPALIVE_PING) {
        this.pings++;
        this.socket.write(encodeFrame({ prog: KEEPALIVE_PROGRAM, vers: 1, proc: KEEPALIVE_PONG, type: MessageType.Message, serial: 0, status: MessageStatus.Ok }));
      }
      return;
    }
    if (h.prog !== REMOTE_PROGRAM) return;
    if (h.type === MessageType.Message) {
      this.emit('message', h.proc, payload);
      return;
    }
    if (h.type !== MessageType.Reply) return;
    const p = this.pending.get(h.serial);
    if (!p) return; // timed out already
    this.pending.delete(h.serial);
    clearTimeout(p.timer);
    if (h.status === MessageStatus.Ok) p.resolve(payload);
    else {
      try {
        p.reject(libvirtCallFailed(readRemoteError(new XdrReader(payload)), p.proc));
      } catch (err) {
        p.reject(err as Error);
      }
    }
  }

  private shutdown(err: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err ?? libvirtConnectionClosed());
    }
    this.pending.clear();
    this.emit('close', err);
  }

  /** CONNECT_CLOSE when possible, then the socket. */
  async disconnect(): Promise<void> {
    if (this.closed) return;
    await this.call(Proc.CONNECT_CLOSE, Buffer.alloc(0), 2000).catch(() => undefined);
    this.close();
  }

  close(): void {
    this.socket.destroy();
    this.shutdown(undefined);
  }
}
