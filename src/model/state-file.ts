// Persistence for the reservation ledger: a snapshot file plus an append-only journal.
// - Every change appends one JSON line (`put` a reservation, or `del` an id) to reservations.journal, numbered with
//   a sequence number. Lines appended while a write is in flight join the next batch: one write() and one
//   fdatasync per batch (group commit). `durable()` resolves once everything appended so far is on disk; the API
//   acknowledges an answer or a release only then, so a crash never loses what a client was told.
// - When the journal grows past twice the live set, the ledger is written to reservations.json atomically
//   (temp file, fsync, rename, fsync dir) with the highest sequence number it reflects, and the journal is
//   truncated. The snapshot may be newer than the journal (the live ledger already holds changes whose lines are
//   still queued); replay skips every line at or below the snapshot's number, so a crash between the rename and
//   the truncate can never replay an old `put` over a newer release.
// - Loading replays the journal over the snapshot. Each entry is checked on its own: a bad one is quarantined to
//   reservations.quarantine.jsonl with its reason and counted, the good ones are kept; a torn line (crash
//   mid-write) is skipped. A snapshot that is not JSON at all is moved aside, never overwritten unseen.
import { closeSync, fdatasync, fstatSync, fsync, fsyncSync, ftruncateSync, mkdirSync, readdirSync, readFileSync, unlinkSync, renameSync, write, writeSync, ftruncate } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { isErrno, stateError, writeMadeNoProgress } from '../errors.js';
import { describeOpenError, openFreshTemp, safeOpen } from '../safe-open.js';
import { parseReservation, type Reservation } from './reservations.js';

export const STATE_FILE_NAME = 'reservations.json';
export const JOURNAL_FILE_NAME = 'reservations.journal';
export const QUARANTINE_FILE_NAME = 'reservations.quarantine.jsonl';

/** Below this many journal lines compaction is not worth a full rewrite. */
const MIN_COMPACT_LINES = 1000;

const writeAsync = promisify(write);
const fdatasyncAsync = promisify(fdatasync);
const fsyncAsync = promisify(fsync);
const ftruncateAsync = promisify(ftruncate);

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isSeq = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** The snapshot's frame; its entries are checked one by one so one bad entry costs only itself. */
interface StateFileFrame {
  /** the last journal sequence number the snapshot reflects (absent in version 1: replay everything) */
  seq: number;
  reservations: unknown[];
}

function parseFrame(x: unknown): StateFileFrame | undefined {
  if (!isObject(x) || (x.schemaVersion !== 1 && x.schemaVersion !== 2) || !Array.isArray(x.reservations)) return undefined;
  if (x.seq !== undefined && !isSeq(x.seq)) return undefined;
  return { seq: x.seq ?? 0, reservations: x.reservations as unknown[] };
}

type JournalLine = { seq?: number; op: 'put'; r: unknown } | { seq?: number; op: 'del'; id: string };

function parseJournalLine(x: unknown): JournalLine | undefined {
  if (!isObject(x) || (x.seq !== undefined && !isSeq(x.seq))) return undefined;
  const seq = x.seq === undefined ? {} : { seq: x.seq };
  if (x.op === 'put' && 'r' in x) return { ...seq, op: 'put', r: x.r };
  if (x.op === 'del' && typeof x.id === 'string') return { ...seq, op: 'del', id: x.id };
  return undefined;
}

export type JournalOp = { op: 'put'; r: Reservation } | { op: 'del'; id: string };

/** Why a stored reservation cannot be used (a node this host lacks, an absurd expiry…), or undefined. */
export type ReservationCheck = (r: Reservation) => string | undefined;

export interface QuarantinedEntry {
  source: 'snapshot' | 'journal';
  reason: string;
  entry: unknown;
}

export interface LoadResult {
  reservations: Reservation[];
  /** Set when the snapshot was not JSON at all: it was moved aside to this path. */
  quarantinedTo?: string;
  /** Journal lines that could not be parsed (a torn line after a crash). */
  skippedLines: number;
  /** Entries that parsed but failed validation, written to reservations.quarantine.jsonl. */
  quarantined: QuarantinedEntry[];
}

interface Batch {
  lines: string[];
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function newBatch(): Batch {
  let resolve: () => void = () => {};
  let reject: (err: unknown) => void = () => {};
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody has to wait for a batch (bindings and expiries are not acknowledged to anyone): no unhandled rejection.
  done.catch(() => undefined);
  return { lines: [], done, resolve, reject };
}

/** A state file's text, or undefined when it does not exist; never through a symlink, never someone else's file. */
export function readStateText(file: string): string | undefined {
  let fd: number;
  try {
    fd = safeOpen(file, 'read');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw stateError(describeOpenError(file, err), err);
  }
  try {
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

export interface ParsedLedger {
  reservations: Reservation[];
  quarantined: QuarantinedEntry[];
  skippedLines: number;
  journalLines: number;
  /** the highest sequence number seen (the next line gets one more) */
  maxSeq: number;
  /** the snapshot text was not a snapshot at all */
  snapshotUnreadable: boolean;
}

/**
 * The ledger a snapshot and a journal describe, without touching any file: the daemon's load, and the `numad -w`
 * local fallback, which must count what the daemon promised but may not move or rewrite the daemon's files.
 */
export function parseLedgerTexts(snapshotText: string | undefined, journalText: string | undefined, check: ReservationCheck): ParsedLedger {
  const byId = new Map<string, Reservation>();
  const quarantined: QuarantinedEntry[] = [];
  let snapshotSeq = 0;
  let snapshotUnreadable = false;
  const accept = (entry: unknown, source: QuarantinedEntry['source']): Reservation | undefined => {
    const parsed = parseReservation(entry);
    const reason = typeof parsed === 'string' ? parsed : check(parsed);
    if (reason === undefined && typeof parsed !== 'string') return parsed;
    quarantined.push({ source, reason: reason ?? 'invalid', entry });
    return undefined;
  };
  if (snapshotText !== undefined) {
    let frame: StateFileFrame | undefined;
    try {
      frame = parseFrame(JSON.parse(snapshotText));
    } catch {
      frame = undefined;
    }
    if (!frame) snapshotUnreadable = true;
    if (frame) {
      snapshotSeq = frame.seq;
      for (const entry of frame.reservations) {
        const r = accept(entry, 'snapshot');
        if (r) byId.set(r.id, r);
      }
    }
  }
  let skippedLines = 0;
  let journalLines = 0;
  let maxSeq = snapshotSeq;
  for (const line of (journalText ?? '').split('\n')) {
    if (line.trim() === '') continue;
    journalLines++;
    let op: JournalLine | undefined;
    try {
      op = parseJournalLine(JSON.parse(line));
    } catch {
      op = undefined;
    }
    if (!op) {
      skippedLines++;
      continue;
    }
    if (op.seq !== undefined) {
      maxSeq = Math.max(maxSeq, op.seq);
      // Already in the snapshot, which may be newer than this line: replaying it would go backwards.
      if (op.seq <= snapshotSeq) continue;
    }
    if (op.op === 'del') {
      byId.delete(op.id);
      continue;
    }
    const r = accept(op.r, 'journal');
    if (r) byId.set(r.id, r);
  }
  return { reservations: [...byId.values()], quarantined, skippedLines, journalLines, maxSeq, snapshotUnreadable };
}

export class ReservationStore {
  readonly path: string;
  readonly journalPath: string;
  readonly quarantinePath: string;
  private pending: Batch | undefined;
  private inFlight: Batch | undefined;
  private journalLines = 0;
  /** the sequence number of the last line appended (the live ledger reflects every line up to it) */
  private seq = 0;
  private flushing: Promise<void> | undefined;
  /** the compaction running or last run (they run one at a time) */
  private compacting: Promise<void> = Promise.resolve();
  private journalFd: number | undefined;
  /** Set when a write failed (disk full, I/O error): the next successful flush rewrites the whole ledger. */
  private lostWrites = false;

  constructor(
    readonly dir: string,
    /** The live ledger, for compaction. */
    private readonly collect: () => Reservation[],
    /** A failed write is reported here; waiters of the failed batch are rejected, the ledger in memory stays. */
    private readonly onError: (err: unknown) => void = () => {},
    private readonly check: ReservationCheck = () => undefined,
  ) {
    this.path = path.join(dir, STATE_FILE_NAME);
    this.journalPath = path.join(dir, JOURNAL_FILE_NAME);
    this.quarantinePath = path.join(dir, QUARANTINE_FILE_NAME);
  }

  load(): LoadResult {
    this.removeStaleTemps();
    const snapshotText = readStateText(this.path);
    const parsed = parseLedgerTexts(snapshotText, readStateText(this.journalPath), this.check);
    let quarantinedTo: string | undefined;
    if (parsed.snapshotUnreadable) {
      // Not a snapshot at all: it must not stop the daemon (VM starts depend on it) nor be overwritten unseen.
      quarantinedTo = `${this.path}.corrupt-${Date.now()}`;
      renameSync(this.path, quarantinedTo);
    }
    this.journalLines = parsed.journalLines;
    this.seq = parsed.maxSeq;
    if (parsed.quarantined.length > 0) this.writeQuarantine(parsed.quarantined);
    return {
      reservations: parsed.reservations,
      skippedLines: parsed.skippedLines,
      quarantined: parsed.quarantined,
      ...(quarantinedTo ? { quarantinedTo } : {}),
    };
  }

  /**
   * A daemon killed while writing a snapshot leaves its temp file (up to the whole ledger's size); every crash would
   * add one. Only the holder of the state dir's lock writes temp files, so any not of this process is stale.
   */
  private removeStaleTemps(): void {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return;
    }
    const own = `${STATE_FILE_NAME}.tmp-${process.pid}`;
    for (const name of names) {
      if (!name.startsWith(`${STATE_FILE_NAME}.tmp-`) || name === own) continue;
      try {
        unlinkSync(path.join(this.dir, name));
      } catch {
        // gone already
      }
    }
  }

  /** Keep what was set aside, with why, so an operator can look (and nothing is silently dropped). */
  private writeQuarantine(entries: QuarantinedEntry[]): void {
    const at = new Date().toISOString();
    const fd = safeOpen(this.quarantinePath, 'append', 0o640);
    try {
      writeSync(fd, entries.map((e) => `${JSON.stringify({ at, ...e })}\n`).join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  put(r: Reservation): void {
    this.append({ op: 'put', r });
  }

  delete(id: string): void {
    this.append({ op: 'del', id });
  }

  /** Resolves once every change appended so far is on disk; rejects if the write of one of them failed. */
  durable(): Promise<void> {
    return (this.pending ?? this.inFlight)?.done ?? Promise.resolve();
  }

  private append(op: JournalOp): void {
    this.seq++;
    if (!this.pending) this.pending = newBatch();
    this.pending.lines.push(`${JSON.stringify({ seq: this.seq, ...op })}\n`);
    if (!this.flushing) this.flushing = this.flushLoop();
  }

  private openJournal(): number {
    if (this.journalFd === undefined) {
      mkdirSync(this.dir, { recursive: true, mode: 0o750 });
      this.journalFd = safeOpen(this.journalPath, 'append', 0o640);
    }
    return this.journalFd;
  }

  private async flushLoop(): Promise<void> {
    try {
      // Let the rest of this tick's answers join the batch.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.pending) {
        const batch = this.pending;
        this.pending = undefined;
        this.inFlight = batch;
        let fd: number | undefined;
        let sizeBefore: number | undefined;
        try {
          fd = this.openJournal();
          sizeBefore = fstatSync(fd).size;
          // A short write (a nearly full disk) is not a written batch: write the rest, or fail. Through the thread
          // pool, so the event loop goes on reading the requests that will form the next batch meanwhile (a
          // synchronous write measured no faster for a lone answer here, and slower for 50 at once).
          const bytes = Buffer.from(batch.lines.join(''));
          for (let off = 0; off < bytes.length; ) {
            const { bytesWritten } = await writeAsync(fd, bytes, off, bytes.length - off);
            if (bytesWritten <= 0) throw writeMadeNoProgress('journal');
            off += bytesWritten;
          }
          await fdatasyncAsync(fd);
          this.journalLines += batch.lines.length;
        } catch (err) {
          // Take back a partial batch, so the next line does not land glued to a fragment (a line replay would skip).
          if (fd !== undefined && sizeBefore !== undefined) {
            try {
              ftruncateSync(fd, sizeBefore);
            } catch {
              // the compaction this forces rewrites everything anyway
            }
          }
          // The lines are not kept for retry (they could pile up while the disk stays full); the next successful
          // flush compacts from the ledger itself, which holds everything they said.
          this.lostWrites = true;
          this.inFlight = undefined;
          batch.reject(stateError(`cannot save reservations: ${(err as Error).message}`, err));
          this.onError(err);
          continue;
        }
        this.inFlight = undefined;
        batch.resolve();
        if (this.lostWrites || this.journalLines > Math.max(MIN_COMPACT_LINES, 2 * this.collect().length)) {
          try {
            await this.compact();
            this.lostWrites = false;
          } catch (err) {
            this.lostWrites = true;
            this.onError(err);
          }
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private serialise(): string {
    return `${JSON.stringify({ schemaVersion: 2, savedAt: new Date().toISOString(), seq: this.seq, reservations: this.collect() })}\n`;
  }

  /**
   * Rewrite the snapshot from the live ledger and empty the journal. One at a time: the flush loop and the daemon's
   * start may both ask, and two interleaved would share the temp file.
   */
  compact(): Promise<void> {
    const run = this.compacting.then(() => this.compactNow());
    this.compacting = run.catch(() => undefined);
    return run;
  }

  private async compactNow(): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o750 });
    // Taken synchronously with the ledger it describes: it reflects every line up to this.seq, queued or not.
    const text = this.serialise();
    const { tmp, fd: tmpFd } = openFreshTemp(this.path, 0o640);
    try {
      const bytes = Buffer.from(text);
      for (let off = 0; off < bytes.length; ) {
        const { bytesWritten } = await writeAsync(tmpFd, bytes, off, bytes.length - off);
        if (bytesWritten <= 0) throw writeMadeNoProgress('snapshot');
        off += bytesWritten;
      }
      await fsyncAsync(tmpFd);
    } finally {
      closeSync(tmpFd);
    }
    await rename(tmp, this.path);
    const dirFh = await open(this.dir, 'r');
    try {
      await dirFh.sync();
    } finally {
      await dirFh.close();
    }
    const fd = this.openJournal();
    await ftruncateAsync(fd, 0);
    await fdatasyncAsync(fd);
    this.journalLines = 0;
  }

  async idle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Final compaction for shutdown: a clean stop leaves one snapshot and an empty journal. */
  async close(): Promise<void> {
    await this.idle();
    await this.compact();
    if (this.journalFd !== undefined) closeSync(this.journalFd);
    this.journalFd = undefined;
  }

  /** Stop without a final snapshot (a start that failed): wait for writes in flight and close the journal. */
  async abandon(): Promise<void> {
    await this.idle();
    await this.compacting;
    if (this.journalFd !== undefined) closeSync(this.journalFd);
    this.journalFd = undefined;
  }
}
