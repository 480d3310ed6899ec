// A bounded fuzz of the daemon's HTTP API and of the numad command (fast-check), against a real daemon process on
// the 4-node fixture. Every run uses a fixed seed and a random one; a failure prints how to replay it:
//   FUZZ_SEED=<seed> [FUZZ_PATH=<path>] [FUZZ_ONLY=<property>] npx vitest run --config test/vitest.config.ts test/integration/fuzz.test.ts
// (FUZZ_SEED replaces the random seed; FUZZ_PATH goes with it and replays one counterexample; FUZZ_ONLY runs only the
// properties whose name contains it.)
//
// Invariants: the daemon never dies, never answers 5xx, every non-2xx answer is exactly
// {"error":{"code":"NUMADVISOR_ERR_…","message":"…"}}, a 200 advice carries a canonical nodeset, nothing takes over
// 5 s; `numad … -w …` prints nothing or exactly one canonical nodeset line; at the end the ledger's per-node totals
// equal the sum of its reservations, and a clean restart on the same state dir holds the same reservations.
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numadMain } from '../../src/cli/numad-main.js';
import { parseIntervalArg } from '../../src/cli/numad-args.js';
import { isCanonicalNodeset } from '../../src/topology/idlist.js';
import { fixture, REPO_DIR, tempDir } from '../helpers/fixtures.js';
import { getJson, spawnDaemon, waitHealthy, type DaemonProcess } from '../helpers/daemon-process.js';

const FIXED_SEED = 20_261_127;
const RANDOM_SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
const REPLAY_PATH = process.env.FUZZ_PATH;
const ONLY = process.env.FUZZ_ONLY;
/** the longest any single request or command line may take */
const SLOW_MS = 5_000;
/** distinct defects reported per property and seed before moving on */
const MAX_ROUNDS = 3;
const NUMAD_BIN = path.join(REPO_DIR, 'dist/numad');
const FIXTURE = '4node-westmere-ex';

const t = tempDir('numadvisor-fuzz-');
const socket = path.join(t.dir, 'numadvisor.sock');
const stateDir = path.join(t.dir, 'state');
const logFile = path.join(t.dir, 'numad.log');
// The daemon talks to a libvirt that is not there, so /v1/domains routes are live (with --libvirt none they are 503).
const daemonArgs = ['--libvirt', 'qemu:///system', '--libvirt-socket', path.join(t.dir, 'no-libvirt.sock')];
let daemon: DaemonProcess;
/** every time the daemon was found dead: how it ended and what it printed */
const deaths: string[] = [];
const allStderr: string[] = [];
const counts = { requests: 0, lines: 0, linesBinary: 0 };
const failedProperties: string[] = [];
/** reservation ids the daemon handed out (DELETE picks from them) */
const knownIds: string[] = [];

// Where a numad command run by the fuzz could write: never the test's daemon state, never the host's.
const lineEnvDir = path.join(t.dir, 'numad-cmd');
const lineEnv: NodeJS.ProcessEnv = {
  NUMADVISOR_SOCKET: socket,
  NUMADVISOR_LOG_FILE: path.join(lineEnvDir, 'numad.log'),
  NUMADVISOR_FSROOT: fixture(FIXTURE),
  NUMADVISOR_STATE_DIR: path.join(lineEnvDir, 'state'),
  NUMADVISOR_PID_FILE: path.join(lineEnvDir, 'numad.pid'),
  NUMADVISOR_DAEMON_LOG: path.join(lineEnvDir, 'daemon.log'),
  NUMADVISOR_LIBVIRT: 'none',
};

async function startFuzzDaemon(): Promise<void> {
  daemon = spawnDaemon({ fixture: FIXTURE, socket, stateDir, logFile, args: daemonArgs });
  await waitHealthy(daemon);
}

/**
 * `numad` without -w and without a daemon starts one (like numad's fork): a command line fuzzed while the test's
 * daemon was down may have done so, on the same socket. It is found by its pid file and stopped.
 */
async function stopDaemonStartedByNumad(): Promise<string | undefined> {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(lineEnv.NUMADVISOR_PID_FILE as string, 'utf8'), 10);
  } catch {
    return undefined;
  }
  if (!(pid > 0)) return undefined;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return undefined;
  }
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return `pid ${pid}`;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  process.kill(pid, 'SIGKILL');
  return `pid ${pid}`;
}

/** Restarts the daemon when it died (each death is recorded and reported by the health test). */
async function ensureDaemon(): Promise<void> {
  if (daemon.alive()) return;
  const stray = await stopDaemonStartedByNumad();
  if (stray) deaths.push(`a numad command line started a daemon of its own (${stray}) while the test's daemon was down`);
  const how = await daemon.exited;
  deaths.push(`exit code ${how.code}, signal ${how.signal}\nstderr:\n${daemon.stderr().slice(-3000)}\nstdout:\n${daemon.stdout().slice(-2000)}`);
  allStderr.push(daemon.stderr());
  await startFuzzDaemon();
}

// ---------------------------------------------------------------------------------------------------------------
// Checking answers

interface Violation {
  /** groups violations that are the same defect (kind, status, error code or body shape) */
  signature: string;
  text: string;
}

const ERROR_CODE = /^NUMADVISOR_ERR_[A-Z0-9_]+$/;

/** undefined when `text` is exactly {"error":{"code":"NUMADVISOR_ERR_…","message":string}}; else what is wrong. */
function errorShapeProblem(text: string): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return 'body is not JSON';
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body is not an object';
  const keys = Object.keys(body);
  if (keys.length !== 1 || keys[0] !== 'error') return `top-level keys ${JSON.stringify(keys)}, expected ["error"]`;
  const err = (body as { error: unknown }).error;
  if (typeof err !== 'object' || err === null || Array.isArray(err)) return 'error is not an object';
  const ek = Object.keys(err).sort();
  if (ek.length !== 2 || ek[0] !== 'code' || ek[1] !== 'message') return `error keys ${JSON.stringify(ek)}, expected ["code","message"]`;
  const { code, message } = err as { code: unknown; message: unknown };
  if (typeof code !== 'string' || !ERROR_CODE.test(code)) return `error.code ${JSON.stringify(code)} is not NUMADVISOR_ERR_*`;
  if (typeof message !== 'string') return 'error.message is not a string';
  return undefined;
}

/** What identifies the body of a wrong answer: its error code (ours or fastify's) or its keys. */
function bodyFingerprint(text: string): string {
  try {
    const b = JSON.parse(text) as Record<string, unknown>;
    const inner = b.error as Record<string, unknown> | undefined;
    const code = (typeof inner === 'object' && inner !== null ? inner.code : undefined) ?? b.code;
    if (typeof code === 'string') return code;
    return `keys:${Object.keys(b).sort().join(',')}`;
  } catch {
    return `text:${text.slice(0, 24).replace(/\d+/g, 'N')}`;
  }
}

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | undefined;
}

interface Got {
  status: number;
  text: string;
  ms: number;
  headers?: http.IncomingHttpHeaders;
  error?: string;
  previous?: string;
}

const clip = (s: string, n = 400): string => (s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);
const describeSent = (s: Sent): string =>
  `${s.method} ${clip(s.path, 300)}${Object.keys(s.headers).length ? ` headers=${clip(JSON.stringify(s.headers), 300)}` : ''}${s.body !== undefined ? ` body=${clip(JSON.stringify(s.body), 300)}` : ''}`;
const describeGot = (g: Got): string =>
  g.error ? `no answer: ${g.error} after ${g.ms.toFixed(0)} ms${g.previous ? `\n  (${g.previous})` : ''}` : `HTTP ${g.status} in ${g.ms.toFixed(0)} ms: ${clip(g.text)}`;

function checkAnswer(family: string, s: Sent, g: Got): Violation[] {
  const v: Violation[] = [];
  const what = `${describeSent(s)}\n  → ${describeGot(g)}`;
  if (g.ms > SLOW_MS) v.push({ signature: `${family}|slow`, text: `took ${g.ms.toFixed(0)} ms (> ${SLOW_MS}): ${what}` });
  if (g.error) {
    // Over the body limit the daemon may answer 413 and close before the client has written everything; the
    // client then sees EPIPE/ECONNRESET instead of the answer. That is not the daemon's fault.
    if (Buffer.byteLength(s.body ?? '') > 64 * 1024 && /EPIPE|ECONNRESET/.test(g.error)) return v;
    v.push({ signature: `${family}|no-answer|${g.error.replace(/\d+/g, 'N')}`, text: `no HTTP answer: ${what}` });
    return v;
  }
  if (g.status >= 500) v.push({ signature: `${family}|5xx|${g.status}|${bodyFingerprint(g.text)}`, text: `HTTP ${g.status}: ${what}` });
  if ((g.status < 200 || g.status >= 300) && s.method !== 'HEAD') {
    const problem = errorShapeProblem(g.text);
    if (problem) v.push({ signature: `${family}|error-shape|${g.status}|${bodyFingerprint(g.text)}`, text: `non-2xx answer is not {"error":{"code","message"}} (${problem}): ${what}` });
  }
  if (g.status === 200 && s.method !== 'HEAD' && /^\/v1\/advice(\?|$)/.test(s.path)) {
    let nodeset: string | undefined;
    if (String(g.headers?.['content-type'] ?? '').startsWith('text/plain')) nodeset = g.text.endsWith('\n') ? g.text.slice(0, -1) : `${g.text}<no newline>`;
    else {
      try {
        const b = JSON.parse(g.text) as { nodeset?: unknown; reservation?: { id?: unknown } | null };
        nodeset = typeof b.nodeset === 'string' ? b.nodeset : JSON.stringify(b.nodeset);
        if (typeof b.reservation?.id === 'string') knownIds.push(b.reservation.id);
      } catch {
        nodeset = '<unparsable answer>';
      }
    }
    if (!isCanonicalNodeset(nodeset)) v.push({ signature: `${family}|advice-nodeset`, text: `200 advice without a canonical nodeset (${JSON.stringify(nodeset)}): ${what}` });
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// Sending

let agent: http.Agent;
/** the request each keep-alive connection carried last (a failure may be the previous request's doing) */
const lastOnSocket = new WeakMap<object, Sent>();

function send(s: Sent): Promise<Got> {
  counts.requests++;
  return new Promise((resolve) => {
    const t0 = performance.now();
    let settled = false;
    const finish = (g: Omit<Got, 'ms'>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...g, ms: performance.now() - t0 });
    };
    // Give up on an answer at 3× the limit (it is reported as slow or as no answer either way).
    const timer = setTimeout(() => {
      req?.destroy(new Error('no answer in time'));
      finish({ status: 0, text: '', error: 'no answer in time' });
    }, 3 * SLOW_MS);
    let req: http.ClientRequest | undefined;
    try {
      // Node's client frames a body with neither Content-Length nor chunked encoding for GET, HEAD, DELETE, OPTIONS
      // and TRACE: the bytes would be read as the next request. Say how long it is.
      const headers = s.body !== undefined && !Object.keys(s.headers).some((h) => /^(content-length|transfer-encoding)$/i.test(h)) ? { ...s.headers, 'content-length': String(Buffer.byteLength(s.body)) } : s.headers;
      req = http.request({ socketPath: socket, agent, method: s.method, path: s.path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => finish({ status: res.statusCode ?? 0, text: '', error: e.message }));
        res.on('end', () => finish({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      });
      // A daemon that answers and closes before the body is written (413, a parse error) makes the write fail
      // (EPIPE, ECONNRESET); the answer may still arrive, so wait for it a moment.
      let before: Sent | undefined;
      req.on('socket', (sock) => {
        before = lastOnSocket.get(sock);
        lastOnSocket.set(sock, s);
      });
      req.on('error', (e) =>
        setTimeout(
          () =>
            finish({
              status: 0,
              text: '',
              error: `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}`,
              ...(before ? { previous: `the keep-alive connection it went over last carried ${describeSent(before)}` } : {}),
            }),
          200,
        ),
      );
      if (s.body !== undefined) req.write(s.body);
      req.end();
    } catch (e) {
      // Node's client refused to send it (an invalid header or path): nothing reached the daemon.
      counts.requests--;
      settled = true;
      clearTimeout(timer);
      resolve({ status: -1, text: '', ms: 0, error: `client refused: ${(e as Error).message}` });
    }
  });
}

/** Runs `items` through `fn`, at most `width` at a time. */
async function pool<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i] as T);
      }
    }),
  );
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Running a property with a fixed and a random seed; each distinct defect is reported once with its replay line.

/** batches still running (fast-check's time limit does not stop a predicate that has started) */
const inFlight = new Set<Promise<void>>();

class FuzzFailure extends Error {
  constructor(
    readonly signatures: string[],
    message: string,
  ) {
    super(message);
  }
}

function throwIfViolations(violations: Violation[], suppressed: Set<string>): void {
  const fresh = violations.filter((v) => !suppressed.has(v.signature));
  if (fresh.length === 0) return;
  const sigs = [...new Set(fresh.map((v) => v.signature))];
  throw new FuzzFailure(sigs, `${fresh[0]?.text}${fresh.length > 1 ? `\n(and ${fresh.length - 1} more violation(s) in this batch: ${sigs.join('; ')})` : ''}`);
}

async function fuzz<T>(
  name: string,
  arb: fc.Arbitrary<T>,
  runBatch: (value: T, suppressed: Set<string>) => Promise<void>,
  runs: { fixed: number; random: number },
  /** for all seeds and rounds together, shrinking included */
  budgetMs: number,
): Promise<void> {
  const deadline = Date.now() + budgetMs;
  const reports: string[] = [];
  const seeds: [string, number, number, string | undefined][] = [
    ['fixed', FIXED_SEED, runs.fixed, undefined],
    ['random', RANDOM_SEED, runs.random, REPLAY_PATH],
  ];
  if (process.env.FUZZ_SEED !== undefined) seeds.shift(); // replaying: the given seed only
  for (const [label, seed, numRuns, replayPath] of seeds) {
    const suppressed = new Set<string>();
    for (let round = 0; round < MAX_ROUNDS; round++) {
      // The fixed seed gets at most half of what is left, so the random seed always runs too.
      const left = label === 'fixed' && seeds.length > 1 ? (deadline - Date.now()) / 2 : deadline - Date.now();
      if (left < 200) break;
      const prop = fc.asyncProperty(arb, async (value) => {
        const batch = runBatch(value, suppressed);
        inFlight.add(batch);
        try {
          await batch;
        } finally {
          inFlight.delete(batch);
        }
        // The daemon must have survived the batch.
        if (!daemon.alive()) {
          const how = await daemon.exited;
          throw new FuzzFailure([`${name}|daemon-died`], `the daemon died (exit ${how.code}, signal ${how.signal}) during this batch:\n${daemon.stderr().slice(-2000)}`);
        }
      });
      const details = await fc.check(prop, {
        seed,
        numRuns,
        ...(replayPath !== undefined && round === 0 ? { path: replayPath, endOnFailure: true } : {}),
        plugins: [fc.beforeEach(ensureDaemon), fc.interruptAfterTimeLimit(left)],
      });
      if (!details.failed) break;
      const err = details.errorInstance;
      const sigs = err instanceof FuzzFailure ? err.signatures : [`${name}|other|${String(err).slice(0, 60)}`];
      for (const sig of sigs) suppressed.add(sig);
      reports.push(
        `[${name}, ${label} seed] replay: FUZZ_SEED=${seed} FUZZ_PATH=${details.counterexamplePath} FUZZ_ONLY=${JSON.stringify(name)}\n` +
          `failed after ${details.numRuns} run(s), shrunk ${details.numShrinks} time(s); defect signature(s): ${sigs.join('; ')}\n` +
          `${err instanceof Error ? err.message : String(err)}\n` +
          `counterexample: ${clip(fc.stringify(details.counterexample), 1500)}`,
      );
      if (replayPath !== undefined) break;
    }
  }
  // A run interrupted by the time limit goes on in the background: let it end before the next test starts.
  await Promise.allSettled([...inFlight]);
  if (reports.length > 0) {
    failedProperties.push(name);
    throw new Error(`${reports.length} defect(s) found (random seed of this run: FUZZ_SEED=${RANDOM_SEED}):\n\n${reports.join('\n\n')}`);
  }
}

const only = (name: string): boolean => ONLY === undefined || name.includes(ONLY);

// ---------------------------------------------------------------------------------------------------------------
// Generators: values and text

/** Percent-encode everything Node's client would refuse or that would split the query, keeping given %-escapes. */
function rawUrlText(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp >= 0x21 && cp <= 0x7e && ch !== '#') out += ch;
    else out += [...Buffer.from(ch, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }
  return out;
}

function encodeComponent(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return rawUrlText(s); // lone surrogates
  }
}

const weirdText = fc.constantFrom(
  '', ' ', '%00', '%ZZ', '%E0%A4%A', '%', '%%', '%2', '%C0%AF', '%FF%FE', '%2e%2e%2f', '\u0000', '\u202e', '🙂', 'ü', '\ud800',
  '../../etc/passwd', '<script>', 'true', 'false', 'null', 'undefined', '[]', '{}', '__proto__', 'constructor', 'a'.repeat(300),
);
const garbageText = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 3, arbitrary: weirdText },
);
/** numbers as text: plausible, odd, huge, negative, not quite numbers */
const numberText = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 64 }).map(String) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 200_000 }).map(String) },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      '0', '00', '007', '1.5', '1.25', '1.234', '.5', '2.', '-1', '-0', '+2', ' 2', '2 ', '1e3', '1E2', '0x10', 'NaN', 'Infinity', '-Infinity',
      '1_000', '１', '٣', '9999999', '10000000', '1000000', '1000000.01', '999999.99', '9007199254740993', '1e308', '4294967296',
      '99999999999999999999999999999999', '0.00', '00000000000000000001', '1,5',
    ),
  },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 10n ** 40n }).map(String) },
  { weight: 1, arbitrary: fc.double().map(String) },
  { weight: 1, arbitrary: fc.integer().map(String) },
  { weight: 1, arbitrary: garbageText },
);
/** JSON values for request bodies */
const jsonNumber = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 64 }) },
  { weight: 2, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 2, arbitrary: fc.constantFrom(1e308, -1, 0.001, 1.005, 2 ** 53, 2 ** 53 + 2, -0, 1e-7, 0.1 + 0.2, 1_000_000, 1_000_001, 1_073_741_824, 1_073_741_825, 86_400, 86_401, 0) },
  { weight: 1, arbitrary: fc.integer() },
);
const jsonAny: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: jsonNumber },
  { weight: 2, arbitrary: garbageText },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.array(jsonNumber, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 4 }), jsonNumber, { maxKeys: 2 }) },
);

type Param = [key: string, value: string, encoding: 'component' | 'raw'];

const queryString = (params: Param[]): string =>
  params.map(([k, v, enc]) => (enc === 'component' ? `${encodeComponent(k)}=${encodeComponent(v)}` : `${rawUrlText(k)}=${rawUrlText(v)}`)).join('&');

// ---------------------------------------------------------------------------------------------------------------
// Generators: requests

/** A request template: `knownId` is replaced by a reservation id the daemon handed out (when there is one). */
interface ReqSpec extends Sent {
  knownId?: number;
}

const adviceParams: fc.Arbitrary<Param[]> = fc.oneof(
  // valid-ish: what clients send
  {
    weight: 3,
    arbitrary: fc
      .record({
        cpus: fc.oneof(fc.integer({ min: 0, max: 16 }).map(String), fc.integer({ min: 0, max: 1600 }).map((h) => (h / 100).toFixed(2))),
        mem: fc.option(fc.integer({ min: 0, max: 65_536 }).map(String), { nil: undefined }),
        reserve: fc.option(fc.constantFrom('true', 'false', '1', '0'), { nil: undefined }),
        ttl: fc.option(fc.integer({ min: 1, max: 900 }).map(String), { nil: undefined }),
        client: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
        explain: fc.option(fc.constantFrom('true', 'false'), { nil: undefined }),
        format: fc.option(fc.constantFrom('json', 'nodeset'), { nil: undefined }),
      })
      .map((r) => Object.entries(r).filter((e): e is [string, string] => e[1] !== undefined).map(([k, v]) => [k, v, 'component'] as Param)),
  },
  // hostile: any keys, odd values, duplicates, raw escapes
  {
    weight: 4,
    arbitrary: fc.array(
      fc.tuple(
        fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom('cpus', 'mem', 'reserve', 'ttl', 'client', 'explain', 'format') },
          { weight: 1, arbitrary: fc.constantFrom('cpus[]', 'cpus[0]', 'CPUS', 'cpus ', '__proto__', 'constructor', 'hasOwnProperty', '', 'a.b', 'toString') },
          { weight: 1, arbitrary: garbageText },
        ),
        fc.oneof({ weight: 3, arbitrary: numberText }, { weight: 1, arbitrary: fc.constantFrom('true', 'false', '1', '0', 'yes', 'json', 'nodeset', 'TRUE') }, { weight: 1, arbitrary: garbageText }),
        fc.constantFrom<'component' | 'raw'>('component', 'raw'),
      ),
      { maxLength: 6 },
    ),
  },
);

const adviceGet: fc.Arbitrary<ReqSpec> = fc
  .tuple(adviceParams, fc.constantFrom('', '', '', '&', '&&', '#frag', '?', ';x=1'))
  .map(([params, tail]) => ({ method: 'GET', path: `/v1/advice?${queryString(params)}${tail}`, headers: {} }));

const adviceBodyObject: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record(
      {
        cpus: fc.oneof(fc.integer({ min: 0, max: 16 }), fc.integer({ min: 0, max: 1600 }).map((h) => h / 100)),
        mem: fc.integer({ min: 0, max: 65_536 }),
        reserve: fc.boolean(),
        ttlSeconds: fc.integer({ min: 1, max: 900 }),
        client: fc.string({ maxLength: 20 }),
        explain: fc.boolean(),
      },
      { requiredKeys: ['cpus'] },
    ),
  },
  {
    weight: 4,
    arbitrary: fc.dictionary(
      fc.oneof({ weight: 5, arbitrary: fc.constantFrom('cpus', 'mem', 'reserve', 'ttlSeconds', 'client', 'explain') }, { weight: 1, arbitrary: fc.constantFrom('ttl', 'format', 'extra', '__proto__', 'constructor') }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }) }),
      jsonAny,
      { maxKeys: 6 },
    ),
  },
);

const advicePost: fc.Arbitrary<ReqSpec> = adviceBodyObject.map((b) => ({ method: 'POST', path: '/v1/advice', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) }));

/** One option op: valid shapes with odd values, and shapes that are not ops at all. -i with MAX 0 (shutdown) is left out. */
const optionOp: fc.Arbitrary<unknown> = fc
  .oneof(
    {
      weight: 4,
      arbitrary: fc.oneof(
        fc.record({ opt: fc.constantFrom('C', 'K', 'S'), value: fc.oneof(fc.boolean(), jsonAny) }),
        fc.record({ opt: fc.constantFrom('H', 'l', 'm', 't', 'u'), value: fc.oneof(fc.integer({ min: -10, max: 2000 }), jsonAny) }),
        fc.record({ opt: fc.constant('i'), min: fc.oneof(fc.integer({ min: 0, max: 60 }), jsonAny), max: fc.oneof(fc.integer({ min: 1, max: 60 }), fc.constantFrom(2_147_483, 2_147_484, 3_000_000, 2 ** 40), jsonAny) }),
        fc.record({ opt: fc.constantFrom('p', 'r', 'x'), pid: fc.oneof(fc.integer({ min: -5, max: 4_194_304 }), jsonAny) }),
        fc.record({ opt: fc.constant('R'), cpus: fc.oneof(fc.array(fc.integer({ min: 0, max: 80 }), { maxLength: 8 }), fc.array(fc.oneof(fc.integer(), fc.constantFrom(2 ** 31, 2 ** 53, 1e300)), { maxLength: 4 }), jsonAny) }),
      ),
    },
    { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('opt', 'value', 'min', 'max', 'pid', 'cpus', 'x'), fc.oneof(fc.constantFrom('C', 'w', 'Z', '', 'i'), jsonAny), { maxKeys: 4 }) },
    { weight: 1, arbitrary: jsonAny },
  )
  .map((op) => {
    const o = op as { opt?: unknown; max?: unknown };
    if (typeof o === 'object' && o !== null && o.opt === 'i' && typeof o.max === 'number' && o.max <= 0) return { ...o, max: 15 };
    return op;
  });

const optionsReq: fc.Arbitrary<ReqSpec> = fc.oneof(
  { weight: 5, arbitrary: fc.array(optionOp, { maxLength: 5 }).map((ops) => ({ method: 'POST', path: '/v1/options', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ops }) })) },
  {
    weight: 1,
    arbitrary: fc.oneof(jsonAny, fc.dictionary(fc.constantFrom('ops', 'op', 'extra'), jsonAny, { maxKeys: 2 })).map((b) => ({
      method: 'POST',
      path: '/v1/options',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(b) ?? 'null',
    })),
  },
  { weight: 2, arbitrary: fc.constantFrom('/v1/options', '/v1/nodes', '/v1/reservations', '/v1/processes', '/v1/plan', '/healthz', '/v1/domains').map((p) => ({ method: 'GET', path: p, headers: {} })) },
);

const deleteReq: fc.Arbitrary<ReqSpec> = fc.oneof(
  { weight: 4, arbitrary: fc.nat().map((i) => ({ method: 'DELETE', path: '/v1/reservations/', headers: {}, knownId: i })) },
  { weight: 2, arbitrary: fc.uuid().map((u) => ({ method: 'DELETE', path: `/v1/reservations/${u}`, headers: {} })) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.oneof(
          garbageText,
          fc.constantFrom('', '.', '..', 'a/b', '00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF', '%2F', 'x'.repeat(120), 'x'.repeat(2000)),
          fc.uuid().map((u) => u.toUpperCase()),
          fc.uuid().map((u) => `${u}x`),
          fc.uuid().map((u) => ` ${u}`),
        ),
        fc.constantFrom<'component' | 'raw'>('component', 'raw'),
        fc.constantFrom('', '', '?x=1', '/', '//', '?id=1&id=2'),
      )
      .map(([id, enc, tail]) => ({ method: 'DELETE', path: `/v1/reservations/${enc === 'component' ? encodeComponent(id) : rawUrlText(id)}${tail}`, headers: {} })),
  },
  { weight: 1, arbitrary: fc.constantFrom('/v1/reservations', '/v1/reservations/', '/v1/reservations//x').map((p) => ({ method: 'DELETE', path: p, headers: {} })) },
);

const domainKey = fc.oneof(fc.string({ maxLength: 12 }), weirdText, fc.constantFrom('a/b', 'x'.repeat(257), 'web1', '\n'));
const domainsReq: fc.Arbitrary<ReqSpec> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .oneof(
        fc.record({ include: fc.array(domainKey, { maxLength: 5 }), exclude: fc.array(domainKey, { maxLength: 5 }) }, { requiredKeys: [] }),
        fc.dictionary(fc.constantFrom('include', 'exclude', 'other'), jsonAny, { maxKeys: 3 }),
        fc.constant({ include: Array.from({ length: 4097 }, (_, i) => `d${i}`) }),
      )
      .map((b) => ({ method: 'PUT', path: '/v1/domains/filter', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) })),
  },
  { weight: 2, arbitrary: fc.tuple(domainKey, fc.constantFrom<'component' | 'raw'>('component', 'raw')).map(([k, enc]) => ({ method: 'POST', path: `/v1/domains/${enc === 'component' ? encodeComponent(k) : rawUrlText(k)}/rollback`, headers: {} })) },
  { weight: 1, arbitrary: fc.constantFrom({ method: 'GET', path: '/v1/domains', headers: {} }, { method: 'GET', path: '/v1/domains/filter', headers: {} }, { method: 'DELETE', path: '/v1/domains/filter', headers: {} }) },
);

// Methods HTTP's parser knows (an unknown token such as FOO is a parse error: the raw property sends those).
const anyMethod = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'MKCOL', 'LOCK', 'SEARCH', 'PURGE', 'QUERY', 'M-SEARCH');
const anyPath = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '/', '//', '/v1', '/v1/', '/v1/advice', '/v1/advice/', '/V1/ADVICE', '/v1/advice;x', '/v1/advice%3Fcpus=1', '/v1/nodes', '/v1/nodes/', '/v1/nodes/0',
      '/v1/reservations', '/v1/reservations/', '/v1/options', '/v1/plan', '/v1/processes', '/v1/domains', '/v1/domains/filter', '/healthz', '/healthz/',
      '/healthz?x=%', '/healthz?%%', '/v1/../healthz', '/./healthz', '/v1/%2e%2e/healthz', '/%00', '/v1/nodes%00', '*', 'http://x/healthz', '/v1/advice?cpus=1#x',
      `/${'a'.repeat(5000)}`, `/v1/advice?cpus=1&client=${'c'.repeat(5000)}`, '/v1/reservations/%', '/v1/domains/%/rollback', '/favicon.ico', '/metrics', '/v2/advice',
    ),
  },
  { weight: 2, arbitrary: fc.array(garbageText, { minLength: 1, maxLength: 4 }).map((segs) => `/${segs.map(rawUrlText).join('/')}`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('/v1/', '/v1/advice/', '/v1/reservations/', '/healthz/'), garbageText).map(([p, s]) => p + rawUrlText(s)) },
);
const randomReq: fc.Arbitrary<ReqSpec> = fc
  .tuple(anyMethod, anyPath, fc.option(fc.oneof(garbageText, jsonAny.map((j) => JSON.stringify(j) ?? 'null')), { nil: undefined }), fc.constantFrom<string | undefined>(undefined, 'application/json', 'text/plain'))
  .map(([method, p, body, ct]): ReqSpec => ({ method, path: p, headers: ct ? { 'content-type': ct } : {}, ...(body !== undefined ? { body } : {}) }));

const contentTypes = fc.constantFrom(
  'application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'application/json; charset=utf-16', 'APPLICATION/JSON', 'application/json;',
  'application/jsonx', 'application/problem+json', 'text/plain', 'text/json', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x',
  'application/octet-stream', '', '*/*', ' application/json', 'application/json, text/html', 'json', 'a/b/c', 'application/json; x="unterminated',
);
const badBody = fc.oneof(
  { weight: 2, arbitrary: adviceBodyObject.map((b) => JSON.stringify(b)) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '', '{', '{"cpus":', '{"cpus":1', '{"cpus":1}garbage', '{"cpus":1}{"cpus":2}', '\ufeff{"cpus":1}', "{'cpus':1}", '{cpus:1}', '{"cpus":NaN}', '{"cpus":Infinity}',
      '{"cpus":1,}', '[1,2]', 'null', '"str"', '1', 'true', '{"__proto__":{"x":1},"cpus":1}', '{"constructor":{"prototype":{"x":1}},"cpus":1}',
      '{"cpus":1e999}', '{"cpus":-1e-999}', '{"cpus":1,"cpus":2}', '{"ops":[{"opt":"C","value":true}]}', `{"cpus":${'9'.repeat(400)}}`,
      `${'['.repeat(5000)}${']'.repeat(5000)}`, `{"cpus":1,"client":"${'x'.repeat(70_000)}"}`, 'cpus=1&mem=2', '\u0000\u0001\u0002', '{"cpus":"\\ud800"}',
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: adviceBodyObject.map((b) => JSON.stringify(b)).chain((s) => fc.nat({ max: Math.max(0, s.length - 1) }).map((n) => s.slice(0, n))) },
);
const bodyReq: fc.Arbitrary<ReqSpec> = fc
  .tuple(fc.constantFrom(['POST', '/v1/advice'], ['POST', '/v1/options'], ['PUT', '/v1/domains/filter'], ['DELETE', '/v1/reservations/00000000-0000-4000-8000-000000000000'], ['GET', '/v1/nodes']), contentTypes, badBody, fc.boolean())
  .map(([[method, p], ct, body, withType]): ReqSpec => ({ method: method as string, path: p as string, headers: withType ? { 'content-type': ct } : {}, body }));

// ---------------------------------------------------------------------------------------------------------------
// Raw HTTP over node:net

const rawText: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .record({
        method: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'CONNECT', 'get', 'G ET', '', 'GET\0', 'PRI', 'HEAD') }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) }),
        target: fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom('/healthz', '/v1/advice?cpus=1&mem=64&reserve=false', '/v1/nodes', '/v1/reservations/x', '*', 'http://x/healthz', 'x:1', '/v1/advice?cpus=1 2', '/%', '') },
          { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }).map((s) => `/${s}`) },
          { weight: 1, arbitrary: fc.constant(`/${'a'.repeat(20_000)}`) },
        ),
        version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/0.9', 'HTTP/2.0', 'HTTP/1.1x', 'HTTP/1.', 'http/1.1', '', 'HTTP/1.1 extra'),
        headers: fc.array(
          fc.oneof(
            fc.constantFrom(
              'Host: x', 'Host: x', 'Content-Length: 5', 'Content-Length: -1', 'Content-Length: 99999999999999999999', 'Content-Length: abc', 'Content-Length: 1, 2',
              'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked, gzip', 'Transfer-Encoding: identity', 'Content-Type: application/json', 'Content-Type: text/plain',
              'Connection: close', 'Connection: keep-alive', 'Connection: upgrade', 'Upgrade: websocket', 'Expect: 100-continue', 'Expect: bogus', 'Bad Header: x', 'X\0: y',
              ' folded: x', 'X-Folded: a\r\n b', 'Content-Encoding: gzip', `X-Big: ${'b'.repeat(20_000)}`, ': empty', 'NoColon',
            ),
            fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 12 })).map(([k, v]) => `${k}: ${v}`),
          ),
          { maxLength: 5 },
        ),
        eol: fc.constantFrom('\r\n', '\r\n', '\n', '\r'),
        body: fc.oneof(
          fc.constant(''),
          fc.constantFrom('{"cpus":1}', '5\r\nhello\r\n0\r\n\r\n', 'zz\r\nhello\r\n0\r\n\r\n', '5\r\nhel', '0\r\n\r\n', 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'),
          fc.string({ maxLength: 30 }),
        ),
      })
      .map((r) => `${r.method} ${r.target} ${r.version}${r.eol}${r.headers.map((h) => h + r.eol).join('')}${r.eol}${r.body}`),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.constantFrom('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/nodes HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /healthz\r\n\r\n', '\r\n\r\n', 'GET / HTTP/1.1\r\n', 'POST /v1/advice HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"cpus":1}') },
);

const rawRequest: fc.Arbitrary<RawCase> = fc.record({ raw: rawText, keepOpen: fc.boolean() });

interface RawResponse {
  status: number;
  body: string;
  connectionClose: boolean;
}

/** Splits what the daemon wrote back into responses (content-length, chunked, or until close). */
function parseRawResponses(data: string, headOnly: boolean): { responses: RawResponse[]; problem?: string } {
  const responses: RawResponse[] = [];
  let rest = data;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return { responses, problem: `unterminated response head: ${JSON.stringify(rest.slice(0, 200))}` };
    const head = rest.slice(0, end).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '');
    if (!m) return { responses, problem: `not an HTTP response: ${JSON.stringify(rest.slice(0, 200))}` };
    const status = Number(m[1]);
    const headers = new Map(head.slice(1).map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    rest = rest.slice(end + 4);
    let body = '';
    if (status < 200 || status === 204 || status === 304 || headOnly) body = '';
    else if (headers.has('content-length')) {
      const n = Number(headers.get('content-length'));
      body = Buffer.from(rest).subarray(0, n).toString();
      rest = Buffer.from(rest).subarray(n).toString();
    } else if ((headers.get('transfer-encoding') ?? '').includes('chunked')) {
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        if (lineEnd < 0) break;
        const size = Number.parseInt(rest.slice(0, lineEnd), 16);
        rest = rest.slice(lineEnd + 2);
        if (!(size > 0)) {
          rest = rest.slice(rest.indexOf('\r\n') + 2);
          break;
        }
        body += Buffer.from(rest).subarray(0, size).toString();
        rest = Buffer.from(rest).subarray(size + 2).toString();
      }
    } else {
      body = rest;
      rest = '';
    }
    responses.push({ status, body, connectionClose: /\bclose\b/i.test(headers.get('connection') ?? '') });
    if (headOnly) break;
  }
  return { responses };
}

interface RawCase {
  raw: string;
  /** false: half-close after writing; true: keep our side open and see whether the daemon closes when it says so */
  keepOpen: boolean;
}
interface RawResult {
  data: string;
  ms: number;
  closed: boolean;
}

/** How long a kept-open connection may stay quiet before we stop listening (no answer yet: it may wait for more). */
const RAW_IDLE_MS = 400;
/** How long after an answer that says "Connection: close" the daemon has to close the connection. */
const RAW_CLOSE_MS = 2000;

function sendRaw(c: RawCase): Promise<RawResult> {
  counts.requests++;
  return new Promise((resolve) => {
    const t0 = performance.now();
    const chunks: Buffer[] = [];
    const s = net.createConnection({ path: socket });
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(hard);
      clearTimeout(idle);
      s.destroy();
      resolve({ data: Buffer.concat(chunks).toString('latin1'), ms: performance.now() - t0, closed });
    };
    const hard = setTimeout(() => finish(false), 3 * SLOW_MS);
    let idle: NodeJS.Timeout | undefined;
    // A complete keep-alive answer needs no long wait (a pipelined next answer follows at once); anything else
    // (no answer yet, or one that says Connection: close) is watched for RAW_IDLE_MS.
    const quiet = (): void => {
      if (!c.keepOpen) return;
      clearTimeout(idle);
      const last = parseRawResponses(Buffer.concat(chunks).toString('latin1'), c.raw.startsWith('HEAD ')).responses.at(-1);
      idle = setTimeout(() => finish(false), !last ? RAW_IDLE_MS : last.connectionClose ? RAW_CLOSE_MS : 150);
    };
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      quiet();
    });
    s.on('error', () => finish(true));
    s.on('close', () => finish(true));
    s.on('connect', () => {
      s.write(Buffer.from(c.raw, 'latin1'));
      if (!c.keepOpen) s.end();
      quiet();
    });
  });
}

function checkRaw(c: RawCase, r: RawResult): Violation[] {
  const v: Violation[] = [];
  const what = `raw request (${c.keepOpen ? 'connection kept open' : 'half-closed after writing'}) ${clip(JSON.stringify(c.raw), 300)}\n  → ${clip(JSON.stringify(r.data), 500)} (${r.ms.toFixed(0)} ms${r.closed ? ', closed' : ', connection still open'})`;
  if (!c.keepOpen && (r.ms > SLOW_MS || !r.closed)) v.push({ signature: 'raw|slow', text: `the daemon neither answered and closed within ${SLOW_MS} ms: ${what}` });
  const headOnly = c.raw.startsWith('HEAD ');
  const { responses, problem } = parseRawResponses(r.data, headOnly);
  if (problem) v.push({ signature: 'raw|unparsable', text: `${problem}: ${what}` });
  for (const res of responses) {
    if (res.status >= 500) v.push({ signature: `raw|5xx|${res.status}|${bodyFingerprint(res.body)}`, text: `HTTP ${res.status}: ${what}` });
    if (res.status >= 300 && !headOnly) {
      const p = errorShapeProblem(res.body);
      if (p) v.push({ signature: `raw|error-shape|${res.status}|${bodyFingerprint(res.body)}`, text: `non-2xx answer is not {"error":{"code","message"}} (${p}): ${what}` });
    }
  }
  const last = responses.at(-1);
  if (c.keepOpen && !r.closed && last?.connectionClose) {
    v.push({ signature: 'raw|close-not-closed', text: `answered "Connection: close" but the connection was still open ${RAW_CLOSE_MS} ms later: ${what}` });
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// numad command lines

interface LineOpt {
  letter: string;
  value?: string;
  attached: boolean;
}
interface Line {
  opts: LineOpt[];
  /** trailing argv words that are not options (numad: "Unexpected arg") */
  operands: string[];
  /** bundle the leading flags into one argv word (-dv, -dvw2) */
  bundle: boolean;
}

const VALUELESS = new Set(['d', 'h', 'v', 'V']);

const wValue = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 70_000 })).map(([c, m]) => `${c}:${m}`) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 64 }).map(String) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 16 }), fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 9000 })).map(([c, f, m]) => `${c}.${f}:${m}`) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '99999999999:1', '1:99999999999999999999', '10000000:1', '1000000:1', '1:1073741825', '-1', '2:-5', '.5', '2:', ':512', '2x', '2:512:7', ' 2:512', '+2',
      '0', '0:0', '1e3', '2:1e3', '١:2', '2 :512', '4294967296:4294967296', '9007199254740993:1', '0x10:0x10', '', ':', '2::5',
    ),
  },
  { weight: 1, arbitrary: garbageText },
);
const listValue = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('0', '0-3', '1,2', '0 1;2', '4-2', '0-70000', '4294967296', '0-1,80-82', '') },
  { weight: 1, arbitrary: fc.constantFrom('0-300000000', '0-20000000') },
  { weight: 2, arbitrary: garbageText },
);
const intervalValue = fc
  .oneof(fc.constantFrom('5', '5:15', '0:10', '1:1', '15:5', '3000000', '2147484', '99999999999999999999', '1.5', '-1', '5:-1', ':5', '5:'), garbageText)
  .map((v) => (parseIntervalArg(v)?.max === 0 ? '15' : v)); // MAX 0 shuts the daemon down: not fuzzed
const plainNumber = fc.oneof(fc.integer({ min: -5, max: 200 }).map(String), numberText);

const lineOpt: fc.Arbitrary<LineOpt> = fc
  .oneof(
    { weight: 4, arbitrary: fc.tuple(fc.constant('w'), wValue) },
    { weight: 1, arbitrary: fc.tuple(fc.constant('R'), listValue) },
    { weight: 1, arbitrary: fc.tuple(fc.constant('i'), intervalValue) },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom('C', 'H', 'K', 'l', 'm', 'S', 't', 'u', 'p', 'r', 'x', 'D'), plainNumber) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('d', 'v', 'V', 'h'), fc.constant(undefined)) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('z', 'W', '?', 'Z', '0'), fc.constant(undefined)) },
  )
  .chain(([letter, value]) => fc.boolean().map((attached) => ({ letter, ...(value !== undefined ? { value } : {}), attached: attached && value !== undefined && value !== '' })));

const lineArb: fc.Arbitrary<Line> = fc
  .record({
    opts: fc.array(lineOpt, { minLength: 0, maxLength: 5 }),
    withW: fc.integer({ min: 0, max: 99 }),
    wOpt: wValue.map((value) => ({ letter: 'w', value, attached: false })),
    wAt: fc.nat(),
    operands: fc.oneof({ weight: 12, arbitrary: fc.constant([] as string[]) }, { weight: 1, arbitrary: fc.array(fc.stringMatching(/^[a-z0-9]{1,6}$/), { minLength: 1, maxLength: 2 }) }),
    bundle: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
  })
  .map(({ opts, withW, wOpt, wAt, operands, bundle }) => {
    const all = [...opts];
    // Most lines are what libvirt runs: they carry a -w.
    if (withW < 85 && !all.some((o) => o.letter === 'w')) all.splice(wAt % (all.length + 1), 0, wOpt);
    return { opts: all, operands, bundle };
  });

function lineArgv(line: Line): string[] {
  const argv: string[] = [];
  let i = 0;
  if (line.bundle) {
    let word = '-';
    while (i < line.opts.length && VALUELESS.has(line.opts[i]?.letter ?? '')) word += line.opts[i++]?.letter;
    const next = line.opts[i];
    if (word.length > 1 && next && next.value !== undefined && next.attached) {
      word += `${next.letter}${next.value}`;
      i++;
    }
    if (word.length > 1) argv.push(word);
  }
  for (; i < line.opts.length; i++) {
    const o = line.opts[i] as LineOpt;
    if (o.value === undefined) argv.push(`-${o.letter}`);
    else if (o.attached) argv.push(`-${o.letter}${o.value}`);
    else argv.push(`-${o.letter}`, o.value);
  }
  return [...argv, ...line.operands];
}

interface LineResult {
  code: number | null;
  signal?: string | null;
  stdout: string;
  stderr: string;
  ms: number;
  threw?: string;
}

async function runLineInProcess(argv: string[]): Promise<LineResult> {
  counts.lines++;
  let stdout = '';
  let stderr = '';
  const t0 = performance.now();
  try {
    const code = await Promise.race([
      numadMain('numad', argv, lineEnv, { stdout: (x) => (stdout += x), stderr: (x) => (stderr += x) }),
      new Promise<number>((_, reject) => setTimeout(() => reject(new Error('did not finish in 15 s')), 15_000).unref()),
    ]);
    return { code, stdout, stderr, ms: performance.now() - t0 };
  } catch (e) {
    return { code: null, stdout, stderr, ms: performance.now() - t0, threw: (e as Error).stack ?? String(e) };
  }
}

function runLineBinary(argv: string[]): Promise<LineResult> {
  counts.lines++;
  counts.linesBinary++;
  return new Promise((resolve) => {
    const t0 = performance.now();
    // exec() cannot pass a NUL inside an argument: a real command line never holds one.
    const args = argv.map((a) => a.replaceAll('\0', ''));
    const child = spawn(NUMAD_BIN, args, { env: { ...process.env, ...lineEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr, ms: performance.now() - t0, threw: e.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

const NODESET_LINE = /^(\d+(-\d+)?)(,\d+(-\d+)?)*\n$/;
const VERSION_LINE = /^numad version: [^\n]*\n$/;
const STACK = /\n\s+at .+:\d+:\d+\)?/;

function checkLine(how: string, line: Line, r: LineResult): Violation[] {
  const argv = lineArgv(line);
  const v: Violation[] = [];
  const what = `${how}: numad ${argv.map((a) => JSON.stringify(a)).join(' ')}\n  → exit ${r.code}${r.signal ? ` (signal ${r.signal})` : ''} in ${r.ms.toFixed(0)} ms, stdout ${clip(JSON.stringify(r.stdout), 200)}, stderr ${clip(JSON.stringify(r.stderr), 600)}${r.threw ? `\n  threw: ${clip(r.threw, 1500)}` : ''}`;
  const hasW = line.opts.some((o) => o.letter === 'w');
  const hasV = line.opts.some((o) => o.letter === 'V');
  if (r.threw) v.push({ signature: `${how}|threw|${r.threw.split('\n')[0]?.replace(/\d+/g, 'N').slice(0, 60)}`, text: `the command threw: ${what}` });
  if (r.ms > SLOW_MS) v.push({ signature: `${how}|slow`, text: `took ${r.ms.toFixed(0)} ms (> ${SLOW_MS}): ${what}` });
  const nodesetOk = r.stdout === '' || (hasW && NODESET_LINE.test(r.stdout) && isCanonicalNodeset(r.stdout.slice(0, -1)));
  const versionOk = hasV && VERSION_LINE.test(r.stdout);
  if (!nodesetOk && !versionOk) v.push({ signature: `${how}|stdout`, text: `stdout is neither empty nor one canonical nodeset line: ${what}` });
  if (hasW && !hasV && r.code === 0 && r.stdout === '') v.push({ signature: `${how}|exit0-no-nodeset`, text: `exit 0 with -w but no nodeset: ${what}` });
  if (!r.threw && r.code !== 0 && r.code !== 1) v.push({ signature: `${how}|exit-code|${r.code}|${r.signal}`, text: `exit code other than numad's 0/1: ${what}` });
  if (STACK.test(r.stderr)) v.push({ signature: `${how}|stack-trace|${(/^\w*Error[^\n]*/m.exec(r.stderr)?.[0] ?? '').replace(/\d+/g, 'N').slice(0, 60)}`, text: `a stack trace on stderr: ${what}` });
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// The ledger as the daemon shows it

interface ReservationView {
  id: string;
  expiresAt: string;
  perNode: { node: number; cpuHundredths: number; memMiB: number }[];
}
interface NodeView {
  id: number;
  reservedMemMiB: number;
  reservedCpuHundredths: number;
}

/** Reservations and node totals from one moment (retried until no reservation expired in between). */
async function ledgerView(): Promise<{ reservations: ReservationView[]; nodes: NodeView[]; at: number }> {
  for (let i = 0; i < 20; i++) {
    const r1 = await getJson(socket, '/v1/reservations', 10_000);
    const n = await getJson(socket, '/v1/nodes', 10_000);
    const r2 = await getJson(socket, '/v1/reservations', 10_000);
    const at = Date.now();
    if (r1?.status !== 200 || n?.status !== 200 || r2?.status !== 200) throw new Error(`the daemon did not answer: ${JSON.stringify([r1, n, r2]).slice(0, 1000)}`);
    const a = (r1.body as { reservations: ReservationView[] }).reservations;
    const b = (r2.body as { reservations: ReservationView[] }).reservations;
    if (JSON.stringify(a.map((x) => x.id)) === JSON.stringify(b.map((x) => x.id))) return { reservations: b, nodes: (n.body as { nodes: NodeView[] }).nodes, at };
  }
  throw new Error('the reservations kept changing');
}

function totalsOf(reservations: ReservationView[]): Map<number, { cpu: number; mem: number }> {
  const m = new Map<number, { cpu: number; mem: number }>();
  for (const r of reservations) {
    for (const p of r.perNode) {
      const t0 = m.get(p.node) ?? { cpu: 0, mem: 0 };
      m.set(p.node, { cpu: t0.cpu + p.cpuHundredths, mem: t0.mem + p.memMiB });
    }
  }
  return m;
}

function totalsMismatch(view: { reservations: ReservationView[]; nodes: NodeView[] }): string[] {
  const sums = totalsOf(view.reservations);
  const out: string[] = [];
  for (const n of view.nodes) {
    const s = sums.get(n.id) ?? { cpu: 0, mem: 0 };
    if (s.cpu !== n.reservedCpuHundredths || s.mem !== n.reservedMemMiB) {
      out.push(`node ${n.id}: /v1/nodes says reserved ${n.reservedCpuHundredths} CPU hundredths, ${n.reservedMemMiB} MiB; its ${view.reservations.filter((r) => r.perNode.some((p) => p.node === n.id)).length} reservations sum to ${s.cpu}, ${s.mem}`);
    }
  }
  for (const id of sums.keys()) if (!view.nodes.some((n) => n.id === id)) out.push(`reservations on node ${id}, which /v1/nodes does not list`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------

describe('fuzz: the HTTP API and the numad command against a real daemon (4-node fixture)', () => {
  beforeAll(async () => {
    mkdirSync(lineEnvDir, { recursive: true });
    console.log(`fuzz: fixed seed ${FIXED_SEED}, random seed ${RANDOM_SEED} (replay with FUZZ_SEED=${RANDOM_SEED}); work dir ${t.dir}`);
    agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    await startFuzzDaemon();
  });
  afterAll(async () => {
    agent?.destroy();
    await daemon?.kill('SIGKILL');
    await stopDaemonStartedByNumad();
    console.log(`fuzz: ${counts.requests} API requests, ${counts.lines} numad command lines (${counts.linesBinary} through dist/numad)`);
    t.cleanup();
  });

  /** A property over batches of requests sent concurrently over the keep-alive connections. */
  const httpProperty = (name: string, arb: fc.Arbitrary<ReqSpec>, runs: { fixed: number; random: number }, budgetMs: number, maxBatch = 40): void => {
    it.skipIf(!only(name))(name, async () => {
      await fuzz(
        name,
        fc.array(arb, { minLength: 1, maxLength: maxBatch, size: 'max' }),
        async (batch, suppressed) => {
          const sent: Sent[] = batch.map((r) => {
            if (r.knownId === undefined) return r;
            const id = knownIds.length > 0 ? knownIds[r.knownId % knownIds.length] : '00000000-0000-4000-8000-000000000000';
            return { method: r.method, path: `${r.path}${id}`, headers: r.headers };
          });
          const got = await pool(sent, 8, send);
          const violations = sent.flatMap((s, i) => (got[i]?.status === -1 ? [] : checkAnswer(name, s, got[i] as Got)));
          throwIfViolations(violations, suppressed);
        },
        runs,
        budgetMs,
      );
    }, budgetMs + 30_000);
  };

  httpProperty('GET and POST /v1/advice', fc.oneof({ weight: 3, arbitrary: adviceGet }, { weight: 2, arbitrary: advicePost }), { fixed: 90, random: 90 }, 10_000);
  httpProperty('POST /v1/options and the read-only routes', optionsReq, { fixed: 30, random: 30 }, 6_000, 20);
  httpProperty('DELETE /v1/reservations/<id>', fc.oneof({ weight: 1, arbitrary: adviceGet }, { weight: 3, arbitrary: deleteReq }), { fixed: 25, random: 25 }, 6_000);
  httpProperty('PUT /v1/domains/filter and domain routes', domainsReq, { fixed: 20, random: 20 }, 5_000, 20);
  httpProperty('random methods and paths', randomReq, { fixed: 30, random: 30 }, 8_000);
  httpProperty('malformed bodies and content types', bodyReq, { fixed: 30, random: 30 }, 8_000);

  const rawName = 'raw malformed HTTP over node:net';
  it.skipIf(!only(rawName))(rawName, async () => {
    await fuzz(
      rawName,
      fc.array(rawRequest, { minLength: 1, maxLength: 8, size: 'max' }),
      async (batch, suppressed) => {
        const got = await pool(batch, 8, sendRaw);
        throwIfViolations(batch.flatMap((c, i) => checkRaw(c, got[i] as RawResult)), suppressed);
      },
      { fixed: 40, random: 40 },
      8_000,
    );
  }, 40_000);

  const inProcessName = 'numad command lines (in-process numadMain)';
  it.skipIf(!only(inProcessName))(inProcessName, async () => {
    await fuzz(
      inProcessName,
      // -R expands its CPU list in the calling process: a line with a huge range would stall vitest, so -R lines go
      // through the real binary (next property).
      fc.array(lineArb.filter((l) => !l.opts.some((o) => o.letter === 'R')), { minLength: 1, maxLength: 24, size: 'max' }),
      async (lines, suppressed) => {
        const results = await pool(lines, 8, (l) => runLineInProcess(lineArgv(l)));
        throwIfViolations(lines.flatMap((l, i) => checkLine('in-process', l, results[i] as LineResult)), suppressed);
      },
      { fixed: 40, random: 40 },
      12_000,
    );
  }, 45_000);

  const binaryName = 'numad command lines (dist/numad)';
  it.skipIf(!only(binaryName))(binaryName, async () => {
    await fuzz(
      binaryName,
      fc.array(lineArb, { minLength: 1, maxLength: 10, size: 'max' }),
      async (lines, suppressed) => {
        const results = await pool(lines, 4, (l) => runLineBinary(lineArgv(l)));
        throwIfViolations(lines.flatMap((l, i) => checkLine('dist/numad', l, results[i] as LineResult)), suppressed);
      },
      { fixed: 28, random: 28 },
      25_000,
    );
  }, 60_000);

  it('ran at least 5,000 API requests and 1,000 numad command lines', (ctx) => {
    if (ONLY !== undefined || process.env.FUZZ_SEED !== undefined) ctx.skip();
    // A property stops at its first failures, so the counts are only meaningful when every property ran through.
    if (failedProperties.length > 0) ctx.skip();
    expect(counts.requests).toBeGreaterThanOrEqual(5000);
    expect(counts.lines).toBeGreaterThanOrEqual(1000);
  });

  it('the daemon never died and still answers /healthz', async () => {
    const health = await getJson(socket, '/healthz', SLOW_MS);
    expect({ deaths, alive: daemon.alive(), health: health?.status }).toEqual({ deaths: [], alive: true, health: 200 });
  });

  it('the daemon printed no Node.js warnings or uncaught errors on stderr', () => {
    const text = [...allStderr, daemon.stderr()].join('\n');
    const warnings = [...new Set(text.split('\n').filter((l) => /Warning|Error|Uncaught|unhandled/i.test(l)))];
    expect(warnings.slice(0, 10)).toEqual([]);
  });

  it('ledger totals: each node\'s reserved CPU and memory is the sum of the reservations on it', async () => {
    const view = await ledgerView();
    if (ONLY === undefined) expect(view.reservations.length).toBeGreaterThan(0);
    expect(totalsMismatch(view)).toEqual([]);
  });

  it('a clean restart on the same state dir holds the same reservations and the same totals', async () => {
    const before = await ledgerView();
    const stopped = await daemon.kill('SIGTERM');
    expect(stopped).toEqual({ code: 0, signal: null });
    allStderr.push(daemon.stderr());
    const sentAt = Date.now();
    await startFuzzDaemon();
    const after = await ledgerView();
    const afterIds = new Set(after.reservations.map((r) => r.id));
    const beforeById = new Map(before.reservations.map((r) => [r.id, r]));
    // Only expiry may remove a reservation across a restart; nothing may appear or change.
    const appeared = after.reservations.filter((r) => !beforeById.has(r.id)).map((r) => r.id);
    const lost = before.reservations.filter((r) => !afterIds.has(r.id) && Date.parse(r.expiresAt) > after.at).map((r) => `${r.id} (expires ${r.expiresAt})`);
    const changed = after.reservations.filter((r) => beforeById.has(r.id) && JSON.stringify(beforeById.get(r.id)) !== JSON.stringify(r)).map((r) => r.id);
    const expiredKept = after.reservations.filter((r) => Date.parse(r.expiresAt) <= sentAt).map((r) => r.id);
    expect({ appeared, lost, changed, expiredKept }).toEqual({ appeared: [], lost: [], changed: [], expiredKept: [] });
    expect(totalsMismatch(after)).toEqual([]);
    const expected = totalsOf(before.reservations.filter((r) => afterIds.has(r.id)));
    for (const n of after.nodes) {
      const e = expected.get(n.id) ?? { cpu: 0, mem: 0 };
      expect({ node: n.id, cpu: n.reservedCpuHundredths, mem: n.reservedMemMiB }).toEqual({ node: n.id, cpu: e.cpu, mem: e.mem });
    }
  });
});
