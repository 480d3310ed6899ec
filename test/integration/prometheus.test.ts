// A real Prometheus (Debian's `prometheus`) scrapes a real daemon's GET /metrics on the read-only TCP listener, with
// no token (docs/metrics.md), every second; its HTTP API then has the per-node series with the daemon's own values.
// `promtool check metrics` passes on the daemon's output. Prometheus runs as a child of this test on a free loopback
// port with a temporary config and storage directory, and is stopped by its pid.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningDaemon } from '../../src/daemon/daemon.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/fixtures.js';
import { freePort, request } from '../helpers/http.js';

const execFileP = promisify(execFile);
const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const installed = existsSync(PROMETHEUS) && existsSync(PROMTOOL);
// As root (CI: make test installs the test packages) a missing prometheus is a failure below, not a skip.
if (!installed && !isRoot) console.warn('prometheus.test.ts skipped: Debian package prometheus is not installed (make apt-test-deps installs it as root)');

const MIB = 1024 * 1024;
const SCRAPE_DEADLINE_MS = 30_000;

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

describe('GET /metrics on a real daemon (no Prometheus needed)', () => {
  const t = tempDir('numadvisor-metrics-');
  let d: RunningDaemon;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    d = await startTestDaemon(t.dir, '4node-westmere-ex', { tcpPort: port });
  });
  afterAll(async () => {
    await d.close();
    t.cleanup();
  });

  it('the unix socket and the TCP listener share one set of counters; TCP needs no token; node values are GET /v1/nodes\'s', async () => {
    const sock = d.app.server.address() as string;
    expect((await request(sock, 'GET', '/v1/advice?cpus=1&mem=512&reserve=false')).status).toBe(200);
    const r = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    expect(text).toMatch(/^numadvisor_advice_requests_total\{result="fit"\} 1$/m);
    expect(text).toMatch(/^numadvisor_reservations\{state="unbound"\} 0$/m);
    // no libvirt here: the gauge is absent rather than 0
    expect(text).not.toMatch(/numadvisor_libvirt_connected/);
    const nodes = (await request(sock, 'GET', '/v1/nodes')).body as { nodes: { id: number; memTotalMiB: number; cpuTotalHundredths: number }[] };
    for (const n of nodes.nodes) {
      expect(text).toContain(`numadvisor_numa_node_memory_total_bytes{numa_node="${n.id}"} ${n.memTotalMiB * MIB}\n`);
      expect(text).toContain(`numadvisor_numa_node_cpu_total_cores{numa_node="${n.id}"} ${n.cpuTotalHundredths / 100}\n`);
    }
    const unix = await request(sock, 'GET', '/metrics');
    expect(unix.text).toMatch(/^numadvisor_advice_requests_total\{result="fit"\} 1$/m);
  });
});

describe.skipIf(!installed && !isRoot)('Prometheus scrapes GET /metrics over the TCP listener (issue #15)', () => {
  const t = tempDir('numadvisor-prometheus-');
  let d: RunningDaemon;
  let sock: string;
  let daemonPort: number;
  let promPort: number;
  let prometheus: ChildProcess | undefined;
  let promLog = '';

  /** An instant query against Prometheus's HTTP API. */
  const query = async (promql: string): Promise<Sample[]> => {
    const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await r.json()) as { status: string; data?: { resultType: string; result: Sample[] }; error?: string };
    if (body.status !== 'success' || body.data?.resultType !== 'vector') throw new Error(`query ${promql}: ${JSON.stringify(body)}`);
    return body.data.result;
  };

  /** Polls `promql` until `done` holds, up to the deadline (Prometheus starts, then scrapes every second). */
  const queryUntil = async (promql: string, done: (r: Sample[]) => boolean): Promise<Sample[]> => {
    const end = Date.now() + SCRAPE_DEADLINE_MS;
    let last: Sample[] | string = 'no answer yet';
    for (;;) {
      try {
        const r = await query(promql);
        if (done(r)) return r;
        last = r;
      } catch (err) {
        last = (err as Error).message; // not listening yet
      }
      if (Date.now() > end) throw new Error(`${promql}: not as expected within ${SCRAPE_DEADLINE_MS} ms; last: ${JSON.stringify(last)}\nprometheus log:\n${promLog.slice(-4000)}`);
      if (prometheus?.exitCode !== null && prometheus?.exitCode !== undefined) throw new Error(`prometheus exited (${prometheus.exitCode}):\n${promLog.slice(-4000)}`);
      await sleep(200);
    }
  };

  beforeAll(async () => {
    if (!installed) return;
    daemonPort = await freePort();
    d = await startTestDaemon(t.dir, '4node-westmere-ex', { tcpPort: daemonPort });
    sock = d.app.server.address() as string;
    // one answer with a reservation, so the counters and the reservation gauge have something to show
    expect((await request(sock, 'GET', '/v1/advice?cpus=2&mem=1024')).status).toBe(200);

    promPort = await freePort();
    const config = path.join(t.dir, 'prometheus.yml');
    // JSON is YAML. No authorization: /metrics is read-only, open over TCP without the token.
    writeFileSync(
      config,
      JSON.stringify({
        global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
        scrape_configs: [{ job_name: 'numadvisor', static_configs: [{ targets: [`127.0.0.1:${daemonPort}`] }] }],
      }),
    );
    const storage = path.join(t.dir, 'tsdb');
    mkdirSync(storage);
    prometheus = spawn(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${storage}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=info'], { stdio: ['ignore', 'pipe', 'pipe'] });
    prometheus.stdout?.on('data', (c: Buffer) => (promLog += c.toString()));
    prometheus.stderr?.on('data', (c: Buffer) => (promLog += c.toString()));
  }, 60_000);

  afterAll(async () => {
    const p = prometheus;
    if (p && p.exitCode === null && p.pid !== undefined) {
      const exited = new Promise<void>((res) => p.once('exit', () => res()));
      process.kill(p.pid, 'SIGTERM');
      await Promise.race([exited, sleep(10_000).then(() => p.pid !== undefined && p.exitCode === null && process.kill(p.pid, 'SIGKILL'))]);
    }
    await d?.close();
    t.cleanup();
  }, 30_000);

  it('prometheus is installed (Debian package prometheus: make apt-test-deps installs it as root)', () => {
    expect({ prometheus: existsSync(PROMETHEUS), promtool: existsSync(PROMTOOL) }).toEqual({ prometheus: true, promtool: true });
  });

  it.runIf(installed)('the per-node series arrive with the daemon\'s values, labelled numa_node, job and instance', async () => {
    const r = await queryUntil('numadvisor_numa_node_memory_total_bytes{numa_node="0"}', (x) => x.length === 1);
    const nodes = (await request(sock, 'GET', '/v1/nodes')).body as { nodes: { id: number; memTotalMiB: number }[] };
    const node0 = nodes.nodes.find((n) => n.id === 0);
    expect(r[0]?.metric).toEqual({ __name__: 'numadvisor_numa_node_memory_total_bytes', numa_node: '0', job: 'numadvisor', instance: `127.0.0.1:${daemonPort}` });
    expect(Number(r[0]?.value[1])).toBe((node0?.memTotalMiB ?? -1) * MIB);
    expect((await query('count(numadvisor_numa_node_cpu_available_cores)'))[0]?.value[1]).toBe('4');
  }, 60_000);

  it.runIf(installed)('the target is up with no token; the advice counter and the reservation are there', async () => {
    await queryUntil('up{job="numadvisor"} == 1', (x) => x.length === 1);
    const targets = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/targets`)).json()) as { data: { activeTargets: { health: string; lastError: string; scrapeUrl: string }[] } };
    expect(targets.data.activeTargets).toEqual([expect.objectContaining({ health: 'up', lastError: '', scrapeUrl: `http://127.0.0.1:${daemonPort}/metrics` })]);
    const fit = await queryUntil('numadvisor_advice_requests_total{result="fit"}', (x) => Number(x[0]?.value[1]) >= 1);
    expect(Number(fit[0]?.value[1])).toBe(1);
    expect((await query('numadvisor_reservations{state="unbound"}'))[0]?.value[1]).toBe('1');
    expect((await query('numadvisor_advice_duration_seconds_count'))[0]?.value[1]).toBe('1');
    expect((await query('process_resident_memory_bytes > 0')).length).toBe(1);
  }, 60_000);

  it.runIf(installed)('`promtool check metrics` passes on the daemon\'s own output (unix socket)', async () => {
    const r = await request(sock, 'GET', '/metrics');
    expect(r.status).toBe(200);
    const child = execFileP(PROMTOOL, ['check', 'metrics'], { encoding: 'utf8' });
    child.child.stdin?.end(r.text);
    const { stdout, stderr } = await child;
    expect(`${stdout}${stderr}`).toBe('');
  });
});
