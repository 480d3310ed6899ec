// numadvisor on real 4- and 8-node Linux kernels (QEMU TCG, emulated NUMA with a SLIT): what a fixture tree cannot
// prove — that we read a real kernel right, that numa_maps shows where memory really is, and how `numad -w` behaves
// under a burst, beside the real numad on the same guest.
import { beforeAll, describe, expect, it } from 'vitest';
import { parseIdList } from '../../src/topology/idlist.js';
import { LAB_4NODE, LAB_4NODE_1GIB, LAB_8NODE_DL980, labAssets, labUnavailable, runInGuest, type Topology } from './harness.js';

interface NumactlNode {
  id: number;
  cpus: number[];
  sizeMB: number;
}

/** `numactl -H`: "node N cpus: …", "node N size: X MB", and the distance matrix. */
export function parseNumactlH(text: string): { nodes: NumactlNode[]; distances: number[][] } {
  const nodes = new Map<number, NumactlNode>();
  const node = (id: number): NumactlNode => {
    if (!nodes.has(id)) nodes.set(id, { id, cpus: [], sizeMB: 0 });
    return nodes.get(id) as NumactlNode;
  };
  const distances: number[][] = [];
  let inMatrix = false;
  for (const line of text.split('\n')) {
    let m = /^node (\d+) cpus:(.*)$/.exec(line);
    if (m) node(Number(m[1])).cpus = (m[2] as string).trim().split(/\s+/).filter(Boolean).map(Number);
    m = /^node (\d+) size: (\d+) MB$/.exec(line);
    if (m) node(Number(m[1])).sizeMB = Number(m[2]);
    if (/^node distances:/.test(line)) inMatrix = true;
    m = /^\s*(\d+):\s+([\d\s]+)$/.exec(line);
    if (inMatrix && m) distances.push((m[2] as string).trim().split(/\s+/).map(Number));
  }
  return { nodes: [...nodes.values()].sort((a, b) => a.id - b.id), distances };
}

interface SnapshotNode {
  id: number;
  cpus: number[];
  memTotalKiB: number;
  distances: number[];
}

const SEP = '=====NUMADVISOR=====';

const skip = labUnavailable();
if (skip) console.warn(`lab skipped: ${skip}`);

describe.skipIf(skip !== undefined)('the lab: real NUMA kernels under QEMU', () => {
  beforeAll(() => {
    labAssets();
  });

  const readersMatchNumactl = async (topology: Topology): Promise<void> => {
    const r = await runInGuest(topology, `numactl -H\necho ${SEP}\nnode dist/cli/numadvisor-entry.js snapshot --sample-ms 0\n`);
    expect(r.code, r.stderr).toBe(0);
    const [numactlText, snapText] = r.stdout.split(`${SEP}\n`) as [string, string];
    const numactl = parseNumactlH(numactlText);
    const snap = JSON.parse(snapText) as { nodes: SnapshotNode[] };
    const n = topology.distances.length;
    expect(numactl.nodes).toHaveLength(n);
    expect(numactl.distances).toEqual(topology.distances);
    expect(snap.nodes.map((x) => x.id)).toEqual(numactl.nodes.map((x) => x.id));
    expect(snap.nodes.map((x) => x.cpus)).toEqual(numactl.nodes.map((x) => x.cpus));
    expect(snap.nodes.map((x) => Math.floor(x.memTotalKiB / 1024))).toEqual(numactl.nodes.map((x) => x.sizeMB));
    expect(snap.nodes.map((x) => x.distances)).toEqual(numactl.distances);
  };

  it('a guest that never finishes is killed at its deadline, and nothing is left behind', async () => {
    const { readdirSync, existsSync } = await import('node:fs');
    const { LAB_DIR } = await import('./harness.js');
    const { spawnSync } = await import('node:child_process');
    const runs = (): string[] => (existsSync(`${LAB_DIR}/runs`) ? readdirSync(`${LAB_DIR}/runs`) : []);
    const before = runs().length;
    await expect(runInGuest(LAB_4NODE, 'sleep 1000', 15_000)).rejects.toThrow(/timed out after 15000 ms/);
    expect(runs().length).toBe(before);
    expect(spawnSync('pgrep', ['-f', `${LAB_DIR}/runs`]).status).toBe(1);
  });

  it('4-node guest: our readers report exactly the nodes, CPUs, memory and distances numactl -H reports', async () => {
    await readersMatchNumactl(LAB_4NODE);
  });

  it('8-node DL980 guest: the same, with the DL980 SLIT', async () => {
    await readersMatchNumactl(LAB_8NODE_DL980);
  });

  it('numad -w: 8 parallel requests against our daemon all answer and spread; the real numad is run beside it', async () => {
    const burst = (cmd: string, tag: string): string =>
      `for i in 1 2 3 4 5 6 7 8; do (timeout 20 ${cmd} -w 1:200 > /tmp/${tag}.$i; echo $? > /tmp/${tag}.rc.$i) & done; wait
for i in 1 2 3 4 5 6 7 8; do echo "${tag} $(cat /tmp/${tag}.rc.$i) $(cat /tmp/${tag}.$i)"; done`;
    const real = '$( [ -x /usr/bin/numad.distrib ] && echo /usr/bin/numad.distrib || echo /usr/bin/numad )';
    const script = [
      'dist/numad -i 15 || exit 10',
      burst('dist/numad', 'ours'),
      'dist/numad -i 0; sleep 2',
      `REAL=${real}`,
      'if [ -x "$REAL" ]; then $REAL -S 0 -H 0 -i 15; sleep 3', burst('$REAL', 'real'), 'fi',
      'true',
    ].join('\n');
    const r = await runInGuest(LAB_4NODE, script);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => l.split(' '));
    const ours = rows.filter((x) => x[0] === 'ours');
    const answers = ours.map((x) => x[2] as string);
    const real_ = rows.filter((x) => x[0] === 'real');
    // Recorded in docs/benchmarks.md; printed before the checks so every run, a failed one too, shows it.
    console.log(`lab burst, 8 × numad -w 1:200 on ${LAB_4NODE.name}: ours ${ours.map((x) => (x[1] === '0' ? x[2] : `failed(rc ${x[1]})`)).join(' ')}; real numad: ${real_.map((x) => (x[1] === '0' ? x[2] : `hung(rc ${x[1]})`)).join(' ')}`);
    expect(ours).toHaveLength(8);
    for (const [, rc, ns] of ours) {
      expect(rc).toBe('0');
      expect(ns).toMatch(/^[0-3](-[0-3])?(,[0-3](-[0-3])?)*$/);
    }
    // Every node an answer names: a range such as 0-3 names the nodes between its ends too (a CI run answered
    // `0-3 1 0 0-3 …` and counting only the ends of 0-3 missed node 2).
    const covered = new Set(answers.flatMap((a) => parseIdList(a)));
    expect(new Set(answers).size).toBeGreaterThan(1);
    expect(covered.size).toBe(4);
  });

  it('a process whose memory is bound to node 0 while it runs on node 3 is found with its MiB per node from numa_maps', async () => {
    const script = [
      `numactl --membind=0 --cpunodebind=3 node -e "const b = Buffer.alloc(200 * 1048576, 1); console.log('ready'); setInterval(() => b[0]++, 1000)" > /tmp/ready &`,
      'pid=$!',
      'for i in $(seq 1 120); do grep -q ready /tmp/ready 2>/dev/null && break; sleep 1; done',
      'echo "$pid"',
      `echo ${SEP}`,
      'node dist/cli/numadvisor-entry.js processes --json --pid "$pid"',
      `echo ${SEP}`,
      'node dist/cli/numadvisor-entry.js processes --json --min-rss 150',
      'kill $pid',
    ].join('\n');
    const r = await runInGuest(LAB_4NODE, script);
    expect(r.code, r.stderr).toBe(0);
    const [pidText, one, scan] = r.stdout.split(`${SEP}\n`) as [string, string, string];
    const pid = Number(pidText.trim());
    const [proc] = JSON.parse(one) as { pid: number; comm: string; cpusAllowed: number[]; memsAllowed: number[]; memoryMiBByNode: Record<string, number> }[];
    expect(proc?.pid).toBe(pid);
    expect(proc?.comm).toBe('node');
    expect(proc?.cpusAllowed).toEqual([3]);
    // --membind sets a memory policy (MPOL_BIND), not a cpuset: Mems_allowed stays every node; numa_maps tells the truth.
    expect(proc?.memsAllowed).toEqual([0, 1, 2, 3]);
    const mem = proc?.memoryMiBByNode ?? {};
    expect(mem['0']).toBeGreaterThanOrEqual(200);
    for (const n of ['1', '2', '3']) expect(mem[n] ?? 0).toBeLessThan(5);
    // The scan (RSS over 150 MiB) finds it without being told the pid.
    const found = (JSON.parse(scan) as { pid: number; memoryMiBByNode: Record<string, number> }[]).find((p) => p.pid === pid);
    expect(found?.memoryMiBByNode['0']).toBeGreaterThanOrEqual(200);
  });

  it('rebalancer: a misplaced busy process is advised, moved and verified; pinned and excluded ones are never touched', async () => {
    // A busy process over numad's thresholds (> 300 MiB, > 0.5 CPU).
    const hog = (mib: number): string => `node -e "const b = Buffer.alloc(${mib} * 1048576, 1); console.log('ready'); for (;;) b[0]++"`;
    const script = [
      // numad's defaults move processes; -i 1:3 keeps cycles short. Started while the guest is still idle.
      'dist/numad -i 1:3 || exit 10',
      `numactl --interleave=1,2 ${hog(310)} > /tmp/r.out &`,
      'R=$!',
      // Excluded at run time, before it is big enough to be considered.
      'dist/numad -x $R || exit 11',
      `numactl --interleave=1,2 taskset -c 3 ${hog(310)} > /tmp/q.out &`,
      'Q=$!',
      // Its memory on nodes 0 and 3, which are 17 apart: any good target means migrating pages.
      `numactl --interleave=0,3 ${hog(310)} > /tmp/p.out &`,
      'P=$!',
      'for i in $(seq 1 240); do [ "$(cat /tmp/p.out /tmp/q.out /tmp/r.out 2>/dev/null | grep -c ready)" = 3 ] && break; sleep 1; done',
      // Up to three attempts: a CPU step whose probation fails (the advice's third node flips between two equally
      // near ones as TCG's idle CPU wobbles; seen twice in a row in one CI run) is retried after numad's 300 s.
      'for i in $(seq 1 660); do grep -q "moved to node" /var/log/numad.log && break; sleep 1; done',
      'sleep 4',
      'echo "$P $Q $R"',
      `echo ${SEP}`,
      'node dist/cli/numadvisor-entry.js processes --json --pid $P --pid $Q --pid $R',
      `echo ${SEP}`,
      'cat /var/log/numad.log',
      `echo ${SEP}`,
      "grep -E 'probation|migrated|advised|failed' /var/log/numadvisor.log | cut -c1-900",
      'kill $P $Q $R',
      'dist/numad -i 0',
    ].join('\n');
    const r = await runInGuest(LAB_4NODE_1GIB, script, 1_260_000);
    expect(r.code, r.stderr).toBe(0);
    const [pids, procsText, log, daemonLog] = r.stdout.split(`${SEP}\n`) as [string, string, string, string];
    const [p, q, rr] = pids.trim().split(' ').map(Number) as [number, number, number];
    const procs = JSON.parse(procsText) as { pid: number; cpusAllowed: number[]; memoryMiBByNode: Record<string, number> }[];
    const byPid = new Map(procs.map((x) => [x.pid, x]));
    console.log(`lab rebalancer log:\n${log}\ndaemon:\n${daemonLog}`);

    // The advice the move carried out: the last one before the "moved" line. Under TCG the idle CPU is noisy, so a
    // first CPU step can fail its probation (the advice moved to another set) and be reverted; the daemon then
    // advises again after numad's 300 s and moves. What is checked is that the move it made is verified and whole.
    const movedAt = log.indexOf(`PID ${p} moved to node(s) `);
    expect(movedAt, log).toBeGreaterThan(0);
    const advisings = [...log.slice(0, movedAt).matchAll(new RegExp(`Advising pid ${p} \\(node\\) move from nodes \\([0-9,-]+\\) to nodes \\(([0-9,-]+)\\)`, 'g'))];
    const advising = advisings.at(-1);
    expect(advising, log).toBeDefined();
    const target = (advising?.[1] as string).split(',').flatMap((part) => {
      const [a, b] = part.split('-').map(Number) as [number, number?];
      return b === undefined ? [a] : Array.from({ length: b - a + 1 }, (_, i) => a + i);
    });
    expect(log).toMatch(new RegExp(`PID ${p} moved to node\\(s\\) ${advising?.[1]} in \\d+\\.\\d+ seconds`));
    const moved = byPid.get(p);
    expect(moved?.cpusAllowed).toEqual(target);
    const total = Object.values(moved?.memoryMiBByNode ?? {}).reduce((a, b) => a + b, 0);
    const onTarget = target.reduce((a, n) => a + (moved?.memoryMiBByNode[String(n)] ?? 0), 0);
    expect(onTarget).toBeGreaterThanOrEqual(0.95 * total);

    // The administrator's pin and the exclusion are respected: no advice, affinity and memory where they were.
    expect(log).not.toMatch(new RegExp(`pid (${q}|${rr}) `));
    expect(byPid.get(q)?.cpusAllowed).toEqual([3]);
    expect(byPid.get(rr)?.cpusAllowed).toEqual([0, 1, 2, 3]);
    for (const pid of [q, rr]) {
      const mem = byPid.get(pid)?.memoryMiBByNode ?? {};
      expect((mem['1'] ?? 0) + (mem['2'] ?? 0)).toBeGreaterThanOrEqual(300);
    }
    // P started with half its memory on node 0 and half on node 3. When the emulated CPUs are busy the target can be
    // a three-node set holding both (0-1,3 was seen; then only Node.js's own few MiB elsewhere move). Either way the
    // memory step ran after the CPU step; when the target leaves out node 0 or 3, hundreds of MiB really moved.
    expect(target.length).toBeLessThan(4);
    expect(daemonLog).toMatch(/"kind":"memory","migrateMiB":\d+/);
    if (!(target.includes(0) && target.includes(3))) expect(daemonLog).toMatch(/"kind":"memory","migrateMiB":[1-9]\d\d/);
  }, 1_320_000);
});
