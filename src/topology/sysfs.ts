// Readers for the static shape of the host (nodes, CPUs, SLIT) and the per-node memory counters. Everything goes
// through FsRoot. Node ids are sorted numerically (numad keeps kernfs directory order, which is a hash order).
import { readdir } from 'node:fs/promises';
import { topologyError } from '../errors.js';
import { readL3ByCpu } from './cpu-caches.js';
import type { FsRoot } from './fsroot.js';
import { readNodeHmat, type NodeHmat } from './hmat.js';
import { parseIdList } from './idlist.js';
import { readIsolatedCpus } from './isolated-cpus.js';
import { readDemotionEnabled, readMemoryTiers, readNumaBalancing, tierOfNode, type MemoryTier } from './memory-tiers.js';
import { parseMeminfo, requireField } from './meminfo.js';
import { readNodeStates } from './node-states.js';
import { parseSysfsIdList, parseSysfsInt, parseSysfsUint, readParsed } from './sysfs-values.js';

const NODE_DIR = '/sys/devices/system/node';
const CPU_DIR = '/sys/devices/system/cpu';

export interface CpuTopology {
  id: number;
  node: number;
  packageId: number;
  coreId: number;
  threadSiblings: number[];
  /** topology/die_id (Linux 5.2+); absent on older kernels */
  dieId?: number;
  /** topology/core_cpus_list (Linux 5.6+): the CPUs of this CPU's core */
  coreCpus?: number[];
  /** the L3 this CPU shares (cpu-caches.ts): its id, and the CPUs sharing it */
  l3Id?: number;
  l3Cpus?: number[];
}

export interface NodeShape {
  id: number;
  cpus: number[];
  hasMemory: boolean;
  hasCpu: boolean;
  distances: number[];
  /** in has_normal_memory (memory the kernel can use for itself, not only ZONE_MOVABLE); absent without the mask */
  hasNormalMemory?: boolean;
  /** N of the memory_tierN that lists this node (smaller = faster); absent without memory tiering */
  memoryTier?: number;
  /** HMAT figures for this node's memory; absent without HMAT */
  hmat?: NodeHmat;
}

export interface HostShape {
  nodes: NodeShape[];
  cpus: CpuTopology[];
  hugepageSizeKiB: number;
  // Host-wide facts of today's hardware, each absent where the kernel does not export it.
  memoryTiers?: MemoryTier[];
  numaBalancing?: number;
  demotionEnabled?: boolean;
  isolatedCpus?: number[];
  nohzFullCpus?: number[];
}

export interface NodeMemory {
  memTotalKiB: number;
  memFreeKiB: number;
  inactiveFileKiB: number;
  filePagesKiB: number;
  /** per node and size; `surplus` (surplus_hugepages) only when not zero, so hosts without any read as before */
  hugepages: { sizeKiB: number; total: number; free: number; surplus?: number }[];
}

function readNodeIds(fs: FsRoot): number[] {
  const fromOnline = fs.readTextOr(`${NODE_DIR}/online`, '').trim();
  const fromDirs = fs
    .listOr(NODE_DIR)
    .map((name) => /^node(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]));
  if (fromDirs.length === 0) throw topologyError(`no NUMA node directories under ${fs.resolve(NODE_DIR)}`);
  const dirs = new Set(fromDirs);
  // A node listed online but without a directory cannot be read; a directory not online is a hot-removed node.
  const ids = fromOnline !== '' ? parseIdList(fromOnline).filter((id) => dirs.has(id)) : fromDirs;
  return [...new Set(ids)].sort((a, b) => a - b);
}

function readMask(fs: FsRoot, file: string): Set<number> | undefined {
  const text = fs.readTextOr(`${NODE_DIR}/${file}`, '');
  return text === '' ? undefined : new Set(parseIdList(text));
}

function onlineCpus(fs: FsRoot): Set<number> | undefined {
  const text = fs.readTextOr(`${CPU_DIR}/online`, '');
  return text === '' ? undefined : new Set(parseIdList(text));
}

function readCpuTopology(fs: FsRoot, cpu: number, node: number): CpuTopology {
  const base = `${CPU_DIR}/cpu${cpu}/topology`;
  const num = (file: string, fallback: number): number => {
    const v = Number.parseInt(fs.readTextOr(`${base}/${file}`, ''), 10);
    return Number.isFinite(v) ? v : fallback;
  };
  const siblingsText = fs.readTextOr(`${base}/thread_siblings_list`, '');
  const out: CpuTopology = {
    id: cpu,
    node,
    packageId: num('physical_package_id', -1),
    // Without topology files each CPU is its own core: no hyper-thread discount is better than a wrong one.
    coreId: num('core_id', cpu),
    threadSiblings: siblingsText.trim() === '' ? [cpu] : parseIdList(siblingsText),
  };
  // The newer files are read strictly (a malformed one is a topology error) and only set when present, so a CPU of
  // an older kernel has exactly the fields it had before.
  const dieId = readParsed(fs, `${base}/die_id`, parseSysfsInt);
  const coreCpus = readParsed(fs, `${base}/core_cpus_list`, parseSysfsIdList);
  if (dieId !== undefined) out.dieId = dieId;
  if (coreCpus !== undefined && coreCpus.length > 0) out.coreCpus = coreCpus;
  return out;
}

export function readHostShape(fs: FsRoot): HostShape {
  const ids = readNodeIds(fs);
  const hasMemory = readMask(fs, 'has_memory');
  const hasCpu = readMask(fs, 'has_cpu');
  const online = onlineCpus(fs);
  const nodes: NodeShape[] = [];
  const cpus: CpuTopology[] = [];
  for (const id of ids) {
    let cpuList: number[];
    let distances: number[];
    try {
      cpuList = parseIdList(fs.readText(`${NODE_DIR}/node${id}/cpulist`));
      distances = fs.readText(`${NODE_DIR}/node${id}/distance`).trim().split(/\s+/).filter(Boolean).map(Number);
    } catch (err) {
      throw topologyError(`cannot read node ${id}: ${(err as Error).message}`, err);
    }
    if (online) cpuList = cpuList.filter((c) => online.has(c));
    if (distances.length !== ids.length || distances.some((d) => !Number.isInteger(d) || d <= 0)) {
      throw topologyError(`node ${id} distance row ${JSON.stringify(distances)} does not match ${ids.length} online nodes`);
    }
    nodes.push({
      id,
      cpus: cpuList,
      hasCpu: hasCpu ? hasCpu.has(id) && cpuList.length > 0 : cpuList.length > 0,
      // Filled in from meminfo when the mask is absent (older kernels).
      hasMemory: hasMemory ? hasMemory.has(id) : true,
      distances,
    });
    for (const cpu of cpuList) cpus.push(readCpuTopology(fs, cpu, id));
  }
  const procMeminfo = parseMeminfo(fs.readTextOr('/proc/meminfo', ''));
  cpus.sort((a, b) => a.id - b.id);
  const shape: HostShape = { nodes, cpus, hugepageSizeKiB: procMeminfo.get('Hugepagesize') ?? 0 };
  addTodaysHardware(fs, shape);
  return shape;
}

/**
 * The facts numad never read (node states, memory tiers, HMAT, L3 groups, isolated CPUs, tiering switches), added to
 * a shape read as above without changing any field numad's rules use. Each is set only where the kernel exports it.
 */
function addTodaysHardware(fs: FsRoot, shape: HostShape): void {
  const states = readNodeStates(fs);
  const normal = states.hasNormalMemory ? new Set(states.hasNormalMemory) : undefined;
  const tiers = readMemoryTiers(fs);
  const tierOf = tierOfNode(tiers);
  for (const node of shape.nodes) {
    if (normal) node.hasNormalMemory = normal.has(node.id);
    const tier = tierOf.get(node.id);
    if (tier !== undefined) node.memoryTier = tier;
    const hmat = readNodeHmat(fs, node.id);
    if (hmat) node.hmat = hmat;
  }
  const l3 = readL3ByCpu(fs, shape.cpus.map((c) => c.id));
  for (const cpu of shape.cpus) {
    const group = l3.get(cpu.id);
    if (group) {
      cpu.l3Id = group.id;
      cpu.l3Cpus = group.cpus;
    }
  }
  if (tiers) shape.memoryTiers = tiers;
  const balancing = readNumaBalancing(fs);
  if (balancing !== undefined) shape.numaBalancing = balancing;
  const demotion = readDemotionEnabled(fs);
  if (demotion !== undefined) shape.demotionEnabled = demotion;
  const isolation = readIsolatedCpus(fs);
  if (isolation.isolated) shape.isolatedCpus = isolation.isolated;
  if (isolation.nohzFull) shape.nohzFullCpus = isolation.nohzFull;
}

const HUGEPAGE_DIR = /^hugepages-(\d+)kB$/;
const poolCount = (text: string): number => Number.parseInt(text, 10) || 0;

/** A pool with its surplus pages (beyond nr_hugepages, from nr_overcommit_hugepages) when there are any. */
function withSurplus(pool: NodeMemory['hugepages'][number], surplus: number): NodeMemory['hugepages'][number] {
  return surplus > 0 ? { ...pool, surplus } : pool;
}

function sortPools(pools: NodeMemory['hugepages']): NodeMemory['hugepages'] {
  return pools.sort((a, b) => a.sizeKiB - b.sizeKiB);
}

function parseNodeMemory(node: number, meminfoText: string, hugepages: NodeMemory['hugepages']): NodeMemory {
  const where = `node ${node} meminfo`;
  const info = parseMeminfo(meminfoText);
  // requireField's error is already the topology error (missingMeminfoField) the daemon reports.
  return {
    memTotalKiB: requireField(info, 'MemTotal', where),
    memFreeKiB: requireField(info, 'MemFree', where),
    inactiveFileKiB: requireField(info, 'Inactive(file)', where),
    filePagesKiB: info.get('FilePages') ?? 0,
    hugepages,
  };
}

export function readNodeMemory(fs: FsRoot, node: number): NodeMemory {
  let text: string;
  try {
    text = fs.readText(`${NODE_DIR}/node${node}/meminfo`);
  } catch (err) {
    throw topologyError(`cannot read node ${node} meminfo: ${(err as Error).message}`, err);
  }
  const dir = `${NODE_DIR}/node${node}/hugepages`;
  const pools: NodeMemory['hugepages'] = [];
  for (const name of fs.listOr(dir)) {
    const m = HUGEPAGE_DIR.exec(name);
    if (!m) continue;
    const read = (f: string): number => poolCount(fs.readTextOr(`${dir}/${name}/${f}`, '0'));
    pools.push(withSurplus({ sizeKiB: Number(m[1]), total: read('nr_hugepages'), free: read('free_hugepages') }, read('surplus_hugepages')));
  }
  return parseNodeMemory(node, text, sortPools(pools));
}

/** Same as readNodeMemory without blocking the event loop: the daemon refreshes in the background. */
export async function readNodeMemoryAsync(fs: FsRoot, node: number): Promise<NodeMemory> {
  let text: string;
  try {
    text = await fs.readTextAsync(`${NODE_DIR}/node${node}/meminfo`);
  } catch (err) {
    throw topologyError(`cannot read node ${node} meminfo: ${(err as Error).message}`, err);
  }
  const dir = `${NODE_DIR}/node${node}/hugepages`;
  const pools = await Promise.all(
    (await fs.listOrAsync(dir))
      .map((name) => [name, HUGEPAGE_DIR.exec(name)] as const)
      .filter((e): e is readonly [string, RegExpExecArray] => e[1] !== null)
      .map(async ([name, m]) => {
        const [total, free, surplus] = await Promise.all(
          ['nr_hugepages', 'free_hugepages', 'surplus_hugepages'].map(async (f) => poolCount(await fs.readTextOrAsync(`${dir}/${name}/${f}`, '0'))),
        );
        return withSurplus({ sizeKiB: Number(m[1]), total: total as number, free: free as number }, surplus as number);
      }),
  );
  return parseNodeMemory(node, text, sortPools(pools));
}

export interface ProcMeminfo {
  memTotalKiB: number;
  memFreeKiB: number;
  memAvailableKiB: number;
  hugepageSizeKiB: number;
}

export function readProcMeminfo(fs: FsRoot): ProcMeminfo {
  return parseProcMeminfo(fs.readTextOr('/proc/meminfo', ''));
}

export async function readProcMeminfoAsync(fs: FsRoot): Promise<ProcMeminfo> {
  return parseProcMeminfo(await fs.readTextOrAsync('/proc/meminfo', ''));
}

function parseProcMeminfo(text: string): ProcMeminfo {
  const info = parseMeminfo(text);
  return {
    memTotalKiB: info.get('MemTotal') ?? 0,
    memFreeKiB: info.get('MemFree') ?? 0,
    memAvailableKiB: info.get('MemAvailable') ?? info.get('MemFree') ?? 0,
    hugepageSizeKiB: info.get('Hugepagesize') ?? 0,
  };
}

const GLOBAL_HUGEPAGE_DIR = '/sys/kernel/mm/hugepages';

export interface HugepageReserved {
  sizeKiB: number;
  /** resv_hugepages: pages promised to mappings and not yet faulted in; the kernel keeps this count host-wide only */
  reserved: number;
}

/**
 * The host-wide reserved count of each hugepage size, or undefined when the kernel has no hugepages directory. A
 * node's free_hugepages still counts reserved pages, so what a new guest can take is less than it says, by up to
 * this much (on which node the reserved pages lie is not exported).
 */
export function readHugepageReserved(fs: FsRoot): HugepageReserved[] | undefined {
  let names: string[];
  try {
    names = fs.list(GLOBAL_HUGEPAGE_DIR);
  } catch {
    return undefined;
  }
  const out: HugepageReserved[] = [];
  for (const name of names) {
    const m = HUGEPAGE_DIR.exec(name);
    if (!m) continue;
    const reserved = readParsed(fs, `${GLOBAL_HUGEPAGE_DIR}/${name}/resv_hugepages`, parseSysfsUint);
    if (reserved !== undefined) out.push({ sizeKiB: Number(m[1]), reserved });
  }
  return out.sort((a, b) => a.sizeKiB - b.sizeKiB);
}

/** Same as readHugepageReserved, read with the node memory in the background. */
export async function readHugepageReservedAsync(fs: FsRoot): Promise<HugepageReserved[] | undefined> {
  let names: string[];
  try {
    names = await readdirStrict(fs, GLOBAL_HUGEPAGE_DIR);
  } catch {
    return undefined;
  }
  const sizes = names.map((n) => HUGEPAGE_DIR.exec(n)).filter((m): m is RegExpExecArray => m !== null);
  const read = await Promise.all(
    sizes.map(async (m) => {
      const file = `${GLOBAL_HUGEPAGE_DIR}/${m[0]}/resv_hugepages`;
      let text: string;
      try {
        text = await fs.readTextAsync(file);
      } catch {
        return undefined;
      }
      return { sizeKiB: Number(m[1]), reserved: parseSysfsUint(text, file) };
    }),
  );
  return read.filter((r): r is HugepageReserved => r !== undefined).sort((a, b) => a.sizeKiB - b.sizeKiB);
}

/** FsRoot.listOrAsync hides a missing directory as []; here "absent" and "empty" differ. */
function readdirStrict(fs: FsRoot, absPath: string): Promise<string[]> {
  return readdir(fs.resolve(absPath));
}
