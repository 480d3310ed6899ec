// The rebalancer's pure decisions (src/balance/plan.ts) and the scanner on fixture /proc trees.
import { describe, expect, it } from 'vitest';
import { planMoves, type MoveRecord, type PlanNode, type PlanProcess } from '../../src/balance/plan.js';
import { ProcessScanner } from '../../src/observe/process-scanner.js';
import { loadProcScanAddon, NativeProcScan, TypeScriptProcScan, type ProcScan } from '../../src/observe/proc-scan.js';
import { parseNumaStat, parseProcCgroup, isLibvirtDomainCgroup } from '../../src/observe/cgroup-numa.js';
import { FsRoot } from '../../src/topology/fsroot.js';
import { movedLine } from '../../src/apply/process-mover.js';
import { policyNamed } from '../../src/policy/registry.js';
import type { Policy } from '../../src/policy/types.js';
import { formatIdList } from '../../src/topology/idlist.js';
import { D4 } from '../helpers/slit.js';
import { copyFixture, tempDir } from '../helpers/fixtures.js';
import { writeFakeProc } from '../helpers/fake-procs.js';

const nodes: PlanNode[] = [0, 1, 2, 3].map((id) => ({
  id,
  cpus: Array.from({ length: 10 }, (_, i) => id * 10 + i),
  hasMemory: true,
  hasCpu: true,
  cpuTotalHundredths: 1000,
  memTotalMiB: 32_000,
  cpuFreeHundredths: 800,
  memFreeMiB: 20_000,
  distances: D4[id] as number[],
}));
function procScan(kind: 'native' | 'typescript', fs: FsRoot): ProcScan {
  if (kind === 'typescript') return new TypeScriptProcScan(fs);
  const addon = loadProcScanAddon();
  if (addon instanceof Error) throw addon;
  return new NativeProcScan(fs, addon, 64);
}

const ALL = Array.from({ length: 40 }, (_, i) => i);
const settings = { utilizationTargetPercent: 85, memLocalityTargetPercent: 90, policy: policyNamed('numadvisor') };
const proc = (o: Partial<PlanProcess> & { pid: number }): PlanProcess => ({
  comm: `p${o.pid}`,
  threads: 8,
  rssMiB: 4096,
  cpuUsedHundredths: 200,
  cpusAllowed: ALL,
  memoryMiBByNode: { '0': 4096 },
  isLibvirtDomain: false,
  excluded: false,
  ...o,
});
const none = new Map<number, MoveRecord>();

describe('swap', () => {
  // Two nodes of 16,000 MiB with 4,000 MiB free; two processes of 12,000 MiB split 6,000/6,000 and 5,000/7,000.
  // Neither fits on a node alone (6,000 MiB more than the node has free), but exchanging their pages localizes both
  // and leaves each node at least the 15 % headroom of -u 85 (2,400 MiB).
  const two: PlanNode[] = [0, 1].map((id) => ({
    id,
    cpus: Array.from({ length: 10 }, (_, i) => id * 10 + i),
    hasMemory: true,
    hasCpu: true,
    cpuTotalHundredths: 1000,
    memTotalMiB: 16_000,
    cpuFreeHundredths: 500,
    memFreeMiB: 4000,
    distances: id === 0 ? [10, 21] : [21, 10],
  }));
  const ALL2 = Array.from({ length: 20 }, (_, i) => i);
  const a = proc({ pid: 21, rssMiB: 12_000, cpuUsedHundredths: 300, cpusAllowed: ALL2, memoryMiBByNode: { '0': 6000, '1': 6000 } });
  const b = proc({ pid: 22, rssMiB: 12_000, cpuUsedHundredths: 300, cpusAllowed: ALL2, memoryMiBByNode: { '0': 5000, '1': 7000 } });

  it('exchanges two spread processes when no single move helps, cheapest pairing first', () => {
    const plan = planMoves(two, [a, b], settings, none, 0);
    expect(plan.skipped.map((s) => s.reason)).toEqual(['its best placement is every node: no single move helps', 'its best placement is every node: no single move helps']);
    expect(plan.moves).toHaveLength(1);
    // b has more on node 1, so b→1 and a→0 migrates 6,000 + 5,000 MiB rather than 6,000 + 7,000.
    expect(plan.moves[0]).toMatchObject({
      kind: 'swap',
      pid: 21,
      to: [0],
      toNodeset: '0',
      cpus: two[0]?.cpus,
      migrateMiB: 6000,
      localityBeforePercent: 50,
      localityAfterPercent: 100,
      applicable: true,
      partner: { pid: 22, to: [1], toNodeset: '1', cpus: two[1]?.cpus, migrateMiB: 5000, localityBeforePercent: 58 },
    });
  });

  it('no swap when the nodes cannot keep the -u headroom afterwards, or when a single move already fits', () => {
    const tight = two.map((n) => ({ ...n, memFreeMiB: 2000 }));
    expect(planMoves(tight, [a, b], settings, none, 0).moves).toEqual([]);
    const roomy = two.map((n) => ({ ...n, memFreeMiB: 9000 }));
    expect(planMoves(roomy, [a, b], settings, none, 0).moves.every((m) => m.kind === 'cpu')).toBe(true);
  });

  it('no swap when a target node\'s CPUs cannot carry the process, and libvirt domains are advised only', () => {
    const busy = two.map((n) => ({ ...n, cpuFreeHundredths: 0 }));
    expect(planMoves(busy, [a, b], settings, none, 0).moves).toEqual([]);
    expect(planMoves(two, [a, { ...b, isLibvirtDomain: true }], settings, none, 0).moves[0]).toMatchObject({ kind: 'swap', applicable: false });
  });
});

describe('planMoves', () => {
  it('an unbound process with its memory on node 0 is bound to node 0 at no migration cost', () => {
    const plan = planMoves(nodes, [proc({ pid: 1 })], settings, none, 0);
    expect(plan.moves).toEqual([expect.objectContaining({ pid: 1, kind: 'cpu', to: [0], toNodeset: '0', from: [0, 1, 2, 3], migrateMiB: 0, localityBeforePercent: 100, applicable: true })]);
    expect(plan.moves[0]?.cpus).toEqual(nodes[0]?.cpus);
  });

  it('memory split over nodes: migrate what is outside the target; the cheapest move comes first', () => {
    const split = proc({ pid: 2, memoryMiBByNode: { '0': 1024, '3': 3072 } });
    const worse = proc({ pid: 3, rssMiB: 8192, memoryMiBByNode: { '1': 4096, '2': 4096 } });
    const plan = planMoves(nodes, [worse, split], settings, none, 0);
    const m2 = plan.moves.find((m) => m.pid === 2);
    expect(m2).toMatchObject({ to: [3], migrateMiB: 1024, localityBeforePercent: 75 });
    expect(plan.moves.map((m) => m.pid)).toEqual([2, 3]);
  });

  it('-K 1 leaves a process that interleaves on purpose spread; -K 0 merges it like numad', () => {
    const spread = proc({ pid: 5, interleavedMiB: 4096, memoryMiBByNode: { '0': 1024, '1': 1024, '2': 1024, '3': 1024 } });
    expect(planMoves(nodes, [spread], { ...settings, keepInterleaved: true }, none, 0)).toMatchObject({
      moves: [],
      skipped: [{ pid: 5, reason: '4096 MiB interleaved on purpose; kept spread (-K 1)' }],
    });
    expect(planMoves(nodes, [spread], settings, none, 0).moves[0]).toMatchObject({ pid: 5, kind: 'cpu', migrateMiB: 3072 });
  });

  it('a process larger than one node gets the SLIT-nearest pair', () => {
    const plan = planMoves(nodes, [proc({ pid: 4, rssMiB: 30_000, memoryMiBByNode: { '2': 15_000, '3': 15_000 } })], settings, none, 0);
    expect(plan.moves[0]).toMatchObject({ to: [2, 3], migrateMiB: 0 });
  });

  it('never overrides an administrator\'s affinity, never touches excluded or small processes', () => {
    const plan = planMoves(
      nodes,
      [proc({ pid: 5, cpusAllowed: [0, 1] }), proc({ pid: 6, excluded: true }), proc({ pid: 7, rssMiB: 200 }), proc({ pid: 8, cpuUsedHundredths: 40 })],
      settings,
      none,
      0,
    );
    expect(plan.moves).toEqual([]);
    expect(plan.skipped).toEqual([{ pid: 5, comm: 'p5', reason: 'CPU affinity 0-1 was set by someone else; never overridden' }]);
  });

  it('dwell: a process moved 100 s ago waits; after 300 s it is looked at again', () => {
    const rec: MoveRecord = { pid: 1, comm: 'p1', from: [0, 1, 2, 3], to: [1], phase: 'done', atMs: 0, cpus: nodes[1]?.cpus as number[] };
    const p = proc({ pid: 1, cpusAllowed: nodes[1]?.cpus as number[], memoryMiBByNode: { '0': 4096 } });
    expect(planMoves(nodes, [p], settings, new Map([[1, rec]]), 100_000).skipped[0]?.reason).toMatch(/moved 100 s ago/);
    expect(planMoves(nodes, [p], settings, new Map([[1, rec]]), 400_000).moves[0]).toMatchObject({ kind: 'cpu', from: [1], to: [0] });
  });

  it('already localized enough on the nodes we pinned it to: nothing to do', () => {
    const rec: MoveRecord = { pid: 1, comm: 'p1', from: [0, 1, 2, 3], to: [0], phase: 'done', atMs: 0, cpus: nodes[0]?.cpus as number[] };
    const p = proc({ pid: 1, cpusAllowed: nodes[0]?.cpus as number[], memoryMiBByNode: { '0': 3900, '1': 196 } });
    expect(planMoves(nodes, [p], settings, new Map([[1, rec]]), 400_000).skipped[0]?.reason).toBe('already 95 percent localized to nodes 0');
  });

  it('probation: memory follows if the advice still holds, otherwise the affinity is reverted', () => {
    const rec: MoveRecord = { pid: 9, comm: 'p9', from: [0, 1, 2, 3], to: [3], phase: 'cpu', atMs: 0, cpus: nodes[3]?.cpus as number[] };
    const p = proc({ pid: 9, cpusAllowed: nodes[3]?.cpus as number[], memoryMiBByNode: { '0': 1024, '3': 3072 } });
    expect(planMoves(nodes, [p], settings, new Map([[9, rec]]), 5000).moves[0]).toMatchObject({ kind: 'memory', to: [3], migrateMiB: 1024 });
    const gone = proc({ pid: 9, cpusAllowed: nodes[3]?.cpus as number[], memoryMiBByNode: { '0': 4096 } });
    expect(planMoves(nodes, [gone], settings, new Map([[9, rec]]), 5000).moves[0]).toMatchObject({ kind: 'revert', cpus: ALL });
  });

  it('probation holds when the process now loads its new node (the lab case: the advice must not flip to 0-1)', () => {
    const small: PlanNode[] = nodes.map((n) => ({ ...n, cpus: [n.id * 2, n.id * 2 + 1], cpuTotalHundredths: 200, cpuFreeHundredths: n.id === 0 ? 91 : 190, memTotalMiB: 1000, memFreeMiB: n.id < 2 ? 700 : 900 }));
    const rec: MoveRecord = { pid: 11, comm: 'node', from: [0, 1, 2, 3], to: [0], phase: 'cpu', atMs: 0, cpus: [0, 1] };
    const p = proc({ pid: 11, threads: 11, rssMiB: 351, cpuUsedHundredths: 109, cpusAllowed: [0, 1], memoryMiBByNode: { '0': 190, '1': 161 } });
    expect(planMoves(small, [p], settings, new Map([[11, rec]]), 5000).moves[0]).toMatchObject({ kind: 'memory', to: [0], migrateMiB: 161 });
  });

  it('probation passes when the advice widens but still covers where the CPUs went; memory follows the CPUs', () => {
    // 30,000 MiB needs two nodes; its CPUs went to node 3 alone on probation, and the advice is now a pair holding 3.
    const rec: MoveRecord = { pid: 12, comm: 'p12', from: [0, 1, 2, 3], to: [3], phase: 'cpu', atMs: 0, cpus: nodes[3]?.cpus as number[] };
    const p = proc({ pid: 12, rssMiB: 30_000, cpusAllowed: nodes[3]?.cpus as number[], memoryMiBByNode: { '2': 15_000, '3': 15_000 } });
    const move = planMoves(nodes, [p], settings, new Map([[12, rec]]), 5000).moves[0];
    expect(move?.reason).toMatch(/^probation passed: the advice \([0-9,-]+\) still covers 3; migrating 15000 MiB$/);
    expect(move).toMatchObject({ kind: 'memory', to: [3], toNodeset: '3', cpus: nodes[3]?.cpus, migrateMiB: 15_000, localityBeforePercent: 50 });
  });

  it('probation on a 3-node advice survives one marginal node flipping while the centre stays; not a bigger change', () => {
    // The lab case: CPUs went to 0-1,3; the next advice is 0,2-3 (the third node flipped between two equally near).
    const answering = (ids: number[], centre: number): Policy => ({
      ...settings.policy,
      advise: (ns, req) => ({ ...settings.policy.advise(ns, req), nodes: ids, nodeset: formatIdList(ids), centre }),
    });
    const rec: MoveRecord = { pid: 13, comm: 'p13', from: [0, 1, 2, 3], to: [0, 1, 3], phase: 'cpu', atMs: 0, cpus: [0, 1, 3].flatMap((n) => nodes[n]?.cpus ?? []) };
    const p = proc({ pid: 13, cpusAllowed: rec.cpus, memoryMiBByNode: { '0': 2000, '2': 2096 } });
    const flipped = planMoves(nodes, [p], { ...settings, policy: answering([0, 2, 3], 0) }, new Map([[13, rec]]), 5000).moves[0];
    expect(flipped).toMatchObject({ kind: 'memory', to: [0, 1, 3], migrateMiB: 2096 });
    expect(flipped?.reason).toMatch(/keeps its centre and all but one of 0-1,3/);
    // the centre moved off the record's nodes: revert
    expect(planMoves(nodes, [p], { ...settings, policy: answering([0, 2, 3], 2) }, new Map([[13, rec]]), 5000).moves[0]?.kind).toBe('revert');
    // two of three nodes changed: revert
    expect(planMoves(nodes, [p], { ...settings, policy: answering([0, 2], 0) }, new Map([[13, rec]]), 5000).moves[0]?.kind).toBe('revert');
    // a 2-node record gets no such slack
    const rec2: MoveRecord = { ...rec, to: [0, 1], cpus: [0, 1].flatMap((n) => nodes[n]?.cpus ?? []) };
    expect(planMoves(nodes, [proc({ ...p, cpusAllowed: rec2.cpus })], { ...settings, policy: answering([0, 2], 0) }, new Map([[13, rec2]]), 5000).moves[0]?.kind).toBe('revert');
  });

  it('libvirt domains are planned but marked not applicable (advised only)', () => {
    expect(planMoves(nodes, [proc({ pid: 10, isLibvirtDomain: true })], settings, none, 0).moves[0]?.applicable).toBe(false);
  });
});

describe('cgroup per-node memory', () => {
  it('parses v2 and v1 memory.numa_stat, and /proc/<pid>/cgroup', () => {
    expect(parseNumaStat('anon N0=1048576 N1=2097152\nfile N0=1048576 N1=0\nkernel_stack N0=16384\n')).toEqual(new Map([[0, 2048], [1, 2048]]));
    expect(parseNumaStat('total=512 N0=256 N1=256\nfile=0 N0=0 N1=0\n', 4)).toEqual(new Map([[0, 1024], [1, 1024]]));
    expect(parseProcCgroup('12:memory:/machine/qemu-1-vm.libvirt-qemu\n0::/\n')).toEqual({ v1Memory: '/machine/qemu-1-vm.libvirt-qemu', v2: '/' });
    expect(isLibvirtDomainCgroup('0::/machine.slice/machine-qemu\\x2d1\\x2dvm.scope/libvirt\n')).toBe(true);
    expect(isLibvirtDomainCgroup('0::/user.slice/session-1.scope\n')).toBe(false);
  });
  it('numad\'s moved line: hundredths without zero padding', () => {
    expect(movedLine(42, '1', 50)).toBe('PID 42 moved to node(s) 1 in 0.5 seconds');
    expect(movedLine(42, '0-1', 1230)).toBe('PID 42 moved to node(s) 0-1 in 1.23 seconds');
  });
});

describe.each(['native', 'typescript'] as const)('ProcessScanner on a fixture /proc (%s pass over /proc)', (kind) => {
  const scanner = (root: string): ProcessScanner => new ProcessScanner(new FsRoot(root), 4, 2048, procScan(kind, new FsRoot(root)));
  it('tracks processes over 300 MiB, peak CPU of the sample ring, per-node memory from cgroup or numa_maps', async () => {
    const t = tempDir();
    try {
      const root = copyFixture('4node-westmere-ex', t.dir);
      const vm = { pid: 300, comm: 'qemu-system-x86', rssMiB: 2048, cpuTicks: 1000, cpusAllowed: ALL, memByNode: { 1: 2048 }, cgroup: '/machine.slice/machine-qemu\\x2d1\\x2dvm.scope/libvirt', numaStat: 'anon N0=0 N1=2147483648 N2=0 N3=0\nfile N0=0 N1=0 N2=0 N3=0\n' };
      const db = { pid: 400, comm: 'my db (main) x', rssMiB: 1024, cpuTicks: 500, cpusAllowed: ALL, memByNode: { 0: 512, 2: 512 } };
      const small = { pid: 500, comm: 'small', rssMiB: 100, cpuTicks: 9000, cpusAllowed: ALL, memByNode: { 0: 100 } };
      for (const p of [vm, db, small]) writeFakeProc(root, p);
      const s = scanner(root);
      const settings_ = { scanAll: true, includePids: [], excludePids: [400] };
      s.scan(0, settings_);
      writeFakeProc(root, { ...vm, cpuTicks: 1000 + 300 }); // 3 CPUs for one second
      writeFakeProc(root, { ...db, cpuTicks: 500 + 100 });
      const tracked = s.scan(1000, settings_);
      expect(tracked.map((p) => p.pid).sort()).toEqual([300, 400]);
      expect(tracked.find((p) => p.pid === 300)).toMatchObject({ comm: 'qemu-system-x86', cpuUsedHundredths: 300, isLibvirtDomain: true });
      expect(tracked.find((p) => p.pid === 400)).toMatchObject({ comm: 'my db (main) x', cpuUsedHundredths: 0, excluded: true });
      expect(s.measureMemory(300)).toMatchObject({ memorySource: 'cgroup', memoryMiBByNode: { '0': 0, '1': 2048, '2': 0, '3': 0 } });
      expect(s.measureMemory(400)).toMatchObject({ memorySource: 'numa_maps', memoryMiBByNode: { '0': 512, '2': 512 } });
      // the rebalancer's path: the same, read off the event loop
      expect(await s.measureMemoryAsync(300)).toMatchObject({ memorySource: 'cgroup', memoryMiBByNode: { '0': 0, '1': 2048, '2': 0, '3': 0 } });
      expect(await s.measureMemoryAsync(400)).toMatchObject({ memorySource: 'numa_maps', memoryMiBByNode: { '0': 512, '2': 512 } });
      expect(await s.measureMemoryAsync(99999)).toBeUndefined();
      // The peak of the ring survives a quiet sample.
      const quiet = s.scan(2000, settings_);
      expect(quiet.find((p) => p.pid === 300)?.cpuUsedHundredths).toBe(300);
    } finally {
      t.cleanup();
    }
  });

  it('a tracked process\'s allowed CPUs: re-read every scan while it is busy, within 4 scans while it is idle', () => {
    const t = tempDir();
    try {
      const root = copyFixture('4node-westmere-ex', t.dir);
      const idle = { pid: 600, comm: 'idle db', rssMiB: 1024, cpuTicks: 0, cpusAllowed: ALL, memByNode: { 0: 1024 } };
      const busy = { pid: 601, comm: 'busy vm', rssMiB: 1024, cpuTicks: 0, cpusAllowed: ALL, memByNode: { 1: 1024 } };
      for (const p of [idle, busy]) writeFakeProc(root, p);
      const s = scanner(root);
      const settings_ = { scanAll: true, includePids: [], excludePids: [] };
      s.scan(0, settings_);
      writeFakeProc(root, { ...busy, cpuTicks: 100 }); // one CPU over the second
      s.scan(1000, settings_);
      // Both pinned by someone else; the busy one (a candidate) shows it on the next scan.
      writeFakeProc(root, { ...idle, cpusAllowed: [0, 1] });
      writeFakeProc(root, { ...busy, cpusAllowed: [2, 3], cpuTicks: 200 });
      const next = s.scan(2000, settings_);
      expect(next.find((p) => p.pid === 601)?.cpusAllowed).toEqual([2, 3]);
      let seenAt = -1;
      for (let i = 0; i < 4 && seenAt < 0; i++) {
        const idleNow = (i === 0 ? next : s.scan(3000 + i * 1000, settings_)).find((p) => p.pid === 600);
        if (idleNow?.cpusAllowed.join() === '0,1') seenAt = i;
      }
      expect(seenAt).toBeGreaterThanOrEqual(0);
    } finally {
      t.cleanup();
    }
  });

  it('a small process that grows past 300 MiB is tracked within 4 scans; -p includes whatever their size', () => {
    const t = tempDir();
    try {
      const root = copyFixture('4node-westmere-ex', t.dir);
      for (let pid = 1000; pid < 1100; pid++) writeFakeProc(root, { pid, comm: `s${pid}`, rssMiB: 10, cpuTicks: 1, cpusAllowed: ALL, memByNode: { 0: 10 } });
      const s = scanner(root);
      const settings_ = { scanAll: true, includePids: [], excludePids: [] };
      expect(s.scan(0, settings_)).toEqual([]);
      expect(s.lastScanSeen).toBe(100);
      writeFakeProc(root, { pid: 1042, comm: 'grew', rssMiB: 4096, cpuTicks: 1, cpusAllowed: ALL, memByNode: { 0: 4096 } });
      let found = -1;
      for (let i = 1; i <= 4 && found < 0; i++) if (s.scan(i * 1000, settings_).some((p) => p.pid === 1042)) found = i;
      expect(found).toBeGreaterThan(0);
      expect(s.scan(6000, { ...settings_, includePids: [1001] }).map((p) => p.pid).sort()).toEqual([1001, 1042]);
      // -S 0: only the listed pids exist for the scan.
      expect(s.scan(3000, { ...settings_, scanAll: false, includePids: [1001] }).map((p) => p.pid)).toEqual([1001]);
      s.close();
    } finally {
      t.cleanup();
    }
  });
});
