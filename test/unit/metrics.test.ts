// GET /metrics (issue #15): names in base units, the numa_node label, label values never from a client, the counters
// counted where things happen (advice in the routes, rebalancer actions through MoveEvents), the process defaults
// without prom-client's 10 ms event-loop timer, and `promtool check metrics` on the output when promtool is installed.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { deadlinePassed, ledgerBusy } from '../../src/errors.js';
import { adviseNumad } from '../../src/policy/numad.js';
import type { PolicyNode } from '../../src/policy/types.js';
import type { AdvisorApi, MetricsView, NodeView } from '../../src/server/advisor-api.js';
import { buildApp } from '../../src/server/app.js';
import { ADVICE_RESULTS, adviceFailure, DaemonMetrics, MOVE_KINDS } from '../../src/server/metrics.js';
import { RebalanceActions, type ProcessMoves } from '../../src/daemon/rebalance-actions.js';
import { domainLocality } from '../../src/daemon/advisor-api-impl.js';
import type { PlannedMove } from '../../src/balance/plan.js';
import type { MoveOutcome } from '../../src/apply/process-mover.js';
import { VERSION } from '../../src/version.js';
import { readOwnCgroupNuma, readOwnCgroupNumaAsync } from '../../src/observe/cgroup-numa.js';
import { FsRoot } from '../../src/topology/fsroot.js';
import { copyFixture, tempDir } from '../helpers/fixtures.js';
import { writeFakeProc } from '../helpers/fake-procs.js';

const execFileP = promisify(execFile);
const MIB = 1024 * 1024;
const PROMTOOL = '/usr/bin/promtool';

const policyNode = (id: number, distances: number[]): PolicyNode => ({
  id,
  hasMemory: true,
  hasCpu: true,
  cpuTotalHundredths: 800,
  memTotalMiB: 16_384,
  cpuFreeHundredths: 650,
  memFreeMiB: 15_000,
  distances,
});
const HOST = [policyNode(0, [10, 21]), policyNode(1, [21, 10])];
const NODES: NodeView[] = HOST.map((n) => ({
  ...n,
  cpus: n.id === 0 ? [0, 1, 2, 3, 4, 5, 6, 7] : [8, 9, 10, 11, 12, 13, 14, 15],
  reservedCpuHundredths: n.id === 0 ? 400 : 0,
  reservedMemMiB: n.id === 0 ? 2048 : 0,
  availableCpuHundredths: n.id === 0 ? 550 : 650,
  availableMemMiB: n.id === 0 ? 12_952 : 15_000,
  hugepages: [],
}));
const VIEW: MetricsView = {
  nodes: NODES,
  cpuAllocationRatio: 4,
  reservations: { unbound: 2, bound: 1 },
  planMoves: 3,
  libvirtConnected: true,
  domains: [
    { name: 'web1', memoryMiBByNode: new Map([[0, 1536], [1, 512]]), localityRatio: 0.75 },
    { name: 'not-read-yet', memoryMiBByNode: undefined, localityRatio: undefined },
  ],
};

/** Only what the metrics and advice routes use; the rest is never called here. */
function fakeApi(view: MetricsView = VIEW, advise?: AdvisorApi['advise']): AdvisorApi {
  const never = (): never => {
    throw new Error('not used by these tests');
  };
  return {
    beforeAdvice: () => undefined,
    advise: advise ?? (async (request) => ({ advice: adviseNumad(HOST, request), reservation: undefined })),
    release: async () => undefined,
    nodes: never,
    reservations: never,
    numadSettings: never,
    applyNumadOps: never,
    processes: never,
    plan: never,
    health: never,
    metrics: async () => view,
    domains: undefined,
  };
}

const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});
function appFor(api: AdvisorApi, metrics?: DaemonMetrics, tcp?: { token: string }): FastifyInstance {
  const app = buildApp({ api, logger: pino({ level: 'silent' }), metrics, tcp });
  apps.push(app);
  return app;
}

/** One sample line of the text format: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string>; help: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      (meta[1] === 'TYPE' ? types : help).set(meta[2] as string, meta[3] as string);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string;
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return { samples, types, help };
}
const valueOf = (samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe('the metrics and their names', () => {
  it('every numadvisor metric named in the issue is there, typed, with help, in base units', async () => {
    const m = new DaemonMetrics(fakeApi());
    const { samples, types, help } = parseExposition(await m.render());
    const expected: Record<string, string> = {
      numadvisor_numa_node_memory_total_bytes: 'gauge',
      numadvisor_numa_node_memory_free_bytes: 'gauge',
      numadvisor_numa_node_memory_reserved_bytes: 'gauge',
      numadvisor_numa_node_memory_available_bytes: 'gauge',
      numadvisor_numa_node_cpu_total_cores: 'gauge',
      numadvisor_numa_node_cpu_idle_cores: 'gauge',
      numadvisor_numa_node_cpu_reserved_cores: 'gauge',
      numadvisor_numa_node_cpu_available_cores: 'gauge',
      numadvisor_reservations: 'gauge',
      numadvisor_advice_requests_total: 'counter',
      numadvisor_advice_duration_seconds: 'histogram',
      numadvisor_moves_total: 'counter',
      numadvisor_plan_moves: 'gauge',
      numadvisor_domain_memory_bytes: 'gauge',
      numadvisor_domain_locality_ratio: 'gauge',
      numadvisor_libvirt_connected: 'gauge',
      numadvisor_build_info: 'gauge',
    };
    const ours = [...types].filter(([name]) => name.startsWith('numadvisor_'));
    expect(Object.fromEntries(ours)).toEqual(expected);
    for (const [name] of ours) expect(help.get(name), name).toMatch(/\S/);
    // Base units or a plain count: no MiB, no percent, no milliseconds, no hundredths.
    for (const [name, type] of ours) {
      const unitless = ['numadvisor_reservations', 'numadvisor_plan_moves', 'numadvisor_libvirt_connected'].includes(name);
      if (type === 'counter') expect(name).toMatch(/_total$/);
      else if (!unitless) expect(name, name).toMatch(/_(bytes|cores|seconds|ratio|info)$/);
      expect(name).not.toMatch(/_(mib|kib|mb|percent|ms|milliseconds|hundredths)(_|$)/i);
    }
    expect(samples.filter((s) => s.name.startsWith('numadvisor_')).every((s) => Number.isFinite(s.value))).toBe(true);
  });

  it('node series carry numa_node (never node), in bytes and cores; reserved cores are vCPUs over the allocation ratio', async () => {
    const { samples } = parseExposition(await new DaemonMetrics(fakeApi()).render());
    expect(samples.some((s) => 'node' in s.labels)).toBe(false);
    for (const s of samples.filter((x) => x.name.startsWith('numadvisor_numa_node_'))) expect(Object.keys(s.labels)).toEqual(['numa_node']);
    expect(valueOf(samples, 'numadvisor_numa_node_memory_total_bytes', { numa_node: '0' })).toBe(16_384 * MIB);
    expect(valueOf(samples, 'numadvisor_numa_node_memory_free_bytes', { numa_node: '1' })).toBe(15_000 * MIB);
    expect(valueOf(samples, 'numadvisor_numa_node_memory_reserved_bytes', { numa_node: '0' })).toBe(2048 * MIB);
    expect(valueOf(samples, 'numadvisor_numa_node_memory_available_bytes', { numa_node: '0' })).toBe(12_952 * MIB);
    expect(valueOf(samples, 'numadvisor_numa_node_cpu_total_cores', { numa_node: '1' })).toBe(8);
    expect(valueOf(samples, 'numadvisor_numa_node_cpu_idle_cores', { numa_node: '0' })).toBe(6.5);
    // 4 vCPUs reserved at ratio 4 hold one core: idle 6.5 − 1 = available 5.5
    expect(valueOf(samples, 'numadvisor_numa_node_cpu_reserved_cores', { numa_node: '0' })).toBe(1);
    expect(valueOf(samples, 'numadvisor_numa_node_cpu_available_cores', { numa_node: '0' })).toBe(5.5);
  });

  it('reservations by state, the plan, libvirt, build info, and each domain by its libvirt name', async () => {
    const { samples } = parseExposition(await new DaemonMetrics(fakeApi()).render());
    expect(valueOf(samples, 'numadvisor_reservations', { state: 'unbound' })).toBe(2);
    expect(valueOf(samples, 'numadvisor_reservations', { state: 'bound' })).toBe(1);
    expect(valueOf(samples, 'numadvisor_plan_moves')).toBe(3);
    expect(valueOf(samples, 'numadvisor_libvirt_connected')).toBe(1);
    expect(valueOf(samples, 'numadvisor_build_info', { version: VERSION })).toBe(1);
    expect(valueOf(samples, 'numadvisor_domain_memory_bytes', { domain: 'web1', numa_node: '0' })).toBe(1536 * MIB);
    expect(valueOf(samples, 'numadvisor_domain_memory_bytes', { domain: 'web1', numa_node: '1' })).toBe(512 * MIB);
    expect(valueOf(samples, 'numadvisor_domain_locality_ratio', { domain: 'web1' })).toBe(0.75);
    // a domain with no reading has no series rather than a made-up 0
    expect(samples.some((s) => s.labels.domain === 'not-read-yet')).toBe(false);
  });

  it('series follow the state: a stopped domain and a gone node disappear; without libvirt there is no libvirt gauge', async () => {
    let view: MetricsView = VIEW;
    const api = { ...fakeApi(), metrics: async () => view };
    const m = new DaemonMetrics(api);
    await m.render();
    view = { ...VIEW, nodes: NODES.slice(0, 1), domains: [], libvirtConnected: false };
    const { samples } = parseExposition(await m.render());
    expect(samples.some((s) => s.name.startsWith('numadvisor_domain_'))).toBe(false);
    expect(samples.some((s) => s.labels.numa_node === '1')).toBe(false);
    expect(valueOf(samples, 'numadvisor_libvirt_connected')).toBe(0);
    const none = parseExposition(await new DaemonMetrics(fakeApi({ ...VIEW, libvirtConnected: undefined, domains: [] })).render());
    expect(none.types.has('numadvisor_libvirt_connected')).toBe(false);
  });

  it("prom-client's process defaults are there, without its event-loop delay monitor (a 10 ms timer) and without gauges named _total", async () => {
    const m = new DaemonMetrics(fakeApi());
    const { types } = parseExposition(await m.render());
    for (const name of ['process_cpu_seconds_total', 'process_start_time_seconds', 'process_resident_memory_bytes', 'process_open_fds', 'process_max_fds', 'nodejs_heap_size_used_bytes', 'nodejs_version_info', 'nodejs_gc_duration_seconds', 'nodejs_eventloop_lag_seconds', 'nodejs_active_handles']) {
      expect(types.has(name), name).toBe(true);
    }
    expect(types.has('nodejs_eventloop_lag_p99_seconds')).toBe(false);
    for (const [name, type] of types) if (type !== 'counter') expect(name).not.toMatch(/_total$/);
  });

  it('one registry per daemon: several in one process register the same names without clashing, each its own counts', async () => {
    const a = new DaemonMetrics(fakeApi());
    const b = new DaemonMetrics(fakeApi());
    a.adviceAnswered('fit', 0.001);
    expect(valueOf(parseExposition(await a.render()).samples, 'numadvisor_advice_requests_total', { result: 'fit' })).toBe(1);
    expect(valueOf(parseExposition(await b.render()).samples, 'numadvisor_advice_requests_total', { result: 'fit' })).toBe(0);
    expect(a.names()).toEqual(b.names());
  });

  it('two scrapes at once share one reading of the daemon', async () => {
    let calls = 0;
    const api = { ...fakeApi(), metrics: async () => (calls++, VIEW) };
    const m = new DaemonMetrics(api);
    const [x, y] = await Promise.all([m.render(), m.render()]);
    expect(x).toBe(y);
    expect(calls).toBe(1);
  });

  it.skipIf(!existsSync(PROMTOOL))('`promtool check metrics` accepts the output (every metric, defaults included)', async () => {
    const m = new DaemonMetrics(fakeApi());
    m.adviceAnswered('fit', 0.002);
    m.moveCarriedOut('cpu_step', 'ok');
    const text = await m.render();
    const child = execFileP(PROMTOOL, ['check', 'metrics'], { encoding: 'utf8' });
    child.child.stdin?.end(text);
    const { stdout, stderr } = await child;
    expect(`${stdout}${stderr}`).toBe('');
  });
});

describe('counted where it happens', () => {
  it('advice by result and duration: answers (fit, no_fit) and refusals (invalid, busy, gave_up, error), both routes, numad -w\'s nodeset format too', async () => {
    const m = new DaemonMetrics(fakeApi());
    const app = appFor(fakeApi(), m);
    expect((await app.inject({ method: 'GET', url: '/v1/advice?cpus=1&mem=1024' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/v1/advice?cpus=1&mem=1024&format=nodeset' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/v1/advice', payload: { cpus: 1, mem: 1, reserve: false } })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/v1/advice?cpus=1&mem=100000&reserve=false' })).statusCode).toBe(200); // fits nowhere
    expect((await app.inject({ method: 'GET', url: '/v1/advice?cpus=abc' })).statusCode).toBe(400);
    expect((await app.inject({ method: 'POST', url: '/v1/advice', payload: { cpus: 1.234 } })).statusCode).toBe(400);
    const busy = appFor(fakeApi(VIEW, async () => Promise.reject(ledgerBusy('ask again'))), m);
    expect((await busy.inject({ method: 'GET', url: '/v1/advice?cpus=1' })).statusCode).toBe(503);
    const broken = appFor(fakeApi(VIEW, async () => Promise.reject(new Error('boom'))), m);
    expect((await broken.inject({ method: 'GET', url: '/v1/advice?cpus=1' })).statusCode).toBe(500);
    expect((await app.inject({ method: 'GET', url: `/v1/advice?cpus=1&deadline=${Date.now() - 1}` })).statusCode).toBe(503);
    const r = await app.inject({ method: 'GET', url: '/metrics' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const { samples } = parseExposition(r.body);
    const counts = Object.fromEntries(ADVICE_RESULTS.map((result) => [result, valueOf(samples, 'numadvisor_advice_requests_total', { result })]));
    expect(counts).toEqual({ fit: 3, no_fit: 1, invalid: 2, busy: 1, gave_up: 1, error: 1 });
    expect(valueOf(samples, 'numadvisor_advice_duration_seconds_count')).toBe(9);
    expect(valueOf(samples, 'numadvisor_advice_duration_seconds_sum')).toBeGreaterThan(0);
    expect(valueOf(samples, 'numadvisor_advice_duration_seconds_bucket', { le: '+Inf' })).toBe(9);
  });

  it('never a label from client input: what a client sends (client=, a domain-like name) appears nowhere in the output', async () => {
    const m = new DaemonMetrics(fakeApi());
    const app = appFor(fakeApi(), m);
    await app.inject({ method: 'GET', url: '/v1/advice?cpus=1&client=evil-client-label&reserve=false' });
    await app.inject({ method: 'GET', url: '/v1/advice?cpus=1&evil_param=evil-param-label' });
    await app.inject({ method: 'GET', url: '/no/such/evil-path-label' });
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).not.toMatch(/evil/);
  });

  it('adviceFailure maps error codes, never messages', () => {
    expect(adviceFailure(deadlinePassed('x'))).toBe('gave_up');
    expect(adviceFailure(ledgerBusy('x'))).toBe('busy');
    expect(adviceFailure(new Error('NUMADVISOR_ERR_BUSY'))).toBe('error');
  });

  it('rebalancer actions by kind and result through MoveEvents: a verified CPU step, a failed one, an advice', async () => {
    const m = new DaemonMetrics(fakeApi());
    const outcome = (ok: boolean): MoveOutcome => ({ ok, cpusAllowedBefore: [], cpusAllowedAfter: [], memoryMiBBefore: {}, memoryMiBAfter: {}, elapsedMs: 1 });
    let ok = true;
    const mover: ProcessMoves = { move: async () => outcome(ok), swap: async () => [outcome(true), outcome(true)] };
    const move = (o: Partial<PlannedMove> = {}): PlannedMove => ({
      pid: 7, comm: 'db', kind: 'cpu', from: [0], to: [1], toNodeset: '1', cpus: [8], migrateMiB: 0,
      localityBeforePercent: 0, localityAfterPercent: 100, costMiBPerPoint: 0, applicable: true, reason: '', ...o,
    });
    const actions = (processMover: ProcessMoves | undefined): RebalanceActions =>
      new RebalanceActions({ numadLog: { log: () => undefined }, logger: pino({ level: 'silent' }), history: new Map(), processMover, domains: undefined, memoryByNode: () => undefined, moveEvents: () => m });
    await actions(mover).act(move(), 0);
    ok = false;
    await actions(mover).act(move({ pid: 8 }), 0);
    await actions(undefined).act(move({ pid: 9 }), 0);
    await actions(mover).act(move({ pid: 10, kind: 'swap', partner: { pid: 11, comm: 'b', from: [1], to: [0], toNodeset: '0', cpus: [0], migrateMiB: 0, localityBeforePercent: 0 } }), 0);
    const { samples } = parseExposition(await m.render());
    const moves = (kind: string, result: string): number | undefined => valueOf(samples, 'numadvisor_moves_total', { kind, result });
    expect([moves('cpu_step', 'ok'), moves('cpu_step', 'failed'), moves('advise', 'advised'), moves('swap', 'ok'), moves('memory_step', 'ok')]).toEqual([1, 1, 1, 1, 0]);
    // every kind has its series from the start, so rate() sees the first one
    for (const kind of MOVE_KINDS) expect(samples.some((s) => s.name === 'numadvisor_moves_total' && s.labels.kind === kind), kind).toBe(true);
  });
});

describe('GET /metrics over the TCP listener', () => {
  it('is read-only: open without the bearer token (a Prometheus scrape), but only for a loopback Host', async () => {
    const app = appFor(fakeApi(), undefined, { token: 'a'.repeat(64) });
    const ok = await app.inject({ method: 'GET', url: '/metrics', headers: { host: '127.0.0.1' } });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toMatch(/^numadvisor_numa_node_memory_total_bytes\{numa_node="0"\} /m);
    const rebound = await app.inject({ method: 'GET', url: '/metrics', headers: { host: 'evil.example' } });
    expect(rebound.statusCode).toBe(421);
    // and /metrics reserves nothing, writes nothing: POST is not a route
    expect((await app.inject({ method: 'POST', url: '/metrics', headers: { host: '127.0.0.1' } })).statusCode).toBe(405);
  });
});

describe('domain locality', () => {
  const shape = [0, 1, 2, 3].map((id) => ({ id, cpus: [id * 2, id * 2 + 1], hasMemory: true, hasCpu: true, distances: [] }));
  const mem = new Map([[0, 600], [1, 300], [2, 100]]);
  it('on the nodes its vCPUs may run on, when narrower than the host', () => {
    expect(domainLocality(mem, { cpusAllowed: [0, 1, 2, 3], nodeset: [] }, shape)).toBeCloseTo(0.9);
    expect(domainLocality(mem, { cpusAllowed: [4], nodeset: [0] }, shape)).toBeCloseTo(0.1);
  });
  it('else on its NUMA nodeset; else on its largest node; none without memory', () => {
    expect(domainLocality(mem, { cpusAllowed: [0, 1, 2, 3, 4, 5, 6, 7], nodeset: [1] }, shape)).toBeCloseTo(0.3);
    expect(domainLocality(mem, { cpusAllowed: undefined, nodeset: [] }, shape)).toBeCloseTo(0.6);
    expect(domainLocality(new Map(), { nodeset: [] }, shape)).toBeUndefined();
  });
});

describe('a guest\'s memory per node for /metrics: its own cgroup, read without blocking', () => {
  it('readOwnCgroupNumaAsync reads what readOwnCgroupNuma reads; a shared cgroup or none gives undefined', async () => {
    const t = tempDir();
    try {
      const root = copyFixture('4node-westmere-ex', t.dir);
      const cgroup = '/machine.slice/machine-qemu\\x2d1\\x2dvm.scope/libvirt';
      writeFakeProc(root, { pid: 300, comm: 'qemu-system-x86', rssMiB: 2048, cpuTicks: 1, cpusAllowed: [0], memByNode: { 1: 2048 }, cgroup, numaStat: 'anon N0=0 N1=2147483648 N2=0 N3=0\nfile N0=1048576 N1=0 N2=0 N3=0\n' });
      writeFakeProc(root, { pid: 400, comm: 'db', rssMiB: 1, cpuTicks: 1, cpusAllowed: [0], memByNode: { 0: 1 } });
      const fs = new FsRoot(root);
      const read = await readOwnCgroupNumaAsync(fs, 300);
      expect(read).toEqual(readOwnCgroupNuma(fs, 300));
      expect(read).toEqual(new Map([[0, 1024], [1, 2_097_152], [2, 0], [3, 0]]));
      expect(await readOwnCgroupNumaAsync(fs, 400)).toBeUndefined(); // no cgroup of its own
      expect(await readOwnCgroupNumaAsync(fs, 999)).toBeUndefined(); // gone
    } finally {
      t.cleanup();
    }
  });
});
