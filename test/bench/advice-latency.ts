// Advice latency and throughput of the daemon over its unix socket.
// Run: make bench-advice   (or: npx tsx test/bench/advice-latency.ts [--seconds 10])
// Prints a table; the numbers in docs/benchmarks.md come from this script.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import pino from 'pino';
import { generate, type FixtureSpec } from '../fixtures/make-fixtures.js';
import { fixture, REPO_DIR } from '../helpers/fixtures.js';
import { request } from '../helpers/http.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { NUMAD_DEFAULTS } from '../../src/model/numad-settings.js';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 10;
const CLI = path.join(REPO_DIR, 'dist/cli/numadvisor-entry.js');

function synthetic64(dir: string): string {
  const ids = Array.from({ length: 64 }, (_, i) => i);
  // Two-level SLIT like a large glueless box: 10 local, 16 inside a group of 8 sockets, 22 across groups.
  const distances = ids.map((a) => ids.map((b) => (a === b ? 10 : Math.floor(a / 8) === Math.floor(b / 8) ? 16 : 22)));
  const spec: FixtureSpec = {
    name: 'synthetic-64node',
    description: '64 nodes x 4 CPUs x 16 GiB, two-level SLIT',
    nodes: ids.map((id) => ({
      id,
      cpus: [id * 4, id * 4 + 1, id * 4 + 2, id * 4 + 3],
      memTotalKiB: 16 * 1024 * 1024,
      memFreeKiB: (15 * 1024 - id) * 1024,
      inactiveFileKiB: 0,
      idlePercent: 90 + (id % 10),
    })),
    distances,
    core: (cpu) => [Math.floor(cpu / 4), cpu % 4],
  };
  generate(spec, dir);
  return path.join(dir, spec.name);
}

async function startDaemonProcess(fsRoot: string, dir: string): Promise<{ child: ChildProcess; socket: string }> {
  const socket = path.join(dir, `d-${path.basename(fsRoot)}.sock`);
  const child = spawn(
    process.execPath,
    [CLI, 'daemon', '--fsroot', fsRoot, '--socket', socket, '--state-dir', path.join(dir, `state-${path.basename(fsRoot)}`), '--log-file', path.join(dir, 'numad.log'), '--pino-level', 'warn'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  for (let i = 0; i < 100 && !existsSync(socket); i++) await sleep(50);
  return { child, socket };
}

async function fill(socket: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await request(socket, 'GET', `/v1/advice?cpus=0.25&mem=8&ttl=3600`);
}

interface Row {
  topology: string;
  reservations: string;
  mode: string;
  p50: number;
  p99: number;
  sp50: number;
  sp99: number;
  rps: number;
}

/** Saturation throughput: autocannon keeps 8 connections busy for the whole run. */
async function throughput(socket: string, urlPath: string): Promise<number> {
  const result = await autocannon({ url: `http://localhost${urlPath}`, socketPath: socket, connections: 8, duration: seconds, pipelining: 1 });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${result.non2xx} non-2xx, ${result.errors} errors`);
  return Math.round(result.requests.average);
}

/** Latency of one answer as a client sees it (one request at a time on a keep-alive connection), µs resolution. */
async function latency(socket: string, urlPath: string, count = 5000): Promise<{ client: { p50: number; p99: number }; server: { p50: number; p99: number } }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const one = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = http.request({ socketPath: socket, path: urlPath, agent }, (res) => {
        res.resume();
        const serverMs = Number(/dur=([\d.]+)/.exec(String(res.headers['server-timing']))?.[1] ?? Number.NaN);
        res.on('end', () => (res.statusCode === 200 ? resolve(serverMs) : reject(new Error(`HTTP ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end();
    });
  for (let i = 0; i < 500; i++) await one();
  const client: number[] = [];
  const server: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    server.push(await one());
    client.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  agent.destroy();
  return { client: percentiles(client), server: percentiles(server) };
}

function percentiles(times: number[]): { p50: number; p99: number } {
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(times.length * 0.5)] as number, p99: times[Math.floor(times.length * 0.99)] as number };
}

async function load(socket: string, urlPath: string): Promise<Omit<Row, 'topology' | 'reservations' | 'mode'>> {
  const lat = await latency(socket, urlPath);
  return { p50: lat.client.p50, p99: lat.client.p99, sp50: lat.server.p50, sp99: lat.server.p99, rps: await throughput(socket, urlPath) };
}

/** Pure server-side cost: the same answer computed in-process, without HTTP. */
async function inProcess(fsRoot: string, dir: string, reservations: number): Promise<{ p50: number; p99: number }> {
  const d = await startDaemon({
    fsRoot,
    socketPath: path.join(dir, `inproc-${path.basename(fsRoot)}.sock`),
    socketMode: 0o660,
    stateDir: path.join(dir, `inproc-state-${path.basename(fsRoot)}`),
    numadLogPath: path.join(dir, 'inproc.log'),
    numad: { ...NUMAD_DEFAULTS },
    cpuAllocationRatio: 4,
    reservationTtlMs: 3_600_000,
    apply: 'none',
    logLevel: 'silent',
    logger: pino({ level: 'silent' }),
  });
  for (let i = 0; i < reservations; i++) d.service.advise({ cpuHundredths: 25, memMiB: 8 }, { reserve: true, client: 'bench' });
  const times: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const t0 = process.hrtime.bigint();
    d.service.advise({ cpuHundredths: 100, memMiB: 64 }, { reserve: false, client: 'bench' });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  await d.close();
  return percentiles(times);
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error('run `make build` first');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'numadvisor-bench-'));
  const rows: Row[] = [];
  const compute: { topology: string; reservations: number; p50: number; p99: number }[] = [];
  try {
    const topologies: [string, string, number][] = [
      ['8-node DL980 fixture', fixture('8node-dl980'), 0],
      ['8-node DL980 fixture', fixture('8node-dl980'), 1000],
      ['64-node synthetic', synthetic64(dir), 1000],
    ];
    for (const [name, fsRoot, resv] of topologies) {
      const { child, socket } = await startDaemonProcess(fsRoot, dir);
      try {
        await fill(socket, resv);
        const q = await load(socket, '/v1/advice?cpus=1&mem=64&reserve=false');
        rows.push({ topology: name, reservations: String(resv), mode: 'advice, no new reservation', ...q });
        const e = await load(socket, '/v1/advice?cpus=1&mem=64&reserve=false&explain=true');
        rows.push({ topology: name, reservations: String(resv), mode: 'advice with explain=true (every node and centre)', ...e });
        const r = await load(socket, '/v1/advice?cpus=1&mem=64&ttl=1');
        rows.push({ topology: name, reservations: `${resv} + ~rate×1 s`, mode: 'advice + reservation (TTL 1 s, persisted)', ...r });
      } finally {
        child.kill('SIGTERM');
        await new Promise((res) => child.once('exit', res));
      }
      compute.push({ topology: name, reservations: resv, ...(await inProcess(fsRoot, dir, resv)) });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    `\nHTTP over the unix socket, client and daemon on the same ${os.cpus().length}-CPU machine. Latency: 5,000 sequential ` +
      `requests on one keep-alive connection; server = the daemon's Server-Timing (request in → response out), client = round trip. Throughput: autocannon, 8 connections, ${seconds} s.\n`,
  );
  console.log('| topology | live reservations | request | server p50 ms | server p99 ms | client p50 ms | client p99 ms | answers/s (saturated) |');
  console.log('|---|---|---|---|---|---|---|---|');
  const f = (x: number): string => x.toFixed(3);
  for (const r of rows) console.log(`| ${r.topology} | ${r.reservations} | ${r.mode} | ${f(r.sp50)} | ${f(r.sp99)} | ${f(r.p50)} | ${f(r.p99)} | ${r.rps} |`);
  console.log('\nServer-side compute only (AdvisorService.advise in-process, 20,000 calls)\n');
  console.log('| topology | live reservations | p50 ms | p99 ms |');
  console.log('|---|---|---|---|');
  for (const c of compute) console.log(`| ${c.topology} | ${c.reservations} | ${c.p50.toFixed(3)} | ${c.p99.toFixed(3)} |`);
}

await main();
