// Which processes the scan looks at closely this cycle: the ones over the RSS threshold, decided from
// /proc/<pid>/stat alone. Two implementations of one stateless rule: the C addon (src/native/proc-scan.c, built by
// `make build`), used whenever it loads, and this TypeScript one, used when it does not (and to test the addon
// against). The rule, for each pid listed in /proc (or each `always` pid when not listing everything):
//   read its stat when it is in `always`, not in `known` (new since the last call), or (pid + scanNo) % every == 0;
//   select it when it was read and is in `always` or floor(rss pages * pageKiB / 1024) > minMiB.
// `seen` (the pids that exist as far as this call knows) is handed back as `known` on the next call.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FsRoot } from '../topology/fsroot.js';
import { listPids, rssPagesFromStatBytes } from './processes.js';

export interface StatFilterInput {
  /** numad -S 1: every process in /proc; -S 0: only the `always` pids */
  listAll: boolean;
  /** ascending: `seen` of the previous call */
  known: Int32Array;
  /** ascending: pids read on every call and selected whenever readable (tracked ones, -p includes) */
  always: Int32Array;
  scanNo: number;
  every: number;
  pageKiB: number;
  minMiB: number;
}

export interface StatFilterResult {
  /** ascending */
  seen: Int32Array;
  /** ascending */
  selected: Int32Array;
  /** stat files opened */
  reads: number;
}

export interface StatFilter {
  readonly kind: 'native' | 'typescript';
  run(input: StatFilterInput): StatFilterResult;
}

function contains(sorted: Int32Array, x: number): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const v = sorted[mid] as number;
    if (v < x) lo = mid + 1;
    else if (v > x) hi = mid;
    else return true;
  }
  return false;
}

export class TypeScriptStatFilter implements StatFilter {
  readonly kind = 'typescript';
  /** one buffer for every stat read: a stat line is under 1 KiB even with a 64-character comm */
  private readonly buf = Buffer.alloc(4096);

  constructor(private readonly fs: FsRoot) {}

  run(i: StatFilterInput): StatFilterResult {
    const listed = i.listAll ? listPids(this.fs) : [...i.always];
    const seen: number[] = [];
    const selected: number[] = [];
    let reads = 0;
    for (const pid of listed) {
      const isAlways = contains(i.always, pid);
      if (!isAlways && contains(i.known, pid) && (pid + i.scanNo) % i.every !== 0) {
        seen.push(pid);
        continue;
      }
      reads++;
      const n = this.fs.readInto(`/proc/${pid}/stat`, this.buf);
      const pages = n === undefined || n === 0 ? undefined : rssPagesFromStatBytes(this.buf, n);
      if (pages === undefined) continue;
      seen.push(pid);
      if (isAlways || Math.floor((pages * i.pageKiB) / 1024) > i.minMiB) selected.push(pid);
    }
    return { seen: Int32Array.from(seen), selected: Int32Array.from(selected), reads };
  }
}

type NativeScan = (
  procDir: string,
  listAll: boolean,
  known: Int32Array,
  always: Int32Array,
  scanNo: number,
  every: number,
  pageKiB: number,
  minMiB: number,
) => [Int32Array, Int32Array, number];

/** Where `make build` puts the addon, seen from dist/observe (the daemon) or src/observe (tests run from source). */
const ADDON_CANDIDATES = ['../native/proc-scan.node', '../../dist/native/proc-scan.node'];

export class NativeStatFilter implements StatFilter {
  readonly kind = 'native';
  private readonly procDir: string;

  constructor(
    fs: FsRoot,
    private readonly scan: NativeScan,
  ) {
    this.procDir = fs.resolve('/proc');
  }

  run(i: StatFilterInput): StatFilterResult {
    const [seen, selected, reads] = this.scan(this.procDir, i.listAll, i.known, i.always, i.scanNo >>> 0, i.every, i.pageKiB, i.minMiB);
    return { seen, selected, reads };
  }
}

/** The addon's scan function, or the reason it is not available (not built, another architecture). */
export function loadNativeScan(): NativeScan | Error {
  const require = createRequire(import.meta.url);
  for (const rel of ADDON_CANDIDATES) {
    const file = fileURLToPath(new URL(rel, import.meta.url));
    if (!existsSync(file)) continue;
    try {
      const mod = require(file) as { scan?: unknown };
      if (typeof mod.scan === 'function') return mod.scan as NativeScan;
      return new Error(`${file} has no scan function`);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }
  return new Error(`proc-scan.node not built (make build compiles src/native/proc-scan.c)`);
}

/** The C filter when it loads, else the TypeScript one; NUMADVISOR_SCAN=typescript forces the latter. */
export function defaultStatFilter(fs: FsRoot, env: NodeJS.ProcessEnv = process.env): { filter: StatFilter; nativeError?: Error } {
  if (env.NUMADVISOR_SCAN === 'typescript') return { filter: new TypeScriptStatFilter(fs) };
  const scan = loadNativeScan();
  return scan instanceof Error ? { filter: new TypeScriptStatFilter(fs), nativeError: scan } : { filter: new NativeStatFilter(fs, scan) };
}
