// Unix socket housekeeping: a leftover socket file from a killed daemon is removed, a live one is never stolen.
import { connect } from 'node:net';
import { chmodSync, mkdirSync, unlinkSync, lstatSync } from 'node:fs';
import path from 'node:path';
import { isErrno, stateError } from '../errors.js';

/** How long a probe of an existing socket may take before it counts as dead (a wedged daemon must not block us). */
const PROBE_TIMEOUT_MS = 500;

export function probeSocket(socketPath: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path: socketPath });
    const done = (alive: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(alive);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export async function prepareSocketPath(socketPath: string): Promise<void> {
  mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  let exists = false;
  try {
    exists = lstatSync(socketPath).isSocket();
    if (!exists) throw stateError(`${socketPath} exists and is not a socket; refusing to replace it`);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  if (!exists) return;
  if (await probeSocket(socketPath)) throw stateError(`another daemon is answering on ${socketPath}`);
  unlinkSync(socketPath);
}

export function restrictSocket(socketPath: string, mode: number): void {
  chmodSync(socketPath, mode);
}

export function removeSocket(socketPath: string): void {
  try {
    unlinkSync(socketPath);
  } catch {
    // gone already
  }
}
