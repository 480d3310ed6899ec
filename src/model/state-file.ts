// Persistence for the reservation ledger: one JSON file replaced atomically (write temp, fsync, rename, fsync dir),
// so a crash leaves either the old or the new file, never a torn one. Saves are coalesced: at most one write in
// flight and one pending, so a burst of answers costs a few writes, not one fsync per answer.
import { mkdirSync, openSync, closeSync, fsyncSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { isErrno, stateError } from '../errors.js';
import { ReservationSchema, type Reservation } from './reservations.js';

export const STATE_FILE_NAME = 'reservations.json';

const StateFileSchema = z.object({
  schemaVersion: z.literal(1),
  savedAt: z.string(),
  reservations: z.array(ReservationSchema),
});

export interface LoadResult {
  reservations: Reservation[];
  /** Set when the file existed but could not be used; it was moved aside to this path. */
  quarantinedTo?: string;
}

export class ReservationStateFile {
  readonly path: string;
  private writing: Promise<void> | undefined;
  private pending = false;

  constructor(
    readonly dir: string,
    private readonly collect: () => Reservation[],
  ) {
    this.path = path.join(dir, STATE_FILE_NAME);
  }

  load(): LoadResult {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return { reservations: [] };
      throw stateError(`cannot read ${this.path}: ${(err as Error).message}`, err);
    }
    try {
      return { reservations: StateFileSchema.parse(JSON.parse(text)).reservations };
    } catch {
      // A damaged file must not stop the daemon (VM starts depend on it) nor be overwritten unseen.
      const aside = `${this.path}.corrupt-${Date.now()}`;
      renameSync(this.path, aside);
      return { reservations: [], quarantinedTo: aside };
    }
  }

  private serialise(): string {
    return `${JSON.stringify({ schemaVersion: 1, savedAt: new Date().toISOString(), reservations: this.collect() })}\n`;
  }

  /** Ask for a save soon; returns the promise of the write that will include the current state. */
  save(): Promise<void> {
    if (this.writing) {
      this.pending = true;
      return this.writing;
    }
    this.writing = (async () => {
      try {
        do {
          this.pending = false;
          await this.writeAtomic(this.serialise());
        } while (this.pending);
      } finally {
        this.writing = undefined;
      }
    })();
    return this.writing;
  }

  private async writeAtomic(text: string): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o750 });
    const tmp = `${this.path}.tmp-${process.pid}`;
    const fh = await open(tmp, 'w', 0o640);
    try {
      await fh.writeFile(text);
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
  }

  /** Synchronous final save for shutdown paths. */
  saveSync(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o750 });
    const tmp = `${this.path}.tmp-${process.pid}-final`;
    writeFileSync(tmp, this.serialise(), { mode: 0o640 });
    const fd = openSync(tmp, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }

  async idle(): Promise<void> {
    while (this.writing) await this.writing;
  }
}
