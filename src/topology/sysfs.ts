// Readers for the static shape of the host (nodes, CPUs, SLIT) and the per-node memory counters. Everything goes
// through FsRoot. Node ids are sorted numerically (numad keeps kernfs directory order, which is a hash order).
import { topologyError } from '../errors.js';
import type { FsRoot } from './fsroot.js';
import { parseIdList } from './idlist.js';
import { parseMeminfo, requireField } from './meminfo.js';

const NODE_DIR = '/sys/devices/system/node';
const CPU_DIR = '/sys/devices/system/cpu';

export interface CpuTopology {
  id: number;
  node: number;
  packageId: number;
  coreId: number;
  threadSiblings: number[];
}

export interface NodeShape {
  id: number;
  cpus: number[];
  hasMemory: boolean;
  hasCpu: boolean;
  distances: number[];
}

export interface HostShape {
  nodes: NodeShape[];
  cpus: CpuTopology[];
  hugepageSizeKiB: number;
}

export interface NodeMemory {
  memTotalKiB: number;
  memFreeKiB: number;
  inactiveFileKiB: number;
  filePagesKiB: number;
  hugepages: { sizeKiB: number; total: number; free: number }[];
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
  return {
    id: cpu,
    node,
    packageId: num('physical_package_id', -1),
    // Without topology files each CPU is its own core: no hyper-thread discount is better than a wrong one.
    coreId: num('core_id', cpu),
    threadSiblings: siblingsText.trim() === '' ? [cpu] : parseIdList(siblingsText),
  };
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
  return { nodes, cpus, hugepageSizeKiB: procMeminfo.get('Hugepagesize') ?? 0 };
}

const HUGEPAGE_DIR = /^hugepages-(\d+)kB$/;
const poolCount = (text: string): number => Number.parseInt(text, 10) || 0;

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
    pools.push({ sizeKiB: Number(m[1]), total: read('nr_hugepages'), free: read('free_hugepages') });
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
        const [total, free] = await Promise.all(
          ['nr_hugepages', 'free_hugepages'].map(async (f) => poolCount(await fs.readTextOrAsync(`${dir}/${name}/${f}`, '0'))),
        );
        return { sizeKiB: Number(m[1]), total: total as number, free: free as number };
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
