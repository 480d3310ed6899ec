// `numad -w` latency, ours against the real numad 20150602, in one run on this machine.
// Run: make bench-numad   (root: it uses a private mount + IPC namespace so the host's numad state is untouched)
// Cases: without a daemon; with a daemon isolated (200 ms apart), back to back, and 50 in parallel.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { REAL_NUMAD } from '../helpers/real-numad.js';
import { REPO_DIR } from '../helpers/fixtures.js';

const SELF = fileURLToPath(import.meta.url);
if (!process.env.NUMADVISOR_BENCH_NS) {
  // Re-run this script inside private mount and IPC namespaces with tmpfs over /run and /var/log.
  const r = spawnSync(
    'unshare',
    ['-m', '-i', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs none /run && mount -t tmpfs none /var/log && exec "$@"`, 'sh', process.execPath, '--import', 'tsx', SELF, ...process.argv.slice(2)],
    { stdio: 'inherit', env: { ...process.env, NUMADVISOR_BENCH_NS: '1' }, cwd: REPO_DIR },
  );
  process.exit(r.status ?? 1);
}

const NUMAD_C = path.join(REPO_DIR, 'dist/numad');
const NUMAD_NODE = path.join(REPO_DIR, 'dist/cli/numad-entry.js');
const work = mkdtempSync(path.join(os.tmpdir(), 'numad-bench-'));
const env = {
  ...process.env,
  NUMADVISOR_SOCKET: '/run/numadvisor/numadvisor.sock',
  NUMADVISOR_LOG_FILE: '/var/log/numad.log',
  NUMADVISOR_STATE_DIR: path.join(work, 'state'),
  NUMADVISOR_PID_FILE: '/run/numadvisor.pid',
  NUMADVISOR_DAEMON_LOG: '/var/log/numadvisor.log',
};

interface One {
  ms: number;
  ok: boolean;
}

/** One invocation, timed from spawn to exit; `hangMs` kills a client that never returns (numad's known hang). */
function once(cmd: string, args: string[], hangMs = 10_000, expectOutput = true): Promise<One> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), hangMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, ok: code === 0 && (!expectOutput || /^\d+(-\d+)?(,\d+(-\d+)?)*\n$/.test(out)) });
    });
  });
}

interface Stats {
  n: number;
  answered: number;
  p50: number;
  p90: number;
  max: number;
}

function stats(runs: One[]): Stats {
  const ok = runs.filter((r) => r.ok).map((r) => r.ms).sort((a, b) => a - b);
  const q = (p: number): number => ok[Math.min(ok.length - 1, Math.floor(ok.length * p))] ?? Number.NaN;
  return { n: runs.length, answered: ok.length, p50: q(0.5), p90: q(0.9), max: ok.at(-1) ?? Number.NaN };
}

async function isolated(cmd: string, args: string[], n: number, gapMs: number, expectOutput = true): Promise<Stats> {
  const runs: One[] = [];
  for (let i = 0; i < n; i++) {
    runs.push(await once(cmd, args, 10_000, expectOutput));
    await sleep(gapMs);
  }
  return stats(runs);
}

async function backToBack(cmd: string, args: string[], n: number): Promise<Stats> {
  const runs: One[] = [];
  for (let i = 0; i < n; i++) runs.push(await once(cmd, args));
  return stats(runs);
}

async function parallel(cmd: string, args: string[], n: number): Promise<Stats & { wallMs: number }> {
  const t0 = Date.now();
  const runs = await Promise.all(Array.from({ length: n }, () => once(cmd, args, 10_000)));
  return { ...stats(runs), wallMs: Date.now() - t0 };
}

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(20);
}

const rows: [string, string, Stats & { wallMs?: number }][] = [];
const W = ['-w', '2:1024'];
try {
  rows.push(['spawn baseline (/bin/true)', '-', await isolated('/bin/true', [], 30, 50, false)]);

  // Without a daemon.
  rows.push(['real numad', 'no daemon', await isolated(REAL_NUMAD, W, 5, 0)]);
  rows.push(['numadvisor (C front → node)', 'no daemon', await isolated(NUMAD_C, W, 20, 50)]);

  // Real numad daemon (-S 0: scan nothing, -H 0: leave THP alone).
  spawnSync(REAL_NUMAD, ['-S', '0', '-H', '0', '-i', '15'], { env });
  await waitFor(() => existsSync('/run/numad.pid'));
  await sleep(3000);
  rows.push(['real numad', 'daemon, isolated (200 ms apart)', await isolated(REAL_NUMAD, W, 30, 200)]);
  rows.push(['real numad', 'daemon, back to back', await backToBack(REAL_NUMAD, W, 30)]);
  rows.push(['real numad', 'daemon, 50 parallel (10 s limit)', await parallel(REAL_NUMAD, W, 50)]);
  spawnSync('sh', ['-c', 'kill $(cat /run/numad.pid) 2>/dev/null; sleep 0.5; pkill -x numad; true']);

  // Our daemon.
  spawnSync(NUMAD_C, [], { env });
  await waitFor(() => existsSync('/run/numadvisor/numadvisor.sock'));
  await sleep(500);
  rows.push(['numadvisor C front end', 'daemon, isolated (200 ms apart)', await isolated(NUMAD_C, W, 30, 200)]);
  rows.push(['numadvisor C front end', 'daemon, back to back', await backToBack(NUMAD_C, W, 30)]);
  rows.push(['numadvisor C front end', 'daemon, 50 parallel (10 s limit)', await parallel(NUMAD_C, W, 50)]);
  rows.push(['numadvisor node client', 'daemon, isolated (200 ms apart)', await isolated(process.execPath, [NUMAD_NODE, ...W], 20, 200)]);
  spawnSync(NUMAD_C, ['-i', '0'], { env });
} finally {
  spawnSync('sh', ['-c', 'pkill -x numad; true']);
  rmSync(work, { recursive: true, force: true });
}

const f = (x: number): string => (Number.isNaN(x) ? '—' : x.toFixed(1));
console.log(`\n\`numad -w 2:1024\` on this ${os.cpus().length}-CPU machine (1 NUMA node), wall time from spawn to exit in ms\n`);
console.log('| command | case | runs | answered | p50 ms | p90 ms | max ms |');
console.log('|---|---|---|---|---|---|---|');
for (const [cmd, c, s] of rows) {
  console.log(`| ${cmd} | ${c} | ${s.n} | ${s.answered} | ${f(s.p50)} | ${f(s.p90)} | ${f(s.max)} |${s.wallMs !== undefined ? ` (all done in ${s.wallMs} ms)` : ''}`);
}
const find = (cmd: string, c: string): Stats | undefined => rows.find((r) => r[0] === cmd && r[1] === c)?.[2];
const ratio = (a?: Stats, b?: Stats): string => (a && b ? (a.p50 / b.p50).toFixed(2) : '—');
console.log('\nRatios of medians (ours / numad):');
console.log(`- no daemon: ${ratio(find('numadvisor (C front → node)', 'no daemon'), find('real numad', 'no daemon'))}`);
console.log(`- daemon, isolated: ${ratio(find('numadvisor C front end', 'daemon, isolated (200 ms apart)'), find('real numad', 'daemon, isolated (200 ms apart)'))}`);
console.log(`- daemon, back to back: ${ratio(find('numadvisor C front end', 'daemon, back to back'), find('real numad', 'daemon, back to back'))}`);
