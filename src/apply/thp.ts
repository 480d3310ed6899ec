// The khugepaged scan interval numad sets at start (-H, default 1000 ms) and never restores. We touch it only when
// asked (-H N given explicitly), remember the kernel's value, and put it back when the daemon stops.
import { writeFileSync } from 'node:fs';
import type { FsRoot } from '../topology/fsroot.js';

export const THP_SCAN_SLEEP_PATH = '/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs';

export class ThpScanSleep {
  private original: number | undefined;

  constructor(
    private readonly fs: FsRoot,
    private readonly log: (message: string) => void,
  ) {}

  private read(): number | undefined {
    const v = Number.parseInt(this.fs.readTextOr(THP_SCAN_SLEEP_PATH, ''), 10);
    return Number.isFinite(v) ? v : undefined;
  }

  private write(from: number, to: number): void {
    writeFileSync(this.fs.resolve(THP_SCAN_SLEEP_PATH), `${to}\n`);
    this.log(`Changing THP scan time in ${THP_SCAN_SLEEP_PATH} from ${from} to ${to} ms.`);
  }

  /** Set the interval; logs numad's line only when the value changes. Throws when the file cannot be written. */
  set(ms: number): void {
    const now = this.read();
    if (now === undefined || now === ms) return;
    if (this.original === undefined) this.original = now;
    this.write(now, ms);
  }

  /** Put back what the kernel had before we changed it. */
  restore(): void {
    if (this.original === undefined) return;
    const now = this.read();
    if (now !== undefined && now !== this.original) this.write(now, this.original);
    this.original = undefined;
  }
}
