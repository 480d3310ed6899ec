// HTTP at the byte level over node:net, for requests no HTTP client library will send (malformed request lines,
// missing Host, trickled bytes) and for reading exactly what the daemon wrote back.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export type Target = string | { port: number; host?: string };

export interface RawResponse {
  /** 0 when the daemon closed without answering */
  status: number;
  headers: Record<string, string>;
  body: string;
  /** everything received, for messages */
  raw: string;
  /** ms from the first byte sent until the daemon closed the connection */
  closedAfterMs: number;
}

function connect(target: Target): net.Socket {
  return typeof target === 'string' ? net.connect({ path: target }) : net.connect({ port: target.port, host: target.host ?? '127.0.0.1' });
}

export function parseRawResponse(raw: string): Omit<RawResponse, 'closedAfterMs'> {
  const end = raw.indexOf('\r\n\r\n');
  if (!raw.startsWith('HTTP/') || end < 0) return { status: 0, headers: {}, body: '', raw };
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = raw.slice(end + 4);
  if (headers['content-length'] !== undefined) body = body.slice(0, Number(headers['content-length']));
  else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    let out = '';
    let rest = body;
    for (;;) {
      const nl = rest.indexOf('\r\n');
      const size = Number.parseInt(rest.slice(0, nl), 16);
      if (nl < 0 || !Number.isFinite(size) || size === 0) break;
      out += rest.slice(nl + 2, nl + 2 + size);
      rest = rest.slice(nl + 2 + size + 2);
    }
    body = out;
  }
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, body, raw };
}

/**
 * Send `parts` (with `gapMs` between them) and collect the answer until the daemon closes the connection or
 * `waitMs` passes (then we close). Requests that do not ask for `connection: close` should be sent with it.
 */
export function rawExchange(target: Target, parts: (string | Buffer)[], opts: { gapMs?: number; waitMs?: number } = {}): Promise<RawResponse> {
  const waitMs = opts.waitMs ?? 5_000;
  return new Promise((resolve, reject) => {
    const s = connect(target);
    const chunks: Buffer[] = [];
    let closed = false;
    let t0 = 0;
    const done = (): void => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('latin1');
      resolve({ ...parseRawResponse(raw), closedAfterMs: Date.now() - t0 });
    };
    const timer = setTimeout(() => {
      s.destroy();
      done();
    }, waitMs);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('close', done);
    // A reset after the daemon's answer (it closes while we still send) is the daemon closing, not a failure.
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return done();
      clearTimeout(timer);
      reject(err);
    });
    s.once('connect', () => {
      t0 = Date.now();
      void (async () => {
        for (let i = 0; i < parts.length && !closed && !s.destroyed; i++) {
          if (i > 0 && opts.gapMs) await sleep(opts.gapMs);
          if (!closed && !s.destroyed) s.write(parts[i] as string | Buffer);
        }
      })();
    });
  });
}

/** The bytes of `text`, one string each: a request trickled one byte at a time (slowloris). */
export const bytewise = (text: string): string[] => [...text];
