// The per-cycle process scan (numad.md §4.5, minus its defects): every process (-S 1) or only the inclusion list
// (-S 0); CPU use as the peak of the last 8 utime+stime deltas; RSS and size; per-node memory only for candidates.
import type { FsRoot } from '../topology/fsroot.js';
import { completeProcess, listPids, parseNumaMaps, parsePidStat, rssPagesFromStatBytes, type ProcessInfo } from './processes.js';
import { isLibvirtDomainCgroup, readOwnCgroupNuma } from './cgroup-numa.js';

/** numad tracks processes above 300 MB RSS; smaller ones are not worth a page migration. */
export const TRACK_MIN_RSS_MIB = 300;
/** numad's ring of CPU samples: the peak of the last 8 (~2 minutes at 15 s) keeps a bursty VM a candidate. */
export const CPU_SAMPLES = 8;
/**
 * A process at or under the tracking threshold is re-read only every this many scans (staggered by pid), not every
 * scan: on an idle host nearly every process is small, and reading each one's stat every 15 s is most of the daemon's
 * idle CPU (lab: the scan is ~9x numad's whole daemon). A process that grows past 300 MiB is seen within 4 cycles
 * (1 minute at numad's idle 15 s); a new pid is read at once.
 */
export const SMALL_RECHECK_SCANS = 4;
/** USER_HZ: /proc tick counters are hundredths of a second on every Linux architecture. */
const TICKS_PER_SECOND = 100;

export interface TrackedProcess {
  pid: number;
  comm: string;
  threads: number;
  rssMiB: number;
  vsizeMiB: number;
  /** peak CPU use over the sample ring, hundredths of a CPU */
  cpuUsedHundredths: number;
  cpusAllowed: number[];
  memsAllowed: number[];
  isLibvirtDomain: boolean;
  excluded: boolean;
  included: boolean;
  /** MiB per node id; filled in for candidates by measureMemory */
  memoryMiBByNode?: Record<string, number>;
  memorySource?: 'cgroup' | 'numa_maps';
  /** MiB in mappings with an interleave policy; measured (from numa_maps) only when numad's -K 1 asks to keep them */
  interleavedMiB?: number;
}

interface Entry {
  info: TrackedProcess;
  lastTicks: number;
  lastAtMs: number;
  samples: number[];
}

export interface ScanSettings {
  scanAll: boolean;
  includePids: number[];
  excludePids: number[];
}

export class ProcessScanner {
  private readonly table = new Map<number, Entry>();
  /** small processes: pid → the scan number at which to read them again */
  private readonly smallUntil = new Map<number, number>();
  private scans = 0;
  /** stat files read by the last scan (for the benchmark and GET /v1/processes) */
  lastScanReads = 0;
  /** one buffer for every stat read: a stat line is under 1 KiB even with a 64-character comm */
  private readonly statBuf = Buffer.alloc(4096);
  private readonly opts;

  constructor(
    private readonly fs: FsRoot,
    basePageKiB: number,
    defaultHugeKiB: number,
  ) {
    this.opts = { basePageKiB, defaultHugeKiB };
  }

  /** One pass over /proc/<pid>/stat and status; returns the processes tracked now. */
  scan(nowMs: number, s: ScanSettings): TrackedProcess[] {
    const include = new Set(s.includePids);
    const exclude = new Set(s.excludePids);
    const pids = s.scanAll ? listPids(this.fs) : [...include];
    const scan = ++this.scans;
    const seen = new Set<number>();
    let reads = 0;
    for (const pid of pids) {
      const due = this.smallUntil.get(pid);
      if (due !== undefined && due > scan && !include.has(pid)) {
        seen.add(pid);
        continue;
      }
      reads++;
      const n = this.fs.readInto(`/proc/${pid}/stat`, this.statBuf);
      if (n === undefined) continue; // gone between listing and reading: normal
      const rssPages = rssPagesFromStatBytes(this.statBuf, n);
      if (rssPages === undefined) continue;
      // stat alone decides whether a process is worth more reads (numad reads only stat for every process).
      if (!include.has(pid) && Math.floor((rssPages * this.opts.basePageKiB) / 1024) <= TRACK_MIN_RSS_MIB) {
        // Staggered so that a host's many small processes spread over the scans instead of coming due together.
        this.smallUntil.set(pid, scan + (due === undefined ? 1 + (pid % SMALL_RECHECK_SCANS) : SMALL_RECHECK_SCANS));
        seen.add(pid);
        this.table.delete(pid);
        continue;
      }
      this.smallUntil.delete(pid);
      const stat = parsePidStat(this.statBuf.toString('utf8', 0, n));
      if (!stat) continue;
      const p = completeProcess(this.fs, stat, { ...this.opts, withNumaMaps: false });
      if (!p) continue;
      seen.add(pid);
      this.update(p, nowMs, include.has(pid), exclude.has(pid));
    }
    for (const pid of [...this.table.keys()]) if (!seen.has(pid)) this.table.delete(pid);
    for (const pid of [...this.smallUntil.keys()]) if (!seen.has(pid)) this.smallUntil.delete(pid);
    this.lastScanReads = reads;
    return [...this.table.values()].map((e) => e.info);
  }

  private update(p: ProcessInfo, nowMs: number, included: boolean, excluded: boolean): void {
    const e = this.table.get(p.pid);
    let samples: number[] = [];
    if (e && e.info.comm === p.comm) {
      const dtMs = nowMs - e.lastAtMs;
      samples = e.samples;
      if (dtMs > 0) {
        samples.push(Math.max(0, Math.round(((p.cpuTicks - e.lastTicks) * 100 * 1000) / (dtMs * TICKS_PER_SECOND))));
        if (samples.length > CPU_SAMPLES) samples.shift();
      }
    }
    const cgroupText = this.fs.readTextOr(`/proc/${p.pid}/cgroup`, '');
    this.table.set(p.pid, {
      lastTicks: p.cpuTicks,
      lastAtMs: nowMs,
      samples,
      info: {
        pid: p.pid,
        comm: p.comm,
        threads: p.threads,
        rssMiB: p.rssMiB,
        vsizeMiB: p.vsizeMiB,
        // numad forces excluded processes to 0 CPU so they are never candidates.
        cpuUsedHundredths: excluded ? 0 : Math.max(0, ...samples),
        cpusAllowed: p.cpusAllowed,
        memsAllowed: p.memsAllowed,
        isLibvirtDomain: isLibvirtDomainCgroup(cgroupText),
        excluded,
        included,
      },
    });
  }

  /** Per-node memory: the process's own cgroup when it has one (libvirt VMs do), else numa_maps. */
  measureMemory(pid: number, needInterleave = false): TrackedProcess | undefined {
    const e = this.table.get(pid);
    if (!e) return undefined;
    // A cgroup's numa_stat cannot tell interleaved pages apart; -K 1 needs numa_maps.
    const fromCgroup = needInterleave ? undefined : readOwnCgroupNuma(this.fs, pid, this.opts.basePageKiB);
    if (fromCgroup && fromCgroup.size > 0) {
      e.info.memoryMiBByNode = Object.fromEntries([...fromCgroup].map(([n, kib]) => [String(n), Math.floor(kib / 1024)]));
      e.info.memorySource = 'cgroup';
      return e.info;
    }
    const text = this.fs.readTextMaybe(`/proc/${pid}/numa_maps`);
    if (text === undefined) {
      this.table.delete(pid);
      return undefined;
    }
    const maps = parseNumaMaps(text, this.opts.basePageKiB, this.opts.defaultHugeKiB);
    e.info.memoryMiBByNode = Object.fromEntries([...maps.perNodeKiB].map(([n, kib]) => [String(n), Math.floor(kib / 1024)]));
    e.info.memorySource = 'numa_maps';
    e.info.interleavedMiB = Math.floor(maps.interleavedKiB / 1024);
    return e.info;
  }

  get tracked(): TrackedProcess[] {
    return [...this.table.values()].map((e) => e.info);
  }
}
