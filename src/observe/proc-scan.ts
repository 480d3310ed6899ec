// The scan's pass over /proc: the resident size (statm) of the processes due this cycle, and the stat fields of the
// ones over the RSS threshold or asked for by pid. Two implementations of one rule: the C addon
// (src/native/proc-scan.c, built by `make build`), used whenever it loads, which keeps each process's statm open
// between cycles; and this TypeScript one, used when it does not (and to test the addon against). The schedule:
//   - a new pid, an `always` pid (tracked, -p includes) and a process over the threshold: every scan;
//   - a small process: every `every`-th scan, staggered by pid; one with no memory at all (a kernel thread, a
//     zombie): every 2 x `every`-th;
//   - /proc is listed again when loadavg's last pid changed (a process was created) and every `every`-th scan.
// A read process is selected when its statm reads and it is in `always` or floor(resident pages * pageKiB / 1024) >
// minMiB, and its stat then reads too (a process gone in between is dropped). Vanishing mid-read is normal.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { addonLoadFailed, addonMismatch, addonNotBuilt } from '../errors.js';
import type { FsRoot } from '../topology/fsroot.js';
import { listPids, parsePidStat } from './processes.js';

export interface ProcScanInput {
  /** numad -S 1: every process in /proc; -S 0: only the `always` pids */
  listAll: boolean;
  /** ascending: selected whenever they exist (tracked ones, -p includes) */
  always: Int32Array;
  pageKiB: number;
  minMiB: number;
  /** a small process is read every this many scans */
  every: number;
}

export interface ProcScanResult {
  /** ascending: the processes known to exist (read now, or not due and not found gone) */
  seen: Int32Array;
  /** ascending */
  selected: Int32Array;
  /** files read (statm and stat) */
  reads: number;
  /** 4 per selected pid: rss pages, utime + stime (ticks), threads, vsize (bytes) */
  stats: Float64Array;
  /** per selected pid: everything between the first '(' and the last ')' of its stat */
  comms: string[];
}

/** The stat fields of a selected process. */
export interface SelectedStat {
  pid: number;
  comm: string;
  rssPages: number;
  /** utime + stime, clock ticks (USER_HZ) */
  cpuTicks: number;
  threads: number;
  vsizeBytes: number;
}

export function selectedStat(r: ProcScanResult, k: number): SelectedStat {
  return {
    pid: r.selected[k] as number,
    comm: r.comms[k] as string,
    rssPages: r.stats[k * 4] as number,
    cpuTicks: r.stats[k * 4 + 1] as number,
    threads: r.stats[k * 4 + 2] as number,
    vsizeBytes: r.stats[k * 4 + 3] as number,
  };
}

export interface ProcScan {
  readonly kind: 'native' | 'typescript';
  run(input: ProcScanInput): ProcScanResult;
  /** release what the scan keeps open (the addon's statm files) */
  close(): void;
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

/** The fifth field of loadavg: the last pid handed out. */
export function parseLastPid(text: string): number | undefined {
  const m = /^\S+ \S+ \S+ \S+ (\d+)/.exec(text);
  return m ? Number(m[1]) : undefined;
}

export class TypeScriptProcScan implements ProcScan {
  readonly kind = 'typescript';
  /** one buffer for every read: a stat line is under 1 KiB even with a 64-character comm */
  private readonly buf = Buffer.alloc(4096);
  /** pid → the scan that reads it next, ascending by pid like the addon's slots */
  private due = new Map<number, number>();
  private scans = 0;
  private lastPid: number | undefined;
  private listedAt = 0;
  private listedAll = false;

  constructor(private readonly fs: FsRoot) {}

  private read(path: string, encoding: BufferEncoding = 'latin1'): string | undefined {
    const n = this.fs.readInto(path, this.buf);
    return n === undefined || n === 0 ? undefined : this.buf.toString(encoding, 0, n);
  }

  run(i: ProcScanInput): ProcScanResult {
    const scanNo = ++this.scans;
    let listed: number[];
    if (i.listAll) {
      const loadavg = this.read('/proc/loadavg');
      const lastPid = loadavg === undefined ? undefined : parseLastPid(loadavg);
      if (lastPid === undefined || lastPid !== this.lastPid || !this.listedAll || scanNo - this.listedAt >= i.every) {
        listed = listPids(this.fs);
        this.lastPid = lastPid;
        this.listedAt = scanNo;
      } else listed = [...this.due.keys()];
    } else listed = [...i.always];
    this.listedAll = i.listAll;
    const next = new Map<number, number>();
    const seen: number[] = [];
    const selected: number[] = [];
    const stats: number[] = [];
    const comms: string[] = [];
    let reads = 0;
    for (const pid of listed) {
      const isAlways = contains(i.always, pid);
      const due = this.due.get(pid) ?? 0;
      if (!isAlways && due > scanNo) {
        next.set(pid, due);
        seen.push(pid);
        continue;
      }
      reads++;
      const m = /^(\d+) (\d+)/.exec(this.read(`/proc/${pid}/statm`) ?? '');
      if (!m) continue;
      const size = Number(m[1]);
      const resident = Number(m[2]);
      const big = Math.floor((resident * i.pageKiB) / 1024) > i.minMiB;
      let st: ReturnType<typeof parsePidStat>;
      if (isAlways || big) {
        reads++;
        const text = this.read(`/proc/${pid}/stat`, 'utf8'); // comm may be UTF-8
        st = text === undefined ? undefined : parsePidStat(text);
        if (!st || ![st.cpuTicks, st.threads, st.vsizeBytes, st.rssPages].every(Number.isSafeInteger)) continue;
      }
      next.set(pid, isAlways || big ? scanNo + 1 : size === 0 ? scanNo + 2 * i.every : scanNo + (due === 0 ? 1 + (pid % i.every) : i.every));
      seen.push(pid);
      if (!st) continue;
      selected.push(pid);
      stats.push(st.rssPages, st.cpuTicks, st.threads, st.vsizeBytes);
      comms.push(st.comm);
    }
    this.due = next;
    return { seen: Int32Array.from(seen), selected: Int32Array.from(selected), reads, stats: Float64Array.from(stats), comms };
  }

  close(): void {
    this.due.clear();
  }
}

/** The addon's functions (src/native/proc-scan.c). */
export interface ProcScanAddon {
  createScanner(procDir: string, maxOpen: number): unknown;
  scan(scanner: unknown, listAll: boolean, always: Int32Array, pageKiB: number, minMiB: number, every: number): [Int32Array, Int32Array, number, Float64Array, string[]];
  closeScanner(scanner: unknown): void;
}

/**
 * statm files the addon keeps open at most. Each holds a page of kernel memory (its seq_file buffer) while open, so
 * a host with more processes than this reads the rest with open/read/close every cycle instead; and never more than
 * a quarter of the open-file limit, which the libvirt connection and the API's clients share.
 */
export const MAX_OPEN_STATM = 2048;

/** This process's soft limit on open files (Node.js raises it to the hard limit at start); 1024 if unknown. */
export function openFileLimit(): number {
  let text = '';
  try {
    text = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    // not Linux: the default below
  }
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
  return m ? (m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1])) : 1024;
}

export class NativeProcScan implements ProcScan {
  readonly kind = 'native';
  private readonly handle: unknown;

  constructor(
    fs: FsRoot,
    private readonly addon: ProcScanAddon,
    maxOpen = Math.min(MAX_OPEN_STATM, Math.floor(openFileLimit() / 4)),
  ) {
    this.handle = addon.createScanner(fs.resolve('/proc'), maxOpen);
  }

  run(i: ProcScanInput): ProcScanResult {
    const [seen, selected, reads, stats, comms] = this.addon.scan(this.handle, i.listAll, i.always, i.pageKiB, i.minMiB, i.every);
    return { seen, selected, reads, stats, comms };
  }

  close(): void {
    this.addon.closeScanner(this.handle);
  }
}

/** Where `make build` puts the addon, seen from dist/observe (the daemon) or src/observe (tests run from source). */
const ADDON_CANDIDATES = ['../native/proc-scan.node', '../../dist/native/proc-scan.node'];

/** The addon, or the reason it is not available (not built, another architecture). */
export function loadProcScanAddon(): ProcScanAddon | Error {
  const require = createRequire(import.meta.url);
  for (const rel of ADDON_CANDIDATES) {
    const file = fileURLToPath(new URL(rel, import.meta.url));
    if (!existsSync(file)) continue;
    try {
      const mod = require(file) as Partial<ProcScanAddon>;
      if (typeof mod.createScanner === 'function' && typeof mod.scan === 'function' && typeof mod.closeScanner === 'function') return mod as ProcScanAddon;
      return addonMismatch(file);
    } catch (err) {
      return addonLoadFailed(err);
    }
  }
  return addonNotBuilt('proc-scan');
}

/** The addon when it loads, else the TypeScript scan; NUMADVISOR_SCAN=typescript forces the latter. */
export function defaultProcScan(fs: FsRoot, env: NodeJS.ProcessEnv = process.env): { scan: ProcScan; nativeError?: Error } {
  if (env.NUMADVISOR_SCAN === 'typescript') return { scan: new TypeScriptProcScan(fs) };
  const addon = loadProcScanAddon();
  if (addon instanceof Error) return { scan: new TypeScriptProcScan(fs), nativeError: addon };
  try {
    return { scan: new NativeProcScan(fs, addon) };
  } catch (err) {
    return { scan: new TypeScriptProcScan(fs), nativeError: addonLoadFailed(err) };
  }
}
