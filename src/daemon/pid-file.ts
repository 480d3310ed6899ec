// numad's pid file (/var/run/numad.pid, "<pid>\n", mode 0644), kept for init scripts and operators' habits.
// The socket is how clients find the daemon; the pid file is written once the socket listens and removed on a
// clean stop. A leftover file is replaced only after the socket showed that no daemon answers.
import { openSync, readFileSync, unlinkSync, writeSync, closeSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { isErrno, stateError } from '../errors.js';

export function writePidFile(file: string, log: (message: string) => void): void {
  mkdirSync(path.dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw stateError(`Cannot open numad.pid file ${file}: ${(err as Error).message}`, err);
    }
    const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
    if (Number.isFinite(pid) && pid > 0 && !existsSync(`/proc/${pid}`)) {
      log(`Removing out-of-date numad run file because /proc/${pid} doesn't exist`);
    } else {
      // Alive but not answering on our socket (checked before), reused by another program, or garbage.
      log(`Removing numad run file ${file} (PID ${Number.isFinite(pid) ? pid : 'unreadable'}): no daemon answers on its socket`);
    }
    unlinkSync(file);
  }
  throw stateError('Could not register daemon PID');
}

export function removePidFile(file: string): void {
  try {
    if (Number.parseInt(readFileSync(file, 'utf8'), 10) === process.pid) unlinkSync(file);
  } catch {
    // gone already, or not ours
  }
}
