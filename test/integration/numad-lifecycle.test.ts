// The numad command as operators and init scripts use it: starting the daemon, changing it, stopping it, its log,
// its pid file, and the -w path under stress (500 parallel, daemon killed mid-burst, full disk).
import { existsSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { CANONICAL_NODESET } from '../../src/topology/idlist.js';
import { fixture, REPO_DIR, tempDir } from '../helpers/fixtures.js';
import { run } from '../helpers/run.js';
import { waitFor } from '../helpers/wait.js';

const NUMAD = path.join(REPO_DIR, 'dist/cli/numad-entry.js');
const NUMAD_C = path.join(REPO_DIR, 'dist/numad');
const CTIME = '[A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3]\\d \\d{2}:\\d{2}:\\d{2} \\d{4}';

function setup(fixtureName = '4node-westmere-ex'): { dir: string; env: NodeJS.ProcessEnv; log: () => string; pid: () => number | undefined; cleanup: () => Promise<void> } {
  const t = tempDir();
  const env = {
    NUMADVISOR_SOCKET: path.join(t.dir, 'numadvisor.sock'),
    NUMADVISOR_LOG_FILE: path.join(t.dir, 'numad.log'),
    NUMADVISOR_STATE_DIR: path.join(t.dir, 'state'),
    NUMADVISOR_PID_FILE: path.join(t.dir, 'numad.pid'),
    NUMADVISOR_DAEMON_LOG: path.join(t.dir, 'numadvisor.log'),
    NUMADVISOR_FSROOT: fixture(fixtureName),
  };
  const pid = (): number | undefined => (existsSync(env.NUMADVISOR_PID_FILE) ? Number.parseInt(readFileSync(env.NUMADVISOR_PID_FILE, 'utf8'), 10) : undefined);
  return {
    dir: t.dir,
    env,
    log: () => (existsSync(env.NUMADVISOR_LOG_FILE) ? readFileSync(env.NUMADVISOR_LOG_FILE, 'utf8') : ''),
    pid,
    cleanup: async () => {
      const p = pid();
      if (p) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await sleep(50);
      t.cleanup();
    },
  };
}


const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

describe('numad daemon life cycle', () => {
  let env: ReturnType<typeof setup>;
  afterEach(async () => env.cleanup());

  it('`numad` starts a background daemon, options change it with numad\'s lines, `-i 0` stops it', async () => {
    env = setup();
    const start = await run(NUMAD, ['-S', '0', '-R', '0-2'], env.env);
    expect(start).toEqual({ code: 0, stdout: '', stderr: '' });
    const pid = env.pid();
    expect(pid).toBeGreaterThan(0);
    expect(alive(pid as number)).toBe(true);
    expect(readFileSync(env.env.NUMADVISOR_PID_FILE as string, 'utf8')).toBe(`${pid}\n`);
    expect(env.log()).toMatch(new RegExp(`^${CTIME}: Reserving 3 CPUs \\(0-2\\) for non-numad use\\n${CTIME}: Registering numad version 20150602 PID ${pid}\\n$`));

    // A second start is just a client: no new daemon.
    expect(await run(NUMAD, ['-S', '1'], env.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(env.pid()).toBe(pid);

    const change = await run(NUMAD, ['-C', '0', '-u', '70', '-p', '111', '-x', '222', '-i', '4:9', '-K', '1', '-m', '80', '-t', '30'], env.env);
    expect(change.code).toBe(0);
    const lines = env.log().split('\n').slice(2, -1).map((l) => l.replace(new RegExp(`^${CTIME}: `), ''));
    expect(lines).toEqual([
      'Scanning all processes',
      'Counting inactive file cache as unavailable',
      'Changing interval to 4:9',
      'Keeping interleaved memory spread across nodes',
      'Changing target memory locality to 80',
      'Adding PID 111 to inclusion PID list',
      'Adding PID 222 to exclusion PID list',
      'Changing logical CPU thread percent to 30',
      'Changing target utilization to 70',
    ]);

    // -w with -i 0: numad shuts down first and hangs forever; we answer, then stop the daemon.
    const last = await run(NUMAD, ['-w', '2:1024', '-i', '0'], env.env);
    expect(last.code).toBe(0);
    expect(last.stdout).toMatch(/^\d+(-\d+)?(,\d+(-\d+)?)*\n$/);
    await waitFor(() => !alive(pid as number));
    expect(existsSync(env.env.NUMADVISOR_PID_FILE as string)).toBe(false);
    expect(existsSync(env.env.NUMADVISOR_SOCKET as string)).toBe(false);
    expect(env.log()).toMatch(new RegExp(`${CTIME}: Getting NUMA pre-placement advice for 200 CPUs and 1024 MBs\\n${CTIME}: Advising pid -1 \\(unknown\\) move from nodes \\(0-3\\) to nodes \\(\\d\\)\\n${CTIME}: Shutting down numad\\n$`));
  });

  it('`numad -i 0` without a daemon does nothing and exits 0', async () => {
    env = setup();
    expect(await run(NUMAD, ['-i', '0'], env.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(env.pid()).toBeUndefined();
  });

  it('--foreground runs the daemon in the command itself (for systemd Type=simple); SIGTERM stops it cleanly', async () => {
    env = setup();
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [NUMAD, '--foreground', '-i', '15'], { env: { ...process.env, ...env.env }, stdio: 'ignore' });
    await waitFor(() => env.pid() === child.pid);
    child.kill('SIGTERM');
    const code = await new Promise((res) => child.once('exit', res));
    expect(code).toBe(0);
    expect(env.pid()).toBeUndefined();
    expect(env.log()).toMatch(/Shutting down numad\n$/);
  });

  it('a stale pid file (dead PID) is replaced with numad\'s message; garbage is replaced too', async () => {
    env = setup();
    writeFileSync(env.env.NUMADVISOR_PID_FILE as string, '999999\n');
    expect((await run(NUMAD, [], env.env)).code).toBe(0);
    expect(env.pid()).not.toBe(999999);
    expect(env.log()).toContain("Removing out-of-date numad run file because /proc/999999 doesn't exist");
    await run(NUMAD, ['-i', '0'], env.env);
    await waitFor(() => env.pid() === undefined);
    writeFileSync(env.env.NUMADVISOR_PID_FILE as string, 'abc\n');
    expect((await run(NUMAD, [], env.env)).code).toBe(0);
    expect(env.pid()).toBeGreaterThan(0);
  });

  it('SIGHUP reopens the log (mv + HUP starts a new file); copytruncate keeps appending from the start', async () => {
    env = setup();
    await run(NUMAD, [], env.env);
    const pid = env.pid() as number;
    const logPath = env.env.NUMADVISOR_LOG_FILE as string;
    renameSync(logPath, `${logPath}.1`);
    process.kill(pid, 'SIGHUP');
    await waitFor(() => existsSync(logPath));
    await run(NUMAD, ['-w', '1:100'], env.env);
    expect(readFileSync(logPath, 'utf8')).toMatch(new RegExp(`^${CTIME}: Getting NUMA pre-placement advice for 100 CPUs and 100 MBs\\n`));
    expect(readFileSync(`${logPath}.1`, 'utf8')).toContain('Registering numad version');
    // copytruncate: logrotate copies the file and truncates it in place; O_APPEND writes land at the new end.
    truncateSync(logPath, 0);
    await run(NUMAD, ['-w', '2:200'], env.env);
    const after = readFileSync(logPath, 'utf8');
    expect(after).not.toContain('\0');
    expect(after).toMatch(new RegExp(`^${CTIME}: Getting NUMA pre-placement advice for 200 CPUs and 200 MBs\\n${CTIME}: Advising`));
  });
});

describe('numad -w under stress', () => {
  let env: ReturnType<typeof setup>;
  afterEach(async () => env.cleanup());

  it('500 parallel `numad -w` (the C front end) all answer with a nodeset, spread over the nodes', async () => {
    env = setup();
    await run(NUMAD, [], env.env);
    const results = await Promise.all(Array.from({ length: 500 }, () => run(NUMAD_C, ['-w', '1:256'], env.env)));
    const count = new Map<string, number>();
    for (const r of results) {
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^\d+(-\d+)?(,\d+(-\d+)?)*\n$/);
      const ns = r.stdout.trim();
      count.set(ns, (count.get(ns) ?? 0) + 1);
    }
    // 500 one-vCPU VMs on a 40-CPU host is 12× overcommitted: the first ~150 (a reserved vCPU counts 1/4 CPU)
    // get a node of their own, spread evenly by the reservations; later ones span nodes. None piles up on node 0.
    for (const node of ['0', '1', '2', '3']) expect(count.get(node) ?? 0).toBeGreaterThanOrEqual(30);
    const pairs = env.log().match(/Getting NUMA pre-placement advice for 100 CPUs and 256 MBs/g) ?? [];
    expect(pairs).toHaveLength(500);
  }, 120_000);

  it('the daemon SIGKILLed in the middle of a burst: every client still prints a nodeset', async () => {
    env = setup();
    await run(NUMAD, [], env.env);
    const pid = env.pid() as number;
    const burst = Array.from({ length: 60 }, (_, i) => run(i % 2 ? NUMAD_C : NUMAD, ['-w', '2:512'], env.env));
    await sleep(30);
    process.kill(pid, 'SIGKILL');
    const results = await Promise.all(burst);
    for (const r of results) {
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toMatch(CANONICAL_NODESET);
    }
    // The socket file is left behind by SIGKILL; the next start replaces it.
    expect(existsSync(env.env.NUMADVISOR_SOCKET as string)).toBe(true);
    expect((await run(NUMAD, [], env.env)).code).toBe(0);
    expect(env.pid()).not.toBe(pid);
  }, 60_000);

  it('40 standalone answers written by 40 processes at once: every log line whole, every pair present', async () => {
    env = setup();
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => run(NUMAD, ['-w', `${(i % 4) + 1}:${100 + i}`], env.env)));
    for (const r of results) expect(r.code).toBe(0);
    const lines = env.log().split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(80);
    const line = new RegExp(`^${CTIME}: (Getting NUMA pre-placement advice for [1-4]00 CPUs and 1[0-3]\\d MBs|Advising pid -1 \\(unknown\\) move from nodes \\(0-3\\) to nodes \\([0-9,-]+\\))$`);
    for (const l of lines) expect(l).toMatch(line);
    for (let i = 0; i < 40; i++) expect(lines.filter((l) => l.endsWith(`and ${100 + i} MBs`))).toHaveLength(1);
  }, 60_000);

  it('a full disk (log on /dev/full) never turns into a hang or a garbage line', async () => {
    env = setup();
    const r = await run(NUMAD, ['-w', '2:512'], { ...env.env, NUMADVISOR_LOG_FILE: '/dev/full' });
    expect(r).toEqual({ code: 0, stdout: expect.stringMatching(/^\d\n$/), stderr: '' });
  });
});
