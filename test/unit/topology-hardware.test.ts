// Readers of today's NUMA hardware (issue #16) on the fixture trees written by test/fixtures/make-fixtures.ts:
// node state masks, memory tiers, tiering switches, HMAT, L3 groups, dies, isolated CPUs, hugepage surplus and the
// host-wide reserved count; what older kernels lack reads as undefined; malformed files are topology errors; the
// snapshot and GET /v1/nodes carry the facts and still accept snapshots without them.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsRoot } from '../../src/topology/fsroot.js';
import { readHostShape, readHugepageReserved, readHugepageReservedAsync, readNodeMemory, readNodeMemoryAsync } from '../../src/topology/sysfs.js';
import { readNodeStates } from '../../src/topology/node-states.js';
import { parseMemoryTierName, readDemotionEnabled, readMemoryTiers, readNumaBalancing } from '../../src/topology/memory-tiers.js';
import { parseInitiatorEntries, readMemorySideCaches, readNodeHmat } from '../../src/topology/hmat.js';
import { groupByL3, readCpuL3, readL3ByCpu } from '../../src/topology/cpu-caches.js';
import { parseCpuMaskList, readIsolatedCpus } from '../../src/topology/isolated-cpus.js';
import { parseSysfsBool, parseSysfsIdList, parseSysfsInt, parseSysfsUint } from '../../src/topology/sysfs-values.js';
import { HostObserver } from '../../src/observe/host-observer.js';
import { HostSnapshotSchema, nodeHardwareFacts, type HostSnapshot } from '../../src/model/snapshot.js';
import { ReservationLedger } from '../../src/model/reservations.js';
import { NUMAD_DEFAULT_CAPACITY_OPTIONS } from '../../src/model/capacity.js';
import { AdvisorService } from '../../src/daemon/advisor-service.js';
import { NodeViewSchema, NodesResponseSchema } from '../../src/server/api-schemas.js';
import { formatIdList } from '../../src/topology/idlist.js';
import { copyFixture, fixture, tempDir } from '../helpers/fixtures.js';

const TOPOLOGY_ERROR = expect.objectContaining({ code: 'NUMADVISOR_ERR_TOPOLOGY' });
const at = (name: string): FsRoot => new FsRoot(fixture(name));
const NEW_TREES = ['cxl-2s2c', 'gnr-snc3', 'epyc-nps4', 'gb200-34node'] as const;
const OLD_TREES = ['1node-2cpu', '2node-2s12c24t', '4node-westmere-ex', '8node-dl980', 'sparse-0-8', 'memoryless-3node', 'cpuless-2node'] as const;

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups) c();
  cleanups = [];
});

/** A writable copy of a (small) fixture tree, removed after the test. */
function copyOf(name: string): string {
  const t = tempDir();
  cleanups.push(t.cleanup);
  return copyFixture(name, t.dir);
}

/** An empty tree, removed after the test: the readers of one file need nothing else. */
function emptyTree(): string {
  const t = tempDir();
  cleanups.push(t.cleanup);
  return t.dir;
}

function put(root: string, rel: string, text: string): void {
  const file = path.join(root, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}

function service(root: string): AdvisorService {
  const observer = new HostObserver(new FsRoot(root));
  return new AdvisorService(observer, new ReservationLedger(), { capacity: NUMAD_DEFAULT_CAPACITY_OPTIONS, cpuAllocationRatio: 1, reservationTtlMs: 300_000 }, undefined);
}

describe('sysfs value parsers', () => {
  it('read what the kernel prints', () => {
    expect(parseSysfsUint('120000\n', 'f')).toBe(120000);
    expect(parseSysfsInt('-1\n', 'f')).toBe(-1);
    expect(parseSysfsBool('true\n', 'f')).toBe(true);
    expect(parseSysfsBool('false\n', 'f')).toBe(false);
    expect(parseSysfsIdList('0-1,4\n', 'f')).toEqual([0, 1, 4]);
    expect(parseSysfsIdList('\n', 'f')).toEqual([]);
    expect(parseCpuMaskList('(null)\n', 'f')).toEqual([]);
    expect(parseCpuMaskList('\n', 'f')).toEqual([]);
    expect(parseMemoryTierName('memory_tier22')).toBe(22);
    expect(parseMemoryTierName('power')).toBeUndefined();
    expect(parseInitiatorEntries(['read_latency', 'node10', 'node2', 'write_bandwidth'])).toEqual([2, 10]);
  });
  it.each([
    ['uint', () => parseSysfsUint('-3\n', 'f')],
    ['uint', () => parseSysfsUint('80 ns\n', 'f')],
    ['uint', () => parseSysfsUint('99999999999999999999\n', 'f')],
    ['int', () => parseSysfsInt('two\n', 'f')],
    ['bool', () => parseSysfsBool('maybe\n', 'f')],
    ['list', () => parseSysfsIdList('3-1\n', 'f')],
    ['list', () => parseSysfsIdList('0-99999\n', 'f')],
    ['mask', () => parseCpuMaskList('cpu2\n', 'f')],
  ])('malformed %s text is the topology error, naming the file', (_kind, parse) => {
    expect(parse).toThrow(expect.objectContaining({ code: 'NUMADVISOR_ERR_TOPOLOGY', message: expect.stringMatching(/^f: /) }));
  });
});

describe('cxl-2s2c: two sockets and two CPU-less CXL expanders', () => {
  const fs = at('cxl-2s2c');
  it('node states: CXL memory is movable-only, has no CPUs', () => {
    expect(readNodeStates(fs)).toEqual({ hasCpu: [0, 1], hasMemory: [0, 1, 2, 3], hasNormalMemory: [0, 1] });
  });
  it('memory tiers from HMAT (4 and 5), tiering NUMA balancing, demotion on', () => {
    expect(readMemoryTiers(fs)).toEqual([
      { tier: 4, nodes: [0, 1] },
      { tier: 5, nodes: [2, 3] },
    ]);
    expect(readNumaBalancing(fs)).toBe(2);
    expect(readDemotionEnabled(fs)).toBe(true);
  });
  it('HMAT: each expander is local to its socket, slower and narrower than DRAM, with a device cache', () => {
    expect(readNodeHmat(fs, 0)).toEqual({
      access0: { initiators: [0], readBandwidthMiBps: 120000, writeBandwidthMiBps: 110000, readLatencyNs: 80, writeLatencyNs: 85 },
      access1: { initiators: [0], readBandwidthMiBps: 120000, writeBandwidthMiBps: 110000, readLatencyNs: 80, writeLatencyNs: 85 },
    });
    const cxl2 = readNodeHmat(fs, 2);
    const cxl3 = readNodeHmat(fs, 3);
    expect(cxl2?.access0).toEqual({ initiators: [0], readBandwidthMiBps: 30000, writeBandwidthMiBps: 25000, readLatencyNs: 250, writeLatencyNs: 270 });
    expect(cxl3?.access0?.initiators).toEqual([1]);
    expect(cxl3?.access1?.initiators).toEqual([1]);
    expect(cxl2?.memorySideCaches).toEqual([{ index: 1, sizeBytes: 2 * 1024 ** 3, lineSize: 64, indexing: 0, writePolicy: 0 }]);
    expect(readMemorySideCaches(fs, 0)).toBeUndefined();
  });
  it('one L3 and one die per socket; core_cpus_list; nothing isolated, nohz_full "(null)"', () => {
    const shape = readHostShape(fs);
    expect(shape.cpus.find((c) => c.id === 17)).toEqual({
      id: 17,
      node: 0,
      packageId: 0,
      coreId: 1,
      threadSiblings: [1, 17],
      dieId: 0,
      coreCpus: [1, 17],
      l3Id: 0,
      l3Cpus: [...Array.from({ length: 8 }, (_, i) => i), ...Array.from({ length: 8 }, (_, i) => 16 + i)],
    });
    expect(groupByL3(shape.cpus.filter((c) => c.node === 1))).toEqual([{ id: 1, cpus: [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31] }]);
    expect(readIsolatedCpus(fs)).toEqual({ isolated: [], nohzFull: [] });
    expect(shape.nodes.map((n) => [n.id, n.hasCpu, n.hasMemory, n.hasNormalMemory, n.memoryTier])).toEqual([
      [0, true, true, true, 4],
      [1, true, true, true, 4],
      [2, false, true, false, 5],
      [3, false, true, false, 5],
    ]);
    expect(shape.nodes[2]!.distances).toEqual([14, 24, 10, 26]);
  });
  it('no host-wide hugepage directory in this tree: reserved counts are absent', () => {
    expect(readHugepageReserved(fs)).toBeUndefined();
  });
});

describe('gnr-snc3: Granite Rapids, SNC-3', () => {
  const fs = at('gnr-snc3');
  it('6 nodes, one die and one L3 per SNC domain, distances 15/17 inside a socket and 21-28 across', () => {
    const shape = readHostShape(fs);
    expect(shape.nodes.map((n) => formatIdList(n.cpus))).toEqual(['0-7,48-55', '8-15,56-63', '16-23,64-71', '24-31,72-79', '32-39,80-87', '40-47,88-95']);
    expect(shape.nodes[0]!.distances).toEqual([10, 15, 17, 21, 24, 28]);
    expect(shape.nodes[4]!.distances).toEqual([24, 21, 24, 15, 10, 15]);
    for (const node of shape.nodes) {
      const cpus = shape.cpus.filter((c) => c.node === node.id);
      expect(groupByL3(cpus)).toEqual([{ id: node.id, cpus: node.cpus }]);
      expect(new Set(cpus.map((c) => c.dieId))).toEqual(new Set([node.id % 3]));
      expect(new Set(cpus.map((c) => c.packageId))).toEqual(new Set([node.id < 3 ? 0 : 1]));
    }
    expect(shape.isolatedCpus).toEqual([2, 3, 50, 51]);
    expect(shape.nohzFullCpus).toEqual([2, 3, 50, 51]);
    expect(shape.memoryTiers).toEqual([{ tier: 4, nodes: [0, 1, 2, 3, 4, 5] }]);
    expect(shape.numaBalancing).toBe(1);
    expect(shape.demotionEnabled).toBe(false);
    expect(shape.nodes.every((n) => n.hmat === undefined)).toBe(true);
  });
  it('per-node pools with surplus (sync and async alike) and the host-wide reserved count', async () => {
    const node1 = readNodeMemory(fs, 1);
    expect(node1.hugepages).toEqual([
      { sizeKiB: 2048, total: 4096, free: 1920, surplus: 64 },
      { sizeKiB: 1048576, total: 16, free: 15 },
    ]);
    expect((await readNodeMemoryAsync(fs, 1)).hugepages).toEqual(node1.hugepages);
    expect(readNodeMemory(fs, 0).hugepages).toEqual([
      { sizeKiB: 2048, total: 4096, free: 2048 },
      { sizeKiB: 1048576, total: 16, free: 4 },
    ]);
    const reserved = [
      { sizeKiB: 2048, reserved: 12 },
      { sizeKiB: 1048576, reserved: 4 },
    ];
    expect(readHugepageReserved(fs)).toEqual(reserved);
    expect(await readHugepageReservedAsync(fs)).toEqual(reserved);
  });
});

describe('epyc-nps4: one EPYC socket in NPS4', () => {
  const fs = at('epyc-nps4');
  it('4 nodes of 64 CPUs, 8 CCX L3 groups of 4 cores x 2 threads each, distances 10/11/12', () => {
    const shape = readHostShape(fs);
    expect(shape.nodes.map((n) => n.cpus.length)).toEqual([64, 64, 64, 64]);
    expect(shape.nodes.map((n) => n.distances)).toEqual([
      [10, 11, 12, 12],
      [11, 10, 12, 12],
      [12, 12, 10, 11],
      [12, 12, 11, 10],
    ]);
    const l3 = readL3ByCpu(
      fs,
      shape.cpus.map((c) => c.id),
    );
    expect(new Set([...l3.values()].map((g) => g.id)).size).toBe(32);
    for (const node of shape.nodes) {
      const groups = groupByL3(shape.cpus.filter((c) => c.node === node.id));
      expect(groups).toHaveLength(8);
      expect(groups.every((g) => g.cpus.length === 8)).toBe(true);
    }
    expect(groupByL3(shape.cpus.filter((c) => c.node === 1))[0]).toEqual({ id: 8, cpus: [32, 33, 34, 35, 160, 161, 162, 163] });
    expect(readIsolatedCpus(fs)).toEqual({ isolated: [], nohzFull: [] });
    expect(readNumaBalancing(fs)).toBe(0);
  });
  it('1 GiB pools on nodes 0 and 2 only, surplus on node 1, 8 x 1 GiB reserved host-wide', () => {
    expect(readNodeMemory(fs, 0).hugepages).toEqual([
      { sizeKiB: 2048, total: 2048, free: 1024 },
      { sizeKiB: 1048576, total: 64, free: 40 },
    ]);
    expect(readNodeMemory(fs, 1).hugepages).toEqual([
      { sizeKiB: 2048, total: 2048, free: 0, surplus: 16 },
      { sizeKiB: 1048576, total: 0, free: 0 },
    ]);
    expect(readHugepageReserved(fs)).toEqual([
      { sizeKiB: 2048, reserved: 0 },
      { sizeKiB: 1048576, reserved: 8 },
    ]);
  });
});

describe('gb200-34node: 2 Grace CPUs and 32 memory-only GPU nodes', () => {
  const fs = at('gb200-34node');
  it('34 nodes, CPUs on 2, HBM on 4, the other 28 online with no memory', () => {
    const shape = readHostShape(fs);
    expect(shape.nodes).toHaveLength(34);
    expect(shape.nodes.filter((n) => n.hasCpu).map((n) => n.id)).toEqual([0, 1]);
    expect(readNodeStates(fs)).toEqual({ hasCpu: [0, 1], hasMemory: [0, 1, 2, 10, 18, 26], hasNormalMemory: [0, 1] });
    expect(readNodeMemory(fs, 5).memTotalKiB).toBe(0);
    expect(readNodeMemory(fs, 10).memTotalKiB).toBe(185 * 1024 * 1024);
    expect(shape.nodes[0]!.distances.slice(0, 19)).toEqual([10, 40, ...Array(16).fill(80), 120]);
    expect(shape.nodes[2]!.distances.slice(0, 4)).toEqual([80, 120, 10, 255]);
    expect(readMemoryTiers(fs)).toEqual([{ tier: 4, nodes: [0, 1, 2, 10, 18, 26] }]);
    expect(shape.nodes.every((n) => n.hmat === undefined)).toBe(true);
  });
  it('one L3 per Grace without cache ids (the id is the first CPU sharing it); arm64 die_id -1; no SMT', () => {
    const shape = readHostShape(fs);
    expect(groupByL3(shape.cpus)).toEqual([
      { id: 0, cpus: Array.from({ length: 72 }, (_, i) => i) },
      { id: 72, cpus: Array.from({ length: 72 }, (_, i) => 72 + i) },
    ]);
    expect(shape.cpus.find((c) => c.id === 100)).toMatchObject({ dieId: -1, coreCpus: [100], threadSiblings: [100], l3Id: 72 });
    expect(readCpuL3(fs, 5)?.group.id).toBe(0);
  });
});

describe('older kernels and hosts: every new fact is absent, nothing throws, nothing changes', () => {
  it.each(OLD_TREES)('%s', (name) => {
    const fs = at(name);
    expect(readMemoryTiers(fs)).toBeUndefined();
    expect(readNumaBalancing(fs)).toBeUndefined();
    expect(readDemotionEnabled(fs)).toBeUndefined();
    expect(readIsolatedCpus(fs)).toEqual({});
    expect(readHugepageReserved(fs)).toBeUndefined();
    const shape = readHostShape(fs);
    for (const n of shape.nodes) expect(readNodeHmat(fs, n.id)).toBeUndefined();
    expect(readL3ByCpu(fs, shape.cpus.map((c) => c.id)).size).toBe(0);
    // The shape has exactly the keys numad's rules read (plus has_normal_memory, which every tree has).
    expect(Object.keys(shape).sort()).toEqual(['cpus', 'hugepageSizeKiB', 'nodes']);
    for (const c of shape.cpus) expect(Object.keys(c).sort()).toEqual(['coreId', 'id', 'node', 'packageId', 'threadSiblings']);
    for (const n of shape.nodes) expect(Object.keys(n).sort()).toEqual(['cpus', 'distances', 'hasCpu', 'hasMemory', 'hasNormalMemory', 'id']);
    for (const n of shape.nodes) for (const p of readNodeMemory(fs, n.id).hugepages) expect(Object.keys(p).sort()).toEqual(['free', 'sizeKiB', 'total']);
  });
  it('a tree without any of the newer files (not even the node masks)', () => {
    const root = copyOf('2node-2s12c24t');
    for (const f of ['has_cpu', 'has_memory', 'has_normal_memory']) rmSync(path.join(root, 'sys/devices/system/node', f));
    const fs = new FsRoot(root);
    expect(readNodeStates(fs)).toEqual({});
    expect(readHostShape(fs).nodes.every((n) => !('hasNormalMemory' in n))).toBe(true);
  });
});

describe('malformed files are the topology error', () => {
  it.each([
    ['HMAT latency', 'sys/devices/system/node/node2/access0/initiators/read_latency', '250ns\n', (fs: FsRoot) => readNodeHmat(fs, 2)],
    ['memory-side cache size', 'sys/devices/system/node/node2/memory_side_cache/index1/size', 'big\n', (fs: FsRoot) => readNodeHmat(fs, 2)],
    ['tier nodelist', 'sys/devices/virtual/memory_tiering/memory_tier5/nodelist', '2-x\n', (fs: FsRoot) => readMemoryTiers(fs)],
    ['numa_balancing', 'proc/sys/kernel/numa_balancing', 'on\n', (fs: FsRoot) => readNumaBalancing(fs)],
    ['demotion_enabled', 'sys/kernel/mm/numa/demotion_enabled', 'maybe\n', (fs: FsRoot) => readDemotionEnabled(fs)],
    ['cache level', 'sys/devices/system/cpu/cpu0/cache/index3/level', 'L3\n', (fs: FsRoot) => readCpuL3(fs, 0)],
    [
      'shared_cpu_list',
      'sys/devices/system/cpu/cpu0/cache/index3/shared_cpu_list',
      '7-0\n',
      (fs: FsRoot) => {
        // Only a level-3 index is read further.
        writeFileSync(fs.resolve('/sys/devices/system/cpu/cpu0/cache/index3/level'), '3\n');
        return readCpuL3(fs, 0);
      },
    ],
    ['isolated', 'sys/devices/system/cpu/isolated', 'all\n', (fs: FsRoot) => readIsolatedCpus(fs)],
    ['resv_hugepages', 'sys/kernel/mm/hugepages/hugepages-2048kB/resv_hugepages', '-1\n', (fs: FsRoot) => readHugepageReserved(fs)],
  ])('%s', (_what, rel, text, read) => {
    const root = emptyTree();
    put(root, rel, text);
    expect(() => read(new FsRoot(root))).toThrow(TOPOLOGY_ERROR);
  });
  it.each([
    ['die_id', 'sys/devices/system/cpu/cpu1/topology/die_id', 'zero\n'],
    ['core_cpus_list', 'sys/devices/system/cpu/cpu1/topology/core_cpus_list', '1-\n'],
    ['has_normal_memory', 'sys/devices/system/node/has_normal_memory', '0-\n'],
  ])('%s, when the host shape is read', (_what, rel, text) => {
    const root = copyOf('1node-2cpu');
    put(root, rel, text);
    expect(() => readHostShape(new FsRoot(root))).toThrow(TOPOLOGY_ERROR);
  });
  it('resv_hugepages read in the background too', async () => {
    const root = emptyTree();
    put(root, 'sys/kernel/mm/hugepages/hugepages-2048kB/resv_hugepages', 'x\n');
    await expect(readHugepageReservedAsync(new FsRoot(root))).rejects.toThrow(TOPOLOGY_ERROR);
  });
});

describe('snapshot', () => {
  const roundTrip = (snap: HostSnapshot): HostSnapshot => HostSnapshotSchema.parse(JSON.parse(JSON.stringify(snap)));

  it.each(NEW_TREES)('%s: the new facts survive a JSON round trip', (name) => {
    const snap = new HostObserver(at(name)).snapshot();
    expect(roundTrip(snap)).toEqual(snap);
    expect(snap.memoryTiers).toBeDefined();
    expect(snap.cpus.every((c) => c.l3Id !== undefined && c.dieId !== undefined && c.coreCpus !== undefined)).toBe(true);
  });

  it('cxl-2s2c: tiers, HMAT, switches; gnr-snc3: isolated CPUs and reserved hugepages', () => {
    const cxl = new HostObserver(at('cxl-2s2c')).snapshot();
    expect(cxl).toMatchObject({ numaBalancing: 2, demotionEnabled: true, isolatedCpus: [], nohzFullCpus: [] });
    expect(cxl.hugepageReserved).toBeUndefined();
    expect(cxl.nodes[3]).toMatchObject({ hasCpu: false, hasMemory: true, hasNormalMemory: false, memoryTier: 5, hmat: { access0: { initiators: [1], readLatencyNs: 250 } } });
    const gnr = new HostObserver(at('gnr-snc3')).snapshot();
    expect(gnr.isolatedCpus).toEqual([2, 3, 50, 51]);
    expect(gnr.hugepageReserved).toEqual([
      { sizeKiB: 2048, reserved: 12 },
      { sizeKiB: 1048576, reserved: 4 },
    ]);
    expect(gnr.nodes[1]!.hugepages[0]).toEqual({ sizeKiB: 2048, total: 4096, free: 1920, surplus: 64 });
  });

  it('the reserved count is re-read with node memory, in the background too', async () => {
    const root = copyOf('1node-2cpu');
    put(root, 'sys/kernel/mm/hugepages/hugepages-2048kB/resv_hugepages', '0\n');
    const observer = new HostObserver(new FsRoot(root));
    put(root, 'sys/kernel/mm/hugepages/hugepages-2048kB/resv_hugepages', '40\n');
    observer.refreshMemory();
    expect(observer.snapshot().hugepageReserved?.[0]).toEqual({ sizeKiB: 2048, reserved: 40 });
    put(root, 'sys/kernel/mm/hugepages/hugepages-2048kB/resv_hugepages', '41\n');
    await observer.refreshMemoryAsync();
    expect(observer.snapshot().hugepageReserved?.[0]).toEqual({ sizeKiB: 2048, reserved: 41 });
  });

  it.each(OLD_TREES)('%s: exactly the keys it had before, and it parses', (name) => {
    const snap = new HostObserver(at(name)).snapshot();
    expect(Object.keys(snap).sort()).toEqual(['cpuSampleWindowMs', 'cpus', 'meminfo', 'nodes', 'schemaVersion', 'takenAt']);
    for (const n of snap.nodes) expect(n).not.toHaveProperty('memoryTier');
    for (const n of snap.nodes) expect(n).not.toHaveProperty('hmat');
    for (const c of snap.cpus) expect(c).not.toHaveProperty('l3Id');
    expect(roundTrip(snap)).toEqual(snap);
  });

  it('a snapshot written before these fields existed still parses; malformed new fields do not', () => {
    const snap = new HostObserver(at('cxl-2s2c')).snapshot();
    const old = JSON.parse(JSON.stringify(snap)) as Record<string, unknown> & { nodes: Record<string, unknown>[]; cpus: Record<string, unknown>[] };
    for (const k of ['memoryTiers', 'numaBalancing', 'demotionEnabled', 'isolatedCpus', 'nohzFullCpus', 'hugepageReserved']) delete old[k];
    for (const n of old.nodes) for (const k of ['hasNormalMemory', 'memoryTier', 'hmat']) delete n[k];
    for (const c of old.cpus) for (const k of ['dieId', 'coreCpus', 'l3Id', 'l3Cpus']) delete c[k];
    expect(HostSnapshotSchema.safeParse(old).success).toBe(true);
    expect(HostSnapshotSchema.safeParse({ ...snap, memoryTiers: [{ tier: -1, nodes: [0] }] }).success).toBe(false);
    expect(HostSnapshotSchema.safeParse({ ...snap, nodes: snap.nodes.map((n) => ({ ...n, hmat: { access0: { initiators: 'node0' } } })) }).success).toBe(false);
  });
});

describe('GET /v1/nodes (the service builds each node view)', () => {
  it('gnr-snc3: one L3 group per node, isolated CPUs of node 0, pools with surplus', () => {
    const views = service(fixture('gnr-snc3')).updateLedgerAndViewNodes();
    expect(views.map((v) => v.l3Groups?.length)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(views[0]!.isolatedCpus).toEqual([2, 3, 50, 51]);
    expect(views[1]!.isolatedCpus).toEqual([]);
    expect(views[1]!.hugepages[0]).toEqual({ sizeKiB: 2048, total: 4096, free: 1920, surplus: 64, reservedMiB: 0 });
    expect(views.map((v) => v.memoryTier)).toEqual([4, 4, 4, 4, 4, 4]);
    // The schema keeps the new keys (other fields of the view are other tests' business).
    for (const v of views) expect(NodeViewSchema.parse(v)).toMatchObject({ memoryTier: v.memoryTier, l3Groups: v.l3Groups, isolatedCpus: v.isolatedCpus, hugepages: v.hugepages });
  });

  it('cxl-2s2c: tier and HMAT per node; the response with host-wide facts matches its schema', () => {
    const svc = service(fixture('cxl-2s2c'));
    const views = svc.updateLedgerAndViewNodes();
    expect(views[2]).toMatchObject({ memoryTier: 5, hmat: { access0: { initiators: [0], readBandwidthMiBps: 30000 } } });
    expect(views[2]!.l3Groups).toBeUndefined();
    const snap = svc.freshSnapshot();
    const body = {
      takenAt: snap.takenAt,
      cpuSampleWindowMs: snap.cpuSampleWindowMs,
      options: { inactiveFileIsFree: true, htPercent: 0, reservedCpus: '', cpuAllocationRatio: 1, reservationTtlSeconds: 300 },
      nodes: views,
      memoryTiers: snap.memoryTiers,
      numaBalancing: snap.numaBalancing,
      demotionEnabled: snap.demotionEnabled,
    };
    const parsed = NodesResponseSchema.parse(body);
    expect(parsed).toMatchObject({ memoryTiers: snap.memoryTiers, numaBalancing: 2, demotionEnabled: true });
    expect(parsed.nodes[2]).toMatchObject({ memoryTier: 5, hmat: views[2]!.hmat });
    expect(parsed.nodes[0]!.l3Groups).toEqual(views[0]!.l3Groups);
  });

  it('epyc-nps4: 8 CCX groups per node; an old host: no new keys in the view', () => {
    const epyc = service(fixture('epyc-nps4')).updateLedgerAndViewNodes();
    expect(epyc.map((v) => v.l3Groups?.length)).toEqual([8, 8, 8, 8]);
    const old = service(fixture('2node-2s12c24t')).updateLedgerAndViewNodes();
    for (const v of old) for (const k of ['memoryTier', 'hmat', 'l3Groups', 'isolatedCpus']) expect(v).not.toHaveProperty(k);
  });

  it('nodeHardwareFacts: an unknown node has none', () => {
    expect(nodeHardwareFacts(new HostObserver(at('gnr-snc3')).snapshot(), 99)).toEqual({});
  });
});
