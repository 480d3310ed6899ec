// The kernel's node state masks (Documentation/ABI/stable/sysfs-devices-node): which nodes have CPUs, memory, and
// memory the kernel itself can use (has_normal_memory: not only ZONE_MOVABLE). CXL expanders and GPU memory are
// usually onlined movable-only, so they are in has_memory and not in has_normal_memory. Absent masks (very old
// kernels, or a fixture without them) read as undefined, never as "no node".
import type { FsRoot } from './fsroot.js';
import { parseSysfsIdList, readParsed } from './sysfs-values.js';

const NODE_DIR = '/sys/devices/system/node';

export interface NodeStates {
  hasCpu?: number[];
  hasMemory?: number[];
  hasNormalMemory?: number[];
}

export function readNodeStates(fs: FsRoot): NodeStates {
  const out: NodeStates = {};
  const hasCpu = readParsed(fs, `${NODE_DIR}/has_cpu`, parseSysfsIdList);
  const hasMemory = readParsed(fs, `${NODE_DIR}/has_memory`, parseSysfsIdList);
  const hasNormalMemory = readParsed(fs, `${NODE_DIR}/has_normal_memory`, parseSysfsIdList);
  if (hasCpu) out.hasCpu = hasCpu;
  if (hasMemory) out.hasMemory = hasMemory;
  if (hasNormalMemory) out.hasNormalMemory = hasNormalMemory;
  return out;
}
