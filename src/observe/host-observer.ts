// Keeps the latest picture of the host: its shape (re-read now and then, like numad's 600 s static refresh, but
// more often because CPU and memory hotplug happen on VM hosts), two /proc/stat samples, and fresh memory counters.
import type { FsRoot } from '../topology/fsroot.js';
import { readHostShape, readNodeMemory, readProcMeminfo, type HostShape } from '../topology/sysfs.js';
import type { HostSnapshot } from '../model/snapshot.js';
import { idleHundredths, readProcStat, type ProcStatSample } from './proc-stat.js';

/** numad re-reads the node list every 600 s; CPU hotplug on a hypervisor is rare but 60 s costs nothing. */
export const SHAPE_REFRESH_MS = 60_000;

/** A node with less than 1 MiB is memoryless (numad's own threshold, MBs_total < 1). */
const MEMORYLESS_BELOW_KIB = 1024;

export class HostObserver {
  private shape: HostShape;
  private shapeReadAtMs: number;
  private previous: ProcStatSample | undefined;
  private latest: ProcStatSample;

  constructor(
    readonly fs: FsRoot,
    private readonly clock: () => number = Date.now,
  ) {
    const now = this.clock();
    this.shape = readHostShape(fs);
    this.shapeReadAtMs = now;
    this.latest = readProcStat(fs, now);
  }

  /** Take a /proc/stat sample; the idle share is measured between the last two. */
  sampleCpu(): void {
    const now = this.clock();
    this.previous = this.latest;
    this.latest = readProcStat(this.fs, now);
    if (now - this.shapeReadAtMs >= SHAPE_REFRESH_MS) this.refreshShape();
  }

  refreshShape(): void {
    this.shape = readHostShape(this.fs);
    this.shapeReadAtMs = this.clock();
  }

  get cpuWindowMs(): number {
    return this.previous ? this.latest.atMs - this.previous.atMs : 0;
  }

  /** Read memory counters now and combine them with the latest CPU window. */
  snapshot(): HostSnapshot {
    const idle = idleHundredths(this.latest, this.previous);
    const procMeminfo = readProcMeminfo(this.fs);
    const nodes = this.shape.nodes.map((shape) => {
      const mem = readNodeMemory(this.fs, shape.id);
      return {
        id: shape.id,
        cpus: shape.cpus,
        hasCpu: shape.hasCpu,
        hasMemory: shape.hasMemory && mem.memTotalKiB >= MEMORYLESS_BELOW_KIB,
        memTotalKiB: mem.memTotalKiB,
        memFreeKiB: mem.memFreeKiB,
        inactiveFileKiB: mem.inactiveFileKiB,
        filePagesKiB: mem.filePagesKiB,
        hugepages: mem.hugepages,
        distances: shape.distances,
      };
    });
    return {
      schemaVersion: 1,
      takenAt: new Date(this.clock()).toISOString(),
      cpuSampleWindowMs: this.cpuWindowMs,
      nodes,
      cpus: this.shape.cpus.map((c) => ({
        ...c,
        // A CPU missing from /proc/stat (just hot-added) is taken as busy rather than guessed idle.
        idleHundredths: idle.get(c.id) ?? 0,
      })),
      meminfo: { ...procMeminfo, hugepageSizeKiB: procMeminfo.hugepageSizeKiB || this.shape.hugepageSizeKiB },
    };
  }
}
