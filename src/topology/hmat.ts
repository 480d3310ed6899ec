// HMAT, as the kernel exports it per memory target node (Documentation/admin-guide/mm/numaperf.rst):
// nodeY/accessC/initiators/ holds a nodeX entry (a symlink to ../../nodeX) for each initiator of access class C and
// the rated {read,write}_{bandwidth,latency} (MiB/s, ns) from those initiators; access0 is the best initiators of
// any kind, access1 the best CPU initiators (Linux 5.10+). nodeY/memory_side_cache/indexN/ describes a memory-side
// cache in front of the node's memory. Hosts without HMAT have none of these: undefined, never an error.
import type { FsRoot } from './fsroot.js';
import { parseSysfsUint, readParsed } from './sysfs-values.js';

const NODE_DIR = '/sys/devices/system/node';

export interface HmatAccess {
  /** initiator nodes (nearest to this memory), ascending */
  initiators: number[];
  readBandwidthMiBps?: number;
  writeBandwidthMiBps?: number;
  readLatencyNs?: number;
  writeLatencyNs?: number;
}

export interface MemorySideCache {
  index: number;
  sizeBytes: number;
  lineSize: number;
  /** 0 direct-mapped, else indexed (multi-way) */
  indexing: number;
  /** 0 write-back, else write-through */
  writePolicy: number;
}

export interface NodeHmat {
  access0?: HmatAccess;
  access1?: HmatAccess;
  memorySideCaches?: MemorySideCache[];
}

const INITIATOR = /^node(\d+)$/;
const CACHE_INDEX = /^index(\d+)$/;

/** The initiator node ids among an initiators/ directory's entries (the attribute files are skipped). */
export function parseInitiatorEntries(names: readonly string[]): number[] {
  return names
    .map((n) => INITIATOR.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

export function readHmatAccess(fs: FsRoot, node: number, accessClass: number): HmatAccess | undefined {
  const dir = `${NODE_DIR}/node${node}/access${accessClass}/initiators`;
  let names: string[];
  try {
    names = fs.list(dir);
  } catch {
    return undefined;
  }
  const out: HmatAccess = { initiators: parseInitiatorEntries(names) };
  const num = (file: string): number | undefined => readParsed(fs, `${dir}/${file}`, parseSysfsUint);
  const readBandwidthMiBps = num('read_bandwidth');
  const writeBandwidthMiBps = num('write_bandwidth');
  const readLatencyNs = num('read_latency');
  const writeLatencyNs = num('write_latency');
  // Keys only for what the kernel exports: an absent figure stays absent in the snapshot's JSON.
  if (readBandwidthMiBps !== undefined) out.readBandwidthMiBps = readBandwidthMiBps;
  if (writeBandwidthMiBps !== undefined) out.writeBandwidthMiBps = writeBandwidthMiBps;
  if (readLatencyNs !== undefined) out.readLatencyNs = readLatencyNs;
  if (writeLatencyNs !== undefined) out.writeLatencyNs = writeLatencyNs;
  return out;
}

export function readMemorySideCaches(fs: FsRoot, node: number): MemorySideCache[] | undefined {
  const dir = `${NODE_DIR}/node${node}/memory_side_cache`;
  let names: string[];
  try {
    names = fs.list(dir);
  } catch {
    return undefined;
  }
  const caches: MemorySideCache[] = [];
  for (const name of names) {
    const m = CACHE_INDEX.exec(name);
    if (!m) continue;
    const d = `${dir}/${name}`;
    const num = (file: string): number => readParsed(fs, `${d}/${file}`, parseSysfsUint) ?? 0;
    caches.push({ index: Number(m[1]), sizeBytes: num('size'), lineSize: num('line_size'), indexing: num('indexing'), writePolicy: num('write_policy') });
  }
  return caches.sort((a, b) => a.index - b.index);
}

/** A node's HMAT figures, or undefined when the kernel exports none for it. */
export function readNodeHmat(fs: FsRoot, node: number): NodeHmat | undefined {
  const out: NodeHmat = {};
  const access0 = readHmatAccess(fs, node, 0);
  const access1 = readHmatAccess(fs, node, 1);
  const caches = readMemorySideCaches(fs, node);
  if (access0) out.access0 = access0;
  if (access1) out.access1 = access1;
  if (caches && caches.length > 0) out.memorySideCaches = caches;
  return Object.keys(out).length > 0 ? out : undefined;
}
