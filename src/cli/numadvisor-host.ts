// `numadvisor snapshot` and `numadvisor processes`: what this host looks like, read directly (no daemon).
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { intOption } from '../config/option-values.js';
import { defaultFsRoot, FsRoot } from '../topology/fsroot.js';
import { readProcMeminfo } from '../topology/sysfs.js';
import { HostObserver } from '../observe/host-observer.js';
import { basePageKiB, listPids, readProcess } from '../observe/processes.js';
import { PROCESS_MIN_RSS_MIB } from '../policy/numad.js';
import type { Io } from './io.js';
import { PROCESSES_OPTIONS, SNAPSHOT_OPTIONS, SNAPSHOT_SAMPLE_MS } from './command-options.js';
import { processesText } from './status-format.js';

export async function cmdSnapshot(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args, strict: true, options: SNAPSHOT_OPTIONS });
  const observer = new HostObserver(new FsRoot(values.fsroot ?? defaultFsRoot()));
  const sampleMs = intOption('sample-ms', values['sample-ms'], SNAPSHOT_SAMPLE_MS, 0, 60_000);
  if (sampleMs > 0) {
    await sleep(sampleMs);
    observer.sampleCpu();
    observer.refreshMemory();
  }
  io.stdout(`${JSON.stringify(observer.snapshot(), null, 2)}\n`);
  return 0;
}

export function cmdProcesses(args: string[], io: Io): number {
  const { values } = parseArgs({ args, strict: true, options: PROCESSES_OPTIONS });
  const fs = new FsRoot(values.fsroot ?? defaultFsRoot());
  const minRss = intOption('min-rss', values['min-rss'], PROCESS_MIN_RSS_MIB, 0, 1 << 30);
  const pids = (values.pid ?? []).map((p) => intOption('pid', p, 0, 1, 1 << 30));
  const opts = { basePageKiB: basePageKiB(), defaultHugeKiB: readProcMeminfo(fs).hugepageSizeKiB || 2048 };
  // numa_maps only for the processes that matter: it walks page tables under the process's mm lock.
  const candidates = pids.length > 0 ? pids : listPids(fs);
  const out = [];
  for (const pid of candidates) {
    const light = readProcess(fs, pid, { ...opts, withNumaMaps: false });
    if (!light || (pids.length === 0 && light.rssMiB < minRss)) continue;
    const full = readProcess(fs, pid, { ...opts, withNumaMaps: true });
    if (full) out.push(full);
  }
  if (values.json) {
    io.stdout(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }
  const nodeIds = new Set<number>();
  for (const p of out) for (const n of p.memsAllowed) nodeIds.add(n);
  io.stdout(processesText(out, [...nodeIds]));
  return 0;
}

