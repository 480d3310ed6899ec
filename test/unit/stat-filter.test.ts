// The scan's stat filter: the C addon and the TypeScript fallback implement one rule and must agree on every input,
// on fixture trees (odd comms, malformed and vanished entries, -S 0 lists) and on this machine's real /proc.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePidStat } from '../../src/observe/processes.js';
import { loadNativeScan, NativeStatFilter, selectedStat, TypeScriptStatFilter, type StatFilter, type StatFilterInput } from '../../src/observe/stat-filter.js';
import { FsRoot } from '../../src/topology/fsroot.js';
import { copyFixture, FIXTURES_DIR, tempDir } from '../helpers/fixtures.js';
import { writeFakeProc } from '../helpers/fake-procs.js';

const scan = loadNativeScan();
if (scan instanceof Error) throw new Error(`the addon must be built for the tests (make build): ${scan.message}`);
const filters = (fs: FsRoot): StatFilter[] => [new NativeStatFilter(fs, scan), new TypeScriptStatFilter(fs)];
const ids = (a: Int32Array): number[] => [...a];
const input = (o: Partial<StatFilterInput>): StatFilterInput => ({
  listAll: true,
  known: new Int32Array(0),
  always: new Int32Array(0),
  scanNo: 1,
  every: 4,
  pageKiB: 4,
  minMiB: 300,
  ...o,
});

describe('stat filter (C addon and TypeScript)', () => {
  it('selects over 300 MiB by field 24 counted from the last ")", skips the known small ones not due, drops the gone', () => {
    const t = tempDir();
    try {
      const root = copyFixture('4node-westmere-ex', t.dir);
      const fs = new FsRoot(root);
      const p = (pid: number, comm: string, rssMiB: number): void =>
        writeFakeProc(root, { pid, comm, rssMiB, cpuTicks: 0, cpusAllowed: [0], memByNode: { 0: rssMiB } });
      p(1000, 'qemu) S 1 2 3 (x', 2048); // a comm that would shift the fields for a naive parser
      p(1001, 'small', 300); // exactly 300 MiB: numad's threshold is strictly greater
      p(1002, 'big', 301);
      p(1003, 'tracked', 10);
      mkdirSync(path.join(root, 'proc/1004'), { recursive: true });
      writeFileSync(path.join(root, 'proc/1004/stat'), '1004 (broken'); // malformed: not a process we can read
      mkdirSync(path.join(root, 'proc/1005'), { recursive: true }); // vanished: directory listed, stat gone
      mkdirSync(path.join(root, 'proc/1006'), { recursive: true });
      writeFileSync(path.join(root, 'proc/1006/stat'), readFileSync(path.join(FIXTURES_DIR, 'proc-samples/stat-spaces'), 'utf8'));
      const sample = parsePidStat(readFileSync(path.join(FIXTURES_DIR, 'proc-samples/stat-spaces'), 'utf8'));
      for (const f of filters(fs)) {
        const first = f.run(input({ always: Int32Array.of(1003) }));
        expect(ids(first.selected), f.kind).toEqual([1000, 1002, 1003, 1006]);
        expect(selectedStat(first, 0), f.kind).toEqual({ pid: 1000, comm: 'qemu) S 1 2 3 (x', rssPages: 2048 * 256, cpuTicks: 0, threads: 4, vsizeBytes: 2 * 2048 * 1048576 });
        const real = selectedStat(first, 3);
        expect(real, f.kind).toEqual({ pid: 1006, comm: sample?.comm, rssPages: sample?.rssPages, cpuTicks: sample?.cpuTicks, threads: sample?.threads, vsizeBytes: sample?.vsizeBytes });
        expect(ids(first.seen), f.kind).toEqual(expect.arrayContaining([1000, 1001, 1002, 1003]));
        expect(ids(first.seen), f.kind).not.toContain(1004);
        expect(ids(first.seen), f.kind).not.toContain(1005);
        // Known now: each is read again only on its turn, (pid + scanNo) % 4 == 0; `always` every time.
        for (let scanNo = 2; scanNo < 6; scanNo++) {
          const r = f.run(input({ known: first.seen, always: Int32Array.of(1003), scanNo }));
          const due = [1000, 1001, 1002].filter((pid) => (pid + scanNo) % 4 === 0);
          const dueBig = [...due.filter((pid) => pid !== 1001), 1003, ...((1006 + scanNo) % 4 === 0 ? [1006] : [])];
          expect(ids(r.selected), `${f.kind} scan ${scanNo}`).toEqual(dueBig.sort((a, b) => a - b));
        }
      }
    } finally {
      t.cleanup();
    }
  });

  it('-S 0 reads only the listed pids, and a listed pid that is gone is not seen', () => {
    const t = tempDir();
    try {
      const root = copyFixture('sparse-0-8', t.dir);
      const fs = new FsRoot(root);
      writeFakeProc(root, { pid: 700, comm: 'a', rssMiB: 5, cpuTicks: 0, cpusAllowed: [0], memByNode: { 0: 5 } });
      writeFakeProc(root, { pid: 701, comm: 'b', rssMiB: 5000, cpuTicks: 0, cpusAllowed: [0], memByNode: { 0: 5000 } });
      for (const f of filters(fs)) {
        const r = f.run(input({ listAll: false, always: Int32Array.of(700, 799) }));
        expect({ seen: ids(r.seen), selected: ids(r.selected), reads: r.reads }, f.kind).toEqual({ seen: [700], selected: [700], reads: 2 });
      }
      rmSync(path.join(root, 'proc/700'), { recursive: true });
      for (const f of filters(fs)) expect(ids(f.run(input({ listAll: false, always: Int32Array.of(700) })).seen), f.kind).toEqual([]);
    } finally {
      t.cleanup();
    }
  });

  it('agrees with the TypeScript filter on this machine\'s /proc (real processes, every scan of a cycle)', () => {
    const fs = new FsRoot('/');
    const [c, ts] = filters(fs) as [StatFilter, StatFilter];
    let known = c.run(input({ minMiB: 0 })).seen;
    expect(known).toContain(process.pid);
    for (let scanNo = 2; scanNo < 6; scanNo++) {
      // Processes come and go between the two runs; the short-lived ones may differ, this process and pid 1 may not.
      const a = c.run(input({ known, scanNo, minMiB: 0, always: Int32Array.of(1, process.pid) }));
      const b = ts.run(input({ known, scanNo, minMiB: 0, always: Int32Array.of(1, process.pid) }));
      expect(ids(a.selected)).toEqual(expect.arrayContaining([1, process.pid]));
      // pid 1's stat as both read it (its CPU ticks may move between the reads, its comm and size do not).
      const one = (r: typeof a): ReturnType<typeof selectedStat> => selectedStat(r, r.selected.indexOf(1));
      expect(one(a).comm).toBe(one(b).comm);
      expect(one(a).vsizeBytes).toBe(one(b).vsizeBytes);
      const common = ids(a.seen).filter((pid) => b.seen.includes(pid));
      expect(common.length).toBeGreaterThan(Math.min(a.seen.length, b.seen.length) * 0.9);
      expect(Math.abs(a.reads - b.reads)).toBeLessThan(Math.max(4, a.reads * 0.2));
      known = a.seen;
    }
  });

  it('rejects bad arguments with a coded error and an unreadable proc directory as ENOENT', () => {
    const bad = (f: () => unknown): unknown => {
      try {
        f();
      } catch (err) {
        return (err as { code?: string }).code;
      }
      return 'no error';
    };
    expect(bad(() => (scan as unknown as (...a: unknown[]) => unknown)('/proc', true))).toBe('EINVAL');
    expect(bad(() => scan('/proc', true, [] as unknown as Int32Array, new Int32Array(0), 1, 4, 4, 300))).toBe('EINVAL');
    expect(bad(() => scan('/proc', true, new Int32Array(0), new Int32Array(0), 1, 0, 4, 300))).toBe('EINVAL');
    expect(bad(() => scan('/nonexistent/proc', true, new Int32Array(0), new Int32Array(0), 1, 4, 4, 300))).toBe('ENOENT');
  });
});
