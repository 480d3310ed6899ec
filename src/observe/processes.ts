// Processes: /proc/<pid>/stat (comm parsed correctly even with spaces and parentheses — numad stops at the first
// space), /proc/<pid>/status (allowed CPUs and memory nodes), and per-node memory from /proc/<pid>/numa_maps, which
// is costly (the kernel walks the page tables under the mm lock) and so is read only for the processes asked about.
// A process that vanishes mid-read is normal: readers return undefined, never throw for it.
import { readFileSync } from 'node:fs';
import type { FsRoot } from '../topology/fsroot.js';
import { parseIdList } from '../topology/idlist.js';

export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  /** utime + stime, in clock ticks (USER_HZ) */
  cpuTicks: number;
  threads: number;
  vsizeBytes: number;
  rssPages: number;
}

/** /proc/<pid>/stat: comm is everything between the first '(' and the last ')'. */
export function parsePidStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number.parseInt(text.slice(0, open), 10);
  const f = text.slice(close + 2).trim().split(/\s+/);
  // f[0] is field 3 (state); field n is f[n - 3].
  const field = (n: number): number => Number(f[n - 3]);
  if (!Number.isFinite(pid) || f.length < 22) return undefined;
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: f[0] as string,
    ppid: field(4),
    cpuTicks: field(14) + field(15),
    threads: field(20),
    vsizeBytes: field(23),
    rssPages: field(24),
  };
}

export interface NumaMaps {
  /** KiB per node id */
  perNodeKiB: Map<number, number>;
  /** KiB in mappings with an interleave policy */
  interleavedKiB: number;
  /** KiB in huge-page mappings */
  hugeKiB: number;
}

/**
 * /proc/<pid>/numa_maps: `N<node>=<pages>` per mapping, pages of `kernelpagesize_kB` (present since Linux 3.x; numad
 * guessed the default huge page size for every `huge` line, wrong for 1 GiB pages).
 */
export function parseNumaMaps(text: string, basePageKiB = 4, defaultHugeKiB = 2048): NumaMaps {
  const perNodeKiB = new Map<number, number>();
  let interleavedKiB = 0;
  let hugeKiB = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const tokens = line.split(' ');
    let pageKiB = basePageKiB;
    let huge = false;
    let interleaved = false;
    for (const t of tokens) {
      if (t.startsWith('kernelpagesize_kB=')) pageKiB = Number(t.slice(18)) || pageKiB;
      else if (t === 'huge') huge = true;
      else if (t.startsWith('interleave')) interleaved = true;
    }
    if (huge && !tokens.some((t) => t.startsWith('kernelpagesize_kB='))) pageKiB = defaultHugeKiB;
    let lineKiB = 0;
    for (const t of tokens) {
      const m = /^N(\d+)=(\d+)$/.exec(t);
      if (!m) continue;
      const kib = Number(m[2]) * pageKiB;
      const node = Number(m[1]);
      perNodeKiB.set(node, (perNodeKiB.get(node) ?? 0) + kib);
      lineKiB += kib;
    }
    if (interleaved) interleavedKiB += lineKiB;
    if (huge || pageKiB > basePageKiB) hugeKiB += lineKiB;
  }
  return { perNodeKiB, interleavedKiB, hugeKiB };
}

export interface ProcStatus {
  cpusAllowed: number[];
  memsAllowed: number[];
}

export function parsePidStatus(text: string): ProcStatus {
  const get = (key: string): number[] => {
    const m = new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(text);
    return m ? parseIdList(m[1] as string) : [];
  };
  return { cpusAllowed: get('Cpus_allowed_list'), memsAllowed: get('Mems_allowed_list') };
}

export interface ProcessInfo extends ProcStat, ProcStatus {
  rssMiB: number;
  vsizeMiB: number;
  /** MiB per node id, from numa_maps; only when asked for */
  memoryMiBByNode?: Record<string, number>;
  interleavedMiB?: number;
}

export interface ReadProcessOptions {
  withNumaMaps: boolean;
  basePageKiB: number;
  defaultHugeKiB: number;
}

export const rssMiB = (stat: Pick<ProcStat, 'rssPages'>, basePageKiB: number): number => Math.floor((stat.rssPages * basePageKiB) / 1024);

/** /proc/<pid>/stat, or undefined when the process is gone. */
export function readPidStat(fs: FsRoot, pid: number): ProcStat | undefined {
  const text = fs.readTextMaybe(`/proc/${pid}/stat`);
  return text === undefined ? undefined : parsePidStat(text);
}

/** The rest of a process whose stat was read: status, and numa_maps when asked. undefined when it is gone. */
export function completeProcess(fs: FsRoot, stat: ProcStat, o: ReadProcessOptions): ProcessInfo | undefined {
  const pid = stat.pid;
  const statusText = fs.readTextMaybe(`/proc/${pid}/status`);
  if (statusText === undefined) return undefined;
  const info: ProcessInfo = {
    ...stat,
    ...parsePidStatus(statusText),
    rssMiB: rssMiB(stat, o.basePageKiB),
    vsizeMiB: Math.floor(stat.vsizeBytes / 1048576),
  };
  if (o.withNumaMaps) {
    const maps = fs.readTextMaybe(`/proc/${pid}/numa_maps`);
    if (maps === undefined) return undefined;
    const parsed = parseNumaMaps(maps, o.basePageKiB, o.defaultHugeKiB);
    info.memoryMiBByNode = Object.fromEntries([...parsed.perNodeKiB].sort((a, b) => a[0] - b[0]).map(([n, kib]) => [String(n), Math.floor(kib / 1024)]));
    info.interleavedMiB = Math.floor(parsed.interleavedKiB / 1024);
  }
  return info;
}

/** One process, or undefined when it is gone (or a kernel thread without memory). */
export function readProcess(fs: FsRoot, pid: number, o: ReadProcessOptions): ProcessInfo | undefined {
  const stat = readPidStat(fs, pid);
  return stat && completeProcess(fs, stat, o);
}

export function listPids(fs: FsRoot): number[] {
  return fs
    .listOr('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
}

/** The base page size, from this process's own VmRSS and RSS page count (Node.js has no sysconf); 4 KiB if unknown. */
export function basePageKiB(): number {
  try {
    const stat = parsePidStat(readFileSync('/proc/self/stat', 'utf8'));
    const rssKiB = Number(/^VmRSS:\s*(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
    if (stat && stat.rssPages > 0 && rssKiB > 0) {
      const ratio = rssKiB / stat.rssPages;
      for (const size of [4, 16, 64]) if (Math.abs(ratio - size) / size < 0.25) return size;
    }
  } catch {
    // not Linux, or /proc unreadable: fall through
  }
  return 4;
}
