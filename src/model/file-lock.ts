// flock(2) through the small addon src/native/file-lock.c (Node.js has no binding for it). The kernel drops a flock
// when its holder dies however it dies (kill -9 included), which is what "one daemon per state directory" and the
// `numad -w` spool need; a pid file or an O_EXCL lock file would outlive a killed holder and need guessing.
import { closeSync, existsSync, ftruncateSync, mkdirSync, readFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonLoadFailed, addonNotBuilt, stateError } from '../errors.js';
import { describeOpenError, safeOpen } from '../safe-open.js';

interface FileLockAddon {
  flock(fd: number, exclusive: boolean, wait: boolean): boolean;
  unlock(fd: number): void;
}

/** Where `make build` puts the addon, seen from dist/model (installed) or src/model (tests run from source). */
const ADDON_CANDIDATES = ['../native/file-lock.node', '../../dist/native/file-lock.node'];

let cached: FileLockAddon | Error | undefined;

export function loadFileLockAddon(): FileLockAddon {
  if (cached === undefined) {
    cached = addonNotBuilt('file-lock');
    const require = createRequire(import.meta.url);
    for (const rel of ADDON_CANDIDATES) {
      const file = fileURLToPath(new URL(rel, import.meta.url));
      if (!existsSync(file)) continue;
      try {
        cached = require(file) as FileLockAddon;
      } catch (err) {
        cached = addonLoadFailed(err);
      }
      break;
    }
  }
  if (cached instanceof Error) throw stateError(`cannot lock files: ${cached.message}`, cached);
  return cached;
}

/** Take flock on an open descriptor: true when taken, false when someone else holds it (only when not waiting). */
export function flockFd(fd: number, exclusive: boolean, wait: boolean): boolean {
  return loadFileLockAddon().flock(fd, exclusive, wait);
}

export function unlockFd(fd: number): void {
  loadFileLockAddon().unlock(fd);
}

export const STATE_LOCK_FILE_NAME = 'lock';

export interface StateDirLock {
  readonly file: string;
  release(): void;
}

/**
 * Lock a state directory for this daemon's life. A second daemon on the same directory would replay and compact
 * the same journal under the first one's feet (a campaign lost half the reservations that way), so it is refused
 * with the holder's pid, which the holder writes into the lock file once it has the lock.
 */
export function lockStateDir(dir: string): StateDirLock {
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  const file = path.join(dir, STATE_LOCK_FILE_NAME);
  let fd: number;
  try {
    fd = safeOpen(file, 'readwrite', 0o640);
  } catch (err) {
    throw stateError(describeOpenError(file, err), err);
  }
  let taken: boolean;
  try {
    taken = flockFd(fd, true, false);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  if (!taken) {
    closeSync(fd);
    let holder = '';
    try {
      holder = readFileSync(file, 'utf8').trim();
    } catch {
      // unreadable: the message goes without the pid
    }
    throw stateError(
      `another numadvisor daemon${/^\d+$/.test(holder) ? ` (pid ${holder})` : ''} is using the state directory ${dir}; ` +
        'stop it first, or give this one its own --state-dir',
    );
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  let released = false;
  return {
    file,
    release(): void {
      if (released) return;
      released = true;
      // The file stays (a lock file removed while another process waits on it would split the lock in two).
      try {
        ftruncateSync(fd, 0);
      } catch {
        // the pid is only a courtesy for the error message
      }
      closeSync(fd);
    },
  };
}
