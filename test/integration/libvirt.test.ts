// The libvirt half against a real libvirtd (Debian 12's, started as root by test/helpers/libvirtd.ts in a private
// mount namespace where /usr/bin/numad is our command): our RPC client on test:///default, placement='auto' end to
// end on qemu:///system with real QEMU (TCG, 128 MiB, no disk), reservations bound to the VM, libvirtd restarted
// under the client, the daemon down during a start, and moves through libvirt with rollback.
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { LibvirtClient, LIFECYCLE, type LifecycleEvent } from '../../src/libvirt/client.js';
import { LibvirtError } from '../../src/errors.js';
import { DomainTracker } from '../../src/daemon/domain-tracker.js';
import { DomainMover } from '../../src/apply/domain-mover.js';
import { DomainMoves } from '../../src/daemon/domain-moves.js';
import { ReservationLedger, type Reservation } from '../../src/model/reservations.js';
import { FsRoot } from '../../src/topology/fsroot.js';
import { HostObserver } from '../../src/observe/host-observer.js';
import type { RunningDaemon } from '../../src/daemon/daemon.js';
import { numadvisorMain } from '../../src/cli/numadvisor-main.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { fixture, tempDir } from '../helpers/fixtures.js';
import { request } from '../helpers/http.js';
import { libvirtAvailable, qemuDomainXml, startLibvirtd, stopLibvirtd, virsh, virshAsync, LIBVIRT_SOCK } from '../helpers/libvirtd.js';

const silent = pino({ level: 'silent' });

async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const TEST_DOMAIN = `<domain type='test'>
  <name>nv-test</name>
  <memory unit='MiB'>128</memory>
  <vcpu placement='static'>2</vcpu>
  <numatune><memory mode='restrictive' nodeset='0'/></numatune>
  <os><type arch='x86_64'>hvm</type></os>
</domain>`;

describe.skipIf(!libvirtAvailable())('libvirt (real libvirtd)', () => {
  const t = tempDir('numadvisor-libvirt-');
  let d: RunningDaemon | undefined;
  const sock = (): string => `${t.dir}/numadvisor.sock`;
  const numadLog = (): string => `${t.dir}/numad.log`;

  beforeAll(async () => {
    // libvirt passes its whole environment to numad: this is how the shim finds this test's daemon and log.
    await startLibvirtd({ NUMADVISOR_SOCKET: sock(), NUMADVISOR_LOG_FILE: numadLog() });
  }, 60_000);

  afterAll(async () => {
    for (const name of ['nv-auto', 'nv-strict', 'nv-restrictive', 'nv-after-restart', 'nv-late', 'nv-no-daemon']) {
      try {
        virsh('destroy', name);
      } catch {
        // not running
      }
    }
    try {
      virsh('undefine', 'nv-layout');
    } catch {
      // not defined (the test undefines it)
    }
    await d?.close();
    await stopLibvirtd(true);
    t.cleanup();
  }, 60_000);

  // Defined, never started (no QEMU): libvirt validates the XML against QEMU's capabilities at define time.
  it('virsh define takes the XML `numadvisor advise --domain-xml` makes from a fixture host (memory-only cells included); dumpxml shows the cells and memnodes', async () => {
    const snapshot = `${t.dir}/dl980.json`;
    writeFileSync(snapshot, `${JSON.stringify(new HostObserver(new FsRoot(fixture('8node-dl980'))).snapshot())}\n`);
    const xmlFile = `${t.dir}/nv-layout.xml`;
    writeFileSync(
      xmlFile,
      qemuDomainXml('nv-layout', { vcpus: 24 })
        .replace("<memory unit='MiB'>128</memory>", "<memory unit='GiB'>100</memory><currentMemory unit='MiB'>128</currentMemory>"),
    );
    let out = '';
    let err = '';
    const code = await numadvisorMain(['advise', '--domain-xml', xmlFile, '--snapshot', snapshot, '--policy', 'numadvisor'], { stdout: (s) => (out += s), stderr: (s) => (err += s) });
    expect(err).toBe('');
    expect(code).toBe(0);
    const cells = [...out.matchAll(/<cell id='(\d+)'( cpus='[^']*')? memory='(\d+)'/g)];
    expect(cells.length).toBeGreaterThan(2);
    expect(cells.some((c) => c[2] === undefined)).toBe(true);
    const merged = `${t.dir}/nv-layout.merged.xml`;
    writeFileSync(merged, out);
    virsh('define', merged);
    try {
      const dumped = virsh('dumpxml', 'nv-layout');
      for (const [, id, cpus, mem] of cells) {
        expect(dumped).toMatch(new RegExp(`<cell id='${id}'${cpus ?? ''} memory='${mem}' unit='KiB'/>`));
        expect(dumped).toMatch(new RegExp(`<memnode cellid='${id}' mode='strict' nodeset='\\d+'/>`));
      }
      expect(dumped).toMatch(/<vcpupin vcpu='23' cpuset='\d+'\/>/);
      expect(dumped).not.toContain("placement='auto'");
    } finally {
      virsh('undefine', 'nv-layout');
    }
    // libvirtd probes QEMU's capabilities on the first qemu:///system call after it starts (~15 s here).
  }, 90_000);

  describe('our RPC client on test:///default', () => {
    it('AUTH_LIST + CONNECT_OPEN, calls, typed parameters, pins, events and libvirt\'s own errors', async () => {
      const c = new LibvirtClient({ uri: 'test:///default', socketPath: LIBVIRT_SOCK, events: true });
      const events: LifecycleEvent[] = [];
      c.on('lifecycle', (e) => events.push(e));
      try {
        expect(await c.libVersion()).toBeGreaterThanOrEqual(9_000_000n);
        expect((await c.listDomains()).map((x) => x.name)).toEqual(['test']);
        const dom = await c.createXml(TEST_DOMAIN);
        await until('STARTED event', () => events.find((e) => e.domain.name === 'nv-test' && e.event === LIFECYCLE.STARTED));
        expect(await c.numaParameters(dom)).toEqual({ mode: 'restrictive', nodeset: '0' });
        await c.setNumaNodeset(dom, '1');
        expect((await c.numaParameters(dom)).nodeset).toBe('1');
        await c.pinVcpu(dom, 0, [5], 0);
        expect((await c.vcpuPins(dom, 2, 0))[0]).toEqual([5]);
        await c.pinEmulator(dom, [1, 2], 0);
        expect(await c.emulatorPin(dom, 0)).toEqual([1, 2]);
        expect(await c.iothreads(dom, 0)).toEqual([]);
        const err = await c.pinVcpu(dom, 9, [0], 0).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(LibvirtError);
        expect((err as LibvirtError).code).toBe('NUMADVISOR_ERR_LIBVIRT');
        expect((err as LibvirtError).libvirt.message).toMatch(/vcpu|range/i);
        const missing = await c.lookupByName('no-such-domain').catch((e: unknown) => e);
        expect((missing as LibvirtError).libvirt.code).toBe(42); // VIR_ERR_NO_DOMAIN
        await c.destroy(dom);
        await until('STOPPED event', () => events.find((e) => e.domain.name === 'nv-test' && e.event === LIFECYCLE.STOPPED));
        // Keepalive was opted into: libvirtd pings an idle client every 5 s and gets its pong.
        await until('a keepalive ping', () => (c.pings > 0 ? true : undefined), 12_000);
      } finally {
        await c.close();
      }
    });

    it('a restrictive domain moves live through libvirt (nodeset, one core per vCPU, emulator) and rolls back', async () => {
      const c = new LibvirtClient({ uri: 'test:///default', socketPath: LIBVIRT_SOCK, events: true });
      try {
        const ledger = new ReservationLedger();
        const tracker = new DomainTracker(c, ledger, new FsRoot('/'), silent, { include: [], exclude: [] }, 300_000);
        await c.connect();
        await c.createXml(TEST_DOMAIN);
        await tracker.resync();
        const dom = tracker.byNameOrUuid('nv-test');
        expect(dom).toBeDefined();
        // The test driver's 8-CPU map, as two nodes of four one-thread cores.
        const cpus = Array.from({ length: 8 }, (_, id) => ({ id, node: id < 4 ? 0 : 1, packageId: id < 4 ? 0 : 1, coreId: id % 4 }));
        const mover = new DomainMoves(new DomainMover(c, tracker, `${t.dir}/test-moves.jsonl`), () => cpus);
        const out = await mover.apply(dom as NonNullable<typeof dom>, [1]);
        expect(out).toMatchObject({ ok: true, memoryMoved: true, before: { mode: 'restrictive', nodeset: '0' }, after: { nodeset: '1', vcpuPins: [[4], [5]], emulatorPin: [4, 5, 6, 7] } });
        const back = await mover.rollback(dom as NonNullable<typeof dom>);
        expect(back).toMatchObject({ ok: true, action: 'rollback', after: { nodeset: '0', vcpuPins: [out.before.vcpuPins[0], out.before.vcpuPins[1]], emulatorPin: out.before.emulatorPin } });
        const journal = readFileSync(`${t.dir}/test-moves.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string });
        expect(journal.map((j) => j.action)).toEqual(['apply', 'rollback']);
        await expect(mover.rollback(dom as NonNullable<typeof dom>)).rejects.toThrow(/nothing to roll back/);
      } finally {
        await c.close();
      }
    });
  });

  describe('qemu:///system end to end', () => {
    beforeAll(async () => {
      d = await startTestDaemon(t.dir, '1node-2cpu', { fsRoot: '/', apply: 'domains', libvirt: { uri: 'qemu:///system', socketPath: LIBVIRT_SOCK, filter: { include: [], exclude: [] } } });
      await until('libvirt connected', () => d?.domains?.tracker.client.connected);
    }, 30_000);

    const reservations = async (): Promise<Reservation[]> => ((await request(sock(), 'GET', '/v1/reservations')).body as { reservations: Reservation[] }).reservations;

    // Never virsh('create') here: it would block the daemon (this process) while libvirt waits for numad -w.
    const create = async (name: string, o: Parameters<typeof qemuDomainXml>[1] = {}): Promise<void> => {
      const file = `${t.dir}/${name}.xml`;
      writeFileSync(file, qemuDomainXml(name, o));
      await virshAsync('create', file);
    };
    const ask = async (vcpus: number): Promise<Reservation> =>
      ((await request(sock(), 'POST', '/v1/advice', { cpus: vcpus, mem: 128, client: 'numad -w' })).body as { reservation: Reservation }).reservation;
    const tracked = (name: string) => until(`${name} tracked`, () => d?.domains?.tracker.byNameOrUuid(name));

    it("placement='auto': libvirt runs our numad, records our nodeset, and the reservation is bound to the VM", async () => {
      const earlier = new Set((await reservations()).map((r) => r.id));
      await create('nv-auto', { vcpus: 2 });
      const status = readFileSync('/run/libvirt/qemu/nv-auto.xml', 'utf8');
      expect(status).toMatch(/<numad nodeset='0' cpuset='[0-9,-]+'\/>/);
      const log = readFileSync(numadLog(), 'utf8');
      expect(log).toMatch(/: Getting NUMA pre-placement advice for 200 CPUs and 128 MBs\n.*: Advising pid -1 \(unknown\) move from nodes \(0\) to nodes \(0\)\n/);
      const uuid = virsh('domuuid', 'nv-auto').trim();
      const bound = await until('reservation bound', async () => (await reservations()).find((r) => r.domain?.name === 'nv-auto'));
      // One numad -w, one reservation: the daemon answered libvirt itself (no local answer, no abandoned request).
      expect((await reservations()).filter((r) => !earlier.has(r.id)).map((r) => r.id)).toEqual([bound.id]);
      expect(bound).toMatchObject({ nodeset: '0', request: { cpuHundredths: 200, memMiB: 128 }, domain: { name: 'nv-auto', uuid } });
      const out: string[] = [];
      expect(await numadvisorMain(['status', '--socket', sock()], { stdout: (x) => out.push(x), stderr: (x) => out.push(x) })).toBe(0);
      expect(out.join('')).toMatch(new RegExp(`nodes 0 +2 CPUs 128 MiB +domain nv-auto \\(${uuid}\\)`));
      const domains = (await request(sock(), 'GET', '/v1/domains')).body as { libvirt: { connected: boolean }; domains: { name: string; numaMode: string; nodeset: string; reservation: { id: string } | null }[] };
      expect(domains.libvirt.connected).toBe(true);
      expect(domains.domains.find((x) => x.name === 'nv-auto')).toMatchObject({ numaMode: 'strict', nodeset: '0', reservation: { id: bound.id } });
      // Threads: vCPU tids from the status XML agree with the `CPU n/TCG` thread names; cgroups read from /proc.
      const dom = await tracked('nv-auto');
      expect(Object.keys(dom.vcpuTids).sort()).toEqual(['0', '1']);
      for (const tid of Object.values(dom.vcpuTids)) {
        expect(readFileSync(`/proc/${dom.pid}/task/${tid}/comm`, 'utf8')).toMatch(/^CPU \d\/(KVM|TCG)/);
        expect(dom.cgroups[String(tid)]).toMatch(/nv\\x2dauto|nv-auto/);
      }
      // What the guest has materialised is measured as used, so the reservation shrinks by it (never counted twice).
      await (d as RunningDaemon).rebalancer.cycle();
      const shrunk = (await reservations()).find((r) => r.id === bound.id);
      expect(shrunk?.perNode[0]?.memMiB).toBeLessThan(128);
      expect(shrunk?.perNode[0]?.cpuHundredths).toBe(bound.perNode[0]?.cpuHundredths);
      virsh('destroy', 'nv-auto');
      await until('reservation released', async () => ((await reservations()).some((r) => r.id === bound.id) ? undefined : true));
    });

    it('a strict domain gets CPU pins only (one core per vCPU) and the reason; an admin pin stays', async () => {
      await create('nv-strict', { vcpus: 2, cputune: "<vcpupin vcpu='1' cpuset='1'/>" });
      const dom = await tracked('nv-strict');
      expect(dom.adminPins.vcpus).toEqual([1]);
      const out = await (d as RunningDaemon).domains?.mover.apply(dom, [0]);
      expect(out).toMatchObject({ ok: true, memoryMoved: false, before: { mode: 'strict', nodeset: '0' } });
      expect(out?.reason).toMatch(/strict mode: memory cannot move live .*mode='restrictive'.*left as an administrator pinned them: vcpu 1/);
      expect(out?.after.vcpuPins[1]).toEqual([1]);
      expect(out?.after.vcpuPins[0]?.length).toBeLessThan(out?.before.vcpuPins[0]?.length ?? 0);
      expect(virsh('vcpupin', 'nv-strict')).toMatch(/ 1 +1\n/);
    });

    it("a restrictive domain is re-pinned live and rolled back with `numadvisor rollback`; an admin's later vcpupin is respected", async () => {
      await create('nv-restrictive', { vcpus: 2, mode: 'restrictive' });
      const dom = await tracked('nv-restrictive');
      const out = await (d as RunningDaemon).domains?.mover.apply(dom, [0]);
      expect(out).toMatchObject({ ok: true, before: { mode: 'restrictive', nodeset: '0' }, after: { nodeset: '0' } });
      expect(out?.after.vcpuPins[0]).not.toEqual(out?.before.vcpuPins[0]);
      const text: string[] = [];
      expect(await numadvisorMain(['rollback', 'nv-restrictive', '--socket', sock()], { stdout: (x) => text.push(x), stderr: (x) => text.push(x) })).toBe(0);
      expect(text.join('')).toMatch(/^rolled back: /);
      expect(virsh('vcpupin', 'nv-restrictive')).toMatch(new RegExp(` 0 +${out?.before.vcpuPins[0]?.length === 2 ? '0-1' : '0'}\n`));
      // An administrator pins vCPU 0 by hand: the TUNABLE event marks it, and the next move leaves it alone.
      virsh('vcpupin', 'nv-restrictive', '0', '1');
      await until('admin pin seen', () => (dom.adminPins.vcpus.includes(0) ? true : undefined));
      const again = await (d as RunningDaemon).domains?.mover.apply(dom, [0]);
      expect(again?.after.vcpuPins[0]).toEqual([1]);
      expect(again?.reason).toMatch(/left as an administrator pinned them: vcpu 0/);
    });

    it('libvirtd restarted mid-run: the client reconnects, re-registers its events, and binds the next VM', async () => {
      const client = (d as RunningDaemon).domains?.tracker.client as LibvirtClient;
      const before = client.connects;
      await startLibvirtd({ NUMADVISOR_SOCKET: sock(), NUMADVISOR_LOG_FILE: numadLog() });
      await until('reconnected', () => (client.connected && client.connects > before ? true : undefined), 30_000);
      await create('nv-after-restart', { vcpus: 1 });
      const bound = await until('bound after restart', async () => (await reservations()).find((r) => r.domain?.name === 'nv-after-restart'));
      expect(bound.request).toEqual({ cpuHundredths: 100, memMiB: 128 });
    }, 60_000);

    it('a domain started while the client was not connected (libvirtd autostart before us) is bound once it connects, to its own answer', async () => {
      await d?.close();
      const late = `${t.dir}/late.sock`;
      d = await startTestDaemon(t.dir, '1node-2cpu', { fsRoot: '/', apply: 'domains', libvirt: { uri: 'qemu:///system', socketPath: late, filter: { include: [], exclude: [] } } });
      // Answers of the same size that are not nv-late's: one whose start failed just before it, and one for a VM about
      // to start given after its QEMU started, as the client connects (an answer pokes a parked client; one still in
      // its backoff retries within 30 s); one of another size in between. Only nv-late's own answer is bound.
      const failed = await ask(2);
      const before = new Set((await reservations()).map((r) => r.id));
      await create('nv-late', { vcpus: 2 });
      const own = (await reservations()).filter((r) => !before.has(r.id));
      expect(own).toMatchObject([{ request: { cpuHundredths: 200, memMiB: 128 }, nodeset: '0' }]);
      const other = await ask(1);
      symlinkSync(LIBVIRT_SOCK, late);
      const next = await ask(2);
      const bound = await until('bound after connecting', async () => (await reservations()).find((r) => r.domain?.name === 'nv-late'), 40_000);
      expect(bound.id).toBe(own[0]?.id);
      const after = await reservations();
      for (const r of [failed, other, next]) {
        const x = after.find((y) => y.id === r.id);
        expect(x, `answer ${r.id} (${r.createdAt}) kept`).toBeDefined();
        expect(x?.domain, `answer ${r.id} (${r.createdAt}) unbound`).toBeUndefined();
      }
    }, 90_000);

    it('daemon down: the domain still starts on the command\'s local answer', async () => {
      await d?.close();
      d = undefined;
      await create('nv-no-daemon', { vcpus: 1 });
      expect(readFileSync('/run/libvirt/qemu/nv-no-daemon.xml', 'utf8')).toMatch(/<numad nodeset='0'/);
      expect(readFileSync(numadLog(), 'utf8').trim().split('\n').slice(-2).join('\n')).toMatch(/Getting NUMA pre-placement advice for 100 CPUs and 128 MBs\n.*Advising pid -1 \(unknown\) move from nodes \(0\) to nodes \(0\)$/);
    }, 30_000);
  });
});
