// The daemon's rebalancer on a fixture host with fixture processes, advise-only: numad's decision line in the log,
// GET /v1/processes and GET /v1/plan. (Real moves are proven in the lab, where processes and nodes are real.)
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunningDaemon } from '../../src/daemon/daemon.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { copyFixture, tempDir } from '../helpers/fixtures.js';
import { writeFakeProc } from '../helpers/fake-procs.js';
import { request } from '../helpers/http.js';

const CTIME = '[A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3]\\d \\d{2}:\\d{2}:\\d{2} \\d{4}';
const ALL = Array.from({ length: 40 }, (_, i) => i);

describe('rebalancer in the daemon (advise only)', () => {
  const t = tempDir();
  let d: RunningDaemon;
  afterAll(async () => {
    await d?.close();
    t.cleanup();
  });

  it('advises a misplaced process once, with numad\'s line, and shows it on the API', async () => {
    const root = copyFixture('4node-westmere-ex', t.dir);
    const db = { pid: 4242, comm: 'big db', rssMiB: 4096, cpuTicks: 1000, cpusAllowed: ALL, memByNode: { 0: 1024, 2: 3072 } };
    const pinned = { pid: 4343, comm: 'pinned', rssMiB: 4096, cpuTicks: 1000, cpusAllowed: [0, 1], memByNode: { 3: 4096 } };
    writeFakeProc(root, db);
    writeFakeProc(root, pinned);
    d = await startTestDaemon(t.dir, '4node-westmere-ex', { fsRoot: root });
    const sock = d.app.server.address() as string;
    await d.rebalancer.cycle();
    writeFakeProc(root, { ...db, cpuTicks: 1000 + 2 * 200 });
    writeFakeProc(root, { ...pinned, cpuTicks: 1000 + 2 * 200 });
    await new Promise((r) => setTimeout(r, 1000));
    expect(await d.rebalancer.cycle()).toBe(false); // advise-only: nothing acted on
    const log = readFileSync(d.numadLog.path, 'utf8');
    expect(log).toMatch(new RegExp(`^${CTIME}: Advising pid 4242 \\(big db\\) move from nodes \\(0-3\\) to nodes \\(2\\)$`, 'm'));
    expect(log).not.toMatch(/Advising pid 4343/);
    expect(log).not.toMatch(/moved to node/);

    const procs = (await request(sock, 'GET', '/v1/processes')).body as { processes: { pid: number; cpuUsedHundredths: number }[] };
    expect(procs.processes.map((p) => p.pid).sort()).toEqual([4242, 4343]);
    expect(procs.processes.find((p) => p.pid === 4242)?.cpuUsedHundredths).toBeGreaterThan(100);

    const plan = (await request(sock, 'GET', '/v1/plan')).body as { apply: string; plan: { moves: { pid: number }[]; skipped: { pid: number; reason: string }[] } };
    expect(plan.apply).toBe('none');
    // Advised a moment ago: the plan now says so instead of repeating the advice.
    expect(plan.plan.skipped).toEqual(
      expect.arrayContaining([
        { pid: 4242, comm: 'big db', reason: expect.stringMatching(/^advised \d+ s ago/) },
        { pid: 4343, comm: 'pinned', reason: 'CPU affinity 0-1 was set by someone else; never overridden' },
      ]),
    );
    // A second cycle does not log the same advice again.
    await d.rebalancer.cycle();
    expect(readFileSync(d.numadLog.path, 'utf8').match(/Advising pid 4242/g)).toHaveLength(1);
  });
});

describe('rebalancer swap (advise only)', () => {
  const t = tempDir();
  let d: RunningDaemon;
  afterAll(async () => {
    await d?.close();
    t.cleanup();
  });

  it('two processes that fit nowhere alone are advised to exchange nodes, once two cycles agree', async () => {
    const root = copyFixture('2node-2s12c24t', t.dir);
    // 14 GiB free per node and no reclaimable page cache: neither 40,000 MiB process fits on a node by itself.
    for (const n of [0, 1]) {
      const file = path.join(root, `sys/devices/system/node/node${n}/meminfo`);
      writeFileSync(file, readFileSync(file, 'utf8').replace(/MemFree:\s+\d+ kB/, 'MemFree:        14680064 kB').replace(/Inactive\(file\):\s+\d+ kB/, 'Inactive(file):        0 kB'));
    }
    const cpus = Array.from({ length: 24 }, (_, i) => i);
    const a = { pid: 5151, comm: 'vm a', rssMiB: 40_000, cpuTicks: 1000, cpusAllowed: cpus, memsAllowed: [0, 1], memByNode: { 0: 20_000, 1: 20_000 } };
    const b = { pid: 5252, comm: 'vm b', rssMiB: 40_000, cpuTicks: 1000, cpusAllowed: cpus, memsAllowed: [0, 1], memByNode: { 0: 16_000, 1: 24_000 } };
    const busy = async (round: number): Promise<void> => {
      writeFakeProc(root, { ...a, cpuTicks: 1000 + round * 200 });
      writeFakeProc(root, { ...b, cpuTicks: 1000 + round * 200 });
      await new Promise((r) => setTimeout(r, 1000));
    };
    await busy(0);
    d = await startTestDaemon(t.dir, '2node-2s12c24t', { fsRoot: root });
    await d.rebalancer.cycle();
    await busy(1);
    await d.rebalancer.cycle();
    expect(d.rebalancer.lastPlan?.moves[0]).toMatchObject({ kind: 'swap', pid: 5151, to: [0], migrateMiB: 20_000, partner: { pid: 5252, to: [1], migrateMiB: 16_000 } });
    expect(readFileSync(d.numadLog.path, 'utf8')).not.toMatch(/Advising/); // proposed once: not yet
    await busy(2);
    expect(await d.rebalancer.cycle()).toBe(false);
    const log = readFileSync(d.numadLog.path, 'utf8');
    expect(log).toMatch(new RegExp(`^${CTIME}: Advising pid 5252 \\(vm b\\) move from nodes \\(0-1\\) to nodes \\(1\\)$`, 'm'));
    expect(log).toMatch(new RegExp(`^${CTIME}: Advising pid 5151 \\(vm a\\) move from nodes \\(0-1\\) to nodes \\(0\\)$`, 'm'));
    await busy(3);
    await d.rebalancer.cycle();
    expect(d.rebalancer.lastPlan?.moves).toEqual([]);
  });
});
