// The structured (pino) log of a daemon that is not under systemd (the background daemon `numad` starts writes
// /var/log/numadvisor.log). pino's usual destination is an fd the daemon cannot reopen by path, so logrotate had to
// use copytruncate, which loses what is written between its copy and its truncate. This destination holds the path:
// SIGHUP reopens it after logrotate renamed the file (postrotate), and every line is one write(2) on O_APPEND, so
// nothing is buffered to be lost in a crash or left behind in the renamed file. Opened like the numad log: never
// through a symlink, never another user's file.
import { closeSync, writeSync } from 'node:fs';
import { safeOpen } from '../safe-open.js';

export class ReopenableLog {
  private fd: number;

  constructor(readonly path: string) {
    this.fd = safeOpen(path, 'append', 0o640);
  }

  /** pino's destination interface: one serialised line per call. */
  write(line: string): void {
    try {
      writeSync(this.fd, line);
    } catch {
      // A full disk must not take the daemon down; the line is lost, as with any log.
    }
  }

  /** Switch to a file at the same path (the old one was renamed by logrotate); keep the old fd if that fails. */
  reopen(): void {
    let fd: number;
    try {
      fd = safeOpen(this.path, 'append', 0o640);
    } catch {
      return;
    }
    closeSync(this.fd);
    this.fd = fd;
  }

  close(): void {
    closeSync(this.fd);
  }
}
