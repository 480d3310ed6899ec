// Which reservation a libvirt domain takes (DomainTracker.bind), without libvirtd: a fake client lists the domains and
// a private fs root holds their status XML and QEMU processes' /proc/<pid>/stat, so every start time is exact. The
// same rule against a real libvirtd: test/integration/libvirt.test.ts.
import { EventEmitter } from 'node:events';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { Advice } from '../../src/policy/types.js';
import { LIFECYCLE, type Domain, type LibvirtClient } from '../../src/libvirt/client.js';
import { DomainTracker } from '../../src/daemon/domain-tracker.js';
import { RESYNC_BIND_WINDOW_MS } from '../../src/model/reservation-binding.js';
import { ReservationLedger, type Reservation } from '../../src/model/reservations.js';
import { FsRoot } from '../../src/topology/fsroot.js';
import { tempDir } from '../helpers/fixtures.js';

const BOOT = Date.parse('2026-01-01T00:00:00Z');
const NOW = BOOT + 3_600_000;

interface FakeDomain extends Domain {
  vcpus: number;
  placement: 'auto' | 'static';
  nodeset: string;
  /** ms after BOOT its QEMU process started (a multiple of 10: /proc counts in 10 ms ticks) */
  startedAt: number;
}

/** listDomains, xml and numaParameters: what DomainTracker.load asks of the client. */
class FakeClient extends EventEmitter {
  domains: FakeDomain[] = [];
  async listDomains(): Promise<Domain[]> {
    return this.domains;
  }
  async xml(d: Domain): Promise<string> {
    return domainXml(this.byUuid(d));
  }
  async numaParameters(d: Domain): Promise<{ mode: string; nodeset: string }> {
    return { mode: 'strict', nodeset: this.byUuid(d).nodeset };
  }
  private byUuid(d: Domain): FakeDomain {
    return this.domains.find((x) => x.uuid === d.uuid) as FakeDomain;
  }
}

function domainXml(d: FakeDomain): string {
  const nodeset = d.placement === 'static' ? ` nodeset='${d.nodeset}'` : '';
  return `<domain type='qemu'><name>${d.name}</name><uuid>${d.uuid}</uuid><memory unit='KiB'>131072</memory>
  <vcpu placement='${d.placement}'>${d.vcpus}</vcpu><numatune><memory mode='strict' placement='${d.placement}'${nodeset}/></numatune></domain>`;
}

describe('DomainTracker: a domain takes its own numad answer', () => {
  const t = tempDir('numadvisor-tracker-');
  afterAll(() => t.cleanup());

  function setup(): { client: FakeClient; ledger: ReservationLedger; tracker: DomainTracker; root: string; answer: (atMs: number, vcpus: number, nodeset: string) => Reservation; start: (d: Omit<FakeDomain, 'id' | 'uuid'>) => FakeDomain } {
    const root = path.join(t.dir, String(Math.random()).slice(2));
    mkdirSync(path.join(root, 'proc'), { recursive: true });
    mkdirSync(path.join(root, 'run/libvirt/qemu'), { recursive: true });
    writeFileSync(path.join(root, 'proc/uptime'), `${((NOW - BOOT) / 1000).toFixed(2)} 0.00\n`);
    const client = new FakeClient();
    const ledger = new ReservationLedger();
    const tracker = new DomainTracker(client as unknown as LibvirtClient, ledger, new FsRoot(root), pino({ level: 'silent' }), { include: [], exclude: [] }, 300_000, () => NOW);
    const answer = (atMs: number, vcpus: number, nodeset: string): Reservation => {
      const nodes = nodeset.split(',').map(Number);
      const advice = {
        request: { cpuHundredths: vcpus * 100, memMiB: 128 },
        fits: true,
        unmet: { cpuHundredths: 0, memMiB: 0 },
        nodeset,
        nodes,
        perNode: nodes.map((node) => ({ node, chosen: true, takenCpuHundredths: vcpus * 25, takenMemMiB: 128 })),
      } as unknown as Advice;
      return ledger.reserve(advice, { nowMs: BOOT + atMs, ttlMs: NOW - BOOT, client: 'numad -w' });
    };
    let pid = 1000;
    const start = (d: Omit<FakeDomain, 'id' | 'uuid'>): FakeDomain => {
      pid++;
      const dom: FakeDomain = { ...d, id: pid, uuid: `00000000-0000-4000-8000-${String(pid).padStart(12, '0')}` };
      client.domains.push(dom);
      mkdirSync(path.join(root, `proc/${pid}/task`), { recursive: true });
      // starttime is field 22: the 20th after "pid (comm) "
      const fields = ['S', ...Array.from({ length: 18 }, () => '0'), String(d.startedAt / 10), '0', '0'];
      writeFileSync(path.join(root, `proc/${pid}/stat`), `${pid} (qemu-system-x86) ${fields.join(' ')}\n`);
      const numad = d.placement === 'auto' ? `<numad nodeset='${d.nodeset}' cpuset='0-1'/>` : '';
      writeFileSync(path.join(root, `run/libvirt/qemu/${d.name}.xml`), `<domstatus state='running' pid='${pid}'>${numad}${domainXml(dom)}</domstatus>`);
      return dom;
    };
    return { client, ledger, tracker, root, answer, start };
  }

  const boundTo = (ledger: ReservationLedger, r: Reservation): string | undefined => ledger.get(r.id)?.domain?.name;
  const T = 1_000_000; // ms after boot: "a while ago"

  it('started while disconnected: the answer of its size and nodeset given closest before its QEMU started', async () => {
    const { ledger, tracker, answer, start } = setup();
    const failed = answer(T - 30_000, 2, '0'); // a start that failed, earlier, same size and nodeset
    const otherNode = answer(T - 500, 2, '1'); // a concurrent VM's answer elsewhere
    const otherSize = answer(T - 400, 1, '0');
    const own = answer(T - 1_000, 2, '0');
    const justAfter = answer(T + 20, 2, '0'); // another VM's, within the start time's 10 ms granularity
    const after = answer(T + 2_000, 2, '0'); // for a VM about to start, given after this one's QEMU started
    start({ name: 'late', vcpus: 2, placement: 'auto', nodeset: '0', startedAt: T });
    await tracker.resync();
    expect(boundTo(ledger, own)).toBe('late');
    for (const r of [failed, otherNode, otherSize, justAfter, after]) expect(boundTo(ledger, r)).toBeUndefined();
  });

  it('two of the same size take the answers in the order they were given; one started before them all takes none', async () => {
    const { ledger, tracker, answer, start } = setup();
    const a = answer(T - 2_000, 2, '0');
    const b = answer(T - 1_000, 2, '0');
    start({ name: 'second', vcpus: 2, placement: 'auto', nodeset: '0', startedAt: T + 500 });
    start({ name: 'first', vcpus: 2, placement: 'auto', nodeset: '0', startedAt: T - 1_500 });
    start({ name: 'old', vcpus: 2, placement: 'auto', nodeset: '0', startedAt: T - 50_000 });
    await tracker.resync();
    expect(boundTo(ledger, a)).toBe('first');
    expect(boundTo(ledger, b)).toBe('second');
    expect(tracker.byNameOrUuid('old')?.reservationId).toBeUndefined();
  });

  it('an answer more than the window before the start, or a domain that never asked numad, binds nothing', async () => {
    const { ledger, tracker, answer, start } = setup();
    const stale = answer(T - RESYNC_BIND_WINDOW_MS - 1_000, 2, '0');
    const fresh = answer(T + 9_000, 2, '0');
    start({ name: 'late', vcpus: 2, placement: 'auto', nodeset: '0', startedAt: T });
    start({ name: 'static', vcpus: 2, placement: 'static', nodeset: '0', startedAt: T + 10_000 });
    await tracker.resync();
    expect(boundTo(ledger, stale)).toBeUndefined();
    expect(boundTo(ledger, fresh)).toBeUndefined();
    expect(tracker.byNameOrUuid('static')?.reservationId).toBeUndefined();
  });

  it('STARTED event: its own answer, not an older one of the same size that no domain took', async () => {
    const { client, ledger, tracker, answer, start } = setup();
    const failed = answer(T - 200_000, 2, '0');
    const own = answer(T - 300, 2, '0');
    const d = start({ name: 'web', vcpus: 2, placement: 'auto', nodeset: '0', startedAt: T });
    const bound = new Promise((resolve) => tracker.once('bound', resolve));
    client.emit('lifecycle', { domain: d, event: LIFECYCLE.STARTED, detail: 0 });
    await bound;
    expect(boundTo(ledger, own)).toBe('web');
    expect(boundTo(ledger, failed)).toBeUndefined();
  });

  it('a bound reservation shrinks by what the guest has materialised (numa_maps of its QEMU process)', async () => {
    const { ledger, tracker, answer, start, root } = setup();
    const own = answer(T - 1_000, 2, '0');
    start({ name: 'grow', vcpus: 2, placement: 'auto', nodeset: '0', startedAt: T });
    await tracker.resync();
    const pid = tracker.byNameOrUuid('grow')?.pid as number;
    // 8192 pages of 4 KiB on node 0: 32 MiB of the 128 promised; node 1 is not the reservation's.
    writeFileSync(path.join(root, `proc/${pid}/numa_maps`), '7f0000000000 default anon=8192 dirty=8192 N0=8192 N1=16 kernelpagesize_kB=4\n');
    tracker.materialise(await tracker.readGuestMemories(() => true, 2000));
    expect(ledger.get(own.id)?.perNode).toEqual([{ node: 0, cpuHundredths: 50, memMiB: 96 }]);
  });

  it('a numa_maps read that blocks (a guest in reclaim) is given up at the deadline and not started again while it hangs', async () => {
    const { ledger, tracker, answer, start, root } = setup();
    const own = answer(T - 1_000, 2, '0');
    start({ name: 'stuck', vcpus: 2, placement: 'auto', nodeset: '0', startedAt: T });
    start({ name: 'fine', vcpus: 1, placement: 'auto', nodeset: '0', startedAt: T });
    await tracker.resync();
    const stuck = tracker.byNameOrUuid('stuck')?.pid as number;
    const fine = tracker.byNameOrUuid('fine')?.pid as number;
    writeFileSync(path.join(root, `proc/${fine}/numa_maps`), '7f0000000000 default anon=256 N0=256 kernelpagesize_kB=4\n');
    // A FIFO without a writer: opening it for reading blocks in the kernel, as a read of a thrashing QEMU's numa_maps
    // blocks on its mmap lock. The read runs on libuv's pool; the event loop must stay free.
    const fifo = path.join(root, `proc/${stuck}/numa_maps`);
    execFileSync('mkfifo', [fifo]);
    const before = ledger.get(own.id)?.perNode;
    const t0 = Date.now();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 20);
    const first = await tracker.readGuestMemories(() => true, 300);
    clearInterval(ticker);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(ticks).toBeGreaterThan(5);
    expect([...first.keys()]).toEqual([tracker.byNameOrUuid('fine')?.uuid]);
    tracker.materialise(first);
    expect(ledger.get(own.id)?.perNode).toEqual(before);
    // Still hanging: not read again (it would take another pool thread), answered at once.
    const t1 = Date.now();
    const second = await tracker.readGuestMemories(() => true, 300);
    expect(Date.now() - t1).toBeLessThan(250);
    expect(second.has(tracker.byNameOrUuid('stuck')?.uuid as string)).toBe(false);
    // Released (the reclaim ended): EOF, nothing on any node; the next cycle reads it again.
    closeSync(openSync(fifo, 'w'));
    await new Promise((r) => setTimeout(r, 50));
    rmSync(fifo);
    writeFileSync(fifo, '7f0000000000 default anon=8192 N0=8192 kernelpagesize_kB=4\n');
    tracker.materialise(await tracker.readGuestMemories(() => true, 2000));
    expect(ledger.get(own.id)?.perNode).toEqual([{ node: 0, cpuHundredths: 50, memMiB: 96 }]);
  });
});
