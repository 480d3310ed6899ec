// Asking the daemon over its unix socket with hard deadlines: libvirt holds the starting domain's lock while it
// waits for `numad -w`, so a dead, wedged or slow daemon must turn into a local answer, never into a hang.
import http from 'node:http';
import { CANONICAL_NODESET } from '../topology/idlist.js';

/** A live daemon accepts in well under a millisecond; a full backlog or a stopped process does not. */
export const CONNECT_TIMEOUT_MS = 250;
/** An answer takes < 2 ms; a second means the daemon is stuck, and the local answer takes ~0.2 s. */
export const REPLY_TIMEOUT_MS = 1_000;

export interface DaemonAnswer {
  nodeset: string;
}

export function askDaemon(
  socketPath: string,
  query: { cpuHundredths: number; memMiB: number; client: string },
  timeouts = { connectMs: CONNECT_TIMEOUT_MS, replyMs: REPLY_TIMEOUT_MS },
): Promise<DaemonAnswer> {
  const cpus = `${Math.floor(query.cpuHundredths / 100)}.${String(query.cpuHundredths % 100).padStart(2, '0')}`;
  const path = `/v1/advice?cpus=${cpus}&mem=${query.memMiB}&client=${encodeURIComponent(query.client)}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | undefined, value?: DaemonAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(replyTimer);
      req.destroy();
      if (err) reject(err);
      else resolve(value as DaemonAnswer);
    };
    const req = http.request({ socketPath, path, method: 'GET', agent: false, headers: { connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => finish(e));
      res.on('end', () => {
        if (res.statusCode !== 200) return finish(new Error(`daemon answered HTTP ${res.statusCode}`));
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { nodeset?: unknown };
          if (typeof body.nodeset !== 'string' || !CANONICAL_NODESET.test(body.nodeset)) {
            return finish(new Error('daemon answer has no valid nodeset'));
          }
          finish(undefined, { nodeset: body.nodeset });
        } catch (e) {
          finish(e as Error);
        }
      });
    });
    const connectTimer = setTimeout(() => finish(new Error('daemon did not accept the connection in time')), timeouts.connectMs);
    const replyTimer = setTimeout(() => finish(new Error('daemon did not answer in time')), timeouts.replyMs);
    req.on('socket', (s) => s.once('connect', () => clearTimeout(connectTimer)));
    req.on('error', (e) => finish(e));
    req.end();
  });
}
