// Hugepage-backed VMs (issue #16): answers placed on and reserved against each node's pool of one page size, not
// MemFree. The service on a copy of the 2-node fixture (2 MiB pools: node 0 has 512 free, node 1 1024; 1 GiB pools:
// node 0 has 2 free, node 1 4), the route's validation through a daemon on the same fixture, and how a `numad -w`,
// which carries no page size, is matched to the one defined domain it can be starting.
import { EventEmitter } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AdvisorService, NUMAD_W_CLIENT, type StartingDomain } from '../../src/daemon/advisor-service.js';
import { DomainTracker } from '../../src/daemon/domain-tracker.js';
import type { RunningDaemon } from '../../src/daemon/daemon.js';
import { LIFECYCLE, type Domain, type LibvirtClient } from '../../src/libvirt/client.js';
import { NUMAD_DEFAULT_CAPACITY_OPTIONS } from '../../src/model/capacity.js';
import { ReservationLedger } from '../../src/model/reservations.js';
import { HostObserver } from '../../src/observe/host-observer.js';
import { FsRoot } from '../../src/topology/fsroot.js';
import { NumadvisorError } from '../../src/errors.js';
import { copyFixture, tempDir } from '../helpers/fixtures.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { request } from '../helpers/http.js';

const G = 1_048_576;

describe('hugepage answers (service on the 2-node fixture)', () => {
  const tmp = tempDir('numadvisor-huge-');
  afterEach(() => tmp.cleanup());

  function service(o: { resv2M?: number } = {}): { svc: AdvisorService; ledger: ReservationLedger } {
    const root = copyFixture('2node-2s12c24t', path.join(tmp.dir, String(Math.random()).slice(2)));
    if (o.resv2M !== undefined) {
      for (const size of ['2048', '1048576']) {
        const dir = path.join(root, `sys/kernel/mm/hugepages/hugepages-${size}kB`);
        mkdirSync(dir, { recursive: true });
        writeFileSync(path.join(dir, 'resv_hugepages'), `${size === '2048' ? o.resv2M : 0}\n`);
      }
    }
    const ledger = new ReservationLedger();
    const svc = new AdvisorService(new HostObserver(new FsRoot(root)), ledger, { capacity: { ...NUMAD_DEFAULT_CAPACITY_OPTIONS }, cpuAllocationRatio: 4, reservationTtlMs: 300_000 }, undefined);
    return { svc, ledger };
  }
  const ask = (svc: AdvisorService, memMiB: number, hugepageSizeKiB?: number, client = 'test') =>
    svc.advise({ cpuHundredths: 200, memMiB }, { reserve: true, client, ...(hugepageSizeKiB !== undefined ? { hugepageSizeKiB } : {}) });

  it('places by free pages of the size, says so, and reserves against that pool only', () => {
    const { svc, ledger } = service();
    // 1536 MiB of 2 MiB pages: only node 1 has that many (node 0: 512 pages = 1024 MiB), though both have GiBs of MemFree
    const a = ask(svc, 1536, 2048);
    expect(a.advice.nodeset).toBe('1');
    expect(a.advice.reasons).toContain('hugepages 2048 kB: node 0 has 512 free, 1024 MiB available');
    expect(a.advice.reasons).toContain('hugepages 2048 kB: node 1 has 1024 free, 2048 MiB available');
    expect(a.reservation?.hugepageSizeKiB).toBe(2048);
    expect(ledger.reservedHugepagesOn(1, 2048)).toBe(1536);
    expect(ledger.reservedOn(1).memMiB).toBe(0);
    // the next one sees node 1's pool less the first answer: 512 MiB left there, so node 0
    const b = ask(svc, 1024, 2048);
    expect(b.advice.reasons).toContain('hugepages 2048 kB: node 1 has 1024 free (1536 MiB held by earlier answers), 512 MiB available');
    expect(b.advice.nodeset).toBe('0');
    // ordinary memory is not reduced by hugepage answers, and hugepage pools are not reduced by ordinary ones
    const before = svc.freshPolicyNodes().map((n) => n.memFreeMiB);
    ask(svc, 4096);
    expect(ledger.reservedHugepagesOn(0, 2048) + ledger.reservedHugepagesOn(1, 2048)).toBe(2560);
    expect(svc.freshPolicyNodes().map((n) => n.memFreeMiB).reduce((x, y) => x + y)).toBe(before.reduce((x, y) => x + y) - 4096);
  });

  it('1 GiB pages: whole pages only, and each answer takes the next node once a pool is promised', () => {
    const { svc } = service();
    expect(ask(svc, 4096, G).advice.nodeset).toBe('1');
    expect(ask(svc, 2048, G).advice.nodeset).toBe('0');
    const none = ask(svc, 1024, G);
    expect(none.advice.fits).toBe(false);
    expect(() => ask(svc, 1536, G)).toThrow(/1536 MiB is not a whole number of 1048576 kB hugepages/);
  });

  it('a size the host has no pool of is a bad request naming the sizes it has', () => {
    const { svc } = service();
    let err: unknown;
    try {
      ask(svc, 1024, 4096);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NumadvisorError);
    expect((err as NumadvisorError).code).toBe('NUMADVISOR_ERR_BAD_REQUEST');
    expect((err as NumadvisorError).message).toBe('hugepages: this host has no 4096 kB pool; its pools: 2048 kB, 1048576 kB');
  });

  it("resv_hugepages are counted out of the nodes' free pages, in proportion", () => {
    // 384 of the 1536 free 2 MiB pages are promised to mappings: node 0 holds a third of the free pages (128 of them),
    // node 1 two thirds (256); node 1 then has 768 pages = 1536 MiB, exactly this request
    const { svc } = service({ resv2M: 384 });
    const a = ask(svc, 1536, 2048);
    expect(a.advice.reasons).toContain('hugepages 2048 kB: node 0 has 512 free (128 of them reserved by the kernel for mappings not yet faulted in), 768 MiB available');
    expect(a.advice.reasons).toContain('hugepages 2048 kB: node 1 has 1024 free (256 of them reserved by the kernel for mappings not yet faulted in), 1536 MiB available');
    expect(a.advice.nodeset).toBe('1');
    expect(ask(svc, 1024, 2048).advice.fits).toBe(false);
  });

  it('numad -w: the one defined domain of its size decides the page size; several or none leave ordinary memory', () => {
    const { svc, ledger } = service();
    let candidates: StartingDomain[] = [{ name: 'db1', hugepageSizesKiB: [G] }];
    const seen: [number, number][] = [];
    svc.startingDomains = (vcpus, memMiB) => {
      seen.push([vcpus, memMiB]);
      return candidates;
    };
    const one = ask(svc, 2048, undefined, NUMAD_W_CLIENT);
    expect(seen).toEqual([[2, 2048]]);
    expect(one.reservation?.hugepageSizeKiB).toBe(G);
    expect(one.advice.reasons[0]).toBe('hugepages: 1048576 kB pages, as defined for domain db1, the only defined domain of this size');
    // another client asks nothing of the defined domains: its size is what it says
    expect(ask(svc, 2048).reservation?.hugepageSizeKiB).toBeUndefined();
    // <hugepages/> without <page>: the host's default size (2 MiB in the fixture's meminfo)
    candidates = [{ name: 'db2', hugepageSizesKiB: [] }];
    expect(ask(svc, 2048, undefined, NUMAD_W_CLIENT).reservation?.hugepageSizeKiB).toBe(2048);
    candidates = [{ name: 'db1', hugepageSizesKiB: [G] }, { name: 'web', hugepageSizesKiB: undefined }];
    const two = ask(svc, 2048, undefined, NUMAD_W_CLIENT);
    expect(two.reservation?.hugepageSizeKiB).toBeUndefined();
    expect(two.advice.reasons[0]).toMatch(/^hugepages: 2 defined domains of this size could be starting \(db1, web\)/);
    candidates = [];
    const zero = ask(svc, 2048, undefined, NUMAD_W_CLIENT);
    expect(zero.reservation?.hugepageSizeKiB).toBeUndefined();
    expect(zero.advice.reasons.some((r) => r.startsWith('hugepages'))).toBe(false);
    // one match of a size the host has no pool of, or not whole pages of it: ordinary memory, with the reason
    candidates = [{ name: 'odd', hugepageSizesKiB: [G] }];
    const partial = ask(svc, 1536, undefined, NUMAD_W_CLIENT);
    expect(partial.reservation?.hugepageSizeKiB).toBeUndefined();
    expect(partial.advice.reasons[0]).toBe('hugepages: domain odd is starting but 1536 MiB is not a whole number of its 1048576 kB pages; counted as ordinary memory');
    expect(ledger.list().filter((r) => r.hugepageSizeKiB !== undefined)).toHaveLength(2);
  });
});

/** What DomainTracker asks of libvirt for defined domains: listDomains(all) and each one's inactive XML. */
class DefinedClient extends EventEmitter {
  running: Domain[] = [];
  defined = new Map<string, { d: Domain; xml: string }>();
  xmlCalls = 0;
  async listDomains(activeOnly = true): Promise<Domain[]> {
    return activeOnly ? this.running : [...this.defined.values()].map((x) => x.d);
  }
  async xml(d: Domain): Promise<string> {
    this.xmlCalls++;
    const x = this.defined.get(d.uuid);
    if (!x) throw new Error('no such domain');
    return x.xml;
  }
  async numaParameters(): Promise<{ mode: string; nodeset: string }> {
    return { mode: 'strict', nodeset: '' };
  }
}

const domXml = (name: string, vcpus: number, mib: number, backing: string, placement = 'auto'): string =>
  `<domain type='kvm'><name>${name}</name><uuid>u-${name}</uuid><memory unit='MiB'>${mib}</memory><vcpu placement='${placement}'>${vcpus}</vcpu>${backing}</domain>`;

describe('DomainTracker: the defined domains a numad -w may be starting', () => {
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

  it('reads definitions at connect and on DEFINED/UNDEFINED, and answers from that cache alone', async () => {
    const client = new DefinedClient();
    const add = (name: string, xml: string): Domain => {
      const d = { name, uuid: `u-${name}`, id: -1 };
      client.defined.set(d.uuid, { d, xml });
      return d;
    };
    add('db1', domXml('db1', 4, 8192, "<memoryBacking><hugepages><page size='1' unit='G'/></hugepages></memoryBacking>"));
    add('web', domXml('web', 2, 2048, ''));
    add('pinned', domXml('pinned', 4, 8192, '<memoryBacking><hugepages/></memoryBacking>', 'static'));
    const tracker = new DomainTracker(client as unknown as LibvirtClient, new ReservationLedger(), new FsRoot('/nonexistent'), pino({ level: 'silent' }), { include: [], exclude: [] }, 300_000);
    client.emit('connected');
    await settle();
    const calls = client.xmlCalls;
    expect(tracker.startingCandidates(4, 8192)).toEqual([{ name: 'db1', hugepageSizesKiB: [G] }]);
    expect(tracker.startingCandidates(2, 2048)).toEqual([{ name: 'web', hugepageSizesKiB: undefined }]);
    expect(tracker.startingCandidates(8, 8192)).toEqual([]);
    expect(client.xmlCalls).toBe(calls);
    // a second domain of the same size is defined: two candidates; undefined again: one
    const db2 = add('db2', domXml('db2', 4, 8192, "<memoryBacking><hugepages><page size='2048' unit='KiB'/></hugepages></memoryBacking>"));
    client.emit('lifecycle', { domain: db2, event: LIFECYCLE.DEFINED, detail: 0 });
    await settle();
    expect(tracker.startingCandidates(4, 8192).map((c) => c.name).sort()).toEqual(['db1', 'db2']);
    client.defined.delete(db2.uuid);
    client.emit('lifecycle', { domain: db2, event: LIFECYCLE.UNDEFINED, detail: 0 });
    await settle();
    expect(tracker.startingCandidates(4, 8192).map((c) => c.name)).toEqual(['db1']);
  });

  it('a running domain is not the one starting', async () => {
    const client = new DefinedClient();
    const d = { name: 'db1', uuid: 'u-db1', id: 7 };
    client.defined.set(d.uuid, { d, xml: domXml('db1', 4, 8192, '<memoryBacking><hugepages/></memoryBacking>') });
    client.running = [d];
    const tracker = new DomainTracker(client as unknown as LibvirtClient, new ReservationLedger(), new FsRoot('/nonexistent'), pino({ level: 'silent' }), { include: [], exclude: [] }, 300_000);
    client.emit('connected');
    await settle();
    expect(tracker.domains.has('u-db1')).toBe(true);
    expect(tracker.startingCandidates(4, 8192)).toEqual([]);
  });
});

describe('GET/POST /v1/advice with hugepages (daemon on the 2-node fixture)', () => {
  const t = tempDir('numadvisor-huge-api-');
  let d: RunningDaemon;
  let sock: string;
  beforeAll(async () => {
    d = await startTestDaemon(t.dir, '2node-2s12c24t');
    sock = d.app.server.address() as string;
  });
  afterAll(async () => {
    await d.close();
    t.cleanup();
  });

  interface Body {
    nodeset: string;
    reasons: string[];
    reservation: { hugepageSizeKiB?: number; request?: { cpuHundredths: number; memMiB: number } } | null;
    error?: { code: string; message: string };
  }

  it('answers from the pool of the size asked for, GET and POST', async () => {
    const g = await request(sock, 'GET', '/v1/advice?cpus=2&mem=1536&hugepages=2048&reserve=false');
    expect(g.status, JSON.stringify(g.body)).toBe(200);
    const gb = g.body as Body;
    expect(gb.nodeset).toBe('1');
    expect(gb.reasons).toContain('hugepages 2048 kB: node 0 has 512 free, 1024 MiB available');
    const p = await request(sock, 'POST', '/v1/advice', { cpus: 2, mem: 4096, hugepagesKiB: G });
    expect(p.status, JSON.stringify(p.body)).toBe(200);
    expect((p.body as Body).nodeset).toBe('1');
    expect((p.body as Body).reservation?.hugepageSizeKiB).toBe(G);
  });

  it('a reserving answer with request options (slowtier, whole pages) stores only the request size in the ledger', async () => {
    const p = await request(sock, 'POST', '/v1/advice', { cpus: 1, mem: 2048, hugepagesKiB: G, allowSlowTier: true });
    expect(p.status, JSON.stringify(p.body)).toBe(200);
    expect((p.body as Body).reservation?.request).toEqual({ cpuHundredths: 100, memMiB: 2048 });
    const g = await request(sock, 'GET', '/v1/advice?cpus=1&mem=64&slowtier=true');
    expect(g.status, JSON.stringify(g.body)).toBe(200);
  });

  it.each([
    ['/v1/advice?cpus=2&mem=1024&hugepages=4096', /no 4096 kB pool; its pools: 2048 kB, 1048576 kB/],
    ['/v1/advice?cpus=2&mem=1000&hugepages=1048576', /not a whole number of 1048576 kB hugepages/],
    ['/v1/advice?cpus=2&mem=1024&hugepages=2M', /hugepages must be a page size in KiB/],
    ['/v1/advice?cpus=2&mem=1024&hugepages=0', /hugepages must be a page size in KiB/],
  ])('%s → 400', async (url, message) => {
    const r = await request(sock, 'GET', url);
    expect(r.status).toBe(400);
    expect((r.body as Body).error?.code).toBe('NUMADVISOR_ERR_BAD_REQUEST');
    expect((r.body as Body).error?.message).toMatch(message);
  });

  it('POST: hugepagesKiB must be a positive whole number', async () => {
    const r = await request(sock, 'POST', '/v1/advice', { cpus: 2, mem: 1024, hugepagesKiB: 1.5 });
    expect(r.status).toBe(400);
  });
});
