// Which CPUs share a last-level (L3) cache: /sys/devices/system/cpu/cpuX/cache/indexY/{level,id,shared_cpu_list}
// (Documentation/ABI/testing/sysfs-devices-system-cpu). An AMD CCX, an Intel SNC domain or a whole Grace socket is
// one L3 group; keeping a guest's vCPUs in one is worth more than the node alone says. The index number of the L3
// differs between CPUs (index3 on x86, other numbers elsewhere), so the index is found by its `level`. Hosts without
// cache/ (some VMs, old kernels) have no groups: an empty map, never an error.
import type { FsRoot } from './fsroot.js';
import { parseSysfsIdList, parseSysfsUint, readParsed } from './sysfs-values.js';

const CPU_DIR = '/sys/devices/system/cpu';
const CACHE_INDEX = /^index(\d+)$/;

export interface L3Group {
  /** the cache's `id`, or the first CPU of its shared_cpu_list when the kernel gives no id */
  id: number;
  /** shared_cpu_list: the CPUs sharing this L3, ascending */
  cpus: number[];
}

/** One CPU's L3 and the index directory it was found in; undefined when the CPU lists no level-3 cache. */
export function readCpuL3(fs: FsRoot, cpu: number, tryFirst?: string): { group: L3Group; index: string } | undefined {
  const dir = `${CPU_DIR}/cpu${cpu}/cache`;
  const names = fs.listOr(dir).filter((n) => CACHE_INDEX.test(n));
  // Try the index the previous CPU's L3 was in first: on a uniform host it is the only directory read.
  const ordered = tryFirst !== undefined && names.includes(tryFirst) ? [tryFirst, ...names.filter((n) => n !== tryFirst)] : names;
  for (const index of ordered) {
    const d = `${dir}/${index}`;
    if (readParsed(fs, `${d}/level`, parseSysfsUint) !== 3) continue;
    const cpus = readParsed(fs, `${d}/shared_cpu_list`, parseSysfsIdList) ?? [cpu];
    const id = readParsed(fs, `${d}/id`, parseSysfsUint) ?? cpus[0] ?? cpu;
    return { group: { id, cpus: cpus.length > 0 ? cpus : [cpu] }, index };
  }
  return undefined;
}

/**
 * The L3 of each CPU given. A CPU already named in an earlier CPU's shared_cpu_list takes that group without being
 * read: on a 256-CPU host with 32 CCXs this reads 32 caches, not 256 (the shape is re-read every few minutes).
 */
export function readL3ByCpu(fs: FsRoot, cpus: readonly number[]): Map<number, L3Group> {
  const out = new Map<number, L3Group>();
  let lastIndex: string | undefined;
  for (const cpu of cpus) {
    if (out.has(cpu)) continue;
    const found = readCpuL3(fs, cpu, lastIndex);
    if (!found) continue;
    lastIndex = found.index;
    out.set(cpu, found.group);
    for (const other of found.group.cpus) if (!out.has(other)) out.set(other, found.group);
  }
  return out;
}

/** A node's CPUs grouped by L3, groups in order of their first CPU; CPUs without a known L3 are left out. */
export function groupByL3(cpus: readonly { id: number; l3Id?: number | undefined }[]): { id: number; cpus: number[] }[] {
  const groups = new Map<number, number[]>();
  for (const c of [...cpus].sort((a, b) => a.id - b.id)) {
    if (c.l3Id === undefined) continue;
    const list = groups.get(c.l3Id);
    if (list) list.push(c.id);
    else groups.set(c.l3Id, [c.id]);
  }
  return [...groups].map(([id, list]) => ({ id, cpus: list }));
}
