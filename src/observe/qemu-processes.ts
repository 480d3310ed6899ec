// What a libvirt guest's QEMU process looks like from the host: the QEMU driver's status XML and pid file
// (libvirt.md §3), the process's start time, its vCPU and IOThread threads and their cgroups, and where its memory
// lies (numa_maps). Readers only; a process that vanished mid-read reads as undefined or empty, never as an error.
import type { FsRoot } from '../topology/fsroot.js';
import { parseNumaMaps } from './processes.js';

/** Where the QEMU driver keeps status XML and pid files (libvirt.md §3). */
export const QEMU_RUN_DIR = '/run/libvirt/qemu';

/** The status XML libvirt keeps for a running domain (parsed by libvirt/domain-xml's parseStatusXml). */
export function readQemuStatusXml(fs: FsRoot, domainName: string): string | undefined {
  return fs.readTextMaybe(`${QEMU_RUN_DIR}/${domainName}.xml`);
}

/** The QEMU pid from libvirt's pid file, when there is a positive integer in it. */
export function readQemuPid(fs: FsRoot, domainName: string): number | undefined {
  const n = Number(fs.readTextMaybe(`${QEMU_RUN_DIR}/${domainName}.pid`)?.trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export interface QemuThreads {
  /** vCPU index → thread id */
  vcpuTids: Record<string, number>;
  /** IOThread id → thread id */
  iothreadTids: Record<string, number>;
  /** thread id → its cgroup: the v1 cpuset path where cpuset is a v1 controller, else the v2 path */
  cgroups: Record<string, string>;
}

/**
 * vCPU threads from the status XML (`fromStatus`), checked against (or, without it, taken from) the thread names
 * `CPU n/KVM` (`CPU n/TCG` under emulation), IOThreads from `IO iothread<N>`, and the cgroup of each of them and of
 * the main thread from /proc, never guessed.
 */
export function readQemuThreads(fs: FsRoot, pid: number | undefined, fromStatus: ReadonlyMap<number, number> | undefined): QemuThreads {
  const vcpuTids: Record<string, number> = {};
  const iothreadTids: Record<string, number> = {};
  const cgroups: Record<string, string> = {};
  if (pid === undefined) return { vcpuTids, iothreadTids, cgroups };
  for (const name of fs.listOr(`/proc/${pid}/task`)) {
    const tid = Number(name);
    const comm = fs.readTextMaybe(`/proc/${pid}/task/${tid}/comm`)?.trim() ?? '';
    const vcpu = /^CPU (\d+)\/(KVM|TCG|HVF|WHPX)$/.exec(comm);
    const io = /^IO iothread(\d+)$/.exec(comm);
    if (vcpu) vcpuTids[vcpu[1] as string] = tid;
    else if (io) iothreadTids[io[1] as string] = tid;
    else if (tid !== pid) continue;
    const cg = fs.readTextMaybe(`/proc/${pid}/task/${tid}/cgroup`) ?? '';
    const v2 = /^0::(.+)$/m.exec(cg)?.[1];
    const v1 = /^\d+:[^:]*\bcpuset\b[^:]*:(.+)$/m.exec(cg)?.[1];
    const path = v1 ?? v2;
    if (path) cgroups[String(tid)] = path;
  }
  // The status XML is libvirt's own record of vCPU threads; it wins where both exist.
  for (const [v, tid] of fromStatus ?? []) vcpuTids[String(v)] = tid;
  return { vcpuTids, iothreadTids, cgroups };
}

/** When a process started (ms on `nowMs`'s clock), from its stat starttime and /proc/uptime; undefined when unreadable. */
export function readProcessStartMs(fs: FsRoot, pid: number, nowMs: number): number | undefined {
  const stat = fs.readTextMaybe(`/proc/${pid}/stat`);
  const uptime = Number.parseFloat(fs.readTextMaybe('/proc/uptime') ?? '');
  const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
  const startTicks = Number(fields?.[19]); // field 22
  if (!Number.isFinite(uptime) || !Number.isFinite(startTicks)) return undefined;
  return nowMs - (uptime - startTicks / 100) * 1000;
}

/** The process's memory per node in MiB (fractional; numa_maps counts pages), undefined when the process is gone. */
export function readMemoryMiBByNode(fs: FsRoot, pid: number): Map<number, number> | undefined {
  const text = fs.readTextMaybe(`/proc/${pid}/numa_maps`);
  return text === undefined ? undefined : memoryMiBByNode(text);
}

/**
 * readMemoryMiBByNode off the event loop. Reading numa_maps walks the process's page tables under its mmap lock: a
 * QEMU thrashing in reclaim held a reader for minutes in the lab (docs/lab.md, the memory guard), and a synchronous
 * read there stopped every answer. The read runs on libuv's thread pool; the daemon waits for it with a deadline.
 */
export async function readMemoryMiBByNodeAsync(fs: FsRoot, pid: number): Promise<Map<number, number> | undefined> {
  let text: string;
  try {
    text = await fs.readTextAsync(`/proc/${pid}/numa_maps`);
  } catch {
    return undefined;
  }
  return memoryMiBByNode(text);
}

function memoryMiBByNode(text: string): Map<number, number> {
  const perNodeMiB = new Map<number, number>();
  for (const [node, kib] of parseNumaMaps(text).perNodeKiB) perNodeMiB.set(node, kib / 1024);
  return perNodeMiB;
}
