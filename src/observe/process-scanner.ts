// The per-cycle process scan (numad.md §4.5, minus its defects): every process (-S 1) or only the inclusion list
// (-S 0); CPU use as the peak of the last 8 utime+stime deltas; RSS and size; per-node memory only for candidates.
import type { FsRoot } from '../topology/fsroot.js';
import { parseNumaMaps, parsePidStatus, rssMiB } from './processes.js';
import { isLibvirtDomainCgroup, readOwnCgroupNuma, readOwnCgroupNumaAsync } from './cgroup-numa.js';
import { CANDIDATE_MIN_CPU_HUNDREDTHS, PROCESS_MIN_RSS_MIB } from '../policy/numad.js';
import { defaultProcScan, selectedStat, type ProcScan, type SelectedStat } from './proc-scan.js';

/** numad's ring of CPU samples: the peak of the last 8 (~2 minutes at 15 s) keeps a bursty VM a candidate. */
export const CPU_SAMPLES = 8;
/**
 * A process at or under the tracking threshold is read every this many scans (staggered by pid), a process with no
 * memory at all (a kernel thread) every twice as many, and /proc is listed again at least this often: on an idle host
 * nearly every process is small, and reading each one every 15 s was most of the daemon's idle CPU. One that grows
 * past 300 MiB is seen within 4 cycles (1 minute at numad's idle 15 s); a new process is read at once.
 */
export const SMALL_RECHECK_SCANS = 4;
/**
 * A tracked process's status and cgroup (allowed CPUs and nodes, whether libvirt runs it) are re-read every this many
 * scans while it is not busy enough to be a candidate; a candidate's are read every scan (the planner needs its
 * allowed CPUs and nodes as they are now), and so are a new one's.
 */
export const DETAILS_REFRESH_SCANS = 4;
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
  /** the scan that last read its status and cgroup */
  detailsScan: number;
}

export interface ScanSettings {
  scanAll: boolean;
  includePids: number[];
  excludePids: number[];
}

export class ProcessScanner {
  private readonly table = new Map<number, Entry>();
  private scans = 0;
  /** files read by the last scan's pass over /proc (for the benchmark and tests) */
  lastScanReads = 0;
  /** processes seen by the last scan */
  lastScanSeen = 0;
  readonly procScan: ProcScan;
  private readonly opts;

  constructor(
    private readonly fs: FsRoot,
    basePageKiB: number,
    defaultHugeKiB: number,
    procScan?: ProcScan,
  ) {
    this.opts = { basePageKiB, defaultHugeKiB };
    this.procScan = procScan ?? defaultProcScan(fs).scan;
  }

  /** One pass: every process's size (-S 1) or the inclusion list's (-S 0), then the big ones in full. */
  scan(nowMs: number, s: ScanSettings): TrackedProcess[] {
    const include = new Set(s.includePids);
    const exclude = new Set(s.excludePids);
    const scan = ++this.scans;
    const r = this.procScan.run({ listAll: s.scanAll, always: Int32Array.from(include).sort(), pageKiB: this.opts.basePageKiB, minMiB: PROCESS_MIN_RSS_MIB, every: SMALL_RECHECK_SCANS });
    this.lastScanReads = r.reads;
    this.lastScanSeen = r.seen.length;
    const kept = new Set<number>();
    for (let k = 0; k < r.selected.length; k++) {
      const stat = selectedStat(r, k);
      const pid = stat.pid;
      // rss from stat, the same count as the statm that selected it; an included one is tracked whatever its size.
      if (!include.has(pid) && rssMiB(stat, this.opts.basePageKiB) <= PROCESS_MIN_RSS_MIB) continue;
      if (this.update(stat, nowMs, scan, include.has(pid), exclude.has(pid))) kept.add(pid);
    }
    for (const pid of [...this.table.keys()]) if (!kept.has(pid)) this.table.delete(pid);
    return this.tracked;
  }

  /** false when the process vanished before its status could be read. */
  private update(stat: SelectedStat, nowMs: number, scan: number, included: boolean, excluded: boolean): boolean {
    const pid = stat.pid;
    const old = this.table.get(pid);
    const same = old !== undefined && old.info.comm === stat.comm;
    let samples: number[] = [];
    if (same) {
      const dtMs = nowMs - old.lastAtMs;
      samples = old.samples;
      if (dtMs > 0) {
        samples.push(Math.max(0, Math.round(((stat.cpuTicks - old.lastTicks) * 100 * 1000) / (dtMs * TICKS_PER_SECOND))));
        if (samples.length > CPU_SAMPLES) samples.shift();
      }
    }
    // numad forces excluded processes to 0 CPU so they are never candidates.
    const cpuUsedHundredths = excluded ? 0 : Math.max(0, ...samples);
    const fresh = same && cpuUsedHundredths <= CANDIDATE_MIN_CPU_HUNDREDTHS && scan - old.detailsScan < DETAILS_REFRESH_SCANS;
    let details: Pick<TrackedProcess, 'cpusAllowed' | 'memsAllowed' | 'isLibvirtDomain'>;
    let detailsScan = scan;
    if (fresh) {
      details = old.info;
      detailsScan = old.detailsScan;
    } else {
      const statusText = this.fs.readTextMaybe(`/proc/${pid}/status`);
      if (statusText === undefined) return false;
      const cgroupText = this.fs.readTextOr(`/proc/${pid}/cgroup`, '');
      details = { ...parsePidStatus(statusText), isLibvirtDomain: isLibvirtDomainCgroup(cgroupText) };
    }
    this.table.set(pid, {
      lastTicks: stat.cpuTicks,
      lastAtMs: nowMs,
      samples,
      detailsScan,
      info: {
        pid,
        comm: stat.comm,
        threads: stat.threads,
        rssMiB: rssMiB(stat, this.opts.basePageKiB),
        vsizeMiB: Math.floor(stat.vsizeBytes / 1048576),
        cpuUsedHundredths,
        cpusAllowed: details.cpusAllowed,
        memsAllowed: details.memsAllowed,
        isLibvirtDomain: details.isLibvirtDomain,
        excluded,
        included,
      },
    });
    return true;
  }

  /** Per-node memory: the process's own cgroup when it has one (libvirt VMs do), else numa_maps. */
  measureMemory(pid: number, needInterleave = false): TrackedProcess | undefined {
    const e = this.table.get(pid);
    if (!e) return undefined;
    // A cgroup's numa_stat cannot tell interleaved pages apart; -K 1 needs numa_maps.
    const fromCgroup = needInterleave ? undefined : readOwnCgroupNuma(this.fs, pid, this.opts.basePageKiB);
    if (fromCgroup && fromCgroup.size > 0) return this.noteCgroupMemory(e.info, fromCgroup);
    const text = this.fs.readTextMaybe(`/proc/${pid}/numa_maps`);
    if (text === undefined) {
      this.table.delete(pid);
      return undefined;
    }
    return this.noteNumaMaps(e.info, text);
  }

  /**
   * measureMemory off the event loop (the cgroup's memory.numa_stat, else numa_maps, read asynchronously): numa_maps
   * walks the process's page tables under its mmap lock and can hang for as long as the process is stuck in reclaim.
   */
  async measureMemoryAsync(pid: number, needInterleave = false): Promise<TrackedProcess | undefined> {
    if (!this.table.has(pid)) return undefined;
    const fromCgroup = needInterleave ? undefined : await readOwnCgroupNumaAsync(this.fs, pid, this.opts.basePageKiB);
    const e = this.table.get(pid);
    if (!e) return undefined;
    if (fromCgroup && fromCgroup.size > 0) return this.noteCgroupMemory(e.info, fromCgroup);
    let text: string;
    try {
      text = await this.fs.readTextAsync(`/proc/${pid}/numa_maps`);
    } catch {
      this.table.delete(pid);
      return undefined;
    }
    return this.noteNumaMaps(e.info, text);
  }

  /** A process's memory per node from its cgroup's numa_stat (KiB per node), for both measureMemory paths. */
  private noteCgroupMemory(info: TrackedProcess, perNodeKiB: ReadonlyMap<number, number>): TrackedProcess {
    info.memoryMiBByNode = Object.fromEntries([...perNodeKiB].map(([n, kib]) => [String(n), Math.floor(kib / 1024)]));
    info.memorySource = 'cgroup';
    return info;
  }

  /** A process's memory per node from the text of its numa_maps, for both measureMemory paths. */
  private noteNumaMaps(info: TrackedProcess, text: string): TrackedProcess {
    const maps = parseNumaMaps(text, this.opts.basePageKiB, this.opts.defaultHugeKiB);
    info.memoryMiBByNode = Object.fromEntries([...maps.perNodeKiB].map(([n, kib]) => [String(n), Math.floor(kib / 1024)]));
    info.memorySource = 'numa_maps';
    info.interleavedMiB = Math.floor(maps.interleavedKiB / 1024);
    return info;
  }

  /** release the files the scan keeps open */
  close(): void {
    this.procScan.close();
  }

  get tracked(): TrackedProcess[] {
    return [...this.table.values()].map((e) => e.info);
  }
}
