// Which processes the scan looks at closely this cycle: the ones over the RSS threshold, decided from
// /proc/<pid>/stat alone. Two implementations of one stateless rule: the C addon (src/native/proc-scan.c, built by
// `make build`), used whenever it loads, and this TypeScript one, used when it does not (and to test the addon
// against). The rule, for each pid listed in /proc (or each `always` pid when not listing everything):
//   read its stat when it is in `always`, not in `known` (new since the last call), or (pid + scanNo) % every == 0;
//   select it when it was read and is in `always` or floor(rss pages * pageKiB / 1024) > minMiB.
// `seen` (the pids that exist as far as this call knows) is handed back as `known` on the next call. The selected
// come back with the stat fields the scan uses, so their stat is read once per cycle, in the filter.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FsRoot } from '../topology/fsroot.js';
import { listPids, parsePidStat } from './processes.js';

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
  /** 4 per selected pid: rss pages, utime + stime (ticks), threads, vsize (bytes) */
  stats: Float64Array;
  /** per selected pid: everything between the first '(' and the last ')' of its stat */
  comms: string[];
}

/** The stat fields of the k-th selected process. */
export interface SelectedStat {
  pid: number;
  comm: string;
  rssPages: number;
  /** utime + stime, clock ticks (USER_HZ) */
  cpuTicks: number;
  threads: number;
  vsizeBytes: number;
}

export function selectedStat(r: StatFilterResult, k: number): SelectedStat {
  return {
    pid: r.selected[k] as number,
    comm: r.comms[k] as string,
    rssPages: r.stats[k * 4] as number,
    cpuTicks: r.stats[k * 4 + 1] as number,
    threads: r.stats[k * 4 + 2] as number,
    vsizeBytes: r.stats[k * 4 + 3] as number,
  };
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
    const stats: number[] = [];
    const comms: string[] = [];
    let reads = 0;
    for (const pid of listed) {
      const isAlways = contains(i.always, pid);
      if (!isAlways && contains(i.known, pid) && (pid + i.scanNo) % i.every !== 0) {
        seen.push(pid);
        continue;
      }
      reads++;
      const n = this.fs.readInto(`/proc/${pid}/stat`, this.buf);
      const st = n === undefined || n === 0 ? undefined : parsePidStat(this.buf.toString('utf8', 0, n));
      if (!st || ![st.cpuTicks, st.threads, st.vsizeBytes, st.rssPages].every(Number.isSafeInteger)) continue;
      seen.push(pid);
      if (!isAlways && Math.floor((st.rssPages * i.pageKiB) / 1024) <= i.minMiB) continue;
      selected.push(pid);
      stats.push(st.rssPages, st.cpuTicks, st.threads, st.vsizeBytes);
      comms.push(st.comm);
    }
    return { seen: Int32Array.from(seen), selected: Int32Array.from(selected), reads, stats: Float64Array.from(stats), comms };
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
) => [Int32Array, Int32Array, number, Float64Array, string[]];

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
    const [seen, selected, reads, stats, comms] = this.scan(this.procDir, i.listAll, i.known, i.always, i.scanNo >>> 0, i.every, i.pageKiB, i.minMiB);
    return { seen, selected, reads, stats, comms };
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
