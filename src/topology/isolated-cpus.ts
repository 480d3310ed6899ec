// CPUs kept away from general scheduling: /sys/devices/system/cpu/isolated (isolcpus=, domain isolation) and
// /sys/devices/system/cpu/nohz_full (nohz_full=, tickless). Real-time guests are pinned there by an administrator;
// placement must not put other vCPUs on them. An empty file means none; nohz_full prints "(null)" on kernels built
// with NO_HZ_FULL but booted without nohz_full= (the mask was never allocated), also none. A missing file (older
// kernels; nohz_full before 5.x without NO_HZ_FULL) is undefined.
import type { FsRoot } from './fsroot.js';
import { parseSysfsIdList, readParsed } from './sysfs-values.js';

const CPU_DIR = '/sys/devices/system/cpu';

export interface IsolatedCpus {
  isolated?: number[];
  nohzFull?: number[];
}

export function parseCpuMaskList(text: string, where: string): number[] {
  return text.trim() === '(null)' ? [] : parseSysfsIdList(text, where);
}

export function readIsolatedCpus(fs: FsRoot): IsolatedCpus {
  const out: IsolatedCpus = {};
  const isolated = readParsed(fs, `${CPU_DIR}/isolated`, parseCpuMaskList);
  const nohzFull = readParsed(fs, `${CPU_DIR}/nohz_full`, parseCpuMaskList);
  if (isolated) out.isolated = isolated;
  if (nohzFull) out.nohzFull = nohzFull;
  return out;
}
