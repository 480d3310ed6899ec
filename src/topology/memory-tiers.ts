// Memory tiering (Linux 6.1+): /sys/devices/virtual/memory_tiering/memory_tierN/nodelist, N derived from the
// memory's abstract distance (smaller = faster; DRAM is tier 4, memory without HMAT figures such as CXL or dax kmem
// tier 22, HMAT-derived tiers in between); whether NUMA balancing promotes from slow tiers
// (/proc/sys/kernel/numa_balancing: 0 off, bit 0 classic balancing, bit 1 memory tiering) and whether reclaim demotes
// to them (/sys/kernel/mm/numa/demotion_enabled). All absent on older kernels: undefined then.
import type { FsRoot } from './fsroot.js';
import { parseSysfsBool, parseSysfsIdList, parseSysfsInt, readParsed } from './sysfs-values.js';

export const MEMORY_TIERING_DIR = '/sys/devices/virtual/memory_tiering';
export const NUMA_BALANCING_FILE = '/proc/sys/kernel/numa_balancing';
export const DEMOTION_ENABLED_FILE = '/sys/kernel/mm/numa/demotion_enabled';

export interface MemoryTier {
  tier: number;
  nodes: number[];
}

const TIER_DIR = /^memory_tier(\d+)$/;

/** The tier number of a memory_tierN directory name, or undefined for anything else in the directory. */
export function parseMemoryTierName(name: string): number | undefined {
  const m = TIER_DIR.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Every tier with its nodes, fastest first; undefined when the kernel has no memory_tiering directory. A tier whose
 * nodelist cannot be read is left out (it was being torn down as its last node went offline).
 */
export function readMemoryTiers(fs: FsRoot): MemoryTier[] | undefined {
  let names: string[];
  try {
    names = fs.list(MEMORY_TIERING_DIR);
  } catch {
    return undefined;
  }
  const tiers: MemoryTier[] = [];
  for (const name of names) {
    const tier = parseMemoryTierName(name);
    if (tier === undefined) continue;
    const nodes = readParsed(fs, `${MEMORY_TIERING_DIR}/${name}/nodelist`, parseSysfsIdList);
    if (nodes !== undefined) tiers.push({ tier, nodes });
  }
  return tiers.sort((a, b) => a.tier - b.tier);
}

/** Each node's tier, from readMemoryTiers' list (a node is in at most one tier). */
export function tierOfNode(tiers: readonly MemoryTier[] | undefined): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of tiers ?? []) for (const n of t.nodes) if (!out.has(n)) out.set(n, t.tier);
  return out;
}

export function readNumaBalancing(fs: FsRoot): number | undefined {
  return readParsed(fs, NUMA_BALANCING_FILE, parseSysfsInt);
}

export function readDemotionEnabled(fs: FsRoot): boolean | undefined {
  return readParsed(fs, DEMOTION_ENABLED_FILE, parseSysfsBool);
}
