import { readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningDaemon } from '../../src/daemon/daemon.js';
import { CANONICAL_NODESET } from '../../src/topology/idlist.js';
import { request } from '../helpers/http.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/fixtures.js';

interface AdviceBody {
  nodeset: string;
  nodes: number[];
  fits: boolean;
  reasons: string[];
  reservation: { id: string; perNode: { node: number; memMiB: number }[] } | null;
}
interface NodesBody {
  nodes: { id: number; reservedMemMiB: number; reservedCpuHundredths: number; availableMemMiB: number; memFreeMiB: number }[];
}

const CTIME = '[A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3]\\d \\d{2}:\\d{2}:\\d{2} \\d{4}';

describe('daemon API on the 4-node fixture', () => {
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

  it('listens on a 0660 unix socket and answers /healthz', async () => {
    expect(statSync(sock).mode & 0o777).toBe(0o660);
    const r = await request(sock, 'GET', '/healthz');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'ok', nodes: 4 });
  });

  it('GET /v1/advice answers a canonical nodeset, reserves, and logs numad\'s line pair', async () => {
    const r = await request(sock, 'GET', '/v1/advice?cpus=2&mem=1024');
    expect(r.status).toBe(200);
    const body = r.body as AdviceBody;
    expect(body.nodeset).toMatch(CANONICAL_NODESET);
    expect(body.fits).toBe(true);
    expect(body.reservation?.perNode).toEqual([{ node: body.nodes[0], cpuHundredths: 200, memMiB: 1024 }]);
    const log = readFileSync(d.numadLog.path, 'utf8');
    expect(log).toMatch(new RegExp(`^${CTIME}: Getting NUMA pre-placement advice for 200 CPUs and 1024 MBs\\n${CTIME}: Advising pid -1 \\(unknown\\) move from nodes \\(0-3\\) to nodes \\(${body.nodeset}\\)$`, 'm'));
  });

  it('explain=true adds the score of every node and centre; the default lists the chosen nodes only', async () => {
    const short = (await request(sock, 'GET', '/v1/advice?cpus=1&mem=1&reserve=false')).body as AdviceBody & { perNode: { node: number }[]; centres: unknown[] };
    expect(short.perNode.map((p) => p.node)).toEqual(short.nodes);
    expect(short.centres).toEqual([]);
    const full = (await request(sock, 'GET', '/v1/advice?cpus=1&mem=1&reserve=false&explain=true')).body as typeof short;
    expect(full.perNode).toHaveLength(4);
    expect(full.centres).toHaveLength(4);
  });

  it('POST /v1/advice takes JSON; reserve=false reserves nothing', async () => {
    const before = d.service.ledger.size;
    const r = await request(sock, 'POST', '/v1/advice', { cpus: 1.5, mem: 512, reserve: false });
    expect(r.status).toBe(200);
    expect((r.body as AdviceBody).reservation).toBeNull();
    expect(d.service.ledger.size).toBe(before);
    const q = await request(sock, 'GET', '/v1/advice?cpus=1&mem=1&reserve=false');
    expect((q.body as AdviceBody).reservation).toBeNull();
  });

  it.each([
    ['GET', '/v1/advice?cpus=-1', 'NUMADVISOR_ERR_BAD_REQUEST', /cpus/],
    ['GET', '/v1/advice?cpus=abc&mem=1', 'NUMADVISOR_ERR_BAD_REQUEST', /cpus/],
    ['GET', '/v1/advice?cpus=1.234', 'NUMADVISOR_ERR_BAD_REQUEST', /two decimals/],
    ['GET', '/v1/advice?cpus=1&mem=-5', 'NUMADVISOR_ERR_BAD_REQUEST', /mem/],
    ['GET', '/v1/advice?cpus=1&mem=1.5', 'NUMADVISOR_ERR_BAD_REQUEST', /mem/],
    ['GET', '/v1/advice?mem=100', 'NUMADVISOR_ERR_BAD_REQUEST', /cpus/],
    ['GET', '/v1/advice?cpus=1&colour=red', 'NUMADVISOR_ERR_BAD_REQUEST', /unknown parameter\(s\): colour/],
    ['GET', '/v1/advice?cpus=1&cpus=2', 'NUMADVISOR_ERR_BAD_REQUEST', /cpus/],
    ['GET', '/v1/advice?cpus=9999999', 'NUMADVISOR_ERR_REQUEST_TOO_LARGE', /at most/],
    ['GET', '/v1/advice?cpus=1&mem=9999999999999', 'NUMADVISOR_ERR_REQUEST_TOO_LARGE', /at most/],
    ['GET', '/v1/advice?cpus=1&ttl=0', 'NUMADVISOR_ERR_BAD_REQUEST', /ttl/],
    ['GET', '/v1/nowhere', 'NUMADVISOR_ERR_NOT_FOUND', /no route/],
    // F15: any id the ledger could hold may be named; one it does not hold is simply not found.
    ['DELETE', '/v1/reservations/not-a-uuid', 'NUMADVISOR_ERR_NOT_FOUND', /no reservation/],
    ['DELETE', '/v1/reservations/00000000-0000-4000-8000-000000000000', 'NUMADVISOR_ERR_NOT_FOUND', /no reservation/],
  ])('%s %s → JSON error %s', async (method, url, code, message) => {
    const before = JSON.stringify(d.service.ledger.list());
    const r = await request(sock, method, url);
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(r.body).toMatchObject({ error: { code } });
    expect((r.body as { error: { message: string } }).error.message).toMatch(message);
    expect(JSON.stringify(d.service.ledger.list())).toBe(before);
  });

  it.each([
    ['{"cpus":', 'application/json'],
    ['{"cpus":"2"}', 'application/json'],
    ['{"cpus":1,"mem":-1}', 'application/json'],
    ['{"cpus":1,"extra":true}', 'application/json'],
    ['{"cpus":1.001}', 'application/json'],
  ])('POST body %s → JSON 400', async (raw) => {
    const r = await request(sock, 'POST', '/v1/advice', undefined, raw);
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: { code: 'NUMADVISOR_ERR_BAD_REQUEST' } });
  });

  it('100 concurrent 1-CPU/1-GiB requests all answer and spread evenly over the four nodes', async () => {
    for (const r of d.service.ledger.list()) d.service.ledger.release(r.id);
    const answers = await Promise.all(Array.from({ length: 100 }, () => request(sock, 'GET', '/v1/advice?cpus=1&mem=1024')));
    const count = new Map<string, number>();
    for (const a of answers) {
      expect(a.status).toBe(200);
      const ns = (a.body as AdviceBody).nodeset;
      count.set(ns, (count.get(ns) ?? 0) + 1);
    }
    expect(Object.fromEntries(count)).toEqual({ '0': 25, '1': 25, '2': 25, '3': 25 });
    const nodes = (await request(sock, 'GET', '/v1/nodes')).body as NodesBody;
    expect(nodes.nodes.map((n) => n.reservedMemMiB)).toEqual([25 * 1024, 25 * 1024, 25 * 1024, 25 * 1024]);
    expect(nodes.nodes.map((n) => n.reservedCpuHundredths)).toEqual([2500, 2500, 2500, 2500]);
    for (const n of nodes.nodes) expect(n.availableMemMiB).toBe(n.memFreeMiB - n.reservedMemMiB);
  });

  it('GET /v1/reservations lists them; DELETE releases one and frees its capacity', async () => {
    const list = (await request(sock, 'GET', '/v1/reservations')).body as { reservations: { id: string; perNode: { node: number; memMiB: number }[] }[] };
    expect(list.reservations).toHaveLength(100);
    const victim = list.reservations[0]!;
    const del = await request(sock, 'DELETE', `/v1/reservations/${victim.id}`);
    expect(del.status).toBe(200);
    const nodes = (await request(sock, 'GET', '/v1/nodes')).body as NodesBody;
    const node = victim.perNode[0]!.node;
    expect(nodes.nodes.find((n) => n.id === node)!.reservedMemMiB).toBe(24 * 1024);
    expect((await request(sock, 'DELETE', `/v1/reservations/${victim.id}`)).status).toBe(404);
  });

  it('a short TTL expires the reservation', async () => {
    const r = await request(sock, 'GET', '/v1/advice?cpus=1&mem=1&ttl=1');
    const id = (r.body as AdviceBody).reservation!.id;
    await new Promise((res) => setTimeout(res, 1100));
    const list = (await request(sock, 'GET', '/v1/reservations')).body as { reservations: { id: string }[] };
    expect(list.reservations.some((x) => x.id === id)).toBe(false);
  });
});

describe('daemon life cycle', () => {
  it('reservations survive a restart', async () => {
    const t = tempDir();
    try {
      const d1 = await startTestDaemon(t.dir, '2node-2s12c24t');
      const sock = d1.app.server.address() as string;
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(((await request(sock, 'GET', '/v1/advice?cpus=2&mem=2048')).body as AdviceBody).reservation!.id);
      await d1.close();
      const d2 = await startTestDaemon(t.dir, '2node-2s12c24t');
      try {
        const list = (await request(sock, 'GET', '/v1/reservations')).body as { reservations: { id: string }[] };
        expect(list.reservations.map((r) => r.id).sort()).toEqual([...ids].sort());
      } finally {
        await d2.close();
      }
    } finally {
      t.cleanup();
    }
  });

  it('replaces a stale socket file but never steals a live one', async () => {
    const t = tempDir();
    try {
      const stalePath = `${t.dir}/numadvisor.sock`;
      // A SIGKILLed daemon leaves its socket file behind with nobody listening.
      spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stalePath)}, () => process.kill(process.pid, 'SIGKILL'))`], { stdio: 'ignore' });
      expect(statSync(stalePath).isSocket()).toBe(true);
      const d0 = await startTestDaemon(t.dir, '1node-2cpu');
      await d0.close();
      const s2 = createServer();
      await new Promise<void>((res) => s2.listen(stalePath, res));
      await expect(startTestDaemon(t.dir, '1node-2cpu')).rejects.toThrow(/another daemon/);
      await new Promise<void>((res) => s2.close(() => res()));
      const d = await startTestDaemon(t.dir, '1node-2cpu');
      expect((await request(stalePath, 'GET', '/v1/advice?cpus=1')).body).toMatchObject({ nodeset: '0' });
      await d.close();
    } finally {
      t.cleanup();
    }
  });
});
