// The HTTP API: thin routes over the AdvisorApi it is given (./advisor-api.ts), the only thing it knows of the daemon.
// Every input goes through a zod schema; every error leaves as JSON {error:{code,message}} with a 4xx for the
// caller's mistakes, never a crash or an HTML page.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { badRequest, deadlinePassed, internalError, libvirtNotUsed, methodNotAllowed, notFound, stopping, tooLarge } from '../errors.js';
import { formatIdList } from '../topology/idlist.js';
import { cpusTextToHundredths } from '../policy/request-units.js';
import { VERSION } from '../version.js';
import type { AdvisorApi, DomainsApi, MemoryGuardVerdictView } from './advisor-api.js';
import { DEFAULT_REQUEST_DEADLINES, enforceRequestDeadlines, type RequestDeadlines } from './deadlines.js';
import { clientErrorHandler, errorBody, fromFrameworkError, installProtocolRefusals, pathOf, RouteTable } from './http-errors.js';
import { tcpGuard, type TcpAccess } from './tcp-guard.js';
import { adviceFailure, DaemonMetrics } from './metrics.js';
import {
  AdviceBodySchema,
  AdviceQuerySchema,
  AdviceResponseSchema,
  MAX_REQUEST_CPUS,
  MAX_REQUEST_MEM_MIB,
  MAX_RESERVATION_TTL_MS,
  DomainFilterBodySchema,
  DomainKeyParamsSchema,
  OptionsBodySchema,
  ReservationIdParamsSchema,
  type AdviceResponse,
} from './api-schemas.js';

export function parseInput<T extends z.ZodType>(schema: T, input: unknown): z.infer<T> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const message = result.error.issues
    .map((i) => {
      const where = i.path.length > 0 ? i.path.join('.') : '';
      if (i.code === 'unrecognized_keys') return `unknown parameter(s): ${i.keys.join(', ')}`;
      return where ? `${where}: ${i.message}` : i.message;
    })
    .join('; ');
  throw badRequest(message);
}


function checkLimits(cpuHundredths: number, memMiB: number, ttlSeconds: number | undefined): void {
  if (cpuHundredths > MAX_REQUEST_CPUS * 100) throw tooLarge(`cpus must be at most ${MAX_REQUEST_CPUS}`);
  if (memMiB > MAX_REQUEST_MEM_MIB) throw tooLarge(`mem must be at most ${MAX_REQUEST_MEM_MIB} MiB`);
  if (ttlSeconds !== undefined && (ttlSeconds <= 0 || ttlSeconds * 1000 > MAX_RESERVATION_TTL_MS)) {
    throw badRequest(`ttl must be between 1 and ${MAX_RESERVATION_TTL_MS / 1000} seconds`);
  }
}

/** A memory guard verdict for HTTP: node ids as nodeset text, times as ISO text, the action flattened. */
function memoryGuardJson(v: MemoryGuardVerdictView): Record<string, unknown> {
  return {
    state: v.state,
    nodeset: formatIdList(v.nodes),
    untouchedMiB: v.untouchedMiB,
    freeMiB: v.freeMiB,
    othersUntouchedMiB: v.othersUntouchedMiB,
    headroomMiB: v.headroomMiB,
    thresholdMiB: v.thresholdMiB,
    action: v.action.kind,
    actionNodeset: v.action.kind === 'none' ? null : formatIdList(v.action.to),
    widenedFrom: v.widened ? formatIdList(v.widened.from) : null,
    widenedAt: v.widened ? new Date(v.widened.atMs).toISOString() : null,
    reason: v.reason,
  };
}

function responseJsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...json } = z.toJSONSchema(schema, { io: 'output' }) as Record<string, unknown>;
  return json;
}

/** the longest interval Node's timers accept (about 24.8 days): in effect, the connections check never runs */
const CONNECTIONS_CHECK_NEVER_MS = 2 ** 31 - 1;
/** a connection with no traffic for this long is closed (clients here send one small request and read the answer) */
export const CONNECTION_IDLE_TIMEOUT_MS = 60_000;
/**
 * A kept-alive connection with no next request is closed after this (Node's own default; fastify's 72 s is for load
 * balancers). Clients here reuse a connection at once or not at all, and it bounds when a next request must begin.
 */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** Small JSON bodies only: the largest real one is a domain filter. */
const BODY_LIMIT_BYTES = 64 * 1024;
/** Domain names and UUIDs (zod allows 256 characters) may arrive %-encoded, up to three bytes per character. */
const MAX_PARAM_LENGTH = 1024;

export interface AppOptions {
  /** everything the routes serve */
  api: AdvisorApi;
  logger: FastifyBaseLogger;
  /** set for the TCP listener: read-only without this bearer token, loopback Host only (issue #12 F7) */
  tcp?: TcpAccess | undefined;
  /** per-connection header and request deadlines; DEFAULT_REQUEST_DEADLINES when unset */
  requestDeadlines?: RequestDeadlines | undefined;
  /**
   * GET /metrics and the counters the routes keep: the daemon passes one to both its listeners, so each reports the
   * other's advice too; when unset the app makes its own.
   */
  metrics?: DaemonMetrics | undefined;
}

export function buildApp({ api, logger, tcp, requestDeadlines, metrics: sharedMetrics }: AppOptions): FastifyInstance {
  const metrics = sharedMetrics ?? new DaemonMetrics(api);
  const LIMITS = { bodyLimit: BODY_LIMIT_BYTES, maxParamLength: MAX_PARAM_LENGTH };
  const app = Fastify({
    loggerInstance: logger,
    // Thousands of answers a second: per-request log lines would cost more than the answers.
    logController: new LogController({ disableRequestLogging: true }),
    // Small JSON bodies and short path parameters only (BODY_LIMIT_BYTES, MAX_PARAM_LENGTH): nothing here needs more.
    bodyLimit: BODY_LIMIT_BYTES,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Node's HTTP server checks every connection for header/request timeouts on a 30 s interval, even with none
    // open: two wake-ups a minute of an otherwise idle daemon. A per-connection idle timeout and per-connection
    // request deadlines (./deadlines.ts: timers only while a connection exists) bound a slow client instead.
    // requireHostHeader off: Node would answer a missing Host with an empty 400; the hook below answers it in our
    // error format.
    http: { connectionsCheckingInterval: CONNECTIONS_CHECK_NEVER_MS, requireHostHeader: false },
    connectionTimeout: CONNECTION_IDLE_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // Bytes Node's parser refuses, and URLs the router cannot decode, never reach a route: same error format.
    clientErrorHandler,
    // fastify's own 503 while closing is not in our format; the hook below answers it instead.
    return503OnClosing: false,
    frameworkErrors: (err, req, reply) => {
      const e = fromFrameworkError(err, LIMITS, req.headers['content-type']) ?? internalError();
      // fastify types this reply with the route generics of a route that does not exist; it is a plain reply.
      (reply as FastifyReply).code(e.httpStatus).send(errorBody(e));
    },
  });
  const deadlines = requestDeadlines ?? DEFAULT_REQUEST_DEADLINES;
  enforceRequestDeadlines(app.server, deadlines, KEEP_ALIVE_TIMEOUT_MS);
  // Node's own copies of the deadlines, read only by the connections check disabled above; kept equal so they agree
  // should that check ever run.
  app.server.headersTimeout = deadlines.headersMs;
  app.server.requestTimeout = deadlines.requestMs;
  installProtocolRefusals(app.server);

  // Every route by method, so a known path asked with another method is a 405 with Allow, not a 404.
  const routes = new RouteTable();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.add(method, route.url);
  });

  // Server-Timing (a standard header) tells a client how long the daemon itself took, queueing excluded.
  const startedAt = new WeakMap<object, bigint>();
  app.addHook('onRequest', async (req) => {
    startedAt.set(req, process.hrtime.bigint());
  });
  app.addHook('onSend', async (req, reply) => {
    const t0 = startedAt.get(req);
    if (t0 !== undefined) reply.header('server-timing', `app;dur=${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(3)}`);
  });

  // A request that arrives on an open connection while the daemon stops is refused, as fastify would, in our format.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // HTTP/1.1 requires Host (RFC 9112 §3.2); Node's check for it is off (see requireHostHeader above).
  app.addHook('onRequest', async (req, reply) => {
    if (closing) {
      reply.header('connection', 'close');
      throw stopping();
    }
    if (req.raw.httpVersion === '1.1' && req.headers.host === undefined) throw badRequest('an HTTP/1.1 request needs a Host header');
  });
  if (tcp) app.addHook('onRequest', tcpGuard(tcp));

  app.setErrorHandler((err, req, reply) => {
    const known = fromFrameworkError(err, LIMITS, req.headers['content-type']);
    if (known) return reply.code(known.httpStatus).send(errorBody(known));
    logger.error({ err }, 'request failed');
    const e = internalError();
    return reply.code(e.httpStatus).send(errorBody(e));
  });

  app.setNotFoundHandler((req, reply) => {
    const path = pathOf(req.raw.url ?? '/');
    const allowed = routes.allowed(path);
    if (allowed.length === 0) {
      const e = notFound(`no route ${req.method} ${path}`);
      return reply.code(e.httpStatus).send(errorBody(e));
    }
    const e = methodNotAllowed(req.method, path, allowed);
    return reply.code(e.httpStatus).header('allow', allowed.join(', ')).send(errorBody(e));
  });

  const answer = async (
    req: FastifyRequest,
    reply: FastifyReply,
    cpuHundredths: number,
    memMiB: number,
    o: { reserve: boolean; ttlSeconds: number | undefined; client: string; explain: boolean; deadlineMs?: number | undefined; hugepageSizeKiB?: number | undefined; layout?: boolean; allowSlowTier?: boolean },
  ): Promise<AdviceResponse> => {
    checkLimits(cpuHundredths, memMiB, o.ttlSeconds);
    api.beforeAdvice();
    // A client that has given up (its deadline passed while we were stopped or busy, or it hung up) has answered
    // itself: a reservation for it would hold capacity for an answer nobody received.
    const gone = (): boolean => req.raw.socket.destroyed || (o.deadlineMs !== undefined && Date.now() >= o.deadlineMs);
    if (o.reserve && gone()) throw deadlinePassed('the client gave up before it could be answered; nothing was reserved');
    const { advice, reservation, layout } = await api.advise(
      { cpuHundredths, memMiB, ...(o.allowSlowTier ? { allowSlowTier: true } : {}) },
      { reserve: o.reserve, client: o.client, ...(o.ttlSeconds !== undefined ? { ttlMs: o.ttlSeconds * 1000 } : {}), ...(o.hugepageSizeKiB !== undefined ? { hugepageSizeKiB: o.hugepageSizeKiB } : {}), ...(o.layout ? { layout: true } : {}) },
    );
    if (reservation) {
      if (gone()) {
        await api.release(reservation.id).catch(() => undefined);
        throw deadlinePassed('the client gave up while its answer was being saved; the reservation was withdrawn');
      }
      // Closed before the answer reached the socket: nobody received it, so nothing stays reserved.
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) api.release(reservation.id).catch(() => undefined);
      });
    }
    // The full breakdown is 64 entries twice on a 64-node host; callers that want it ask for it.
    const detail = o.explain ? advice : { ...advice, perNode: advice.perNode.filter((p) => p.chosen), centres: [] };
    return { ...detail, reservation: reservation ?? null, ...(o.layout ? { layout: layout ?? null } : {}) };
  };
  const yes = (v: string): boolean => v === 'true' || v === '1';
  /** numadvisor_advice_requests_total and numadvisor_advice_duration_seconds: timed from the request's arrival */
  const counted = async (req: FastifyRequest, run: () => Promise<AdviceResponse>): Promise<AdviceResponse> => {
    const seconds = (): number => {
      const t0 = startedAt.get(req);
      return t0 === undefined ? 0 : Number(process.hrtime.bigint() - t0) / 1e9;
    };
    try {
      const a = await run();
      metrics.adviceAnswered(a.fits ? 'fit' : 'no_fit', seconds());
      return a;
    } catch (err) {
      metrics.adviceAnswered(adviceFailure(err), seconds());
      throw err;
    }
  };

  // fastify compiles a serializer from the response's JSON Schema (fast-json-stringify): several times faster
  // than JSON.stringify for the 64-node answers, and it drops any field the contract does not list.
  const adviceRoute = { schema: { response: { 200: responseJsonSchema(AdviceResponseSchema) } } };

  // No automatic HEAD (issue #12 F14): fastify would run this handler for it, and a HEAD must never reserve.
  app.get('/v1/advice', { ...adviceRoute, exposeHeadRoute: false }, async (req, reply) => {
    let nodeset = false;
    const a = await counted(req, async () => {
      const q = parseInput(AdviceQuerySchema, req.query);
      const ttl = q.ttl === undefined ? undefined : Number(q.ttl);
      const deadlineMs = q.deadline === undefined ? undefined : Number(q.deadline);
      nodeset = q.format === 'nodeset';
      const hugepageSizeKiB = q.hugepages === undefined ? undefined : Number(q.hugepages);
      return answer(req, reply, cpusTextToHundredths(q.cpus), Number(q.mem), { reserve: yes(q.reserve), ttlSeconds: ttl, client: q.client ?? 'api', explain: !nodeset && yes(q.explain), deadlineMs, hugepageSizeKiB, layout: !nodeset && yes(q.layout), allowSlowTier: yes(q.slowtier) });
    });
    // The `numad -w` fast path reads this with curl from a shell: one line, nothing to parse.
    if (nodeset) return reply.type('text/plain; charset=utf-8').serializer((x: unknown) => String(x)).send(`${a.nodeset}\n`);
    return a;
  });

  app.post('/v1/advice', adviceRoute, async (req, reply) =>
    counted(req, async () => {
      const b = parseInput(AdviceBodySchema, req.body);
      const hundredths = Math.round(b.cpus * 100);
      if (Math.abs(b.cpus * 100 - hundredths) > 1e-6) throw badRequest('cpus: at most two decimals');
      return answer(req, reply, hundredths, b.mem, { reserve: b.reserve, ttlSeconds: b.ttlSeconds, client: b.client ?? 'api', explain: b.explain, hugepageSizeKiB: b.hugepagesKiB, layout: b.layout, allowSlowTier: b.allowSlowTier });
    }),
  );

  // Prometheus's text format; read-only, so open over TCP without the token (tcp-guard.ts, docs/metrics.md).
  app.get('/metrics', async (_req, reply) => {
    const text = await metrics.render();
    return reply.type(metrics.contentType).serializer((x: unknown) => String(x)).send(text);
  });

  app.get('/v1/options', async () => ({ settings: api.numadSettings() }));

  app.get('/v1/processes', async () => ({ processes: api.processes() }));

  app.get('/v1/plan', async () => api.plan());

  app.post('/v1/options', async (req) => {
    const { ops } = parseInput(OptionsBodySchema, req.body);
    return api.applyNumadOps(ops);
  });

  app.get('/v1/nodes', async () => {
    const v = api.nodes();
    return {
      takenAt: v.takenAt,
      cpuSampleWindowMs: v.cpuSampleWindowMs,
      options: {
        inactiveFileIsFree: v.capacity.inactiveFileIsFree,
        htPercent: v.capacity.htPercent,
        reservedCpus: formatIdList(v.capacity.reservedCpus),
        cpuAllocationRatio: v.cpuAllocationRatio,
        reservationTtlSeconds: v.reservationTtlMs / 1000,
      },
      nodes: v.nodes,
      // Today's hardware, host-wide; undefined ones are left out of the JSON.
      memoryTiers: v.memoryTiers,
      numaBalancing: v.numaBalancing,
      demotionEnabled: v.demotionEnabled,
      hugepageReserved: v.hugepageReserved,
    };
  });

  app.get('/v1/reservations', async () => {
    return { reservations: api.reservations() };
  });

  app.delete('/v1/reservations/:id', async (req, reply) => {
    const { id } = parseInput(ReservationIdParamsSchema, req.params);
    const released = await api.release(id);
    if (!released) throw notFound(`no reservation ${id}`);
    return reply.code(200).send({ released });
  });

  const needLibvirt = (): DomainsApi => {
    if (!api.domains) throw libvirtNotUsed();
    return api.domains;
  };

  app.get('/v1/domains', async () => {
    const d = needLibvirt();
    const memory = new Map((await d.memory()).map((m) => [m.name, m]));
    return {
      libvirt: d.connection(),
      apply: d.movesDomains(),
      filter: d.filter(),
      // nodeset as text; overriding the spread key keeps its place, so the keys keep their order. memoryMiBByNode
      // and localityPercent (what numadvisor status shows per VM): null when the daemon has no reading of it.
      domains: d.list().map((x) => {
        const m = memory.get(x.name);
        return {
          ...x,
          nodeset: formatIdList(x.nodeset),
          memoryGuard: x.memoryGuard ? memoryGuardJson(x.memoryGuard) : null,
          memoryMiBByNode: m?.memoryMiBByNode ? Object.fromEntries([...m.memoryMiBByNode].map(([n, mib]) => [String(n), Math.round(mib)])) : null,
          localityPercent: m?.localityRatio === undefined ? null : Math.floor(m.localityRatio * 100),
        };
      }),
    };
  });

  app.get('/v1/memory-guard', async () => {
    const g = needLibvirt().memoryGuard();
    return {
      mode: g.settings.mode,
      headroomMiB: g.settings.headroomMiB,
      acts: g.acts,
      evaluatedAt: g.evaluatedAtMs === undefined ? null : new Date(g.evaluatedAtMs).toISOString(),
      domains: g.verdicts.map((v) => ({ name: v.name, uuid: v.uuid, pid: v.pid ?? null, ...memoryGuardJson(v) })),
    };
  });

  app.put('/v1/domains/filter', async (req) => {
    const d = needLibvirt();
    const f = parseInput(DomainFilterBodySchema, req.body);
    d.setFilter(f);
    return { filter: d.filter() };
  });

  app.post('/v1/domains/:key/rollback', async (req) => {
    const d = needLibvirt();
    const { key } = parseInput(DomainKeyParamsSchema, req.params);
    const outcome = await d.rollback(key);
    if (!outcome) throw notFound(`no running domain named or with UUID ${key}`);
    return outcome;
  });

  const libvirtHealth = (d: DomainsApi): { uri: string; connected: boolean; domains: number } => {
    const c = d.connection();
    return { uri: c.uri, connected: c.connected, domains: d.count() };
  };

  app.get('/healthz', async () => {
    const h = api.health();
    return {
      status: 'ok' as const,
      version: VERSION,
      pid: process.pid,
      uptimeSeconds: Math.round((Date.now() - h.startedAtMs) / 1000),
      nodes: h.nodeCount,
      reservations: h.reservationCount,
      libvirt: api.domains ? libvirtHealth(api.domains) : null,
    };
  });

  return app;
}
