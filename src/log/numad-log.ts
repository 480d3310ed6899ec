// The numad-format text log (/var/log/numad.log): ctime-style local timestamps, syslog levels, one write() per
// entry on an O_APPEND descriptor so concurrent writers (daemon, standalone `numad -w`) never tear a line, and a
// reopen for SIGHUP (rotation: logrotate renames the file and sends SIGHUP; see src/install/*.logrotate).
import { closeSync, writeSync } from 'node:fs';
import { NumadvisorError } from '../errors.js';
import { safeOpen } from '../safe-open.js';

export const LOG_CRIT = 2;
export const LOG_ERR = 3;
export const LOG_WARNING = 4;
export const LOG_NOTICE = 5;
export const LOG_INFO = 6;
export const LOG_DEBUG = 7;

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number): string => String(n).padStart(2, '0');

/** C's ctime() without the newline, in local time: `Sun Nov 22 02:08:36 2026`, day of month space-padded. */
export function ctime(date: Date): string {
  return (
    `${DAYS[date.getDay()]} ${MONTHS[date.getMonth()]} ${String(date.getDate()).padStart(2, ' ')} ` +
    `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())} ${date.getFullYear()}`
  );
}

export interface NumadLogOptions {
  path: string;
  level: number;
  clock?: () => Date;
  /** Where lines go when the file cannot be opened (numad falls back to stderr). */
  fallback?: (text: string) => void;
}

export class NumadLog {
  private fd: number | undefined;
  level: number;
  private readonly clock: () => Date;
  private readonly fallback: (text: string) => void;

  constructor(readonly options: NumadLogOptions) {
    this.level = options.level;
    this.clock = options.clock ?? (() => new Date());
    this.fallback = options.fallback ?? ((text) => process.stderr.write(text));
    this.open();
  }

  get path(): string {
    return this.options.path;
  }

  get usingFallback(): boolean {
    return this.fd === undefined;
  }

  private open(): void {
    try {
      // Never through a symlink, never another user's file: a root daemon appending to a user's link would write
      // wherever the link points.
      this.fd = safeOpen(this.options.path, 'append', 0o644, { allowDevices: true });
    } catch (err) {
      this.fd = undefined;
      if (err instanceof NumadvisorError) {
        this.emit(`${ctime(this.clock())}: Cannot open numad log file (${err.message}) -- using stderr\n`);
        return;
      }
      const errno = Math.abs(Number((err as NodeJS.ErrnoException).errno ?? 0));
      this.emit(`${ctime(this.clock())}: Cannot open numad log file (errno: ${errno}) -- using stderr\n`);
    }
  }

  reopen(): void {
    this.close();
    this.open();
  }

  close(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed: nothing to keep
      }
      this.fd = undefined;
    }
  }

  private emit(text: string): void {
    if (this.fd === undefined) {
      this.fallback(text);
      return;
    }
    try {
      writeSync(this.fd, text);
    } catch {
      // A full disk or a vanished file must never stop an answer: the line is lost, the caller goes on.
    }
  }

  enabled(level: number): boolean {
    return level <= this.level;
  }

  /** Timestamped lines, written in one write() so a reader sees them together and whole. */
  log(level: number, ...messages: string[]): void {
    if (!this.enabled(level) || messages.length === 0) return;
    const stamp = ctime(this.clock());
    this.emit(messages.map((m) => `${stamp}: ${m}\n`).join(''));
  }
}

export function preplacementLines(cpuHundredths: number, memMiB: number, fromNodes: string, toNodes: string): string[] {
  return [
    `Getting NUMA pre-placement advice for ${cpuHundredths} CPUs and ${memMiB} MBs`,
    `Advising pid -1 (unknown) move from nodes (${fromNodes}) to nodes (${toNodes})`,
  ];
}
