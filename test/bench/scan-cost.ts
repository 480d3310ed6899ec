// Cost of one rebalancer scan cycle on a fixture host with 2,000 processes (8-node DL980 tree, 40 of the processes
// over numad's 300 MiB threshold, 20 of them busy candidates whose numa_maps are read), with the C pass over /proc
// (statm files kept open) and with the TypeScript fallback.
// Run: npx tsx test/bench/scan-cost.ts   (results in docs/benchmarks.md)
import { performance } from 'node:perf_hooks';
import { ProcessScanner } from '../../src/observe/process-scanner.js';
import { loadProcScanAddon, NativeProcScan, TypeScriptProcScan, type ProcScan } from '../../src/observe/proc-scan.js';
import { isCandidate } from '../../src/balance/plan.js';
import { FsRoot } from '../../src/topology/fsroot.js';
import { copyFixture, tempDir } from '../helpers/fixtures.js';
import { writeFakeProc } from '../helpers/fake-procs.js';

const PROCESSES = 2000;
const CYCLES = 30;
const t = tempDir('numadvisor-scan-bench-');
try {
  const root = copyFixture('8node-dl980', t.dir);
  const all = Array.from({ length: 80 }, (_, i) => i);
  const procs = Array.from({ length: PROCESSES }, (_, i) => ({
    pid: 1000 + i,
    comm: i % 50 === 0 ? `qemu-system-x86 vm${i}` : `worker ${i}`,
    rssMiB: i % 50 === 0 ? 2048 : 20 + (i % 200),
    cpuTicks: 0,
    cpusAllowed: all,
    memByNode: i % 50 === 0 ? { [i % 8]: 1024, [(i + 3) % 8]: 1024 } : { [i % 8]: 20 + (i % 200) },
  }));
  for (const p of procs) writeFakeProc(root, p);
  const addon = loadProcScanAddon();
  if (addon instanceof Error) throw addon;
  const fs = new FsRoot(root);
  console.log(`\n${PROCESSES} processes, 40 over 300 MiB, 20 of them busy candidates; ${CYCLES - 1} cycles\n`);
  console.log('| pass over /proc | step | median ms per cycle | max ms |');
  console.log('|---|---|---|---|');
  for (const scan of [new NativeProcScan(fs, addon), new TypeScriptProcScan(fs)] as ProcScan[]) measure(scan);

function measure(scan: ProcScan): void {
  const scanner = new ProcessScanner(fs, 4, 2048, scan);
  const settings = { scanAll: true, includePids: [], excludePids: [] };
  const scanMs: number[] = [];
  const measureMs: number[] = [];
  for (let c = 0; c < CYCLES; c++) {
    // Candidates burn CPU between cycles: a quarter of them are busy.
    for (const p of procs) if (p.rssMiB > 300 && p.pid % 4 === 0) writeFakeProc(root, { ...p, cpuTicks: (c + 1) * 300 });
    const t0 = performance.now();
    const tracked = scanner.scan(c * 5000, settings);
    const t1 = performance.now();
    for (const p of tracked) if (isCandidate(p)) scanner.measureMemory(p.pid);
    const t2 = performance.now();
    if (c > 0) {
      scanMs.push(t1 - t0);
      measureMs.push(t2 - t1);
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  console.log(`| ${scan.kind} | statm of every process, stat + status of the tracked | ${median(scanMs).toFixed(1)} | ${Math.max(...scanMs).toFixed(1)} |`);
  console.log(`| ${scan.kind} | numa_maps / cgroup of the candidates | ${median(measureMs).toFixed(1)} | ${Math.max(...measureMs).toFixed(1)} |`);
  scanner.close();
}
} finally {
  t.cleanup();
}
