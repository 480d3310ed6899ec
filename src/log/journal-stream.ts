// The structured (pino) log on stdout under systemd: journald reads a `<N>` syslog priority at the start of each line
// of a service's stdout (SyslogLevelPrefix=yes, the default) and files the line at that priority, so that
// `journalctl -p warning -u numadvisor` shows the daemon's warnings and errors; without the prefix every line lands at
// the unit's SyslogLevel (info). Only where stdout *is* the journal stream does a line get the prefix: systemd sets
// JOURNAL_STREAM to the device and inode of that stream, and a process compares them with fstat of its own stdout
// (systemd.exec(5), "$JOURNAL_STREAM"): stdout redirected to a file or a pipe from a service keeps plain JSON lines,
// which tools parse, and so does the log file (src/log/daemon-log.ts), which never goes through here.
//
// No transport or worker thread: the wrapper adds a few bytes to the line pino has already serialised and hands it
// to the same destination pino would have written it to. pino tells the destination each line's level through its
// metadata hook (`destination[Symbol.for('pino.metadata')]`, set before every write, child loggers included), so
// the level is exact without parsing the line back.
import { fstatSync } from 'node:fs';
import { LOG_CRIT, LOG_DEBUG, LOG_ERR, LOG_INFO, LOG_WARNING } from './numad-log.js';

/** What pino writes to: its destinations (sonic-boom, a stream) and ours. */
export interface LineDestination {
  write(line: string): unknown;
  flush?(cb?: (err?: Error | null) => void): unknown;
  flushSync?(): unknown;
  end?(): unknown;
}

/**
 * The syslog priority for a pino level (trace 10, debug 20, info 30, warn 40, error 50, fatal 60; a custom level
 * takes the priority of the standard one at or below it). fatal is crit (2), not emerg (0) or alert (1): those say
 * the whole system is unusable or needs someone now, and journald writes emerg to every terminal (ForwardToWall);
 * a placement daemon about to exit is critical for this service, not for the host. error is err (3), warn is
 * warning (4). info is info (6): pino has no notice (5). debug and trace are both debug (7), syslog's lowest.
 */
export function syslogPriority(pinoLevel: number): number {
  if (pinoLevel >= 60) return LOG_CRIT;
  if (pinoLevel >= 50) return LOG_ERR;
  if (pinoLevel >= 40) return LOG_WARNING;
  if (pinoLevel >= 30) return LOG_INFO;
  return LOG_DEBUG;
}

/**
 * Whether file descriptor `fd` is the stream systemd connected to the journal: JOURNAL_STREAM is `DEVICE:INODE`
 * (decimal) of that stream, and it is inherited by children whose stdout may be something else, so it counts only
 * when it names this very descriptor.
 */
export function isJournalStream(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env['JOURNAL_STREAM'];
  const match = value === undefined ? null : /^(\d+):(\d+)$/.exec(value);
  if (!match) return false;
  try {
    // bigint: a device number need not fit in a double
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(match[1] ?? '') && st.ino === BigInt(match[2] ?? '');
  } catch {
    return false;
  }
}

const PINO_METADATA: unique symbol = Symbol.for('pino.metadata');

/** Prefixes each line with `<priority>` from the level pino set just before the write. */
export class JournalPriorityStream implements LineDestination {
  readonly [PINO_METADATA] = true;
  /** Set by pino before each write (its metadata contract); info until the first line. */
  lastLevel = 30;

  constructor(private readonly inner: LineDestination) {}

  write(line: string): void {
    this.inner.write(`<${syslogPriority(this.lastLevel)}>${line}`);
  }

  flush(cb?: (err?: Error | null) => void): void {
    if (this.inner.flush) this.inner.flush(cb);
    else cb?.();
  }

  flushSync(): void {
    this.inner.flushSync?.();
  }

  end(): void {
    this.inner.end?.();
  }
}

/**
 * The destination for the daemon's structured log on stdout: `stdout` itself (pino.destination(1)) unless fd 1 is
 * the journal stream, then the same destination behind `<priority>` prefixes.
 */
export function stdoutLogDestination<D extends LineDestination>(
  stdout: D,
  env: NodeJS.ProcessEnv = process.env,
  fd = 1,
): D | JournalPriorityStream {
  return isJournalStream(fd, env) ? new JournalPriorityStream(stdout) : stdout;
}
