// Every route of the HTTP API against a fake AdvisorApi: what the server itself decides (parsing, limits, the
// "client gone" rule, rendering, status codes, the one error shape), with no daemon behind it.
import pino from 'pino';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { httpStatusOf, ledgerBusy, NumadvisorError, type ErrorCode } from '../../src/errors.js';
import { NUMAD_DEFAULTS, type NumadOp } from '../../src/model/numad-settings.js';
import { ReservationLedger, type Reservation } from '../../src/model/reservations.js';
import { adviseNumad } from '../../src/policy/numad.js';
import type { PlacementRequest, PolicyNode } from '../../src/policy/types.js';
import type { AdviseOptions, AdvisorApi, DomainMoveOutcomeView, DomainsApi, DomainView, MemoryGuardVerdictView, NodeView, PlanResult, ProcessView } from '../../src/server/advisor-api.js';
import { buildApp } from '../../src/server/app.js';
import { VERSION } from '../../src/version.js';

const policyNode = (id: number, distances: number[]): PolicyNode => ({
  id,
  hasMemory: true,
  hasCpu: true,
  cpuTotalHundredths: 800,
  memTotalMiB: 16_384,
  cpuFreeHundredths: 700,
  memFreeMiB: 15_000,
  distances,
});
const HOST = [policyNode(0, [10, 21]), policyNode(1, [21, 10])];
const T0 = Date.parse('2026-01-01T00:00:00Z');

interface Calls {
  beforeAdvice: number;
  advise: { request: PlacementRequest; options: AdviseOptions }[];
  release: string[];
  applyNumadOps: NumadOp[][];
  setFilter: { include: string[]; exclude: string[] }[];
  rollback: string[];
}

/** The pure policy answers; a ledger with a fixed clock makes the reservations. */
function fakeApi(overrides: Partial<AdvisorApi> = {}): { api: AdvisorApi; calls: Calls; ledger: ReservationLedger } {
  const ledger = new ReservationLedger();
  const calls: Calls = { beforeAdvice: 0, advise: [], release: [], applyNumadOps: [], setFilter: [], rollback: [] };
  const nodes: NodeView[] = HOST.map((n) => ({
    ...n,
    cpus: n.id === 0 ? [0, 1, 2, 3, 4, 5, 6, 7] : [8, 9, 10, 11, 12, 13, 14, 15],
    reservedCpuHundredths: 0,
    reservedMemMiB: 0,
    availableCpuHundredths: n.cpuFreeHundredths,
    availableMemMiB: n.memFreeMiB,
    hugepages: [],
  }));
  const api: AdvisorApi = {
    beforeAdvice: () => {
      calls.beforeAdvice++;
    },
    advise: async (request, options) => {
      calls.advise.push({ request, options });
      const advice = adviseNumad(HOST, request);
      const reservation = options.reserve ? ledger.reserve(advice, { nowMs: T0, ttlMs: options.ttlMs ?? 300_000, client: options.client }) : undefined;
      return { advice, reservation };
    },
    release: async (id) => {
      calls.release.push(id);
      return ledger.release(id);
    },
    nodes: () => ({
      takenAt: '2026-01-01T00:00:00.000Z',
      cpuSampleWindowMs: 1000,
      capacity: { inactiveFileIsFree: true, htPercent: 20, reservedCpus: new Set([0, 1, 3]) },
      cpuAllocationRatio: 4,
      reservationTtlMs: 300_000,
      nodes,
    }),
    reservations: () => ledger.list(),
    numadSettings: () => NUMAD_DEFAULTS,
    applyNumadOps: (ops) => {
      calls.applyNumadOps.push(ops);
      return { settings: { ...NUMAD_DEFAULTS, utilizationTargetPercent: 80 }, shutdown: false };
    },
    processes: () => [PROCESS],
    plan: () => PLAN,
    health: () => ({ startedAtMs: Date.now() - 5_000, nodeCount: 2, reservationCount: ledger.size }),
    metrics: async () => ({ nodes, cpuAllocationRatio: 4, reservations: { unbound: ledger.size, bound: 0 }, planMoves: 0, libvirtConnected: undefined, domains: [] }),
    domains: undefined,
    ...overrides,
  };
  return { api, calls, ledger };
}

const PROCESS: ProcessView = {
  pid: 4242,
  comm: 'qemu-kvm',
  threads: 6,
  rssMiB: 2048,
  vsizeMiB: 4096,
  cpuUsedHundredths: 150,
  cpusAllowed: [0, 1],
  memsAllowed: [0],
  isLibvirtDomain: true,
  excluded: false,
  included: false,
};
const PLAN: PlanResult = { apply: 'none', plan: { atMs: T0, moves: [], skipped: [{ pid: 4242, comm: 'qemu-kvm', reason: 'dwell' }] } };

const DOMAIN: DomainView = {
  name: 'web1',
  uuid: '6f1c8a36-2f41-4c1e-9d0b-7a1e2b3c4d5e',
  id: 3,
  vcpus: 2,
  memoryMiB: 2048,
  numaMode: 'strict',
  nodeset: [0, 1],
  pid: 4242,
  vcpuTids: { '0': 4243, '1': 4244 },
  iothreadTids: {},
  cgroups: { '4243': '/machine.slice/web1' },
  adminPins: { vcpus: [], emulator: false, iothreads: [] },
  excluded: false,
  reservation: null,
  memoryGuard: null,
};
/** A widened restrictive domain, short again on its two nodes; rendered with nodesets as text and times as ISO. */
const GUARD_VERDICT: MemoryGuardVerdictView = {
  uuid: DOMAIN.uuid,
  name: 'web1',
  pid: 4242,
  state: 'short',
  nodes: [0, 1],
  untouchedMiB: 6144,
  freeMiB: 5120,
  othersUntouchedMiB: 512,
  headroomMiB: -1536,
  thresholdMiB: 1024,
  action: { kind: 'widen', to: [0, 1, 3] },
  widened: { from: [0], to: [0, 1], atMs: T0 },
  reason: 'short: …; widen to nodes (0-1,3)',
};
const GUARD_JSON = {
  state: 'short',
  nodeset: '0-1',
  untouchedMiB: 6144,
  freeMiB: 5120,
  othersUntouchedMiB: 512,
  headroomMiB: -1536,
  thresholdMiB: 1024,
  action: 'widen',
  actionNodeset: '0-1,3',
  widenedFrom: '0',
  widenedAt: new Date(T0).toISOString(),
  reason: 'short: …; widen to nodes (0-1,3)',
};
const OUTCOME: DomainMoveOutcomeView = {
  ok: true,
  domain: 'web1',
  uuid: DOMAIN.uuid,
  action: 'rollback',
  memoryMoved: false,
  reason: 'restored the placement from before the move of its CPUs',
  before: { mode: 'strict', nodeset: '1', vcpuPins: [[8], [9]], emulatorPin: [8], iothreadPins: [] },
  after: { mode: 'strict', nodeset: '1', vcpuPins: [[0], [1]], emulatorPin: [0], iothreadPins: [] },
  elapsedMs: 3,
};

function fakeDomains(calls: Calls): DomainsApi {
  let filter = { include: [] as string[], exclude: [] as string[] };
  return {
    connection: () => ({ uri: 'qemu:///system', connected: true, connects: 1, lastError: null }),
    movesDomains: () => false,
    filter: () => filter,
    setFilter: (f) => {
      calls.setFilter.push(f);
      filter = f;
    },
    list: () => [{ ...DOMAIN, memoryGuard: GUARD_VERDICT }],
    // The guest's memory as the daemon read it: 1.4 MiB rounds to 1, locality 0.756 floors to 75 %.
    memory: async () => [{ name: DOMAIN.name, memoryMiBByNode: new Map([[0, 3071.6], [1, 1.4]]), localityRatio: 0.756 }],
    count: () => 1,
    memoryGuard: () => ({ settings: { mode: 'widen', headroomMiB: 1024 }, acts: false, evaluatedAtMs: T0, verdicts: [GUARD_VERDICT] }),
    rollback: async (key) => {
      calls.rollback.push(key);
      return key === DOMAIN.name || key === DOMAIN.uuid ? OUTCOME : undefined;
    },
  };
}

const apps: FastifyInstance[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const app of apps.splice(0)) await app.close();
});

function appFor(api: AdvisorApi): FastifyInstance {
  const app = buildApp({ api, logger: pino({ level: 'silent' }) });
  apps.push(app);
  return app;
}

/** The one error shape: exactly {error:{code,message}}, sent with the code's status. */
function expectError(r: LightMyRequestResponse, code: ErrorCode, message?: RegExp): void {
  expect(r.statusCode, r.body).toBe(httpStatusOf(code));
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  const body = r.json<{ error: { code: string; message: string } }>();
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message']);
  expect(body.error.code).toBe(code);
  if (message) expect(body.error.message).toMatch(message);
}

interface AdviceBody {
  nodeset: string;
  nodes: number[];
  fits: boolean;
  centres: unknown[];
  perNode: { node: number; chosen: boolean }[];
  reservation: Reservation | null;
}

describe('GET /v1/advice', () => {
  it('answers from the api, reserves by default, lists the chosen nodes only, and times itself', async () => {
    const { api, calls } = fakeApi();
    const r = await appFor(api).inject({ method: 'GET', url: '/v1/advice?cpus=1.5&mem=1024' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['server-timing']).toMatch(/^app;dur=\d+\.\d{3}$/);
    expect(calls.beforeAdvice).toBe(1);
    expect(calls.advise).toEqual([{ request: { cpuHundredths: 150, memMiB: 1024 }, options: { reserve: true, client: 'api' } }]);
    const body = r.json<AdviceBody>();
    expect(Object.keys(body).sort()).toEqual(['centre', 'centres', 'fits', 'minNodes', 'nodes', 'nodeset', 'perNode', 'policy', 'reasons', 'request', 'reservation', 'unmet']);
    expect(body.fits).toBe(true);
    expect(body.centres).toEqual([]);
    expect(body.perNode.map((p) => p.node)).toEqual(body.nodes);
    expect(body.reservation?.nodeset).toBe(body.nodeset);
  });

  it('a reservation whose answer was written to the socket stays reserved', async () => {
    const { api, calls, ledger } = fakeApi();
    const app = appFor(api);
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const res = await fetch(`${address}/v1/advice?cpus=1&mem=1`);
    expect(res.status).toBe(200);
    const id = ((await res.json()) as AdviceBody).reservation?.id;
    // closing waits for the connection, so the reply's close has been seen
    await app.close();
    expect(calls.release).toEqual([]);
    expect(ledger.list().map((r) => r.id)).toEqual([id]);
  });

  it('a reply that closes before it was written out withdraws its reservation', async () => {
    // inject's reply never reaches a socket, so to the route it closes unfinished: what a client hanging up looks like
    const { api, calls, ledger } = fakeApi();
    const released = new Promise<void>((resolve) => {
      const release = api.release;
      api.release = async (id) => {
        resolve();
        return release(id);
      };
    });
    const r = await appFor(api).inject({ method: 'GET', url: '/v1/advice?cpus=1&mem=1' });
    expect(r.statusCode).toBe(200);
    await released;
    expect(calls.release).toEqual([r.json<AdviceBody>().reservation?.id]);
    expect(ledger.size).toBe(0);
  });

  it('passes ttl (as ms), client and reserve=false; explain=true keeps every node and centre', async () => {
    const { api, calls } = fakeApi();
    const app = appFor(api);
    const r = await app.inject({ method: 'GET', url: '/v1/advice?cpus=2&mem=1&ttl=30&client=libvirt' });
    expect(r.statusCode).toBe(200);
    expect(calls.advise[0]?.options).toEqual({ reserve: true, client: 'libvirt', ttlMs: 30_000 });
    const full = await app.inject({ method: 'GET', url: '/v1/advice?cpus=1&reserve=0&explain=true' });
    expect(calls.advise[1]).toEqual({ request: { cpuHundredths: 100, memMiB: 0 }, options: { reserve: false, client: 'api' } });
    const body = full.json<AdviceBody>();
    expect(body.perNode).toHaveLength(2);
    expect(body.centres).toHaveLength(2);
    expect(body.reservation).toBeNull();
  });

  it('format=nodeset prints the nodeset alone on one line, as text', async () => {
    const { api } = fakeApi();
    const r = await appFor(api).inject({ method: 'GET', url: '/v1/advice?cpus=1&mem=1&format=nodeset&explain=true' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(r.body).toMatch(/^[0-9][0-9,-]*\n$/);
    expect(r.body.split('\n')).toHaveLength(2);
  });

  it.each([
    ['cpus=-1', 'NUMADVISOR_ERR_BAD_REQUEST', /cpus/],
    ['cpus=1.234', 'NUMADVISOR_ERR_BAD_REQUEST', /two decimals/],
    ['mem=100', 'NUMADVISOR_ERR_BAD_REQUEST', /cpus/],
    ['cpus=1&mem=1.5', 'NUMADVISOR_ERR_BAD_REQUEST', /mem/],
    ['cpus=1&colour=red', 'NUMADVISOR_ERR_BAD_REQUEST', /^unknown parameter\(s\): colour$/],
    ['cpus=1&format=xml', 'NUMADVISOR_ERR_BAD_REQUEST', /format/],
    ['cpus=9999999', 'NUMADVISOR_ERR_REQUEST_TOO_LARGE', /^cpus must be at most 1000000$/],
    ['cpus=1&mem=9999999999999', 'NUMADVISOR_ERR_REQUEST_TOO_LARGE', /^mem must be at most 1073741824 MiB$/],
    ['cpus=1&ttl=0', 'NUMADVISOR_ERR_BAD_REQUEST', /^ttl must be between 1 and \d+ seconds$/],
  ] as const)('%s is refused before the api is asked (%s)', async (query, code, message) => {
    const { api, calls } = fakeApi();
    const r = await appFor(api).inject({ method: 'GET', url: `/v1/advice?${query}` });
    expectError(r, code, message);
    expect(calls.advise).toEqual([]);
  });

  it('HEAD is not a route (it would reserve): 405 with Allow, and advise is never called', async () => {
    const { api, calls } = fakeApi();
    const r = await appFor(api).inject({ method: 'HEAD', url: '/v1/advice?cpus=1&mem=1' });
    expect(r.statusCode).toBe(405);
    expect(r.headers.allow).toBe('GET, POST');
    expect(calls.advise).toEqual([]);
    expect(calls.beforeAdvice).toBe(0);
  });

  it('a deadline already past reserves nothing: 503 deadline, advise not called', async () => {
    const { api, calls } = fakeApi();
    const r = await appFor(api).inject({ method: 'GET', url: `/v1/advice?cpus=1&mem=1&deadline=${Date.now() - 1}` });
    expectError(r, 'NUMADVISOR_ERR_DEADLINE', /before it could be answered; nothing was reserved/);
    expect(calls.advise).toEqual([]);
  });

  it('a deadline already past does not matter when nothing is reserved', async () => {
    const { api, calls } = fakeApi();
    const r = await appFor(api).inject({ method: 'GET', url: `/v1/advice?cpus=1&mem=1&reserve=false&deadline=${Date.now() - 1}` });
    expect(r.statusCode).toBe(200);
    expect(calls.advise).toHaveLength(1);
  });

  it('a deadline that passes while the reservation is saved withdraws it: released, same 503', async () => {
    const deadline = Date.now() + 60_000;
    const { api, calls, ledger } = fakeApi();
    const advise = api.advise;
    api.advise = async (request, options) => {
      const result = await advise(request, options);
      // saving took until after the client's deadline
      vi.spyOn(Date, 'now').mockReturnValue(deadline + 1);
      return result;
    };
    const r = await appFor(api).inject({ method: 'GET', url: `/v1/advice?cpus=1&mem=1&deadline=${deadline}` });
    expectError(r, 'NUMADVISOR_ERR_DEADLINE', /while its answer was being saved; the reservation was withdrawn/);
    expect(calls.advise).toHaveLength(1);
    expect(calls.release).toHaveLength(1);
    expect(ledger.size).toBe(0);
  });

  it("the api's own errors leave in the error shape with their status; anything else is a 500", async () => {
    const busy = fakeApi({ advise: async () => Promise.reject(ledgerBusy('a local numad -w answer is being recorded; ask again')) });
    expectError(await appFor(busy.api).inject({ method: 'GET', url: '/v1/advice?cpus=1' }), 'NUMADVISOR_ERR_BUSY', /ask again/);
    const broken = fakeApi({ advise: async () => Promise.reject(new Error('boom')) });
    expectError(await appFor(broken.api).inject({ method: 'GET', url: '/v1/advice?cpus=1' }), 'NUMADVISOR_ERR_INTERNAL', /^internal error; see the daemon log$/);
  });
});

describe('POST /v1/advice', () => {
  it('takes JSON cpus with two decimals and passes the options', async () => {
    const { api, calls } = fakeApi();
    const r = await appFor(api).inject({ method: 'POST', url: '/v1/advice', payload: { cpus: 1.5, mem: 512, reserve: false, ttlSeconds: 60, client: 'x' } });
    expect(r.statusCode).toBe(200);
    expect(calls.advise).toEqual([{ request: { cpuHundredths: 150, memMiB: 512 }, options: { reserve: false, client: 'x', ttlMs: 60_000 } }]);
    expect(r.json<AdviceBody>().reservation).toBeNull();
  });

  it.each([
    ['{"cpus":1.001}', /two decimals/],
    ['{"cpus":"2"}', /cpus/],
    ['{"cpus":1,"extra":true}', /unknown parameter\(s\): extra/],
    ['{"cpus":', undefined],
  ])('%s → 400, advise not called', async (payload, message) => {
    const { api, calls } = fakeApi();
    const r = await appFor(api).inject({ method: 'POST', url: '/v1/advice', headers: { 'content-type': 'application/json' }, payload });
    expectError(r, 'NUMADVISOR_ERR_BAD_REQUEST', message);
    expect(calls.advise).toEqual([]);
  });
});

describe('nodes, reservations, options, processes, plan', () => {
  it('GET /v1/nodes renders the options (nodeset text, seconds) and passes the nodes through', async () => {
    const { api } = fakeApi();
    const r = await appFor(api).inject({ method: 'GET', url: '/v1/nodes' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({
      takenAt: '2026-01-01T00:00:00.000Z',
      cpuSampleWindowMs: 1000,
      options: { inactiveFileIsFree: true, htPercent: 20, reservedCpus: '0-1,3', cpuAllocationRatio: 4, reservationTtlSeconds: 300 },
      nodes: api.nodes().nodes,
    });
  });

  it('GET /v1/reservations lists; DELETE releases (200 {released}) and an unknown id is 404', async () => {
    const { api, calls, ledger } = fakeApi();
    const app = appFor(api);
    const made = ledger.reserve(adviseNumad(HOST, { cpuHundredths: 100, memMiB: 1 }), { nowMs: T0, ttlMs: 300_000, client: 'api' });
    const list = await app.inject({ method: 'GET', url: '/v1/reservations' });
    expect(list.statusCode).toBe(200);
    expect(list.json()).toEqual({ reservations: [made] });
    const del = await app.inject({ method: 'DELETE', url: `/v1/reservations/${made.id}` });
    expect(del.statusCode).toBe(200);
    expect(del.json()).toEqual({ released: made });
    expectError(await app.inject({ method: 'DELETE', url: `/v1/reservations/${made.id}` }), 'NUMADVISOR_ERR_NOT_FOUND', new RegExp(`^no reservation ${made.id}$`));
    expectError(await app.inject({ method: 'DELETE', url: '/v1/reservations/not-a-uuid' }), 'NUMADVISOR_ERR_NOT_FOUND', /^no reservation not-a-uuid$/);
    expect(calls.release).toEqual([made.id, made.id, 'not-a-uuid']);
    expect(calls.advise).toEqual([]);
  });

  it('GET /v1/options shows the settings; POST applies the ops and answers the result; a bad op body is 400', async () => {
    const { api, calls } = fakeApi();
    const app = appFor(api);
    expect((await app.inject({ method: 'GET', url: '/v1/options' })).json()).toEqual({ settings: NUMAD_DEFAULTS });
    const r = await app.inject({ method: 'POST', url: '/v1/options', payload: { ops: [{ opt: 'u', value: 80 }] } });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ settings: { ...NUMAD_DEFAULTS, utilizationTargetPercent: 80 }, shutdown: false });
    expect(calls.applyNumadOps).toEqual([[{ opt: 'u', value: 80 }]]);
    expectError(await app.inject({ method: 'POST', url: '/v1/options', payload: { ops: [{ opt: 'q' }] } }), 'NUMADVISOR_ERR_BAD_REQUEST');
    expect(calls.applyNumadOps).toHaveLength(1);
  });

  it("POST /v1/options: the api's refusal (a bad value) is its 400", async () => {
    const { api } = fakeApi({
      applyNumadOps: () => {
        throw new NumadvisorError('NUMADVISOR_ERR_BAD_REQUEST', 'nothing applied: -u: out of range');
      },
    });
    expectError(await appFor(api).inject({ method: 'POST', url: '/v1/options', payload: { ops: [{ opt: 'u', value: 80 }] } }), 'NUMADVISOR_ERR_BAD_REQUEST', /^nothing applied/);
  });

  it('GET /v1/processes and GET /v1/plan pass the rebalancer\'s views through', async () => {
    const { api } = fakeApi();
    const app = appFor(api);
    expect((await app.inject({ method: 'GET', url: '/v1/processes' })).json()).toEqual({ processes: [PROCESS] });
    expect((await app.inject({ method: 'GET', url: '/v1/plan' })).json()).toEqual(PLAN);
  });
});

describe('domains', () => {
  it.each([
    ['GET', '/v1/domains', undefined],
    ['PUT', '/v1/domains/filter', { exclude: ['db01'] }],
    ['POST', '/v1/domains/web1/rollback', undefined],
    ['GET', '/v1/memory-guard', undefined],
  ] as const)('without libvirt, %s %s is 503 libvirt unavailable', async (method, url, payload) => {
    const { api } = fakeApi();
    const r = await appFor(api).inject({ method, url, ...(payload ? { payload } : {}) });
    expectError(r, 'NUMADVISOR_ERR_LIBVIRT_UNAVAILABLE', /--libvirt none/);
  });

  it('GET /v1/domains: connection, apply, filter, and each domain with its nodeset as text, its memory per node and locality, keys in order', async () => {
    const calls = fakeApi().calls;
    const { api } = fakeApi({ domains: fakeDomains(calls) });
    const r = await appFor(api).inject({ method: 'GET', url: '/v1/domains' });
    expect(r.statusCode).toBe(200);
    const body = r.json<{ domains: Record<string, unknown>[] }>();
    expect(body).toEqual({
      libvirt: { uri: 'qemu:///system', connected: true, connects: 1, lastError: null },
      apply: false,
      filter: { include: [], exclude: [] },
      domains: [{ ...DOMAIN, nodeset: '0-1', memoryGuard: GUARD_JSON, memoryMiBByNode: { '0': 3072, '1': 1 }, localityPercent: 75 }],
    });
    expect(Object.keys(body)).toEqual(['libvirt', 'apply', 'filter', 'domains']);
    expect(Object.keys(body.domains[0]!)).toEqual([...Object.keys(DOMAIN), 'memoryMiBByNode', 'localityPercent']);
  });

  it('PUT /v1/domains/filter sets it and answers the filter in force; a bad body is 400', async () => {
    const { api, calls } = fakeApi();
    const withDomains = fakeApi({ domains: fakeDomains(calls) }).api;
    const app = appFor(withDomains);
    const r = await app.inject({ method: 'PUT', url: '/v1/domains/filter', payload: { exclude: ['db01'] } });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ filter: { include: [], exclude: ['db01'] } });
    expect(calls.setFilter).toEqual([{ include: [], exclude: ['db01'] }]);
    expectError(await app.inject({ method: 'PUT', url: '/v1/domains/filter', payload: { exclude: ['a/b'] } }), 'NUMADVISOR_ERR_BAD_REQUEST');
    expect(calls.setFilter).toHaveLength(1);
    expect(api.domains).toBeUndefined();
  });

  it('POST /v1/domains/:key/rollback answers the outcome; an unknown domain is 404', async () => {
    const calls = fakeApi().calls;
    const { api } = fakeApi({ domains: fakeDomains(calls) });
    const app = appFor(api);
    const r = await app.inject({ method: 'POST', url: `/v1/domains/${DOMAIN.uuid}/rollback` });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual(OUTCOME);
    expectError(await app.inject({ method: 'POST', url: '/v1/domains/nope/rollback' }), 'NUMADVISOR_ERR_NOT_FOUND', /^no running domain named or with UUID nope$/);
    expect(calls.rollback).toEqual([DOMAIN.uuid, 'nope']);
  });
});

describe('memory guard', () => {
  it('GET /v1/memory-guard: mode, headroom, whether it acts, when it last looked, and each domain\'s verdict', async () => {
    const calls = fakeApi().calls;
    const { api } = fakeApi({ domains: fakeDomains(calls) });
    const r = await appFor(api).inject({ method: 'GET', url: '/v1/memory-guard' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({
      mode: 'widen',
      headroomMiB: 1024,
      acts: false,
      evaluatedAt: new Date(T0).toISOString(),
      domains: [{ name: 'web1', uuid: DOMAIN.uuid, pid: 4242, ...GUARD_JSON }],
    });
  });

  it('before its first evaluation: no time, no domains', async () => {
    const calls = fakeApi().calls;
    const domains = { ...fakeDomains(calls), memoryGuard: () => ({ settings: { mode: 'warn' as const, headroomMiB: 512 }, acts: false, evaluatedAtMs: undefined, verdicts: [] }) };
    const { api } = fakeApi({ domains });
    const r = await appFor(api).inject({ method: 'GET', url: '/v1/memory-guard' });
    expect(r.json()).toEqual({ mode: 'warn', headroomMiB: 512, acts: false, evaluatedAt: null, domains: [] });
  });
});

describe('/healthz and what is not a route', () => {
  it('GET /healthz: status, version, pid, uptime from the start time, counts, and libvirt when present', async () => {
    const { api } = fakeApi();
    const r = await appFor(api).inject({ method: 'GET', url: '/healthz' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ status: 'ok', version: VERSION, pid: process.pid, uptimeSeconds: 5, nodes: 2, reservations: 0, libvirt: null });
    const calls = fakeApi().calls;
    const lv = fakeApi({ domains: fakeDomains(calls) });
    const withLibvirt = await appFor(lv.api).inject({ method: 'GET', url: '/healthz' });
    expect(withLibvirt.json<{ libvirt: unknown }>().libvirt).toEqual({ uri: 'qemu:///system', connected: true, domains: 1 });
  });

  it('an unknown path is 404 and a known path with another method is 405 with Allow', async () => {
    const { api } = fakeApi();
    const app = appFor(api);
    expectError(await app.inject({ method: 'GET', url: '/v1/nowhere' }), 'NUMADVISOR_ERR_NOT_FOUND', /^no route GET \/v1\/nowhere$/);
    const r = await app.inject({ method: 'PUT', url: '/v1/nodes' });
    expectError(r, 'NUMADVISOR_ERR_METHOD_NOT_ALLOWED', /^PUT is not allowed on \/v1\/nodes/);
    expect(r.headers.allow).toBe('GET, HEAD');
  });
});
