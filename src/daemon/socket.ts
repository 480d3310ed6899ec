// Unix socket housekeeping: a leftover socket file from a killed daemon is removed, a live one is never stolen.
import { connect } from 'node:net';
import { accessSync, chmodSync, chownSync, constants, mkdirSync, readFileSync, unlinkSync, lstatSync } from 'node:fs';
import path from 'node:path';
import { isErrno, stateError } from '../errors.js';

/** How long a probe of an existing socket may take before it counts as dead (a wedged daemon must not block us). */
const PROBE_TIMEOUT_MS = 500;

/**
 * What a connect to the daemon's socket found:
 * - `alive`: a daemon accepted the connection;
 * - `denied`: there is a socket but we may not use it (EACCES/EPERM: a user facing root's 0660 socket, or a directory
 *   on the way that we cannot enter). It says nothing about whether a daemon runs, so it must never count as "no
 *   daemon": a user's `numad -i 0` then did nothing and exited 0, and `numad -u 70` tried to start a second daemon;
 * - `unresponsive`: no answer within the deadline (a wedged or overloaded daemon);
 * - `absent`: no daemon (ENOENT, ECONNREFUSED from a leftover socket file, or anything else that is not a socket).
 */
export type SocketProbe = 'alive' | 'denied' | 'unresponsive' | 'absent';

export function probeSocket(socketPath: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<SocketProbe> {
  return new Promise((resolve) => {
    const s = connect({ path: socketPath });
    const done = (state: SocketProbe): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(state);
    };
    const timer = setTimeout(() => done('unresponsive'), timeoutMs);
    s.once('connect', () => done('alive'));
    s.once('error', (err) => done(isErrno(err, 'EACCES', 'EPERM') ? 'denied' : 'absent'));
  });
}

/**
 * Whether this process may connect to the socket, without connecting (the `numad -w` path asks the daemon directly
 * and wants no extra round trip): connect(2) on a unix socket needs write permission on it and search permission on
 * every directory above, which is what access(2) W_OK checks. Only `denied` is meaningful; anything else may work.
 */
export function socketPermission(socketPath: string): 'denied' | 'maybe' {
  try {
    accessSync(socketPath, constants.W_OK);
    return 'maybe';
  } catch (err) {
    return isErrno(err, 'EACCES', 'EPERM') ? 'denied' : 'maybe';
  }
}

/** sun_path is 108 bytes with its NUL: a longer path would be silently cut by the kernel, or fail after start. */
export const MAX_SOCKET_PATH_BYTES = 107;

export async function prepareSocketPath(socketPath: string): Promise<void> {
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw stateError(`socket path ${socketPath} is ${Buffer.byteLength(socketPath)} bytes; a unix socket path has at most ${MAX_SOCKET_PATH_BYTES}`);
  }
  mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  let exists = false;
  try {
    exists = lstatSync(socketPath).isSocket();
    if (!exists) throw stateError(`${socketPath} exists and is not a socket; refusing to replace it`);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  if (!exists) return;
  const probe = await probeSocket(socketPath);
  if (probe === 'alive') throw stateError(`another daemon is answering on ${socketPath}`);
  // Someone else's socket (a user starting a daemon on root's path): not ours to judge dead or to replace.
  if (probe === 'denied') throw stateError(`cannot use ${socketPath}: permission denied (another user's daemon?)`);
  unlinkSync(socketPath);
}

/**
 * Bind with the socket's final mode, not the process umask's: between a bind under umask 000 and a chmod, any
 * local user could connect (a connect loop won 10 of 10 starts), and a connection once made stays. The umask is
 * set for the synchronous bind inside listen() and restored at once; the chmod after it only repeats the mode. The
 * group (e.g. libvirt's) is given afterwards, which only widens access from root-only to root and that group.
 */
export async function listenRestricted(listen: () => Promise<unknown>, socketPath: string, mode: number, gid: number | undefined): Promise<void> {
  const old = process.umask(0o777 & ~mode);
  try {
    await listen();
  } finally {
    process.umask(old);
  }
  chmodSync(socketPath, mode);
  if (gid !== undefined) chownSync(socketPath, process.getuid?.() ?? 0, gid);
}

/** A group name (from /etc/group) or a numeric gid, as --socket-group takes it. */
export function resolveGroup(group: string, groupFile = '/etc/group'): number {
  if (/^\d+$/.test(group)) return Number(group);
  let text = '';
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch (err) {
    throw stateError(`cannot read ${groupFile} to find group ${group}: ${(err as Error).message}`, err);
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw stateError(`no group named ${group} in ${groupFile}`);
}

export function removeSocket(socketPath: string): void {
  try {
    unlinkSync(socketPath);
  } catch {
    // gone already
  }
}
