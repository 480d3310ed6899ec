// Issue #12 (HTTP API fuzz campaign): the pure parts of the fixes. Integration: test/integration/api-hardening.test.ts.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ThpScanSleep } from '../../src/apply/thp.js';
import type { AdvisorService } from '../../src/daemon/advisor-service.js';
import { NumadControl } from '../../src/daemon/numad-control.js';
import { NUMAD_DEFAULTS, numadOpProblem, type NumadOp } from '../../src/model/numad-settings.js';
import { NumadOpSchema } from '../../src/model/numad-settings-schema.js';
import { httpStatusOf, NumadvisorError, type ErrorCode } from '../../src/errors.js';
import { NumadLog } from '../../src/log/numad-log.js';
import { ReservationLedger } from '../../src/model/reservations.js';
import { adviseNumad } from '../../src/policy/numad.js';
import type { Advice, PolicyNode } from '../../src/policy/types.js';
import { fromFrameworkError, pathOf, rawErrorResponse, RouteTable } from '../../src/server/http-errors.js';
import { bearerMatches, isLoopbackHost } from '../../src/server/tcp-guard.js';
import { tempDir } from '../helpers/fixtures.js';
import { parseRawResponse } from '../helpers/raw-http.js';

const node = (id: number, memFreeMiB: number, cpuFreeHundredths: number, distances: number[]): PolicyNode => ({
  id,
  hasMemory: true,
  hasCpu: true,
  cpuTotalHundredths: 1000,
  memTotalMiB: 32_000,
  cpuFreeHundredths,
  memFreeMiB,
  distances,
});
const HOST = [node(0, 31_000, 900, [10, 20]), node(1, 31_000, 900, [20, 10])];
const held = (ledger: ReservationLedger, advice: Advice): { cpu: number; mem: number } => {
  const r = ledger.reserve(advice, { nowMs: 0, ttlMs: 300_000, client: 't' });
  return { cpu: r.perNode.reduce((s, p) => s + p.cpuHundredths, 0), mem: r.perNode.reduce((s, p) => s + p.memMiB, 0) };
};

describe('F4: a reservation holds at most what the request needs', () => {
  it('F4: memory a request could not get is not held (it took every node down to the margin)', () => {
    const advice = adviseNumad(HOST, { cpuHundredths: 200, memMiB: 1_000_000 });
    expect(advice.fits).toBe(false);
    // What the walk took: all free memory less numad's 100 MiB margin per node.
    expect(advice.perNode.reduce((s, p) => s + p.takenMemMiB, 0)).toBe(2 * 30_900);
    const ledger = new ReservationLedger();
    expect(held(ledger, advice)).toEqual({ cpu: 200, mem: 0 });
    expect([ledger.reservedOn(0).memMiB, ledger.reservedOn(1).memMiB]).toEqual([0, 0]);
  });
  it('F4: idle CPU a request could not get is not held; the memory it got is', () => {
    const advice = adviseNumad(HOST, { cpuHundredths: 100_000, memMiB: 2048 });
    expect(advice.fits).toBe(false);
    expect(held(new ReservationLedger(), advice)).toEqual({ cpu: 0, mem: 2048 });
  });
  it('F4: a policy that reports more taken than asked is held to the request', () => {
    const advice = adviseNumad(HOST, { cpuHundredths: 200, memMiB: 1024 });
    const inflated: Advice = { ...advice, perNode: advice.perNode.map((p) => ({ ...p, chosen: true, takenCpuHundredths: 900, takenMemMiB: 30_000 })) };
    const r = new ReservationLedger().reserve(inflated, { nowMs: 0, ttlMs: 1000, client: 't' });
    expect(r.perNode).toEqual([{ node: 0, cpuHundredths: 200, memMiB: 1024 }]);
  });
  it('a request that fits is held exactly as taken (unchanged)', () => {
    const advice = adviseNumad(HOST, { cpuHundredths: 1500, memMiB: 40_000 });
    expect(advice.fits).toBe(true);
    expect(held(new ReservationLedger(), advice)).toEqual({ cpu: 1500, mem: 40_000 });
  });
});

describe("F6: numad's ranges for run-time options", () => {
  it.each<[NumadOp, boolean]>([
    [{ opt: 'H', value: 0 }, true],
    [{ opt: 'H', value: 10 }, true],
    [{ opt: 'H', value: 1_000_000 }, true],
    [{ opt: 'H', value: 9 }, false],
    [{ opt: 'H', value: 1_000_001 }, false],
    [{ opt: 'H', value: -1 }, false],
    [{ opt: 'i', min: 0, max: 0 }, true],
    [{ opt: 'i', min: 9, max: 0 }, true],
    [{ opt: 'i', min: 5, max: 5 }, true],
    [{ opt: 'i', min: 6, max: 5 }, false],
    [{ opt: 'm', value: 49 }, false],
    [{ opt: 't', value: -1 }, false],
    [{ opt: 'u', value: 131 }, false],
    [{ opt: 'p', pid: 1 }, true],
    [{ opt: 'p', pid: 0 }, false],
    [{ opt: 'x', pid: 4_194_305 }, false],
    [{ opt: 'R', cpus: [0, 8191] }, true],
    [{ opt: 'R', cpus: [8192] }, false],
    [{ opt: 'l', value: -3 }, true],
  ])('F6: %j accepted: %s (the API schema and the daemon agree)', (op, ok) => {
    expect(numadOpProblem(op) === undefined).toBe(ok);
    expect(NumadOpSchema.safeParse(op).success).toBe(ok);
  });

  const control = (thp: Pick<ThpScanSleep, 'set'>, logPath: string, level = 5): { control: NumadControl; log: NumadLog; capacity: unknown[] } => {
    const log = new NumadLog({ path: logPath, level });
    const capacity: unknown[] = [];
    const service: Pick<AdvisorService, 'setCapacityOptions'> = { setCapacityOptions: (c) => capacity.push(c) };
    return { control: new NumadControl({ ...NUMAD_DEFAULTS, logLevel: level }, service as AdvisorService, log, thp as ThpScanSleep, () => {}), log, capacity };
  };

  it('F6: NumadControl.apply checks the whole batch first: one bad op, nothing applied or logged', () => {
    const t = tempDir();
    try {
      const logPath = path.join(t.dir, 'numad.log');
      const { control: c, log, capacity } = control({ set: () => {} }, logPath);
      const before = c.settings;
      expect(() => c.apply([{ opt: 'C', value: false }, { opt: 'u', value: 70 }, { opt: 'H', value: 5 }])).toThrow(NumadvisorError);
      expect(c.settings).toBe(before);
      expect(capacity).toEqual([]);
      log.close();
      expect(readFileSync(logPath, 'utf8')).toBe('');
    } finally {
      t.cleanup();
    }
  });

  it('F6: a THP write that fails leaves the batch unapplied (it runs before anything is committed)', () => {
    const t = tempDir();
    try {
      const logPath = path.join(t.dir, 'numad.log');
      const { control: c, log, capacity } = control({ set: () => { throw new Error('EROFS'); } }, logPath);
      expect(() => c.apply([{ opt: 'C', value: false }, { opt: 'H', value: 100 }, { opt: 'u', value: 70 }])).toThrow('EROFS');
      expect(c.settings).toMatchObject({ inactiveFileIsFree: true, utilizationTargetPercent: 85, thpScanSleepMs: null });
      expect(capacity).toEqual([]);
      log.close();
      expect(readFileSync(logPath, 'utf8')).toBe('');
    } finally {
      t.cleanup();
    }
  });

  it("keeps numad's -l quirk inside a batch: -l's own line is filtered by the old level, later lines by the new", () => {
    const t = tempDir();
    try {
      const logPath = path.join(t.dir, 'numad.log');
      const { control: c, log } = control({ set: () => {} }, logPath, 3);
      c.apply([{ opt: 'u', value: 70 }, { opt: 'l', value: 7 }, { opt: 'm', value: 60 }]);
      expect(log.level).toBe(7);
      log.close();
      const text = readFileSync(logPath, 'utf8');
      expect(text).not.toMatch(/target utilization|Changing log level/);
      expect(text).toMatch(/Changing target memory locality to 60\n$/);
    } finally {
      t.cleanup();
    }
  });
});

describe('F13: one error format', () => {
  it('F13: a raw error answer is HTTP/1.1 with the catalogue status, JSON {error:{code,message}} and Connection: close', () => {
    const err = new NumadvisorError('NUMADVISOR_ERR_HEADERS_TOO_LARGE', 'too "big"');
    const r = parseRawResponse(rawErrorResponse(err));
    expect(r.status).toBe(431);
    expect(r.headers.connection).toBe('close');
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.body));
    expect(JSON.parse(r.body)).toEqual({ error: { code: 'NUMADVISOR_ERR_HEADERS_TOO_LARGE', message: 'too "big"' } });
  });

  it.each<[object, ErrorCode]>([
    [{ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }, 'NUMADVISOR_ERR_BODY_TOO_LARGE'],
    [{ code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }, 'NUMADVISOR_ERR_UNSUPPORTED_MEDIA_TYPE'],
    [{ code: 'FST_ERR_CTP_INVALID_JSON_BODY', statusCode: 400, message: 'bad' }, 'NUMADVISOR_ERR_BAD_REQUEST'],
    [{ code: 'FST_ERR_BAD_URL', statusCode: 400 }, 'NUMADVISOR_ERR_BAD_REQUEST'],
    [{ code: 'FST_ERR_MAX_PARAM_LENGTH', statusCode: 414 }, 'NUMADVISOR_ERR_BAD_REQUEST'],
    [{ statusCode: 418 }, 'NUMADVISOR_ERR_BAD_REQUEST'],
  ])('F13: fastify %j → %s', (err, code) => {
    const e = fromFrameworkError(err, { bodyLimit: 65_536, maxParamLength: 1024 }, 'text/xml');
    expect(e?.code).toBe(code);
    expect(e?.httpStatus).toBe(httpStatusOf(code));
  });
  it('F13: a 5xx or an error without status is not a client error (logged, answered as internal)', () => {
    expect(fromFrameworkError(new Error('boom'), { bodyLimit: 1, maxParamLength: 1 }, undefined)).toBeUndefined();
    expect(fromFrameworkError({ statusCode: 503 }, { bodyLimit: 1, maxParamLength: 1 }, undefined)).toBeUndefined();
  });

  it('F13/F14: the route table answers which methods a path has, for 405 and Allow', () => {
    const t = new RouteTable();
    t.add('GET', '/v1/advice');
    t.add('POST', '/v1/advice');
    t.add('DELETE', '/v1/reservations/:id');
    t.add('POST', '/v1/domains/:key/rollback');
    expect(t.allowed('/v1/advice?cpus=1')).toEqual(['GET', 'POST']);
    expect(t.allowed('http://localhost/v1/advice')).toEqual(['GET', 'POST']);
    expect(t.allowed('/v1/reservations/abc')).toEqual(['DELETE']);
    expect(t.allowed('/v1/reservations/abc/def')).toEqual([]);
    expect(t.allowed('/v1/domains/web1/rollback')).toEqual(['POST']);
    expect(t.allowed('/v1/advicex')).toEqual([]);
    expect(pathOf('*')).toBe('*');
  });
});

describe('F7: the TCP listener', () => {
  it.each<[string, boolean]>([
    ['127.0.0.1:8080', true],
    ['localhost:8080', true],
    ['LocalHost', true],
    ['[::1]:8080', true],
    ['[::1]', true],
    ['127.0.0.1:8081', false],
    ['evil.example:8080', false],
    ['localhost.evil.example', false],
    ['127.0.0.1.nip.io:8080', false],
    ['127.0.0.1:8080:1', false],
    ['user@127.0.0.1:8080', false],
    ['', false],
  ])('F7: Host %j is the loopback on port 8080: %s', (host, ok) => {
    expect(isLoopbackHost(host, 8080)).toBe(ok);
  });

  it('F7: only `Bearer <the token>` matches', () => {
    const token = 'ab'.repeat(32);
    const digest = createHash('sha256').update(token).digest();
    expect(bearerMatches(`Bearer ${token}`, digest)).toBe(true);
    expect(bearerMatches(`bearer  ${token} `, digest)).toBe(true);
    for (const h of [undefined, '', token, `Basic ${token}`, `Bearer ${token}x`, `Bearer ${token.slice(1)}`, `Bearer ${token} extra`]) {
      expect(bearerMatches(h, digest), String(h)).toBe(false);
    }
  });
});
