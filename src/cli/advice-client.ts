// Talking to the daemon over its unix socket with hard deadlines: libvirt holds the starting domain's lock while it
// waits for `numad -w`, so a dead, wedged or slow daemon must turn into a local answer, never into a hang.
import http from 'node:http';
import { daemonAnswerNotNodeset, daemonNotAccepting, daemonRefused, daemonTooSlow } from '../errors.js';
import { isCanonicalNodeset } from '../topology/idlist.js';
import type { NumadOp } from '../model/numad-settings.js';

/** A live daemon accepts in well under a millisecond; a full backlog or a stopped process does not. */
export const CONNECT_TIMEOUT_MS = 250;
/** An answer takes < 1 ms; a second means the daemon is stuck, and the local answer takes ~0.2 s. */
export const REPLY_TIMEOUT_MS = 1_000;

/** The daemon stops reserving for us this long before we stop waiting: an answer in flight is not abandoned. */
export const DEADLINE_MARGIN_MS = 100;

export interface Deadlines {
  connectMs: number;
  replyMs: number;
}

const DEFAULT_DEADLINES: Deadlines = { connectMs: CONNECT_TIMEOUT_MS, replyMs: REPLY_TIMEOUT_MS };

/** One request; resolves with the body of a 200 answer, rejects on anything else or when a deadline passes. */
export function requestDaemon(
  socketPath: string,
  method: 'GET' | 'POST',
  path: string,
  body: unknown,
  deadlines: Deadlines = DEFAULT_DEADLINES,
): Promise<string> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | undefined, value?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(replyTimer);
      req.destroy();
      if (err) reject(err);
      else resolve(value as string);
    };
    const headers: Record<string, string | number> = { connection: 'close' };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(payload);
    }
    const req = http.request({ socketPath, path, method, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => finish(e));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return finish(daemonRefused(res.statusCode, text));
        finish(undefined, text);
      });
    });
    const connectTimer = setTimeout(() => finish(daemonNotAccepting()), deadlines.connectMs);
    const replyTimer = setTimeout(() => finish(daemonTooSlow()), deadlines.replyMs);
    req.on('socket', (s) => s.once('connect', () => clearTimeout(connectTimer)));
    req.on('error', (e) => finish(e));
    req.end(payload);
  });
}

export async function askDaemon(
  socketPath: string,
  query: { cpuHundredths: number; memMiB: number; client: string },
  deadlines: Deadlines = DEFAULT_DEADLINES,
): Promise<{ nodeset: string }> {
  const cpus = `${Math.floor(query.cpuHundredths / 100)}.${String(query.cpuHundredths % 100).padStart(2, '0')}`;
  // The daemon reserves nothing once this passes (we will have answered locally); the margin covers the way back.
  const deadline = Date.now() + deadlines.replyMs - DEADLINE_MARGIN_MS;
  const path = `/v1/advice?cpus=${cpus}&mem=${query.memMiB}&client=${encodeURIComponent(query.client)}&format=nodeset&deadline=${deadline}`;
  const text = await requestDaemon(socketPath, 'GET', path, undefined, deadlines);
  const nodeset = text.endsWith('\n') ? text.slice(0, -1) : text;
  if (!isCanonicalNodeset(nodeset)) throw daemonAnswerNotNodeset();
  return { nodeset };
}

export async function sendOptions(socketPath: string, ops: NumadOp[], deadlines: Deadlines = { connectMs: CONNECT_TIMEOUT_MS, replyMs: 5_000 }): Promise<void> {
  await requestDaemon(socketPath, 'POST', '/v1/options', { ops }, deadlines);
}
