import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNumaMaps, parsePidStat, parsePidStatus, readProcess } from '../../src/observe/processes.js';
import { FsRoot } from '../../src/topology/fsroot.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';

const sample = (name: string): string => readFileSync(path.join(FIXTURES_DIR, 'proc-samples', name), 'utf8');

describe('/proc/<pid>/stat', () => {
  it('takes comm between the first ( and the last ), spaces and parentheses included (numad cuts at the first space)', () => {
    expect(parsePidStat(sample('stat-spaces'))).toEqual({
      pid: 4242,
      comm: 'qemu-kvm (vm) x',
      state: 'S',
      ppid: 1,
      cpuTicks: 2200,
      threads: 7,
      vsizeBytes: 8589934592,
      rssPages: 524288,
    });
  });
  it('rejects what is not a stat line', () => {
    expect(parsePidStat('garbage')).toBeUndefined();
    expect(parsePidStat('1 (x) S 0')).toBeUndefined();
  });
});

describe('/proc/<pid>/numa_maps', () => {
  it('sums pages per node with each mapping\'s own page size (4 KiB, 2 MiB and 1 GiB pages; sparse node 8)', () => {
    const m = parseNumaMaps(sample('numa_maps-qemu'));
    const mib = (n: number): number => Math.floor((m.perNodeKiB.get(n) ?? 0) / 1024);
    // N0: 1035+2+131072+256 pages of 4 KiB; N1: 131072+256 pages + 512 × 2 MiB; N8: 2 × 1 GiB
    expect(mib(0)).toBe(Math.floor(((1035 + 2 + 131072 + 256) * 4) / 1024));
    expect(mib(1)).toBe(Math.floor(((131072 + 256) * 4) / 1024) + 1024);
    expect(mib(8)).toBe(2048);
    expect(mib(3)).toBe(Math.floor(((256 + 8) * 4) / 1024));
    expect(m.interleavedKiB).toBe(1024 * 4);
    expect(m.hugeKiB).toBe(512 * 2048 + 2 * 1048576);
  });
  it('without kernelpagesize_kB, a huge line uses the default huge page size', () => {
    const m = parseNumaMaps('7f00 default huge dirty=3 N2=3\n7f01 default anon=5 N2=5\n', 4, 2048);
    expect(m.perNodeKiB.get(2)).toBe(3 * 2048 + 5 * 4);
  });
});

describe('/proc/<pid>/status and a live process', () => {
  it('reads allowed CPUs and memory nodes', () => {
    expect(parsePidStatus('Name:\tx\nCpus_allowed_list:\t0-3,8\nMems_allowed_list:\t0\n')).toEqual({ cpusAllowed: [0, 1, 2, 3, 8], memsAllowed: [0] });
  });
  it('reads this test process from the real /proc, and a vanished pid gives undefined', () => {
    const me = readProcess(new FsRoot('/'), process.pid, { withNumaMaps: true, basePageKiB: 4, defaultHugeKiB: 2048 });
    expect(me?.pid).toBe(process.pid);
    expect(me?.rssMiB).toBeGreaterThan(10);
    const total = Object.values(me?.memoryMiBByNode ?? {}).reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(0);
    expect(readProcess(new FsRoot('/'), 2 ** 22 + 12345, { withNumaMaps: true, basePageKiB: 4, defaultHugeKiB: 2048 })).toBeUndefined();
  });
});
