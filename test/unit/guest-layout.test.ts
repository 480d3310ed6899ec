import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { apportion, CELL_ALIGN_KIB, guestLayout, type GuestLayout } from '../../src/balance/guest-layout.js';
import type { CoreCpu } from '../../src/balance/vcpu-assignment.js';
import { cmdAdvise, domainXmlAnswer } from '../../src/cli/numadvisor-advise.js';
import { parseDomainXml } from '../../src/libvirt/domain-xml.js';
import { mergeLayout, mergeNodeset, readDomainSize, renderFragments } from '../../src/libvirt/guest-layout-xml.js';
import { deriveCapacity, NUMAD_DEFAULT_CAPACITY_OPTIONS, toPolicyNode } from '../../src/model/capacity.js';
import type { HostSnapshot } from '../../src/model/snapshot.js';
import { HostObserver } from '../../src/observe/host-observer.js';
import { advise } from '../../src/policy/registry.js';
import type { Advice, NodeScore } from '../../src/policy/types.js';
import { FsRoot } from '../../src/topology/fsroot.js';
import { fixture } from '../helpers/fixtures.js';
import pino from 'pino';
import { AdvisorService } from '../../src/daemon/advisor-service.js';
import { ReservationLedger } from '../../src/model/reservations.js';
import type { AdvisorApi } from '../../src/server/advisor-api.js';
import { buildApp } from '../../src/server/app.js';

const snapshotOf = (name: string): HostSnapshot => new HostObserver(new FsRoot(fixture(name))).snapshot();

function answer(snap: HostSnapshot, cpus: number, memMiB: number): Advice {
  const caps = deriveCapacity(snap, NUMAD_DEFAULT_CAPACITY_OPTIONS);
  return advise('numadvisor', caps.map((c) => toPolicyNode(c, { cpuHundredths: 0, memMiB: 0 }, 1)), { cpuHundredths: cpus * 100, memMiB });
}

const taken = (node: number, cpu: number, mem: number): NodeScore => ({
  node,
  cpuFreeHundredths: 0,
  memFreeMiB: 0,
  magnitude: 0,
  takenCpuHundredths: cpu,
  takenMemMiB: mem,
  chosen: true,
});

/** The properties every layout must have, whatever the host and answer. */
function checkLayout(layout: GuestLayout, req: { vcpus: number; memKiB: number }, hostCpus: readonly CoreCpu[], alignKiB: number): void {
  const ids = layout.cells.flatMap((c) => c.vcpus);
  expect(ids).toEqual(Array.from({ length: req.vcpus }, (_, i) => i));
  expect(layout.cells.map((c) => c.id)).toEqual(layout.cells.map((_, i) => i));
  expect(new Set(layout.cells.map((c) => c.hostNode)).size).toBe(layout.cells.length);
  expect(layout.alignKiB).toBe(alignKiB);
  expect(layout.memKiB).toBe(Math.ceil(req.memKiB / alignKiB) * alignKiB);
  expect(layout.cells.reduce((a, c) => a + c.memKiB, 0)).toBe(layout.memKiB);
  const nodeOf = new Map(hostCpus.map((c) => [c.id, c]));
  for (const c of layout.cells) {
    expect(c.memKiB % alignKiB).toBe(0);
    expect(c.memKiB).toBeGreaterThan(0);
    expect(c.vcpuPins.map((p) => p.vcpu)).toEqual(c.vcpus);
    // pins on the cell's own host node, one distinct core per vCPU while the node has enough
    const cores = c.vcpuPins.map((p) => p.cpus.map((cpu) => `${nodeOf.get(cpu)?.packageId}/${nodeOf.get(cpu)?.coreId}`)[0]);
    for (const p of c.vcpuPins) for (const cpu of p.cpus) expect(nodeOf.get(cpu)?.node).toBe(c.hostNode);
    const nodeCores = new Set(hostCpus.filter((h) => h.node === c.hostNode).map((h) => `${h.packageId}/${h.coreId}`)).size;
    expect(new Set(cores).size).toBe(Math.min(c.vcpus.length, nodeCores));
  }
}

describe('apportion', () => {
  it('splits whole units in proportion, summing exactly', () => {
    expect(apportion(24, [950, 950, 500])).toEqual([10, 9, 5]);
    expect(apportion(5, [0, 0])).toEqual([3, 2]);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 1, maxLength: 64 }), (total, weights) => {
        const out = apportion(total, weights);
        expect(out.reduce((a, b) => a + b, 0)).toBe(total);
        const sum = weights.reduce((a, b) => a + b, 0);
        if (sum > 0) out.forEach((n, i) => expect(Math.abs(n - (total * (weights[i] as number)) / sum)).toBeLessThan(1));
      }),
    );
  });
});

describe('guest layouts from fixture hosts', () => {
  it.each([
    ['8node-dl980', 24, 200_000, undefined],
    ['8node-dl980', 30, 40_000, 2048],
    ['4node-westmere-ex', 24, 100_000, 1_048_576],
    ['4node-westmere-ex', 17, 33_333, undefined],
  ])('%s: %i vCPUs, %i MiB, pages %s KiB: every vCPU once, sums exact, aligned, distinct cores', (name, vcpus, memMiB, page) => {
    const snap = snapshotOf(name);
    const advice = answer(snap, vcpus, memMiB);
    expect(advice.nodes.length).toBeGreaterThan(1);
    const req = { vcpus, memKiB: memMiB * 1024, hugepageKiB: page };
    const layout = guestLayout(req, advice, snap.cpus);
    expect(layout).toBeDefined();
    checkLayout(layout as GuestLayout, req, snap.cpus, page ?? CELL_ALIGN_KIB);
    // the cells follow what the answer took from each node
    const used = advice.perNode.filter((p) => p.chosen && (p.takenCpuHundredths > 0 || p.takenMemMiB > 0)).map((p) => p.node);
    expect(layout?.cells.map((c) => c.hostNode)).toEqual(used.sort((a, b) => a - b));
  });

  it('a VM that fits one node gets no layout', () => {
    const snap = snapshotOf('4node-westmere-ex');
    const advice = answer(snap, 4, 8192);
    expect(advice.nodes).toHaveLength(1);
    expect(guestLayout({ vcpus: 4, memKiB: 8192 * 1024 }, advice, snap.cpus)).toBeUndefined();
  });

  it('a memory-only host node becomes a cell without vCPUs (CPU-less CXL node)', () => {
    const snap = snapshotOf('cpuless-2node');
    const req = { vcpus: 6, memKiB: 80 * 1024 * 1024 };
    const layout = guestLayout(req, { perNode: [taken(0, 600, 30 * 1024), taken(1, 0, 50 * 1024)] }, snap.cpus) as GuestLayout;
    checkLayout(layout, req, snap.cpus, CELL_ALIGN_KIB);
    expect(layout.cells.map((c) => [c.hostNode, c.vcpus.length, c.memKiB])).toEqual([
      [0, 6, 30 * 1024 * 1024],
      [1, 0, 50 * 1024 * 1024],
    ]);
    expect(layout.reasons.join('\n')).toMatch(/cell 1 on node 1 has memory only/);
  });

  it('a node that gave CPU only still gets one aligned unit of memory; memory is rounded up to whole pages', () => {
    const snap = snapshotOf('4node-westmere-ex');
    const req = { vcpus: 12, memKiB: 3 * 1024 * 1024 + 1, hugepageKiB: 2048 };
    const layout = guestLayout(req, { perNode: [taken(0, 900, 3072), taken(1, 300, 0)] }, snap.cpus) as GuestLayout;
    checkLayout(layout, req, snap.cpus, 2048);
    expect(layout.cells[1]?.memKiB).toBe(2048);
    expect(layout.reasons.join('\n')).toMatch(/rounded up/);
  });

  it('guest cores of two threads are not split between cells', () => {
    const snap = snapshotOf('4node-westmere-ex');
    const layout = guestLayout({ vcpus: 10, memKiB: 4 << 20, vcpuGranule: 2 }, { perNode: [taken(0, 500, 2048), taken(1, 500, 2048), taken(2, 100, 0)] }, snap.cpus) as GuestLayout;
    for (const c of layout.cells) expect(c.vcpus.length % 2).toBe(0);
  });

  it('pins stay off isolated and nohz_full CPUs and inside one L3 group per cell where it holds them (gnr-snc3, epyc-nps4)', () => {
    const gnr = snapshotOf('gnr-snc3');
    const isolated = new Set([...(gnr.isolatedCpus ?? []), ...(gnr.nohzFullCpus ?? [])]);
    expect(isolated.size).toBeGreaterThan(0);
    const layout = guestLayout({ vcpus: 16, memKiB: 8 << 20 }, { perNode: [taken(0, 800, 4096), taken(1, 800, 4096)] }, gnr.cpus, { isolatedCpus: isolated }) as GuestLayout;
    const pinned = layout.cells.flatMap((c) => c.vcpuPins.flatMap((p) => p.cpus));
    expect(pinned.length).toBeGreaterThan(0);
    expect(pinned.filter((c) => isolated.has(c))).toEqual([]);
    // EPYC NPS4: 8 CCX of 4 cores per node; a cell of 4 vCPUs fits one CCX.
    const epyc = snapshotOf('epyc-nps4');
    const l3 = new Map(epyc.cpus.map((c) => [c.id, c.l3Id]));
    const small = guestLayout({ vcpus: 8, memKiB: 4 << 20 }, { perNode: [taken(0, 400, 2048), taken(1, 400, 2048)] }, epyc.cpus) as GuestLayout;
    for (const cell of small.cells) expect(new Set(cell.vcpuPins.flatMap((p) => p.cpus).map((c) => l3.get(c))).size, `cell ${cell.id}`).toBe(1);
  });

  it('an answer that does not fit (too little idle CPU): vCPUs by cores, each cell\'s memory with its vCPUs', () => {
    const snap = snapshotOf('4node-westmere-ex');
    // the walk took whatever idle CPU was left (noise) and all the memory from node 0
    const layout = guestLayout({ vcpus: 20, memKiB: 10 << 20 }, { fits: false, perNode: [taken(0, 30, 10240), taken(1, 5, 0), { ...taken(2, 0, 0), chosen: false }] }, snap.cpus) as GuestLayout;
    expect(layout.cells.map((c) => [c.hostNode, c.vcpus.length, c.memKiB])).toEqual([
      [0, 10, 5 << 20],
      [1, 10, 5 << 20],
    ]);
  });
});

const ADMIN = readFileSync(fixture('libvirt/admin-pinned.xml'), 'utf8');

function dl980Layout(vcpus = 8, memKiB = 16 << 20): GuestLayout {
  const snap = snapshotOf('8node-dl980');
  return guestLayout({ vcpus, memKiB }, { perNode: [taken(2, 500, 8192), taken(3, 300, 8192)] }, snap.cpus) as GuestLayout;
}

describe('reading a domain XML', () => {
  it('vCPUs (current and max), memory in any unit, hugepage size', () => {
    expect(readDomainSize(ADMIN)).toMatchObject({ name: 'db01', maxVcpus: 8, vcpus: 4, memKiB: 16 << 20, hugepageKiB: undefined });
    const xml = (backing: string) => `<domain><vcpu>4</vcpu><memory unit='G'>2</memory>${backing}<cpu><topology sockets='1' cores='2' threads='2'/></cpu></domain>`;
    expect(readDomainSize(xml('<memoryBacking><hugepages/></memoryBacking>'))).toMatchObject({ memKiB: 2 << 20, hugepageKiB: null, threadsPerCore: 2 });
    expect(readDomainSize(xml("<memoryBacking><hugepages><page size='2048'/><page size='1' unit='G' nodeset='1'/></hugepages></memoryBacking>")).hugepageKiB).toBe(1 << 20);
    expect(readDomainSize('<domain><vcpu>1</vcpu><currentMemory unit="MiB">512</currentMemory></domain>').memKiB).toBe(512 * 1024);
  });

  it.each([
    ['not XML', '<domain><vcpu>2</domain>', /not XML/],
    ['not a domain', '<network/>', /no <domain>/],
    ['no <vcpu>', '<domain><memory>1024</memory></domain>', /no <vcpu>/],
    ['no <memory>', '<domain><vcpu>2</vcpu></domain>', /no <memory>/],
    ['bad unit', "<domain><vcpu>2</vcpu><memory unit='parsecs'>2</memory></domain>", /cannot read <memory>/],
  ])('%s is a usage error', (_what, xml, message) => {
    expect(() => readDomainSize(xml)).toThrow(message);
    try {
      readDomainSize(xml);
    } catch (err) {
      expect((err as { code?: string }).code).toBe('NUMADVISOR_ERR_USAGE');
    }
  });
});

describe('merging a layout into a domain XML', () => {
  it('replaces numatune and vCPU pins, adds the cells, keeps every other line and the admin emulator/IOThread pins', () => {
    const layout = dl980Layout();
    const out = mergeLayout(ADMIN, layout, 'numadvisor advise');
    const ours = /<vcpupin|<memory mode|<\/?numatune|<memnode|<\/?numa>|<cell |<\/?cpu>|<!--/;
    const kept = ADMIN.split('\n').filter((l) => !/<vcpupin|numatune|<memory mode/.test(l));
    expect(out.split('\n').filter((l) => !ours.test(l))).toEqual(kept);
    const spec = parseDomainXml(out);
    expect(spec.numatune).toEqual({ mode: 'strict', placement: 'static', nodeset: [2, 3] });
    expect([...spec.vcpuPins.keys()]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(spec.vcpuPins.get(0)).toEqual(layout.cells[0]?.vcpuPins[0]?.cpus);
    expect(spec.emulatorPin).toEqual([0]);
    expect(spec.iothreadPins.get(2)).toEqual([1]);
    expect(out).toContain("<memnode cellid='1' mode='strict' nodeset='3'/>");
    expect(out).toContain("<cell id='0' cpus='0-4' memory='8388608' unit='KiB'/>");
    expect(out).toContain("<cell id='1' cpus='5-7' memory='8388608' unit='KiB'/>");
  });

  it('is idempotent, drops placement=auto, adds an emulatorpin only where none is, and keeps the cells\' memAccess', () => {
    const layout = dl980Layout(8, 16 << 20);
    const xml = `<domain type='kvm'>
    <name>vhost</name>
    <memory unit='GiB'>16</memory>
    <vcpu placement="auto">8</vcpu>
    <numatune><memory mode='strict' placement='auto'/></numatune>
    <cpu mode='host-passthrough' check='none'>
        <topology sockets='1' dies='1' cores='8' threads='1'/>
        <numa><cell id='0' cpus='0-7' memory='16' unit='GiB' memAccess='shared'/></numa>
    </cpu>
    <devices><!-- <vcpupin vcpu='0' cpuset='0'/> in a comment stays --><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>
`;
    const once = mergeLayout(xml, layout);
    expect(mergeLayout(once, layout)).toBe(once);
    expect(once).toContain('<vcpu>8</vcpu>');
    expect(once).not.toContain("placement='auto'");
    expect(once).toContain("<topology sockets='1' dies='1' cores='8' threads='1'/>");
    expect(once).toMatch(/<cell id='1' cpus='5-7' memory='8388608' unit='KiB' memAccess='shared'\/>/);
    expect(once).toContain("<!-- <vcpupin vcpu='0' cpuset='0'/> in a comment stays -->");
    expect(once.match(/<emulatorpin /g)).toHaveLength(1);
    // the domain's indentation (4 spaces) is followed
    expect(once).toMatch(/\n {4}<cputune>\n {8}<vcpupin vcpu='0'/);
  });

  it('a self-closing <cpu/> gets its <numa>; a domain without <cpu> gets one; <memory> follows a rounded-up sum', () => {
    const layout = guestLayout({ vcpus: 2, memKiB: 2000 }, { perNode: [taken(0, 100, 1), taken(1, 100, 1)] }, snapshotOf('4node-westmere-ex').cpus) as GuestLayout;
    expect(layout.memKiB).toBe(2048);
    const selfClosing = mergeLayout("<domain>\n  <vcpu>2</vcpu>\n  <memory unit='KiB'>2000</memory>\n  <cpu mode='host-model'/>\n</domain>", layout);
    expect(selfClosing).toMatch(/<cpu mode='host-model'>\n {4}<numa>\n {6}<cell id='0' cpus='0'/);
    expect(selfClosing).toContain("<memory unit='KiB'>2048</memory>");
    const none = mergeLayout('<domain>\n  <vcpu>2</vcpu>\n  <memory>2000</memory>\n</domain>', layout);
    expect(parseDomainXml(none).vcpuPins.size).toBe(2);
    expect(none).toMatch(/<cpu>\n {4}<numa>/);
  });

  it('a one-node answer: <numatune> strictly on that node and a comment; the fragment form', () => {
    const out = mergeNodeset(ADMIN, '1', 'fits on host node 1');
    expect(parseDomainXml(out).numatune?.nodeset).toEqual([1]);
    expect(out).toContain('<!-- fits on host node 1 -->');
    expect(out).toContain("<vcpupin vcpu='3' cpuset='10,12'/>");
    const size = readDomainSize(ADMIN);
    const one = domainXmlAnswer(ADMIN, size, { nodes: [1], nodeset: '1', fits: true, perNode: [taken(1, 400, 16384)] }, snapshotOf('4node-westmere-ex').cpus, undefined, true);
    expect(one).toMatch(/^<!-- numadvisor advise: fits on host node 1; no guest NUMA layout needed -->\n<numatune>/);
    const frag = renderFragments(dl980Layout());
    expect(frag).toContain("<memnode cellid='0' mode='strict' nodeset='2'/>");
    expect(frag).toContain("<emulatorpin cpuset='");
  });
});

describe('the API: layout=true', () => {
  it('GET and POST /v1/advice add a layout for an answer over several nodes, null for one node, nothing unless asked', async () => {
    const service = new AdvisorService(new HostObserver(new FsRoot(fixture('8node-dl980'))), new ReservationLedger(), { capacity: { ...NUMAD_DEFAULT_CAPACITY_OPTIONS }, cpuAllocationRatio: 4, reservationTtlMs: 300_000 }, undefined);
    // Only what /v1/advice calls: the routes under test.
    const api = { beforeAdvice: () => undefined, advise: (r, o) => service.adviseDurably(r, o), release: async () => undefined } as Partial<AdvisorApi> as AdvisorApi;
    const app = buildApp({ api, logger: pino({ level: 'silent' }) });
    try {
      const big = await app.inject({ method: 'GET', url: '/v1/advice?cpus=24&mem=40000&reserve=false&layout=true' });
      expect(big.statusCode).toBe(200);
      const body = big.json() as { nodes: number[]; layout: GuestLayout };
      expect(body.nodes.length).toBeGreaterThan(1);
      checkLayout(body.layout, { vcpus: 24, memKiB: 40000 * 1024 }, snapshotOf('8node-dl980').cpus, CELL_ALIGN_KIB);
      const small = await app.inject({ method: 'POST', url: '/v1/advice', payload: { cpus: 2, mem: 1024, reserve: false, layout: true } });
      expect(small.json()).toMatchObject({ layout: null });
      const plain = await app.inject({ method: 'GET', url: '/v1/advice?cpus=24&mem=40000&reserve=false' });
      expect(plain.json()).not.toHaveProperty('layout');
    } finally {
      await app.close();
    }
  });
});

describe('numadvisor advise offline: --hugepages and --slow-tier', () => {
  const snapFile = (name: string): string => {
    const file = `${tmpdir()}/nv-advise-${name}-${process.pid}.json`;
    writeFileSync(file, JSON.stringify(snapshotOf(name)));
    return file;
  };
  const run = async (args: string[]): Promise<{ out: string; err?: Error }> => {
    let out = '';
    try {
      await cmdAdvise(args, { stdout: (t) => (out += t), stderr: () => undefined });
      return { out };
    } catch (err) {
      return { out, err: err as Error };
    }
  };

  it('a hugepage-backed request is placed by the pools of its size; a size without a pool is refused with the sizes there are', async () => {
    const file = snapFile('2node-2s12c24t');
    // node 0 has 2 free 1 GiB pages, node 1 has 4: 4 GiB fits node 1 only, although node 0 would hold it in MemFree
    const huge = JSON.parse((await run(['--snapshot', file, '--cpus', '2', '--mem', '4096', '--hugepages', '1048576'])).out) as Advice;
    expect(huge.nodeset).toBe('1');
    expect(huge.reasons[0]).toMatch(/^hugepages 1048576 kB: placed by each node's free pages/);
    const bad = await run(['--snapshot', file, '--cpus', '2', '--mem', '4096', '--hugepages', '4096']);
    expect(bad.err?.message).toMatch(/no 4096 kB pool; its pools: 2048 kB, 1048576 kB/);
    const odd = await run(['--snapshot', file, '--cpus', '2', '--mem', '1000', '--hugepages', '1048576']);
    expect(odd.err?.message).toMatch(/whole/);
  });

  it('--slow-tier lets memory go to CPU-less nodes only when asked; by default DRAM holds what it can', async () => {
    const file = snapFile('cxl-2s2c');
    const plain = JSON.parse((await run(['--snapshot', file, '--cpus', '4', '--mem', '4096', '--policy', 'numadvisor'])).out) as Advice;
    expect(plain.nodes.every((n) => n < 2)).toBe(true);
    expect(plain.reasons[0]).toMatch(/^memory tiers: the CPU nodes' own memory \(the fastest tier\) holds it/);
    const big = JSON.parse((await run(['--snapshot', file, '--cpus', '4', '--mem', '200000', '--policy', 'numadvisor'])).out) as Advice;
    expect(big.nodes.some((n) => n < 2) && big.nodes.some((n) => n >= 2)).toBe(true);
    // More than one socket's DRAM: by default both sockets' DRAM; with --slow-tier one socket and its own CXL memory.
    const both = JSON.parse((await run(['--snapshot', file, '--cpus', '4', '--mem', '80000', '--policy', 'numadvisor'])).out) as Advice;
    expect(both.nodeset).toBe('0-1');
    const local = JSON.parse((await run(['--snapshot', file, '--cpus', '4', '--mem', '80000', '--policy', 'numadvisor', '--slow-tier'])).out) as Advice;
    expect(local.nodeset).toBe('1,3');
    expect(local.reasons[0]).toMatch(/^memory tiers: the request allows a slower tier; 53148 MiB on the CPU nodes' own memory \(1\), 26852 MiB on node 3/);
  });
});
