// The daemon has no idle timers: an answer itself re-reads /proc/stat once the last sample is a second old, and node
// memory before answering once it is two seconds old. Checked on a writable fixture with a controlled clock.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HostObserver } from '../../src/observe/host-observer.js';
import { FsRoot } from '../../src/topology/fsroot.js';
import { ReservationLedger } from '../../src/model/reservations.js';
import { NUMAD_DEFAULT_CAPACITY_OPTIONS } from '../../src/model/capacity.js';
import { AdvisorService, CPU_SAMPLE_STALE_MS, MEMORY_SYNC_REFRESH_MS } from '../../src/daemon/advisor-service.js';
import { copyFixture, tempDir } from '../helpers/fixtures.js';

/** Every CPU busy for `ticks` more ticks: the fixture's counters as if the host were saturated since the last read. */
function makeBusy(statPath: string, ticks: number): void {
  const text = readFileSync(statPath, 'utf8').replace(/^(cpu\d+) (\d+)/gm, (_m, cpu: string, user: string) => `${cpu} ${Number(user) + ticks}`);
  writeFileSync(statPath, text);
}

describe('answers read what they need, when they need it', () => {
  const tmp = tempDir();
  afterEach(() => tmp.cleanup());

  it('samples /proc/stat per answer after a second and re-reads stale memory before answering', () => {
    const root = copyFixture('2node-2s12c24t', tmp.dir);
    let now = 1_000_000;
    const clock = (): number => now;
    const observer = new HostObserver(new FsRoot(root), clock);
    const service = new AdvisorService(observer, new ReservationLedger(), { capacity: { ...NUMAD_DEFAULT_CAPACITY_OPTIONS, inactiveFileIsFree: false }, cpuAllocationRatio: 4, reservationTtlMs: 300_000 }, undefined, clock);
    const before = service.updateLedgerAndViewNodes().map((n) => n.cpuFreeHundredths);
    expect(before.every((v) => v > 0)).toBe(true);

    makeBusy(path.join(root, 'proc/stat'), 100_000);
    now += CPU_SAMPLE_STALE_MS - 1;
    expect(service.updateLedgerAndViewNodes().map((n) => n.cpuFreeHundredths)).toEqual(before);
    now += 1;
    const busy = service.updateLedgerAndViewNodes().map((n) => n.cpuFreeHundredths);
    expect(busy.every((v, i) => v < (before[i] as number) / 10)).toBe(true);

    const meminfo = path.join(root, 'sys/devices/system/node/node0/meminfo');
    writeFileSync(meminfo, readFileSync(meminfo, 'utf8').replace(/MemFree:\s+\d+ kB/, 'MemFree:        1048576 kB'));
    now += MEMORY_SYNC_REFRESH_MS + 1;
    expect(service.updateLedgerAndViewNodes()[0]?.memFreeMiB).toBeLessThanOrEqual(1024);
  });
});
