// Opening files a root daemon writes in places others may reach (/var/log, /run, a state dir) the way daemons must:
// never through a symlink (O_NOFOLLOW: a user's link to /etc/shadow or to their own 0600 file must not make root
// append to or read it), only regular files, and only files owned by us (or by root): a file another user
// created in a shared directory is not ours to write. Used by the numad log, the pid file and the ledger's files.
import { closeSync, constants, fstatSync, openSync, unlinkSync } from 'node:fs';
import { NumadvisorError, stateError } from './errors.js';

const { O_APPEND, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY, O_CLOEXEC } = constants as typeof constants & { O_CLOEXEC: number };
/** O_CLOEXEC is 0o2000000 on Linux; Node's constants lack it on some versions, and child processes must not inherit these. */
const CLOEXEC = typeof O_CLOEXEC === 'number' ? O_CLOEXEC : 0o2000000;

export type SafeOpenMode = 'append' | 'read' | 'readwrite' | 'create-exclusive';

const FLAGS: Record<SafeOpenMode, number> = {
  append: O_WRONLY | O_APPEND | O_CREAT,
  read: O_RDONLY,
  readwrite: O_RDWR | O_CREAT,
  'create-exclusive': O_WRONLY | O_CREAT | O_EXCL,
};

/** Why an opened file is not one we may use, or undefined when it is. */
export function unsafeReason(fd: number, uid = process.getuid?.() ?? 0, allowDevices = false): string | undefined {
  const st = fstatSync(fd);
  // A log sent to /dev/null (or /dev/full in a test) is an operator's choice; a FIFO or a directory is not a file.
  if (!st.isFile() && !(allowDevices && st.isCharacterDevice())) return 'is not a regular file';
  if (st.uid !== uid && st.uid !== 0) return `is owned by uid ${st.uid}, not by this process (uid ${uid}) or root`;
  // A second name elsewhere (a hard link a user made to a file of ours, where protected_hardlinks is off).
  if (st.isFile() && st.nlink > 1) return `has ${st.nlink} names (hard links)`;
  return undefined;
}

/**
 * Open without following a final symlink and check what was opened. Throws the errno error of open(2) (ELOOP for a
 * symlink, ENOENT, EACCES…) or a NUMADVISOR_ERR_STATE error naming the file when it is not ours.
 */
export function safeOpen(file: string, mode: SafeOpenMode, perm = 0o640, opts: { allowDevices?: boolean } = {}): number {
  // O_NONBLOCK: a FIFO planted where a file was expected would block open() before the check below could refuse it
  // (regular files ignore the flag).
  const fd = openSync(file, FLAGS[mode] | O_NOFOLLOW | O_NONBLOCK | CLOEXEC, perm);
  let reason: string | undefined;
  try {
    reason = unsafeReason(fd, process.getuid?.() ?? 0, opts.allowDevices ?? false);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  if (reason !== undefined) {
    closeSync(fd);
    throw stateError(`refusing to use ${file}: it ${reason}`);
  }
  return fd;
}

/**
 * A fresh temp file beside `file` (`<file>.tmp-<pid>`) for a write-then-rename: a leftover of ours is removed first,
 * then it is created exclusively, never through a symlink, with `perm`.
 */
export function openFreshTemp(file: string, perm: number): { tmp: string; fd: number } {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    unlinkSync(tmp);
  } catch {
    // none left over (anything else, safeOpen's O_EXCL reports)
  }
  return { tmp, fd: safeOpen(tmp, 'create-exclusive', perm) };
}

/** A message for an open that failed, naming the usual cause of ELOOP (a symlink where a file was expected). */
export function describeOpenError(file: string, err: unknown): string {
  if (err instanceof NumadvisorError) return err.message;
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ELOOP') return `refusing to use ${file}: it is a symbolic link`;
  return `cannot open ${file}: ${e.message}`;
}
