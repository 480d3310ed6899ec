// Parsers for /sys/devices/system/node/nodeN/meminfo ("Node 0 MemFree:   123 kB") and /proc/meminfo
// ("MemFree:   123 kB"). Values stay in KiB here; conversion to MiB happens where capacity is derived.
import { missingMeminfoField } from '../errors.js';

export type MeminfoKiB = Map<string, number>;

export function parseMeminfo(text: string): MeminfoKiB {
  const out: MeminfoKiB = new Map();
  for (const line of text.split('\n')) {
    const m = /^(?:Node\s+\d+\s+)?([A-Za-z0-9_()]+):\s+(\d+)(?:\s+kB)?\s*$/.exec(line);
    if (m) out.set(m[1] as string, Number(m[2]));
  }
  return out;
}

export function requireField(info: MeminfoKiB, field: string, where: string): number {
  const v = info.get(field);
  if (v === undefined) throw missingMeminfoField(where, field);
  return v;
}
