import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsRoot } from '../../src/topology/fsroot.js';
import { readHostShape, readNodeMemory } from '../../src/topology/sysfs.js';
import { HostObserver } from '../../src/observe/host-observer.js';
import { HostSnapshotSchema } from '../../src/model/snapshot.js';
import { formatIdList, isCanonicalNodeset, parseIdList, parseLooseCpuList } from '../../src/topology/idlist.js';
import { fixture, tempDir } from '../helpers/fixtures.js';

describe('id lists', () => {
  it('parses and prints the kernel/numad canonical form', () => {
    expect(parseIdList('0-3,8,10-11\n')).toEqual([0, 1, 2, 3, 8, 10, 11]);
    expect(parseIdList('\n')).toEqual([]);
    expect(formatIdList([3, 0, 1, 2])).toBe('0-3');
    expect(formatIdList([0, 2])).toBe('0,2');
    expect(formatIdList([2, 3])).toBe('2-3');
    expect(formatIdList([0, 1, 3])).toBe('0-1,3');
    expect(formatIdList([8])).toBe('8');
    expect(() => parseIdList('3-1')).toThrow();
    expect(() => parseIdList('a')).toThrow();
  });
  it('reads -R lists the way numad does (any non-digit separates)', () => {
    expect(parseLooseCpuList('0-2')).toEqual([0, 1, 2]);
    expect(parseLooseCpuList('0 1;5')).toEqual([0, 1, 5]);
  });
  it.each(['9007199254740993', '0-300000000', '0-9007199254740993', '8192', '0-8191,8192'])(
    'F12: %s is refused at once by every id-list parser (ids must be below 8192), and is not a nodeset',
    (text) => {
      const started = performance.now();
      expect(() => parseIdList(text)).toThrow(expect.objectContaining({ code: 'NUMADVISOR_ERR_BAD_REQUEST', message: expect.stringMatching(/must be below 8192/) }));
      expect(() => parseLooseCpuList(text)).toThrow(expect.objectContaining({ code: 'NUMADVISOR_ERR_BAD_REQUEST', message: expect.stringMatching(/must be below 8192/) }));
      expect(isCanonicalNodeset(text)).toBe(false);
      expect(performance.now() - started).toBeLessThan(50);
    },
  );
  it('F12: the largest lists Linux can have still parse, quickly', () => {
    const started = performance.now();
    expect(parseIdList('0-8191')).toHaveLength(8192);
    expect(parseLooseCpuList('0-8191 0-8191')).toHaveLength(8192);
    expect(isCanonicalNodeset('0-8191')).toBe(true);
    // The longest text isCanonicalNodeset looks at, every part the whole range: bounded work, not 8192 x 400.
    expect(isCanonicalNodeset(Array.from({ length: 400 }, () => '0-8191').join(',').slice(0, 4096))).toBe(false);
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe('host shape from fixture trees', () => {
  it('2-socket 12-core 24-thread: Intel numbering, siblings n and n+12, each node sized by itself', () => {
    const shape = readHostShape(new FsRoot(fixture('2node-2s12c24t')));
    expect(shape.nodes.map((n) => n.id)).toEqual([0, 1]);
    expect(formatIdList(shape.nodes[0]!.cpus)).toBe('0-5,12-17');
    expect(shape.nodes[1]!.distances).toEqual([21, 10]);
    const cpu13 = shape.cpus.find((c) => c.id === 13)!;
    expect(cpu13).toMatchObject({ node: 0, packageId: 0, coreId: 1, threadSiblings: [1, 13] });
    const mem = readNodeMemory(new FsRoot(fixture('2node-2s12c24t')), 0);
    expect(mem.hugepages).toEqual([
      { sizeKiB: 2048, total: 1024, free: 512 },
      { sizeKiB: 1048576, total: 4, free: 2 },
    ]);
    expect(mem.inactiveFileKiB).toBe(6 * 1024 * 1024);
  });

  it('8-node DL980: the published SLIT, 80 CPUs', () => {
    const shape = readHostShape(new FsRoot(fixture('8node-dl980')));
    expect(shape.nodes).toHaveLength(8);
    expect(shape.nodes[0]!.distances).toEqual([10, 12, 17, 17, 19, 19, 19, 19]);
    expect(shape.nodes[6]!.distances).toEqual([19, 19, 19, 19, 17, 17, 10, 12]);
    expect(shape.cpus).toHaveLength(80);
  });

  it('sparse ids {0,8}: ids kept, distance columns by position', () => {
    const shape = readHostShape(new FsRoot(fixture('sparse-0-8')));
    expect(shape.nodes.map((n) => [n.id, n.distances])).toEqual([
      [0, [10, 40]],
      [8, [40, 10]],
    ]);
  });

  it('memoryless node with an offline CPU: not memory, offline CPU not counted', () => {
    const snap = new HostObserver(new FsRoot(fixture('memoryless-3node'))).snapshot();
    expect(snap.nodes.map((n) => n.hasMemory)).toEqual([true, false, true]);
    expect(formatIdList(snap.nodes[1]!.cpus)).toBe('4-6');
    expect(snap.cpus.some((c) => c.id === 7)).toBe(false);
    expect(HostSnapshotSchema.safeParse(snap).success).toBe(true);
  });

  it('CPU-less memory node', () => {
    const snap = new HostObserver(new FsRoot(fixture('cpuless-2node'))).snapshot();
    expect(snap.nodes[1]).toMatchObject({ id: 1, hasCpu: false, hasMemory: true, cpus: [] });
  });

  it('every fixture reads into a valid snapshot', () => {
    for (const name of ['1node-2cpu', '2node-2s12c24t', '4node-westmere-ex', '8node-dl980', 'sparse-0-8', 'memoryless-3node', 'cpuless-2node']) {
      const snap = new HostObserver(new FsRoot(fixture(name))).snapshot();
      const r = HostSnapshotSchema.safeParse(snap);
      expect(r.success, name).toBe(true);
    }
  });

  it('this host reads too (whatever its shape)', () => {
    const snap = new HostObserver(new FsRoot('/')).snapshot();
    expect(snap.nodes.length).toBeGreaterThan(0);
    expect(snap.nodes.some((n) => n.hasMemory)).toBe(true);
  });

  describe('node order is numeric, not directory order', () => {
    const t = tempDir();
    afterAll(t.cleanup);
    it('nodes 2 and 10 come out as [2, 10] (lexically "node10" < "node2")', () => {
      const base = path.join(t.dir, 'sys/devices/system/node');
      for (const [id, row] of [[10, '20 10'], [2, '10 20']] as const) {
        mkdirSync(path.join(base, `node${id}`), { recursive: true });
        writeFileSync(path.join(base, `node${id}`, 'cpulist'), id === 2 ? '0-1\n' : '2-3\n');
        writeFileSync(path.join(base, `node${id}`, 'distance'), `${row}\n`);
      }
      writeFileSync(path.join(base, 'online'), '2,10\n');
      const shape = readHostShape(new FsRoot(t.dir));
      expect(shape.nodes.map((n) => n.id)).toEqual([2, 10]);
      expect(shape.nodes[0]!.distances).toEqual([10, 20]);
    });
    it('a distance row that does not match the node count is a clear error', () => {
      writeFileSync(path.join(t.dir, 'sys/devices/system/node/node2/distance'), '10\n');
      expect(() => readHostShape(new FsRoot(t.dir))).toThrow(/distance row/);
    });
    it('no node directories at all is a clear error', () => {
      expect(() => readHostShape(new FsRoot(path.join(t.dir, 'nothing')))).toThrow(/no NUMA node/);
    });
  });
});

describe('canonical nodeset check (what numad -w may print)', () => {
  it('accepts exactly what formatIdList prints', async () => {
    const { isCanonicalNodeset } = await import('../../src/topology/idlist.js');
    for (const ok of ['0', '8', '0-1', '0,2', '0-1,3', '2-3', '0-63']) expect(isCanonicalNodeset(ok), ok).toBe(true);
    for (const bad of ['', '0,1', '1,0', '0-0', '0,0', '3-1', '0-1,2', '007', ' 0', '0\n', '0,', 'a']) expect(isCanonicalNodeset(bad), bad).toBe(false);
  });
});
