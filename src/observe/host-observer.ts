// Keeps the latest picture of the host: its shape (re-read now and then, like numad's 600 s static refresh, but
// more often because CPU and memory hotplug happen on VM hosts), two /proc/stat samples, and memory counters.
// Reads happen in sampleCpu/refreshMemory*, when the service asks; snapshot() combines what was read (see its one
// exception).
import type { FsRoot } from '../topology/fsroot.js';
import {
  readHostShape,
  readHugepageReserved,
  readHugepageReservedAsync,
  readNodeMemory,
  readNodeMemoryAsync,
  readProcMeminfo,
  readProcMeminfoAsync,
  type HostShape,
  type HugepageReserved,
  type NodeMemory,
  type ProcMeminfo,
} from '../topology/sysfs.js';
import type { HostSnapshot } from '../model/snapshot.js';
import { idleTicks, parseProcStat, readProcStat, type ProcStatSample } from './proc-stat.js';

/**
 * numad re-reads the node list every 600 s; we do every 300 s. CPU hotplug on a hypervisor is rare, and re-reading
 * every CPU's topology files every minute was a visible share of the idle daemon's CPU on an emulated guest.
 */
export const SHAPE_REFRESH_MS = 300_000;

/** A node with less than 1 MiB is memoryless (numad's own threshold, MBs_total < 1). */
const MEMORYLESS_BELOW_KIB = 1024;

export class HostObserver {
  private hostShape: HostShape;
  private shapeReadAtMs: number;
  private previous: ProcStatSample | undefined;
  private latest: ProcStatSample;
  private memory: Map<number, NodeMemory>;
  private procMeminfo: ProcMeminfo;
  /** host-wide resv_hugepages per size, read with node memory (it changes as guests map hugepages) */
  private hugepageReserved: HugepageReserved[] | undefined;
  private memoryReadAtMs: number;
  /** Bumped on every new reading, so callers can cache what they derive from a snapshot. */
  version = 0;

  constructor(
    readonly fs: FsRoot,
    private readonly clock: () => number = Date.now,
  ) {
    const now = this.clock();
    this.hostShape = readHostShape(fs);
    this.shapeReadAtMs = now;
    this.latest = readProcStat(fs, now);
    this.memory = new Map(this.hostShape.nodes.map((n) => [n.id, readNodeMemory(fs, n.id)]));
    this.procMeminfo = readProcMeminfo(fs);
    this.hugepageReserved = readHugepageReserved(fs);
    this.memoryReadAtMs = now;
  }

  /** Take a /proc/stat sample; the idle share is measured between the last two. */
  sampleCpu(): void {
    const now = this.clock();
    this.previous = this.latest;
    this.latest = readProcStat(this.fs, now);
    if (now - this.shapeReadAtMs >= SHAPE_REFRESH_MS) this.refreshShape();
    this.version++;
  }

  /**
   * Use a /proc/stat text read earlier by someone else (the C front end reads one before Node.js starts, so the
   * local answer's window has passed by the time it needs it) as the sample the next one is measured against.
   */
  seedCpuSample(text: string, atMs: number): void {
    this.latest = { atMs, perCpu: parseProcStat(text) };
    this.version++;
  }

  refreshShape(): void {
    this.hostShape = readHostShape(this.fs);
    this.shapeReadAtMs = this.clock();
    this.refreshMemory();
  }

  refreshMemory(): void {
    this.memory = new Map(this.hostShape.nodes.map((n) => [n.id, readNodeMemory(this.fs, n.id)]));
    this.procMeminfo = readProcMeminfo(this.fs);
    this.hugepageReserved = readHugepageReserved(this.fs);
    this.memoryReadAtMs = this.clock();
    this.version++;
  }

  async refreshMemoryAsync(): Promise<void> {
    const nodes = this.hostShape.nodes;
    const [readings, procMeminfo, hugepageReserved] = await Promise.all([
      Promise.all(nodes.map((n) => readNodeMemoryAsync(this.fs, n.id))),
      readProcMeminfoAsync(this.fs),
      readHugepageReservedAsync(this.fs),
    ]);
    // The shape may have been refreshed meanwhile; keep readings only for nodes that still exist.
    if (nodes !== this.hostShape.nodes) return;
    this.memory = new Map(nodes.map((n, i) => [n.id, readings[i] as NodeMemory]));
    this.procMeminfo = procMeminfo;
    this.hugepageReserved = hugepageReserved;
    this.memoryReadAtMs = this.clock();
    this.version++;
  }

  /** The host's shape as last read (nodes, CPUs with package/core). */
  shape(): HostShape {
    return this.hostShape;
  }

  get cpuSampleAgeMs(): number {
    return this.clock() - this.latest.atMs;
  }

  get cpuWindowMs(): number {
    return this.previous ? this.latest.atMs - this.previous.atMs : 0;
  }

  get memoryAgeMs(): number {
    return this.clock() - this.memoryReadAtMs;
  }

  /**
   * Combine the latest readings; no I/O, with one exception: a node the shape has but the memory readings lack (a
   * shape re-read whose memory read then failed) has its memory read here.
   */
  snapshot(): HostSnapshot {
    const idle = idleTicks(this.latest, this.previous);
    const nodes = this.hostShape.nodes.map((shape) => {
      const mem = this.memory.get(shape.id) ?? readNodeMemory(this.fs, shape.id);
      const node: HostSnapshot['nodes'][number] = {
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
      // Today's hardware only where the kernel exports it: an old host's snapshot has exactly the keys it had.
      if (shape.hasNormalMemory !== undefined) node.hasNormalMemory = shape.hasNormalMemory;
      if (shape.memoryTier !== undefined) node.memoryTier = shape.memoryTier;
      if (shape.hmat !== undefined) node.hmat = shape.hmat;
      return node;
    });
    const snap: HostSnapshot = {
      schemaVersion: 1,
      takenAt: new Date(this.memoryReadAtMs).toISOString(),
      cpuSampleWindowMs: this.cpuWindowMs,
      nodes,
      cpus: this.hostShape.cpus.map((c) => {
        // A CPU missing from /proc/stat (just hot-added) is taken as busy rather than guessed idle.
        const t = idle.get(c.id) ?? { idleTicks: 0, windowTicks: 1 };
        // The share for people (one division of whole numbers), the ticks for capacity (summed per node as numad).
        return { ...c, idleHundredths: (t.idleTicks * 100) / t.windowTicks, idleTicks: t.idleTicks, windowTicks: t.windowTicks };
      }),
      meminfo: { ...this.procMeminfo, hugepageSizeKiB: this.procMeminfo.hugepageSizeKiB || this.hostShape.hugepageSizeKiB },
    };
    const host = this.hostShape;
    if (host.memoryTiers !== undefined) snap.memoryTiers = host.memoryTiers;
    if (host.numaBalancing !== undefined) snap.numaBalancing = host.numaBalancing;
    if (host.demotionEnabled !== undefined) snap.demotionEnabled = host.demotionEnabled;
    if (host.isolatedCpus !== undefined) snap.isolatedCpus = host.isolatedCpus;
    if (host.nohzFullCpus !== undefined) snap.nohzFullCpus = host.nohzFullCpus;
    if (this.hugepageReserved !== undefined) snap.hugepageReserved = this.hugepageReserved;
    return snap;
  }
}
