// Issue #12: what a fuzz campaign found in the HTTP API. Each test names its finding (F4, F6, F7, F13, F14) and
// drives a real daemon on a unix socket (and its TCP listener) in a temp dir.
import { existsSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningDaemon } from '../../src/daemon/daemon.js';
import { httpStatusOf, type ErrorCode } from '../../src/errors.js';
import { numadMain } from '../../src/cli/numad-main.js';
import { buildApp } from '../../src/server/app.js';
import { buildAdvisorApi } from '../../src/daemon/advisor-api-impl.js';
import { freePort, request } from '../helpers/http.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/fixtures.js';
import { bytewise, parseRawResponse, rawExchange, type RawResponse, type Target } from '../helpers/raw-http.js';

const execFileP = promisify(execFile);

interface ErrorBody {
  error: { code: ErrorCode; message: string };
}
interface AdviceBody {
  nodeset: string;
  nodes: number[];
  fits: boolean;
  reservation: { id: string; request: { cpuHundredths: number; memMiB: number }; perNode: { node: number; cpuHundredths: number; memMiB: number }[] } | null;
}

/** The one error shape: exactly {error:{code,message}}, a code of the catalogue, sent with that code's status. */
function expectErrorShape(r: RawResponse, status: number, code: ErrorCode): ErrorBody {
  expect(r.status, r.raw.slice(0, 300)).toBe(status);
  expect(r.headers['content-type'], r.raw.slice(0, 300)).toMatch(/^application\/json/);
  const body = JSON.parse(r.body) as ErrorBody;
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message']);
  expect(body.error.code).toBe(code);
  expect(httpStatusOf(body.error.code)).toBe(r.status);
  expect(body.error.message.length).toBeGreaterThan(0);
  return body;
}

const CLOSE = 'Connection: close\r\n';
const json = (method: string, url: string, body: string, extra = ''): string =>
  `${method} ${url} HTTP/1.1\r\nHost: localhost\r\n${CLOSE}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

describe('issue #12 on the unix socket (4-node fixture)', () => {
  const t = tempDir();
  let d: RunningDaemon;
  let sock: string;
  beforeAll(async () => {
    d = await startTestDaemon(t.dir, '4node-westmere-ex');
    sock = d.app.server.address() as string;
  });
  afterAll(async () => {
    await d.close();
    t.cleanup();
  });
  const clearLedger = (): void => {
    for (const r of d.service.ledger.list()) d.service.ledger.release(r.id);
  };

  // Every request here is one the fuzz campaign saw answered outside the error shape (or not at all).
  it.each<[string, number, ErrorCode, boolean, string]>([
    ['a request line that is not HTTP', 400, 'NUMADVISOR_ERR_BAD_REQUEST', true, 'HELLO\r\n\r\n'],
    ['an unknown method', 400, 'NUMADVISOR_ERR_BAD_REQUEST', true, `FOO /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n`],
    ['a NUL in the path', 400, 'NUMADVISOR_ERR_BAD_REQUEST', true, 'GET /heal\0thz HTTP/1.1\r\nHost: localhost\r\n\r\n'],
    ['Content-Length with Transfer-Encoding', 400, 'NUMADVISOR_ERR_BAD_REQUEST', true, 'POST /v1/advice HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two Content-Lengths', 400, 'NUMADVISOR_ERR_BAD_REQUEST', true, 'POST /v1/advice HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n{}'],
    ['a bad chunk size', 400, 'NUMADVISOR_ERR_BAD_REQUEST', true, 'POST /v1/advice HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    ['the HTTP/2 preface', 400, 'NUMADVISOR_ERR_BAD_REQUEST', true, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ['headers over 16 KiB', 431, 'NUMADVISOR_ERR_HEADERS_TOO_LARGE', true, `GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`],
    ['a URL over 16 KiB', 431, 'NUMADVISOR_ERR_HEADERS_TOO_LARGE', true, `GET /v1/advice?cpus=1&client=${'a'.repeat(100_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`],
    ['an HTTP/1.1 request without Host', 400, 'NUMADVISOR_ERR_BAD_REQUEST', false, `GET /healthz HTTP/1.1\r\n${CLOSE}\r\n`],
    ['CONNECT', 405, 'NUMADVISOR_ERR_METHOD_NOT_ALLOWED', true, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'],
    ['a bad %-escape in the path', 400, 'NUMADVISOR_ERR_BAD_REQUEST', false, `GET /v1/%zz HTTP/1.1\r\nHost: localhost\r\n${CLOSE}\r\n`],
    ['a bad %-escape in a path parameter', 400, 'NUMADVISOR_ERR_BAD_REQUEST', false, `DELETE /v1/reservations/%E0%A4%A HTTP/1.1\r\nHost: localhost\r\n${CLOSE}\r\n`],
    ['a path parameter of 2,000 characters', 400, 'NUMADVISOR_ERR_BAD_REQUEST', false, `DELETE /v1/reservations/${'a'.repeat(2000)} HTTP/1.1\r\nHost: localhost\r\n${CLOSE}\r\n`],
    ['PUT on a GET route', 405, 'NUMADVISOR_ERR_METHOD_NOT_ALLOWED', false, `PUT /v1/nodes HTTP/1.1\r\nHost: localhost\r\n${CLOSE}Content-Length: 0\r\n\r\n`],
    ['TRACE', 405, 'NUMADVISOR_ERR_METHOD_NOT_ALLOWED', false, `TRACE /healthz HTTP/1.1\r\nHost: localhost\r\n${CLOSE}\r\n`],
    ['an unknown path', 404, 'NUMADVISOR_ERR_NOT_FOUND', false, `GET /nowhere HTTP/1.1\r\nHost: localhost\r\n${CLOSE}\r\n`],
    ['a text/xml body', 415, 'NUMADVISOR_ERR_UNSUPPORTED_MEDIA_TYPE', false, json('POST', '/v1/advice', '<a/>').replace('application/json', 'text/xml')],
    ['a body without content-type', 415, 'NUMADVISOR_ERR_UNSUPPORTED_MEDIA_TYPE', false, `POST /v1/advice HTTP/1.1\r\nHost: localhost\r\n${CLOSE}Content-Length: 2\r\n\r\n{}`],
    ['a body over 64 KiB', 413, 'NUMADVISOR_ERR_BODY_TOO_LARGE', false, json('POST', '/v1/advice', `{"cpus":1,"client":"${'a'.repeat(70_000)}"}`)],
    ['invalid JSON', 400, 'NUMADVISOR_ERR_BAD_REQUEST', false, json('POST', '/v1/advice', '{"cpus":')],
    ['an empty JSON body', 400, 'NUMADVISOR_ERR_BAD_REQUEST', false, json('POST', '/v1/options', '')],
    ['__proto__ in JSON', 400, 'NUMADVISOR_ERR_BAD_REQUEST', false, json('POST', '/v1/advice', '{"__proto__":{"x":1},"cpus":1}')],
    ['an Expect other than 100-continue', 417, 'NUMADVISOR_ERR_EXPECTATION_FAILED', false, `GET /healthz HTTP/1.1\r\nHost: localhost\r\n${CLOSE}Expect: teapot\r\n\r\n`],
  ])('F13: %s → %d in the error shape', async (_name, status, code, closes, raw) => {
    const before = d.service.ledger.size;
    const r = await rawExchange(sock, [raw]);
    expectErrorShape(r, status, code);
    // Errors from Node's parser come before any request exists: the connection cannot be reused.
    if (closes) expect(r.headers.connection).toBe('close');
    expect(d.service.ledger.size).toBe(before);
  });

  it('F13: a 405 names the allowed methods', async () => {
    const r = await rawExchange(sock, [`DELETE /v1/options HTTP/1.1\r\nHost: localhost\r\n${CLOSE}\r\n`]);
    expectErrorShape(r, 405, 'NUMADVISOR_ERR_METHOD_NOT_ALLOWED');
    expect(r.headers.allow).toBe('GET, HEAD, POST');
  });

  it('F14: HEAD /v1/advice does not reserve', async () => {
    clearLedger();
    const r = await rawExchange(sock, [`HEAD /v1/advice?cpus=2&mem=1024 HTTP/1.1\r\nHost: localhost\r\n${CLOSE}\r\n`]);
    expect(r.status).toBe(405);
    expect(r.headers.allow).toMatch(/\bGET\b/);
    expect(r.headers.allow).not.toMatch(/HEAD/);
    expect(d.service.ledger.size).toBe(0);
    // numad -w reserves with a GET; that stays.
    const g = await request(sock, 'GET', '/v1/advice?cpus=2&mem=1024&reserve=true');
    expect(g.status).toBe(200);
    expect(d.service.ledger.size).toBe(1);
    // HEAD on a read-only route still works.
    const h = await rawExchange(sock, [`HEAD /healthz HTTP/1.1\r\nHost: localhost\r\n${CLOSE}\r\n`]);
    expect(h.status).toBe(200);
    clearLedger();
  });

  it.each<[string, unknown[]]>([
    ['H 5 (numad takes 0 or 10..1000000)', [{ opt: 'H', value: 5 }]],
    ['H 1000001', [{ opt: 'H', value: 1_000_001 }]],
    ['H -1', [{ opt: 'H', value: -1 }]],
    ['m 49', [{ opt: 'm', value: 49 }]],
    ['t 101', [{ opt: 't', value: 101 }]],
    ['u 131', [{ opt: 'u', value: 131 }]],
    ['i with MAX below MIN', [{ opt: 'i', min: 10, max: 5 }]],
    ["i beyond numad's int", [{ opt: 'i', min: 5, max: 2 ** 31 }]],
    ['p 0', [{ opt: 'p', pid: 0 }]],
    ['x -7', [{ opt: 'x', pid: -7 }]],
    ['a pid over pid_max', [{ opt: 'r', pid: 2 ** 31 }]],
    ['R of 10,000 CPUs', [{ opt: 'R', cpus: Array.from({ length: 10_000 }, (_, i) => i) }]],
    ['R naming CPU 100000', [{ opt: 'R', cpus: [100_000] }]],
    ['l 2^40', [{ opt: 'l', value: 2 ** 40 }]],
    ['a good batch with one bad op last', [{ opt: 'm', value: 60 }, { opt: 'u', value: 70 }, { opt: 'C', value: false }, { opt: 'H', value: 5 }]],
  ])('F6: POST /v1/options with %s → 400, nothing applied, nothing logged', async (_name, ops) => {
    const settings = JSON.stringify(d.control.settings);
    const log = readFileSync(d.numadLog.path, 'utf8');
    const r = await rawExchange(sock, [json('POST', '/v1/options', JSON.stringify({ ops }))]);
    expectErrorShape(r, 400, 'NUMADVISOR_ERR_BAD_REQUEST');
    expect(JSON.stringify(d.control.settings)).toBe(settings);
    expect(readFileSync(d.numadLog.path, 'utf8')).toBe(log);
  });

  it('F6: a valid batch still applies in order (numad -H 0, -H 10, -i 0:7)', async () => {
    const r = await request(sock, 'POST', '/v1/options', { ops: [{ opt: 'H', value: 0 }, { opt: 'm', value: 55 }, { opt: 'i', min: 0, max: 7 }, { opt: 'p', pid: 4242 }] });
    expect(r.status).toBe(200);
    expect(d.control.settings).toMatchObject({ thpScanSleepMs: null, memLocalityTargetPercent: 55, intervalMinS: 0, intervalMaxS: 7, includePids: [4242] });
    expect(readFileSync(d.numadLog.path, 'utf8')).toMatch(/Changing target memory locality to 55\n.*Changing interval to 0:7\n.*Adding PID 4242 to inclusion PID list\n$/);
  });

  it('F6: `numad -p abc -u 75` with a daemon running leaves the pid 0 out, with a warning, and applies -u', async () => {
    let stderr = '';
    const io = { stdout: () => {}, stderr: (x: string) => void (stderr += x) };
    expect(await numadMain('numad', ['--socket', sock, '-p', 'abc', '-u', '75'], { PATH: process.env.PATH }, io)).toBe(0);
    expect(stderr).toBe('numad: ignoring -p 0: a pid is 1..4194304\n');
    expect(d.control.settings.utilizationTargetPercent).toBe(75);
    expect(d.control.settings.includePids).not.toContain(0);
  });

  it('F4: a request that cannot fit does not hold the host: the next VM still gets a single node', async () => {
    clearLedger();
    for (const huge of ['cpus=2&mem=100000000', 'cpus=1000000&mem=1024', 'cpus=1000000&mem=1073741824']) {
      const big = (await request(sock, 'GET', `/v1/advice?${huge}`)).body as AdviceBody;
      expect(big.fits).toBe(false);
      expect(big.nodeset).toBe('0-3');
      const held = big.reservation?.perNode ?? [];
      expect(held.reduce((s, p) => s + p.memMiB, 0)).toBeLessThanOrEqual(big.reservation?.request.memMiB ?? 0);
      expect(held.reduce((s, p) => s + p.cpuHundredths, 0)).toBeLessThanOrEqual(big.reservation?.request.cpuHundredths ?? 0);
    }
    const next = (await request(sock, 'GET', '/v1/advice?cpus=2&mem=1024')).body as AdviceBody;
    expect(next.fits).toBe(true);
    expect(next.nodes).toHaveLength(1);
    // What an oversized request can get (memory it asked for 1 GiB of, on one node) it still holds.
    const list = (await request(sock, 'GET', '/v1/reservations')).body as { reservations: NonNullable<AdviceBody['reservation']>[] };
    const cpuOnly = list.reservations.find((r) => r.request.cpuHundredths === 100_000_000 && r.request.memMiB === 1024);
    expect(cpuOnly?.perNode.reduce((s, p) => s + p.memMiB, 0)).toBe(1024);
    clearLedger();
  });
});

describe('issue #12 F7: the TCP listener', () => {
  const t = tempDir();
  let d: RunningDaemon;
  let port: number;
  let tokenFile: string;
  let token: string;
  const DEADLINES = { headersMs: 1_500, requestMs: 3_000 };
  beforeAll(async () => {
    port = await freePort();
    tokenFile = path.join(t.dir, 'state', 'api-token');
    d = await startTestDaemon(t.dir, '4node-westmere-ex', { tcpPort: port, requestDeadlines: DEADLINES });
    token = existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : '';
  });
  afterAll(async () => {
    await d.close();
    t.cleanup();
  });
  const tcp = (): Target => ({ port });
  const get = (url: string, headers = ''): string => `GET ${url} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${CLOSE}${headers}\r\n`;
  /**
   * curl as `nobody`: what any local user can do over 127.0.0.1. Asynchronous: the daemon runs in this process, so a
   * synchronous child would block the very event loop that has to answer it.
   */
  const curlAsNobody = async (args: string[]): Promise<{ status: number; body: string }> => {
    const { stdout } = await execFileP('runuser', ['-u', 'nobody', '--', 'curl', '-s', '-S', '-w', '\n%{http_code}', ...args], { encoding: 'utf8', timeout: 10_000 });
    const out = stdout.trimEnd();
    const nl = out.lastIndexOf('\n');
    return { status: Number(out.slice(nl + 1)), body: out.slice(0, nl) };
  };

  it('F7: the token is 32 random bytes in hex, in a 0640 file owned by root and the socket\'s group', () => {
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    const st = statSync(tokenFile);
    expect(st.mode & 0o777).toBe(0o640);
    expect(st.uid).toBe(0);
    expect(st.gid).toBe(statSync(d.app.server.address() as string).gid);
    const cat = spawnSync('runuser', ['-u', 'nobody', '--', 'cat', tokenFile], { encoding: 'utf8' });
    expect(cat.status).not.toBe(0);
    expect(cat.stdout).toBe('');
  });

  it('F7: as nobody over TCP, GET /v1/nodes works but changing options, reserving, releasing and stopping are refused', async () => {
    const base = `http://127.0.0.1:${port}`;
    const settings = JSON.stringify(d.control.settings);
    const ledger = d.service.ledger.size;
    expect((await curlAsNobody([`${base}/v1/nodes`])).status).toBe(200);
    expect((await curlAsNobody([`${base}/v1/advice?cpus=1&mem=1&reserve=false`])).status).toBe(200);
    const refused = [
      ['-X', 'POST', '-H', 'content-type: application/json', '-d', '{"ops":[{"opt":"m","value":60}]}', `${base}/v1/options`],
      ['-X', 'POST', '-H', 'content-type: application/json', '-d', '{"ops":[{"opt":"i","min":0,"max":0}]}', `${base}/v1/options`],
      [`${base}/v1/advice?cpus=40&mem=100000`],
      [`${base}/v1/advice?cpus=1&mem=1&reserve=1`],
      ['-X', 'POST', '-H', 'content-type: application/json', '-d', '{"cpus":1,"reserve":false}', `${base}/v1/advice`],
      ['-X', 'DELETE', `${base}/v1/reservations/00000000-0000-4000-8000-000000000000`],
      ['-X', 'PUT', '-H', 'content-type: application/json', '-d', '{}', `${base}/v1/domains/filter`],
      ['-X', 'POST', '-H', 'authorization: Bearer 0000', `${base}/v1/domains/x/rollback`],
    ];
    for (const args of refused) {
      const r = await curlAsNobody(args);
      expect(r.status, args.join(' ')).toBe(401);
      expect((JSON.parse(r.body) as ErrorBody).error.code).toBe('NUMADVISOR_ERR_UNAUTHORIZED');
    }
    expect(JSON.stringify(d.control.settings)).toBe(settings);
    expect(d.service.ledger.size).toBe(ledger);
  });

  it('F7: with the bearer token, TCP may reserve and change options; a wrong token may not', async () => {
    const base = `http://127.0.0.1:${port}`;
    const wrongToken = `${token.slice(0, 63)}${token.endsWith('0') ? '1' : '0'}`;
    const wrong = await curlAsNobody(['-H', `authorization: Bearer ${wrongToken}`, `${base}/v1/advice?cpus=1&mem=1`]);
    expect(wrong.status).toBe(401);
    const ok = await curlAsNobody(['-H', `Authorization: Bearer ${token}`, `${base}/v1/advice?cpus=1&mem=1`]);
    expect(ok.status).toBe(200);
    const id = (JSON.parse(ok.body) as AdviceBody).reservation?.id;
    expect(d.service.ledger.get(id ?? '')).toBeDefined();
    const opts = await curlAsNobody(['-H', `authorization: bearer ${token}`, '-H', 'content-type: application/json', '-d', '{"ops":[{"opt":"u","value":77}]}', `${base}/v1/options`]);
    expect(opts.status).toBe(200);
    expect(d.control.settings.utilizationTargetPercent).toBe(77);
  });

  it.each([`evil.example:${'PORT'}`, 'evil.example', '127.0.0.1:1', 'localhost.evil.example', '127.0.0.2'])(
    'F7: TCP refuses Host %s (DNS rebinding)',
    async (host) => {
      const r = await rawExchange(tcp(), [`GET /v1/nodes HTTP/1.1\r\nHost: ${host.replace('PORT', String(port))}\r\n${CLOSE}\r\n`]);
      expectErrorShape(r, 421, 'NUMADVISOR_ERR_MISDIRECTED');
    },
  );

  it('F7: TCP answers Host 127.0.0.1, localhost and [::1], with or without the port', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, '127.0.0.1', 'LOCALHOST']) {
      const r = await rawExchange(tcp(), [`GET /healthz HTTP/1.1\r\nHost: ${host}\r\n${CLOSE}\r\n`]);
      expect(r.status, host).toBe(200);
    }
    // The absolute form names its host in the URL, which then counts instead of Host.
    const abs = await rawExchange(tcp(), [`GET http://evil.example/v1/nodes HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${CLOSE}\r\n`]);
    expectErrorShape(abs, 421, 'NUMADVISOR_ERR_MISDIRECTED');
  });

  it('F7: TCP answers malformed requests in the error shape too', async () => {
    expectErrorShape(await rawExchange(tcp(), ['GARBAGE\r\n\r\n']), 400, 'NUMADVISOR_ERR_BAD_REQUEST');
    expectErrorShape(await rawExchange(tcp(), [get('/v1/nowhere')]), 404, 'NUMADVISOR_ERR_NOT_FOUND');
  });

  it('F7: a request trickled one byte a second is closed within the header deadline', async () => {
    const r = await rawExchange(tcp(), bytewise(get('/v1/nodes')), { gapMs: 1_000, waitMs: 10_000 });
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(DEADLINES.headersMs - 100);
    expect(r.closedAfterMs).toBeLessThan(DEADLINES.headersMs + 1_500);
    expectErrorShape(r, 408, 'NUMADVISOR_ERR_REQUEST_TIMEOUT');
  });

  it('F7: a body trickled one byte a second is closed within the request deadline', async () => {
    const body = JSON.stringify({ cpus: 1, mem: 1, reserve: false });
    const head = `POST /v1/advice HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${CLOSE}Authorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const r = await rawExchange(tcp(), [head, ...bytewise(body)], { gapMs: 1_000, waitMs: 10_000 });
    expect(r.closedAfterMs).toBeLessThan(DEADLINES.requestMs + 1_500);
    expectErrorShape(r, 408, 'NUMADVISOR_ERR_REQUEST_TIMEOUT');
  });

  it('F7: a quick request on the same deadlines is answered', async () => {
    const r = await rawExchange(tcp(), [get('/v1/nodes')]);
    expect(r.status).toBe(200);
  });

  it('F7: the unix socket stays fully privileged (no token) and is trickle-bounded as well', async () => {
    const sock = d.app.server.address() as string;
    const r = await request(sock, 'POST', '/v1/options', { ops: [{ opt: 'u', value: 80 }] });
    expect(r.status).toBe(200);
    expect(d.control.settings.utilizationTargetPercent).toBe(80);
    // The daemon's unix app uses the default deadlines (10 s); the same app with short ones shows the mechanism.
    const app = buildApp({ api: buildAdvisorApi({ service: d.service, control: d.control, rebalancer: d.rebalancer, domains: undefined }), logger: d.logger, requestDeadlines: DEADLINES });
    const other = path.join(t.dir, 'short.sock');
    await app.listen({ path: other });
    try {
      const slow = await rawExchange(other, bytewise('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n'), { gapMs: 1_000, waitMs: 10_000 });
      expect(slow.closedAfterMs).toBeLessThan(DEADLINES.headersMs + 1_500);
      expectErrorShape(slow, 408, 'NUMADVISOR_ERR_REQUEST_TIMEOUT');
    } finally {
      await app.close();
    }
  });
});

describe('issue #12 F13 while the daemon stops', () => {
  it('F13: a request completed while the daemon closes gets 503 in the error shape, not fastify\'s', async () => {
    const t = tempDir();
    try {
      const d = await startTestDaemon(t.dir, '1node-2cpu');
      const sock = d.app.server.address() as string;
      // Half a request: the connection is busy, so closing waits for it instead of dropping it.
      const s = net.connect({ path: sock });
      await new Promise<void>((res) => s.once('connect', () => res()));
      s.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n');
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      const closed = new Promise<void>((res) => s.once('close', () => res()));
      const stopping = d.close();
      await new Promise((res) => setTimeout(res, 100));
      s.write('\r\n');
      await closed;
      await stopping;
      const r = parseRawResponse(Buffer.concat(chunks).toString('latin1'));
      expectErrorShape({ ...r, closedAfterMs: 0 }, 503, 'NUMADVISOR_ERR_STOPPING');
    } finally {
      t.cleanup();
    }
  });
});
