// The scan's pass over /proc: the C addon (statm files kept open between cycles) and the TypeScript fallback
// implement one rule and must agree, on fixture trees (odd comms, malformed and vanished entries, the schedule,
// -S 0 lists) and on this machine's real /proc with real processes.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePidStat } from '../../src/observe/processes.js';
import { loadProcScanAddon, NativeProcScan, selectedStat, TypeScriptProcScan, type ProcScan, type ProcScanInput } from '../../src/observe/proc-scan.js';
import { FsRoot } from '../../src/topology/fsroot.js';
import { copyFixture, FIXTURES_DIR, tempDir } from '../helpers/fixtures.js';
import { writeFakeProc } from '../helpers/fake-procs.js';

const addon = loadProcScanAddon();
if (addon instanceof Error) throw new Error(`the addon must be built for the tests (make build): ${addon.message}`);
const scans = (fs: FsRoot, maxOpen = 64): ProcScan[] => [new NativeProcScan(fs, addon, maxOpen), new TypeScriptProcScan(fs)];
const ids = (a: Int32Array): number[] => [...a];
const input = (o: Partial<ProcScanInput>): ProcScanInput => ({ listAll: true, always: new Int32Array(0), pageKiB: 4, minMiB: 300, every: 4, ...o });
const openFdsTo = (needle: string): number =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).includes(needle);
    } catch {
      return false;
    }
  }).length;

describe('the scan\'s pass over /proc (C addon and TypeScript)', () => {
  it('selects over 300 MiB resident, parses stat from the last ")", drops the malformed and the vanished', () => {
    const t = tempDir();
    try {
      const root = copyFixture('4node-westmere-ex', t.dir);
      const fs = new FsRoot(root);
      const p = (pid: number, comm: string, rssMiB: number): void =>
        writeFakeProc(root, { pid, comm, rssMiB, cpuTicks: 0, cpusAllowed: [0], memByNode: { 0: rssMiB } });
      p(1000, 'qemu) S 1 2 3 (x', 2048); // a comm that would shift the fields for a naive parser
      p(1001, 'small', 300); // exactly 300 MiB: numad's threshold is strictly greater
      p(1002, 'big', 301);
      p(1003, 'included', 10);
      p(1004, 'broken', 500);
      writeFileSync(path.join(root, 'proc/1004/stat'), '1004 (broken'); // big by statm, stat unreadable: not seen
      mkdirSync(path.join(root, 'proc/1005'), { recursive: true }); // vanished: directory listed, files gone
      p(1006, 'sample', 2048);
      const sampleText = readFileSync(path.join(FIXTURES_DIR, 'proc-samples/stat-spaces'), 'utf8');
      writeFileSync(path.join(root, 'proc/1006/stat'), sampleText);
      const sample = parsePidStat(sampleText);
      for (const s of scans(fs)) {
        for (let round = 0; round < 3; round++) {
          // The same answer every round: the addon's kept files are re-read, not stale.
          const r = s.run(input({ always: Int32Array.of(1003) }));
          expect(ids(r.selected), s.kind).toEqual([1000, 1002, 1003, 1006]);
          expect(ids(r.seen), s.kind).toEqual([1000, 1001, 1002, 1003, 1006]);
          expect(selectedStat(r, 0), s.kind).toEqual({ pid: 1000, comm: 'qemu) S 1 2 3 (x', rssPages: 2048 * 256, cpuTicks: 0, threads: 4, vsizeBytes: 2 * 2048 * 1048576 });
          expect(selectedStat(r, 3), s.kind).toEqual({ pid: 1006, comm: sample?.comm, rssPages: sample?.rssPages, cpuTicks: sample?.cpuTicks, threads: sample?.threads, vsizeBytes: sample?.vsizeBytes });
        }
        // A small process is read every 4th scan: one that grows is selected within 4 scans. A big one that exits is
        // gone from the next.
        p(1001, 'small', 301);
        rmSync(path.join(root, 'proc/1002'), { recursive: true });
        const after: number[][] = [];
        for (let k = 0; k < 4; k++) after.push(ids(s.run(input({ always: Int32Array.of(1003) })).selected));
        expect(after[0], s.kind).not.toContain(1002);
        expect(after.findIndex((sel) => sel.includes(1001)), s.kind).toBeGreaterThanOrEqual(0);
        expect(after[3], s.kind).toEqual([1000, 1001, 1003, 1006]);
        p(1001, 'small', 300);
        p(1002, 'big', 301);
        s.close();
      }
    } finally {
      t.cleanup();
    }
  });

  it('lists /proc again only when loadavg\'s last pid moved or every 4th scan; reads a small process every 4th scan', () => {
    const t = tempDir();
    try {
      const root = copyFixture('4node-westmere-ex', t.dir);
      const fs = new FsRoot(root);
      const loadavg = (lastPid: number): void => writeFileSync(path.join(root, 'proc/loadavg'), `0.00 0.01 0.05 1/120 ${lastPid}\n`);
      for (let pid = 100; pid < 140; pid++) writeFakeProc(root, { pid, comm: `s${pid}`, rssMiB: 10, cpuTicks: 0, cpusAllowed: [0], memByNode: { 0: 10 } });
      loadavg(139);
      for (const s of scans(fs)) {
        const first = s.run(input({}));
        expect(first.seen.length, s.kind).toBe(40);
        expect(first.reads, s.kind).toBe(40);
        // Known small processes: each read once in the next four scans, spread over them.
        const reads: number[] = [];
        for (let k = 0; k < 4; k++) reads.push(s.run(input({})).reads);
        expect(reads.reduce((a, b) => a + b, 0), s.kind).toBe(40);
        expect(Math.max(...reads), s.kind).toBeLessThanOrEqual(11);
        // A new process while the last pid stays put (the tree is static): seen at the next listing, within 4 scans.
        writeFakeProc(root, { pid: 200, comm: 'new', rssMiB: 400, cpuTicks: 0, cpusAllowed: [0], memByNode: { 0: 400 } });
        const found: boolean[] = [];
        for (let k = 0; k < 4; k++) found.push(ids(s.run(input({})).selected).includes(200));
        expect(found.includes(true), s.kind).toBe(true);
        // With the last pid moved, at the next scan.
        writeFakeProc(root, { pid: 201, comm: 'newer', rssMiB: 400, cpuTicks: 0, cpusAllowed: [0], memByNode: { 0: 400 } });
        loadavg(201);
        expect(ids(s.run(input({})).selected), s.kind).toContain(201);
        rmSync(path.join(root, 'proc/200'), { recursive: true });
        rmSync(path.join(root, 'proc/201'), { recursive: true });
        loadavg(139);
        s.close();
      }
    } finally {
      t.cleanup();
    }
  });

  it('keeps statm files open up to the cap and closes them all on close (files of this test\'s own tree: other test files in this process hold /proc files of their own)', () => {
    const t = tempDir();
    try {
      const root = copyFixture('4node-westmere-ex', t.dir);
      for (let pid = 300; pid < 308; pid++) writeFakeProc(root, { pid, comm: `p${pid}`, rssMiB: 10, cpuTicks: 0, cpusAllowed: [0], memByNode: { 0: 10 } });
      const s = new NativeProcScan(new FsRoot(root), addon, 5);
      expect(s.run(input({})).seen.length).toBe(8);
      expect(openFdsTo(`${root}/proc/`)).toBe(5);
      s.close();
      expect(openFdsTo(`${root}/proc/`)).toBe(0);
    } finally {
      t.cleanup();
    }
  });

  it('-S 0 reads only the listed pids; a listed pid that is gone is not seen', () => {
    const t = tempDir();
    try {
      const root = copyFixture('sparse-0-8', t.dir);
      const fs = new FsRoot(root);
      writeFakeProc(root, { pid: 700, comm: 'a', rssMiB: 5, cpuTicks: 0, cpusAllowed: [0], memByNode: { 0: 5 } });
      writeFakeProc(root, { pid: 701, comm: 'b', rssMiB: 5000, cpuTicks: 0, cpusAllowed: [0], memByNode: { 0: 5000 } });
      for (const s of scans(fs)) {
        const r = s.run(input({ listAll: false, always: Int32Array.of(700, 799) }));
        expect({ seen: ids(r.seen), selected: ids(r.selected) }, s.kind).toEqual({ seen: [700], selected: [700] });
      }
      rmSync(path.join(root, 'proc/700'), { recursive: true });
      for (const s of scans(fs)) expect(ids(s.run(input({ listAll: false, always: Int32Array.of(700) })).seen), s.kind).toEqual([]);
    } finally {
      t.cleanup();
    }
  });

  it('real processes: one that exits is dropped, over the cap the rest are read with open/read/close, comms agree with TypeScript', async () => {
    const children = Array.from({ length: 3 }, () => spawn('sleep', ['60'], { stdio: 'ignore' }));
    try {
      const fs = new FsRoot('/');
      const s = new NativeProcScan(fs, addon, 5);
      const pids = children.map((c) => c.pid as number);
      const first = s.run(input({ minMiB: -1 })); // everything selected: stat read for every process too
      expect(ids(first.seen)).toEqual(expect.arrayContaining([1, process.pid, ...pids]));
      const sleeper = first.comms[first.selected.indexOf(pids[0] as number)];
      expect(sleeper).toBe('sleep');
      children[0]?.kill('SIGKILL');
      await new Promise((resolve) => children[0]?.once('exit', resolve));
      const again = s.run(input({ minMiB: -1 }));
      expect(ids(again.seen)).not.toContain(pids[0]);
      expect(ids(again.seen)).toEqual(expect.arrayContaining([process.pid, ...pids.slice(1)]));
      // The TypeScript pass sees the same processes (short-lived ones aside) with the same comms.
      const ts = new TypeScriptProcScan(fs).run(input({ minMiB: -1 }));
      const both = ids(again.seen).filter((pid) => ts.seen.includes(pid));
      expect(both.length).toBeGreaterThan(Math.min(again.seen.length, ts.seen.length) * 0.9);
      for (const pid of [1, process.pid, ...pids.slice(1)]) expect(again.comms[again.selected.indexOf(pid)]).toBe(ts.comms[ts.selected.indexOf(pid)]);
      s.close();
      expect(() => s.run(input({}))).toThrow(expect.objectContaining({ code: 'EBADF' }));
    } finally {
      for (const c of children) c.kill('SIGKILL');
    }
  });

  it('rejects bad arguments with a coded error and an unreadable proc directory as ENOENT', () => {
    const code = (f: () => unknown): unknown => {
      try {
        f();
      } catch (err) {
        return (err as { code?: string }).code;
      }
      return 'no error';
    };
    const h = addon.createScanner('/proc', 4);
    expect(code(() => (addon.scan as (...a: unknown[]) => unknown)(h, true))).toBe('EINVAL');
    expect(code(() => addon.scan({}, true, new Int32Array(0), 4, 300, 4))).toBe('EINVAL');
    expect(code(() => addon.scan(h, true, [] as unknown as Int32Array, 4, 300, 4))).toBe('EINVAL');
    expect(code(() => addon.scan(h, true, new Int32Array(0), 0, 300, 4))).toBe('EINVAL');
    expect(code(() => addon.scan(h, true, new Int32Array(0), 4, 300, 0))).toBe('EINVAL');
    expect(code(() => addon.createScanner('/nonexistent/proc', 4))).toBe('ENOENT');
    addon.closeScanner(h);
  });
});
