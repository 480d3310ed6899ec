// libvirt RPC building blocks without a daemon: XDR, framing and reassembly, typed parameters, CPU maps, domain XML
// (recorded from libvirtd 9.0 on Debian 12), and the vCPU-to-core assignment. The daemon itself: test/libvirt.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { XdrReader, XdrWriter } from '../../src/libvirt/xdr.js';
import { encodeFrame, FrameDecoder, ParamType, readRemoteError, readTypedParam, uuidBytes, uuidString, writeTypedParam, type TypedParam } from '../../src/libvirt/protocol.js';
import { decodeCpuMap, encodeCpuMap } from '../../src/libvirt/cpumap.js';
import { parseDomainXml, parseStatusXml } from '../../src/libvirt/domain-xml.js';
import { assignVcpus, coresOf } from '../../src/balance/vcpu-assignment.js';
import { domainSelected } from '../../src/model/domain-filter.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { fixture, tempDir } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';

describe('XDR', () => {
  it('round-trips every type libvirt uses, with 4-byte padding', () => {
    const w = new XdrWriter().int(-5).uint(0xfffffffe).hyper(-(2n ** 40n)).uhyper(2n ** 63n).double(1.5).bool(true).string('héllo').opaque(Buffer.from([1, 2, 3])).fixedOpaque(Buffer.alloc(16, 7));
    w.optional<string>(undefined, (x, v) => x.string(v)).optional('x', (x, v) => x.string(v)).array([1, 2, 3], (x, v) => x.int(v));
    const buf = w.toBuffer();
    expect(buf.length % 4).toBe(0);
    const r = new XdrReader(buf);
    expect([r.int(), r.uint(), r.hyper(), r.uhyper(), r.double(), r.bool(), r.string()]).toEqual([-5, 0xfffffffe, -(2n ** 40n), 2n ** 63n, 1.5, true, 'héllo']);
    expect([...r.opaque()]).toEqual([1, 2, 3]);
    expect(r.fixedOpaque(16).equals(Buffer.alloc(16, 7))).toBe(true);
    expect(r.optional((x) => x.string())).toBeUndefined();
    expect(r.optional((x) => x.string())).toBe('x');
    expect(r.array((x) => x.int())).toEqual([1, 2, 3]);
    expect(r.remaining).toBe(0);
  });

  it('a truncated or hostile message is a coded error, never a crash or a huge allocation', () => {
    expect(() => new XdrReader(Buffer.from([0, 0, 0])).int()).toThrow(/truncated/);
    expect(() => new XdrReader(new XdrWriter().uint(0xffffffff).toBuffer()).string()).toThrow(/over the limit/);
    expect(() => new XdrReader(new XdrWriter().uint(2).toBuffer()).optional((x) => x.int())).toThrow(/neither 0 nor 1/);
    try {
      new XdrReader(Buffer.alloc(0)).uint();
    } catch (err) {
      expect((err as { code: string }).code).toBe('NUMADVISOR_ERR_LIBVIRT_PROTOCOL');
    }
  });

  it('typed parameters of every type, and libvirt\'s error reply', () => {
    const params: TypedParam[] = [
      { field: 'numa_mode', type: ParamType.Int, value: 3 },
      { field: 'u', type: ParamType.UInt, value: 7 },
      { field: 'l', type: ParamType.LLong, value: -9n },
      { field: 'ul', type: ParamType.ULLong, value: 9n },
      { field: 'd', type: ParamType.Double, value: 0.25 },
      { field: 'b', type: ParamType.Boolean, value: true },
      { field: 'numa_nodeset', type: ParamType.String, value: '0-1' },
    ];
    const w = new XdrWriter().array(params, writeTypedParam);
    expect(new XdrReader(w.toBuffer()).array(readTypedParam)).toEqual(params);
    const err = new XdrWriter().int(55).int(10).optional('change of nodeset for running domain requires restrictive numa mode', (x, v) => x.string(v)).int(2).toBuffer();
    expect(readRemoteError(new XdrReader(err))).toEqual({ code: 55, domain: 10, message: 'change of nodeset for running domain requires restrictive numa mode', level: 2 });
  });
});

describe('framing', () => {
  it('reassembles frames split at every byte and joined in one chunk', () => {
    const a = encodeFrame({ prog: 0x20008086, vers: 1, proc: 318, type: 2, serial: 0, status: 0 }, Buffer.from([0, 0, 0, 9]));
    const b = encodeFrame({ prog: 0x20008086, vers: 1, proc: 66, type: 1, serial: 1, status: 0 }, Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]));
    expect(a.readUInt32BE(0)).toBe(a.length); // the length word counts itself
    const both = Buffer.concat([a, b]);
    const d1 = new FrameDecoder();
    const got = [...both].flatMap((byte) => d1.push(Buffer.from([byte])));
    expect(got.map((f) => [f.header.proc, f.header.serial, [...f.payload]])).toEqual([
      [318, 0, [0, 0, 0, 9]],
      [66, 1, [0, 0, 0, 1, 0, 0, 0, 0]],
    ]);
    expect(new FrameDecoder().push(both)).toHaveLength(2);
    expect(() => new FrameDecoder().push(Buffer.from([0, 0, 0, 3]))).toThrow(/bad libvirt frame length/);
  });

  it('UUIDs and CPU maps (CPU n is bit n%8 of byte n/8)', () => {
    const u = '6695eb01-f6a4-8304-79aa-97f2502e193f';
    expect(uuidString(uuidBytes(u))).toBe(u);
    expect(() => uuidBytes('nope')).toThrow(/not a UUID/);
    expect([...encodeCpuMap([0, 9, 15], 16)]).toEqual([0b00000001, 0b10000010]);
    expect(decodeCpuMap(encodeCpuMap([1, 2, 3, 17], 18))).toEqual([1, 2, 3, 17]);
    expect(() => encodeCpuMap([8], 8)).toThrow(RangeError);
  });
});

describe('domain XML', () => {
  it('a live restrictive auto-placed domain and its status XML (recorded from libvirtd 9.0)', () => {
    const live = parseDomainXml(readFileSync(fixture('libvirt/live-restrictive-auto.xml'), 'utf8'));
    expect(live).toMatchObject({ name: 'nv-probe', vcpus: 2, maxVcpus: 2, memoryMiB: 128, vcpuPlacement: 'auto', numatune: { mode: 'restrictive', placement: 'auto' }, iothreadIds: [] });
    expect(live.vcpuPins.size).toBe(0);
    const status = parseStatusXml(readFileSync(fixture('libvirt/status-restrictive-auto.xml'), 'utf8'));
    expect(status.pid).toBe(29910);
    expect([...status.vcpuTids]).toEqual([
      [0, 29917],
      [1, 29918],
    ]);
    expect(status.numad).toEqual({ nodeset: [0], cpuset: [0, 1] });
    expect(status.spec.name).toBe('nv-probe');
  });

  it("an administrator's pins, units, current vCPUs and IOThreads", () => {
    const spec = parseDomainXml(readFileSync(fixture('libvirt/admin-pinned.xml'), 'utf8'));
    expect(spec).toMatchObject({ name: 'db01', vcpus: 4, maxVcpus: 8, memoryMiB: 16_384, vcpuPlacement: 'static', emulatorPin: [0], iothreadIds: [1, 2] });
    expect(spec.numatune).toEqual({ mode: 'strict', placement: 'static', nodeset: [0, 1] });
    expect([...spec.vcpuPins]).toEqual([
      [0, [2, 3]],
      [3, [10, 12]],
    ]);
    expect([...spec.iothreadPins]).toEqual([[2, [1]]]);
    expect(() => parseDomainXml('<network/>')).toThrow(/not a libvirt domain/);
  });

  it('include/exclude by name or UUID', () => {
    const d = { name: 'web1', uuid: '6695eb01-f6a4-8304-79aa-97f2502e193f' };
    expect(domainSelected({ include: [], exclude: [] }, d)).toBe(true);
    expect(domainSelected({ include: [], exclude: ['web1'] }, d)).toBe(false);
    expect(domainSelected({ include: [], exclude: [d.uuid] }, d)).toBe(false);
    expect(domainSelected({ include: ['db'], exclude: [] }, d)).toBe(false);
    expect(domainSelected({ include: [d.uuid], exclude: [] }, d)).toBe(true);
  });
});

describe('vCPUs on distinct cores', () => {
  // Two nodes, 2 cores each, 2 threads per core: CPUs n and n+4 are siblings.
  const cpus = [0, 1, 2, 3, 4, 5, 6, 7].map((id) => ({ id, node: id % 4 < 2 ? 0 : 1, packageId: id % 4 < 2 ? 0 : 1, coreId: id % 2 }));

  it('one core (with its hyper-threads) per vCPU while cores are free; other guests\' cores last; round-robin beyond', () => {
    const cores = coresOf(cpus, [0]);
    expect(cores).toEqual([
      [0, 4],
      [1, 5],
    ]);
    expect(assignVcpus(2, cores)).toEqual([
      [0, 4],
      [1, 5],
    ]);
    expect(assignVcpus(2, cores, new Set([0]))).toEqual([
      [1, 5],
      [0, 4],
    ]);
    expect(assignVcpus(3, coresOf(cpus, [0, 1]))).toEqual([
      [0, 4],
      [1, 5],
      [2, 6],
    ]);
    expect(assignVcpus(3, cores)).toEqual([
      [0, 4],
      [1, 5],
      [0, 4],
    ]);
    expect(assignVcpus(2, [])).toEqual([]);
  });
});

describe('LibvirtClient without libvirtd', () => {
  it('parks after a full backoff finds no socket file (no timer), and connects when poked once one exists', async () => {
    const t = tempDir();
    const sockPath = path.join(t.dir, 'libvirt-sock');
    const client = new LibvirtClient({ uri: 'test:///default', socketPath: sockPath, minBackoffMs: 1, maxBackoffMs: 4 });
    let connections = 0;
    const server = createServer((s) => {
      connections++;
      s.destroy(); // not libvirtd: the client sees the connection close and backs off
    });
    try {
      client.start();
      await sleep(100); // 1 + 2 + 4 ms of retries, then parked
      await new Promise<void>((resolve) => server.listen(sockPath, resolve));
      await sleep(150);
      expect(connections).toBe(0); // parked: nothing retries by itself
      client.poke();
      await waitFor(() => connections > 0, 2000, 10);
      expect(client.connected).toBe(false);
    } finally {
      await client.close();
      await new Promise((resolve) => server.close(resolve));
      t.cleanup();
    }
  });
});
