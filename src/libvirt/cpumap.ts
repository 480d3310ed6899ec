// libvirt CPU maps: CPU n is bit n%8 of byte n/8, VIR_CPU_MAPLEN(ncpus) = (ncpus+7)/8 bytes (libvirt.md §2.1).
import { cpuOutsideHost } from '../errors.js';

export const cpuMapLength = (hostCpus: number): number => Math.ceil(hostCpus / 8);

export function encodeCpuMap(cpus: readonly number[], hostCpus: number): Buffer {
  const map = Buffer.alloc(cpuMapLength(hostCpus));
  for (const c of cpus) {
    if (c < 0 || c >= hostCpus) throw cpuOutsideHost(c, hostCpus);
    map[c >> 3] = (map[c >> 3] as number) | (1 << (c & 7));
  }
  return map;
}

export function decodeCpuMap(map: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < map.length; i++) {
    const byte = map[i] as number;
    for (let b = 0; b < 8; b++) if (byte & (1 << b)) out.push(i * 8 + b);
  }
  return out;
}
