// Persistence for the reservation ledger: a snapshot file plus an append-only journal.
// - Every change appends one JSON line (`put` a reservation, or `del` an id) to reservations.journal; lines
//   written in the same tick go out in one write() and one fdatasync, so a burst of answers costs a few syscalls,
//   not one rewrite of the whole ledger per answer.
// - When the journal grows past twice the live set, the ledger is written to reservations.json atomically
//   (temp file, fsync, rename, fsync dir) and the journal is truncated. Both ops are idempotent, so a crash
//   between the rename and the truncate only replays lines the snapshot already holds.
// - Loading replays the journal over the snapshot; a torn last line (crash mid-write) is ignored.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { isErrno, stateError } from '../errors.js';
import { ReservationSchema, type Reservation } from './reservations.js';

export const STATE_FILE_NAME = 'reservations.json';
export const JOURNAL_FILE_NAME = 'reservations.journal';

/** Below this many journal lines compaction is not worth a full rewrite. */
const MIN_COMPACT_LINES = 1000;

const StateFileSchema = z.object({
  schemaVersion: z.literal(1),
  savedAt: z.string(),
  reservations: z.array(ReservationSchema),
});

const JournalLineSchema = z.union([
  z.object({ op: z.literal('put'), r: ReservationSchema }),
  z.object({ op: z.literal('del'), id: z.string() }),
]);

export type JournalOp = z.infer<typeof JournalLineSchema>;

export interface LoadResult {
  reservations: Reservation[];
  /** Set when a file existed but could not be used; it was moved aside to this path. */
  quarantinedTo?: string;
  /** Journal lines that could not be parsed (a torn last line after a crash). */
  skippedLines: number;
}

export class ReservationStore {
  readonly path: string;
  readonly journalPath: string;
  private pending: string[] = [];
  private journalLines = 0;
  private flushing: Promise<void> | undefined;
  private journal: FileHandle | undefined;
  /** Set when a write failed (disk full, I/O error): the next successful flush rewrites the whole ledger. */
  private lostWrites = false;

  constructor(
    readonly dir: string,
    /** The live ledger, for compaction. */
    private readonly collect: () => Reservation[],
    /** A failed write is reported here; the ledger in memory stays the truth and answers go on. */
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    this.path = path.join(dir, STATE_FILE_NAME);
    this.journalPath = path.join(dir, JOURNAL_FILE_NAME);
  }

  load(): LoadResult {
    const byId = new Map<string, Reservation>();
    let quarantinedTo: string | undefined;
    let text: string | undefined;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw stateError(`cannot read ${this.path}: ${(err as Error).message}`, err);
    }
    if (text !== undefined) {
      try {
        for (const r of StateFileSchema.parse(JSON.parse(text)).reservations) byId.set(r.id, r);
      } catch {
        // A damaged snapshot must not stop the daemon (VM starts depend on it) nor be overwritten unseen.
        quarantinedTo = `${this.path}.corrupt-${Date.now()}`;
        renameSync(this.path, quarantinedTo);
      }
    }
    let skippedLines = 0;
    let journalText = '';
    try {
      journalText = readFileSync(this.journalPath, 'utf8');
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw stateError(`cannot read ${this.journalPath}: ${(err as Error).message}`, err);
    }
    for (const line of journalText.split('\n')) {
      if (line.trim() === '') continue;
      this.journalLines++;
      let op: JournalOp;
      try {
        op = JournalLineSchema.parse(JSON.parse(line));
      } catch {
        skippedLines++;
        continue;
      }
      if (op.op === 'put') byId.set(op.r.id, op.r);
      else byId.delete(op.id);
    }
    return { reservations: [...byId.values()], skippedLines, ...(quarantinedTo ? { quarantinedTo } : {}) };
  }

  put(r: Reservation): void {
    this.append({ op: 'put', r });
  }

  delete(id: string): void {
    this.append({ op: 'del', id });
  }

  private append(op: JournalOp): void {
    this.pending.push(`${JSON.stringify(op)}\n`);
    if (!this.flushing) this.flushing = this.flushLoop();
  }

  private async flushLoop(): Promise<void> {
    try {
      // Let the rest of this tick's answers join the batch.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.pending.length > 0) {
        const batch = this.pending.join('');
        const lines = this.pending.length;
        this.pending = [];
        try {
          if (!this.journal) {
            mkdirSync(this.dir, { recursive: true, mode: 0o750 });
            this.journal = await open(this.journalPath, 'a', 0o640);
          }
          await this.journal.write(batch);
          await this.journal.datasync();
          this.journalLines += lines;
          if (this.lostWrites || this.journalLines > Math.max(MIN_COMPACT_LINES, 2 * this.collect().length)) {
            await this.compact();
            this.lostWrites = false;
          }
        } catch (err) {
          // Lines are not kept for retry (they could pile up while the disk stays full); the next successful
          // flush compacts from the ledger itself, which holds everything they said.
          this.lostWrites = true;
          this.onError(err);
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /** Rewrite the snapshot from the live ledger and empty the journal. */
  async compact(): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o750 });
    const tmp = `${this.path}.tmp-${process.pid}`;
    const fh = await open(tmp, 'w', 0o640);
    try {
      await fh.writeFile(this.serialise());
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path);
    const dirFh = await open(this.dir, 'r');
    try {
      await dirFh.sync();
    } finally {
      await dirFh.close();
    }
    if (this.journal) {
      await this.journal.truncate(0);
      await this.journal.datasync();
    } else {
      writeFileSync(this.journalPath, '', { mode: 0o640 });
    }
    this.journalLines = 0;
  }

  private serialise(): string {
    return `${JSON.stringify({ schemaVersion: 1, savedAt: new Date().toISOString(), reservations: this.collect() })}\n`;
  }

  async idle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Final synchronous compaction for shutdown: a clean stop leaves one snapshot and an empty journal. */
  async close(): Promise<void> {
    await this.idle();
    mkdirSync(this.dir, { recursive: true, mode: 0o750 });
    const tmp = `${this.path}.tmp-${process.pid}`;
    writeFileSync(tmp, this.serialise(), { mode: 0o640 });
    const fd = openSync(tmp, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    if (this.journal) {
      await this.journal.truncate(0);
      await this.journal.close();
      this.journal = undefined;
    } else {
      writeFileSync(this.journalPath, '', { mode: 0o640 });
    }
    this.journalLines = 0;
  }
}
