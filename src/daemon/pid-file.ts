// numad's pid file (/var/run/numad.pid, "<pid>\n", mode 0644), kept for init scripts and operators' habits.
// Written before the socket listens (a start that cannot write it fails whole) and removed on a clean stop. A
// leftover file is replaced only after the socket showed that no daemon answers and only when it is a regular file
// of ours: never read or replaced through a symlink (a root daemon must not read a user's 0600 file and log its
// number, nor be steered into another file), never another user's file.
import { closeSync, readFileSync, unlinkSync, writeSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { isErrno, stateError } from '../errors.js';
import { describeOpenError, safeOpen } from '../safe-open.js';

/** The pid in a pid file of ours; undefined when it is absent. Throws when it is not a file we may trust. */
function readOwnPidFile(file: string): number | undefined {
  let fd: number;
  try {
    fd = safeOpen(file, 'read');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw stateError(`Cannot use numad.pid file: ${describeOpenError(file, err)}`, err);
  }
  try {
    return Number.parseInt(readFileSync(fd, 'utf8'), 10);
  } finally {
    closeSync(fd);
  }
}

export function writePidFile(file: string, log: (message: string) => void): void {
  mkdirSync(path.dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      // O_EXCL never follows a symlink, and safeOpen adds O_NOFOLLOW and the ownership check.
      const fd = safeOpen(file, 'create-exclusive', 0o644);
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw stateError(`Cannot open numad.pid file ${file}: ${describeOpenError(file, err)}`, err);
    }
    const pid = readOwnPidFile(file);
    if (pid !== undefined && Number.isFinite(pid) && pid > 0 && !existsSync(`/proc/${pid}`)) {
      log(`Removing out-of-date numad run file because /proc/${pid} doesn't exist`);
    } else {
      // Alive but not answering on our socket (checked before), reused by another program, or garbage.
      log(`Removing numad run file ${file} (PID ${pid !== undefined && Number.isFinite(pid) ? pid : 'unreadable'}): no daemon answers on its socket`);
    }
    try {
      unlinkSync(file);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw stateError(`Cannot remove numad.pid file ${file}: ${(err as Error).message}`, err);
    }
  }
  throw stateError('Could not register daemon PID');
}

export function removePidFile(file: string): void {
  try {
    if (readOwnPidFile(file) === process.pid) unlinkSync(file);
  } catch {
    // gone already, or not ours
  }
}
