// The spool of answers `numad -w` gave without the daemon (it was stopped, wedged or too slow for libvirt's
// deadline): <stateDir>/local-answers.jsonl, one reservation per line. A local answer must neither ignore what the
// daemon promised nor be forgotten by it, so the local side counts the daemon's ledger files plus the spool, and the
// daemon adopts every spooled answer into its ledger before it answers again.
//
// Concurrency (both sides are optimistic, and each checks the other after committing):
// - Local answers serialise on an exclusive flock of the spool. Under it a client reads snapshot + journal + spool,
//   decides, appends its line and fdatasyncs; if the daemon's journal or snapshot changed meanwhile (it answered
//   someone), it takes its line back and decides again.
// - The daemon adopts new spool lines before each answer (one fstat when there are none) and, once its own answer
//   is durable, looks at the spool again: a local answer that arrived in between and made its nodes over-promised
//   makes it withdraw its answer (the client then answers locally, counting everything).
// Whichever commits second sees the first, so no memory is promised twice.
import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, mkdirSync, readSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErrno, shortWrite } from '../errors.js';
import { safeOpen } from '../safe-open.js';
import { flockFd, unlockFd } from './file-lock.js';
import { parseReservation, ReservationLedger, type Reservation } from './reservations.js';
import { JOURNAL_FILE_NAME, parseLedgerTexts, readStateText, STATE_FILE_NAME, type ReservationCheck } from './state-file.js';

export const SPOOL_FILE_NAME = 'local-answers.jsonl';

/**
 * A client waits at most this long for the others' lock: libvirt is waiting with the domain locked, but an answer
 * the daemon does not learn of is worse than a slow one, and numad itself takes 2 s. Only a burst of local answers
 * (a stopped daemon, hundreds of starts) queues here; each holds the lock for a few milliseconds of work.
 */
export const SPOOL_LOCK_WAIT_MS = 3_000;
/** Decide again at most this often when the daemon keeps answering meanwhile; the last decision stands. */
const MAX_ATTEMPTS = 10;

function readAll(fd: number): string {
  const size = fstatSync(fd).size;
  const buf = Buffer.alloc(size);
  let off = 0;
  while (off < size) {
    const n = readSync(fd, buf, off, size - off, off);
    if (n === 0) break;
    off += n;
  }
  return buf.subarray(0, off).toString('utf8');
}

function parseSpool(text: string): Reservation[] {
  const out: Reservation[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const r = parseReservation(JSON.parse(line));
      if (typeof r !== 'string') out.push(r);
    } catch {
      // a torn line from a client killed mid-write: it printed nothing, so there is nothing to keep
    }
  }
  return out;
}

/**
 * Where the next line goes: after the last whole line. A client killed mid-write leaves a fragment; writing after it
 * would glue the next answer to it and both would be lost to the daemon. Called under the lock.
 */
function wholeLinesEnd(fd: number): number {
  const size = fstatSync(fd).size;
  if (size === 0) return 0;
  const tailLen = Math.min(size, 64 * 1024);
  const tail = Buffer.alloc(tailLen);
  const n = readSync(fd, tail, 0, tailLen, size - tailLen);
  if (n === tailLen && tail[n - 1] === 0x0a) return size;
  const lastNewline = tail.subarray(0, n).lastIndexOf(0x0a);
  const end = lastNewline < 0 ? (size > tailLen ? size : 0) : size - tailLen + lastNewline + 1;
  if (end < size) ftruncateSync(fd, end);
  return end;
}

/** A spool this long is worth pruning when most of it has expired (no daemon has emptied it: none runs). */
const PRUNE_MIN_LINES = 1000;

/**
 * Without a daemon (`numad -w` used on its own) nobody empties the spool, and every answer would read more of it.
 * Under the lock, when it holds over PRUNE_MIN_LINES lines of which more than half have expired, it is rewritten in
 * place with the live ones (in place: a running daemon keeps it open). Called under the lock.
 */
function pruneExpired(fd: number, nowMs: number): void {
  const size = fstatSync(fd).size;
  if (size < PRUNE_MIN_LINES * 200) return;
  const buf = Buffer.alloc(size);
  const n = readSync(fd, buf, 0, size, 0);
  const lines = buf.subarray(0, n).toString('utf8').split('\n').filter((l) => l.trim() !== '');
  if (lines.length <= PRUNE_MIN_LINES) return;
  const live = lines.filter((l) => {
    const m = /"expiresAt":"([^"]+)"/.exec(l);
    return m !== null && Date.parse(m[1] as string) > nowMs;
  });
  if (live.length * 2 >= lines.length) return;
  const text = Buffer.from(live.map((l) => `${l}\n`).join(''));
  writeSync(fd, text, 0, text.length, 0);
  ftruncateSync(fd, text.length);
  fdatasyncSync(fd);
}

/** Identity of the daemon's files: any answer or release it makes changes one of them. */
function ledgerStamp(dir: string): string {
  return [STATE_FILE_NAME, JOURNAL_FILE_NAME]
    .map((name) => {
      try {
        const st = statSync(path.join(dir, name), { bigint: true });
        return `${st.ino}:${st.size}:${st.mtimeNs}`;
      } catch {
        return '-';
      }
    })
    .join('/');
}

export interface LocalDecision {
  /** the reservation the answer makes (undefined: nothing to reserve) */
  reservation: Reservation | undefined;
}

export interface LocalRecordOutcome<T extends LocalDecision> {
  decision: T;
  /** whether the answer is in the spool (and so will be in the daemon's ledger) */
  recorded: boolean;
  /** why it is not, or what it could not count */
  note?: string;
}

/**
 * Decide a local answer against everything promised so far and record it. `decide` gets a ledger holding the
 * daemon's reservations and the earlier local answers (it may be called again if the daemon answered meanwhile).
 */
export async function recordLocalAnswer<T extends LocalDecision>(
  dir: string,
  check: ReservationCheck,
  decide: (ledger: ReservationLedger) => T,
  nowMs: () => number = Date.now,
  lockWaitMs = SPOOL_LOCK_WAIT_MS,
): Promise<LocalRecordOutcome<T>> {
  const ledgerFromFiles = (spoolText: string): ReservationLedger => {
    const ledger = new ReservationLedger();
    let parsed;
    try {
      parsed = parseLedgerTexts(readStateText(path.join(dir, STATE_FILE_NAME)), readStateText(path.join(dir, JOURNAL_FILE_NAME)), check);
    } catch {
      parsed = undefined;
    }
    if (parsed) ledger.restore(parsed.reservations, nowMs());
    ledger.restore(parseSpool(spoolText).filter((r) => check(r) === undefined), nowMs());
    return ledger;
  };
  let fd: number;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    fd = safeOpen(path.join(dir, SPOOL_FILE_NAME), 'readwrite', 0o640);
  } catch (err) {
    return {
      decision: decide(new ReservationLedger()),
      recorded: false,
      note: `cannot open the daemon's state in ${dir} (${isErrno(err, 'EACCES', 'EPERM') ? 'permission denied' : (err as Error).message}): answered without its reservations`,
    };
  }
  try {
    // Everything read before queueing for the lock; under it, only what changed is read again.
    const look = (): { stamp: string; spoolSize: number; ledger: ReservationLedger } => {
      const stamp = ledgerStamp(dir);
      const spoolSize = fstatSync(fd).size;
      return { stamp, spoolSize, ledger: ledgerFromFiles(readAll(fd)) };
    };
    let seen = look();
    const giveUp = Date.now() + lockWaitMs;
    let locked = flockFd(fd, true, false);
    while (!locked && Date.now() < giveUp) {
      await sleep(5);
      locked = flockFd(fd, true, false);
    }
    if (!locked) {
      // Another holder is stuck (a stopped client or daemon): answer from what can be read, unrecorded.
      return { decision: decide(look().ledger), recorded: false, note: `the spool ${SPOOL_FILE_NAME} stayed locked for ${lockWaitMs} ms; answer not recorded` };
    }
    try {
      pruneExpired(fd, nowMs());
      for (let attempt = 1; ; attempt++) {
        // Read again only what changed while we waited (reading is most of the work, and others are queued): the
        // answers appended to the spool meanwhile, or everything when the daemon's files changed.
        const size = fstatSync(fd).size;
        if (ledgerStamp(dir) !== seen.stamp || size < seen.spoolSize) seen = look();
        else if (size > seen.spoolSize) {
          const tail = Buffer.alloc(size - seen.spoolSize);
          const n = readSync(fd, tail, 0, tail.length, seen.spoolSize);
          seen.ledger.restore(parseSpool(tail.subarray(0, n).toString('utf8')).filter((r) => check(r) === undefined), nowMs());
          seen.spoolSize = seen.spoolSize + n;
        }
        const decision = decide(seen.ledger);
        if (!decision.reservation) return { decision, recorded: false };
        const end = wholeLinesEnd(fd);
        try {
          const line = Buffer.from(`${JSON.stringify(decision.reservation)}\n`);
          if (writeSync(fd, line, 0, line.length, end) !== line.length) throw shortWrite();
          fdatasyncSync(fd);
        } catch (err) {
          // A full disk must not cost the VM its answer: the nodeset stands, unrecorded, and the spool stays whole.
          try {
            ftruncateSync(fd, end);
          } catch {
            // nothing more to do
          }
          return { decision, recorded: false, note: `cannot record the answer in ${SPOOL_FILE_NAME} (${(err as Error).message})` };
        }
        if (ledgerStamp(dir) === seen.stamp || attempt >= MAX_ATTEMPTS) return { decision, recorded: true };
        // The daemon answered or released meanwhile: take the line back and decide with that counted.
        ftruncateSync(fd, end);
        seen = look();
      }
    } finally {
      unlockFd(fd);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The daemon's side: adopts spooled answers into the ledger, and empties the spool once what it adopted is durable
 * in the journal. Never blocks: when a client holds the lock, it tries again at the next answer or cycle.
 */
export class LocalAnswerSpool {
  readonly path: string;
  private fd: number | undefined;
  /** bytes of the spool already adopted */
  private consumed = 0;
  /** ids adopted since the spool was last emptied: a released one must not come back when the file is re-read */
  private readonly adopted = new Set<string>();

  constructor(
    readonly dir: string,
    private readonly check: ReservationCheck,
    private readonly onRejected: (r: unknown, reason: string) => void = () => {},
  ) {
    this.path = path.join(dir, SPOOL_FILE_NAME);
  }

  private open(): number {
    if (this.fd === undefined) {
      mkdirSync(this.dir, { recursive: true, mode: 0o750 });
      this.fd = safeOpen(this.path, 'readwrite', 0o640);
    }
    return this.fd;
  }

  /** Whether clients wrote since the last ingest (one fstat). */
  hasNew(): boolean {
    return fstatSync(this.open()).size !== this.consumed;
  }

  /** Adopt every new line; returns how many were adopted, or undefined when a client holds the lock now. */
  ingest(ledger: ReservationLedger, nowMs: number): number | undefined {
    const fd = this.open();
    if (!flockFd(fd, true, false)) return undefined;
    try {
      const size = fstatSync(fd).size;
      if (size === this.consumed) return 0;
      // A client rewrote or shrank it (or another daemon emptied it): read it all again; adopted ids stay out.
      if (size < this.consumed) this.consumed = 0;
      const buf = Buffer.alloc(size - this.consumed);
      const n = readSync(fd, buf, 0, buf.length, this.consumed);
      const text = buf.subarray(0, n).toString('utf8');
      // Only whole lines: a client writes each line with one write() under the lock, so a partial one is torn.
      const end = text.lastIndexOf('\n') + 1;
      this.consumed += Buffer.byteLength(text.slice(0, end));
      let count = 0;
      for (const r of parseSpool(text.slice(0, end))) {
        if (this.adopted.has(r.id)) continue;
        const reason = this.check(r);
        if (reason !== undefined) {
          this.onRejected(r, reason);
          continue;
        }
        this.adopted.add(r.id);
        if (ledger.adopt(r, nowMs)) count++;
      }
      return count;
    } finally {
      unlockFd(fd);
    }
  }

  /** Whether adopted lines are still in the spool (to be emptied once they are durable in the journal). */
  hasConsumed(): boolean {
    return this.consumed > 0;
  }

  /** Empty the spool when nothing arrived since the last ingest (call once the adopted lines are durable). */
  truncateConsumed(): boolean {
    const fd = this.open();
    if (!flockFd(fd, true, false)) return false;
    try {
      if (fstatSync(fd).size !== this.consumed) return false;
      ftruncateSync(fd, 0);
      fdatasyncSync(fd);
      this.consumed = 0;
      this.adopted.clear();
      return true;
    } finally {
      unlockFd(fd);
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
