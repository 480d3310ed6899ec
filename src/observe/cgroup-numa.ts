// Per-node memory of a cgroup (memory.numa_stat): cheaper and lock-free compared with walking numa_maps, and what
// libvirt's per-VM cgroups offer. Used only when the process is alone in its cgroup (else the figures are not its own).
import type { FsRoot } from '../topology/fsroot.js';

/** /proc/<pid>/cgroup → the cgroup v2 path ("0::/machine.slice/…"), or the v1 memory controller's path. */
export function parseProcCgroup(text: string): { v2?: string; v1Memory?: string } {
  const out: { v2?: string; v1Memory?: string } = {};
  for (const line of text.split('\n')) {
    const [, controllers, p] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (p === undefined) continue;
    if (controllers === '') out.v2 = p;
    else if ((controllers ?? '').split(',').includes('memory')) out.v1Memory = p;
  }
  return out;
}

/**
 * memory.numa_stat → KiB per node. v2: "anon N0=<bytes> N1=…" and "file N0=…" lines (anon + file counted).
 * v1: "total=<pages> N0=<pages> …" (the first line, everything the group charges).
 */
export function parseNumaStat(text: string, pageKiB = 4): Map<number, number> {
  const perNode = new Map<number, number>();
  const add = (tokens: string[], unitKiB: number): void => {
    for (const t of tokens) {
      const m = /^N(\d+)=(\d+)$/.exec(t);
      if (m) perNode.set(Number(m[1]), (perNode.get(Number(m[1])) ?? 0) + Number(m[2]) * unitKiB);
    }
  };
  for (const line of text.split('\n')) {
    const [key, ...tokens] = line.split(' ');
    if (key === 'anon' || key === 'file') add(tokens, 1 / 1024);
    else if (key?.startsWith('total=')) {
      add(tokens, pageKiB);
      break;
    }
  }
  for (const [n, v] of perNode) perNode.set(n, Math.floor(v));
  return perNode;
}

/** The process's per-node memory from its own cgroup, or undefined (shared cgroup, no memory controller, gone). */
export function readOwnCgroupNuma(fs: FsRoot, pid: number, pageKiB = 4): Map<number, number> | undefined {
  try {
    const cg = parseProcCgroup(fs.readText(`/proc/${pid}/cgroup`));
    const dir = cg.v2 !== undefined && cg.v2 !== '/' ? `/sys/fs/cgroup${cg.v2}` : cg.v1Memory && cg.v1Memory !== '/' ? `/sys/fs/cgroup/memory${cg.v1Memory}` : undefined;
    if (!dir) return undefined;
    const procs = fs.readText(`${dir}/cgroup.procs`).split('\n').filter(Boolean);
    if (procs.length !== 1 || Number(procs[0]) !== pid) return undefined;
    return parseNumaStat(fs.readText(`${dir}/memory.numa_stat`), pageKiB);
  } catch {
    return undefined;
  }
}

/** readOwnCgroupNuma without blocking: GET /metrics reads every running guest's cgroup this way. */
export async function readOwnCgroupNumaAsync(fs: FsRoot, pid: number, pageKiB = 4): Promise<Map<number, number> | undefined> {
  try {
    const cg = parseProcCgroup(await fs.readTextAsync(`/proc/${pid}/cgroup`));
    const dir = cg.v2 !== undefined && cg.v2 !== '/' ? `/sys/fs/cgroup${cg.v2}` : cg.v1Memory && cg.v1Memory !== '/' ? `/sys/fs/cgroup/memory${cg.v1Memory}` : undefined;
    if (!dir) return undefined;
    const [procsText, statText] = await Promise.all([fs.readTextAsync(`${dir}/cgroup.procs`), fs.readTextAsync(`${dir}/memory.numa_stat`)]);
    const procs = procsText.split('\n').filter(Boolean);
    if (procs.length !== 1 || Number(procs[0]) !== pid) return undefined;
    return parseNumaStat(statText, pageKiB);
  } catch {
    return undefined;
  }
}

/** libvirt puts every QEMU domain under machine.slice (systemd) or /machine (no systemd). */
export function isLibvirtDomainCgroup(cgroupText: string): boolean {
  return /(^|\/)machine(\.slice)?\//m.test(cgroupText) && /qemu|libvirt/m.test(cgroupText);
}
