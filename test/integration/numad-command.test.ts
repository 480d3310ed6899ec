// The built `numad` command as libvirt runs it: a separate process, stdout parsed whole.
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../helpers/run.js';
import type { RunningDaemon } from '../../src/daemon/daemon.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { fixture, REPO_DIR, tempDir } from '../helpers/fixtures.js';
import { request } from '../helpers/http.js';
import { runAs, testUser, type TestUser } from '../helpers/unprivileged.js';
import { generate } from '../fixtures/make-fixtures.js';
import { twoByFourSpec } from '../helpers/synthetic.js';

const NUMAD = path.join(REPO_DIR, 'dist/cli/numad-entry.js');
const NUMADVISOR = path.join(REPO_DIR, 'dist/cli/numadvisor-entry.js');

describe('numad -w against a running daemon', () => {
  const t = tempDir();
  let d: RunningDaemon;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    d = await startTestDaemon(t.dir, '4node-westmere-ex');
    env = { NUMADVISOR_SOCKET: d.app.server.address() as string, NUMADVISOR_LOG_FILE: path.join(t.dir, 'client.log') };
  });
  afterAll(async () => {
    await d.close();
    t.cleanup();
  });

  it('prints exactly one canonical nodeset line, nothing on stderr, exit 0, and the daemon reserves it', async () => {
    const before = d.service.ledger.size;
    const r = await run(NUMAD, ['-w', '2:1024'], env);
    expect(r).toEqual({ code: 0, stdout: expect.stringMatching(/^[0-3]\n$/), stderr: '' });
    expect(d.service.ledger.size).toBe(before + 1);
    expect(d.service.ledger.list().at(-1)?.client).toBe('numad -w');
    // The daemon wrote the pair, not the client.
    expect(existsSync(path.join(t.dir, 'client.log'))).toBe(false);
  });

  it('the C front end answers from the daemon the same way, without starting Node.js', async () => {
    const before = d.service.ledger.size;
    const r = await run(path.join(REPO_DIR, 'dist/numad'), ['-w', '2:1024'], env);
    expect(r).toEqual({ code: 0, stdout: expect.stringMatching(/^[0-3]\n$/), stderr: '' });
    expect(d.service.ledger.size).toBe(before + 1);
    expect(d.service.ledger.list().at(-1)?.client).toBe('numad -w');
  });

  it('successive starts spread over nodes (numad would answer the same node every time)', async () => {
    const answers: string[] = [];
    for (let i = 0; i < 4; i++) answers.push((await run(NUMAD, ['-w', '4:8192'], env)).stdout);
    expect(new Set(answers).size).toBe(4);
  });
});

const NUMAD_C = path.join(REPO_DIR, 'dist/numad');

describe.each([
  ['Node.js client', NUMAD],
  ['C front end', NUMAD_C],
])('numad -w without a working daemon (%s)', (_name, NUMAD) => {
  const t = tempDir();
  afterAll(t.cleanup);
  let answers = 0;
  const base = (): NodeJS.ProcessEnv => ({
    NUMADVISOR_SOCKET: path.join(t.dir, 'absent.sock'),
    NUMADVISOR_LOG_FILE: path.join(t.dir, 'numad.log'),
    NUMADVISOR_FSROOT: fixture('sparse-0-8'),
    // A state directory of its own per answer: local answers are recorded there and would be counted by the next.
    NUMADVISOR_STATE_DIR: path.join(t.dir, `state-${answers++}`),
  });

  it('answers by itself from the host model and logs numad\'s pair', async () => {
    const r = await run(NUMAD, ['-w', '1:100'], base());
    // node 0 is 90 % busy, node 8 idle (numad S14b)
    expect(r).toEqual({ code: 0, stdout: '8\n', stderr: '' });
    expect(readFileSync(path.join(t.dir, 'numad.log'), 'utf8')).toMatch(
      /: Getting NUMA pre-placement advice for 100 CPUs and 100 MBs\n.*: Advising pid -1 \(unknown\) move from nodes \(0,8\) to nodes \(8\)\n$/,
    );
  });

  it('a stale socket file falls back to the local answer', async () => {
    const sock = path.join(t.dir, 'stale.sock');
    const { spawnSync } = await import('node:child_process');
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    expect(existsSync(sock)).toBe(true);
    const r = await run(NUMAD, ['-w', '2:512'], { ...base(), NUMADVISOR_SOCKET: sock });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('8\n');
  });

  it('a wedged daemon (accepts, never answers) falls back within the reply deadline', async () => {
    const sock = path.join(t.dir, 'wedged.sock');
    // Reads (so it notices the client leaving) but never answers.
    const wedged: Server = createServer((conn) => conn.resume());
    await new Promise<void>((res) => wedged.listen(sock, res));
    try {
      const started = Date.now();
      const r = await run(NUMAD, ['-w', '2:512'], { ...base(), NUMADVISOR_SOCKET: sock });
      expect(r).toMatchObject({ code: 0, stdout: '8\n' });
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await new Promise<void>((res) => wedged.close(() => res()));
    }
  });

  it('a garbage answer is never printed', async () => {
    const sock = path.join(t.dir, 'liar.sock');
    const http = await import('node:http');
    const liar = http.createServer((_req, res) => res.end(JSON.stringify({ nodeset: '0-1\nrm -rf /' })));
    await new Promise<void>((res) => liar.listen(sock, res));
    try {
      const r = await run(NUMAD, ['-w', '1:100'], { ...base(), NUMADVISOR_SOCKET: sock });
      expect(r).toMatchObject({ code: 0, stdout: '8\n' });
    } finally {
      await new Promise<void>((res) => liar.close(() => res()));
    }
  });

  it('an error status or an oversized answer is never printed', async () => {
    const http = await import('node:http');
    for (const [status, body] of [
      [500, '0\n'],
      [200, `${'0,'.repeat(5000)}0\n`],
      [200, '0\n1\n'],
      [200, '1,0\n'],
      [200, '0-0\n'],
      [200, '0,1\n'],
      [200, '007\n'],
    ] as const) {
      const sock = path.join(t.dir, `bad-${status}-${body.length}.sock`);
      const bad = http.createServer((req, res) => {
        req.socket.on('error', () => {}); // a client that stops reading an oversized answer is fine
        res.statusCode = status;
        res.end(body);
      });
      await new Promise<void>((res) => bad.listen(sock, res));
      try {
        const r = await run(NUMAD, ['-w', '1:100'], { ...base(), NUMADVISOR_SOCKET: sock });
        expect({ body, r }).toMatchObject({ body, r: { code: 0, stdout: '8\n' } });
      } finally {
        await new Promise<void>((res) => bad.close(() => res()));
      }
    }
  });

  it.each(['.5', '2:', ':512', '-1', 'abc', '2:-5', '2:abc'])('-w %s → numad\'s parse error on stderr, exit 1, empty stdout', async (arg) => {
    const r = await run(NUMAD, ['-w', arg], base());
    expect(r).toEqual({ code: 1, stdout: '', stderr: `Can't parse arg value(s): ${arg}\n` });
  });

  it('-h prints numad\'s usage on stderr and exits 1; -V prints the version', async () => {
    const h = await run(NUMAD, ['-h'], base());
    expect(h.code).toBe(1);
    expect(h.stdout).toBe('');
    expect(h.stderr.split('\n')[0]).toBe('Usage: numad <options> ...');
    expect(h.stderr).toContain('-w <CPUs>[:<MBs>] for NUMA node suggestions\n');
    const v = await run(NUMAD, ['-V'], base());
    expect(v).toMatchObject({ code: 0, stdout: expect.stringMatching(/^numad version: 20150602: compiled /) });
  });

  it('unknown option, missing argument, unexpected argument: glibc messages, usage, exit 1', async () => {
    expect(await run(NUMAD, ['-Z'], base())).toMatchObject({ code: 1, stdout: '', stderr: expect.stringMatching(/^numad: invalid option -- 'Z'\nUsage: numad/) });
    expect(await run(NUMAD, ['-w'], base())).toMatchObject({ code: 1, stderr: expect.stringMatching(/^numad: option requires an argument -- 'w'\n/) });
    expect(await run(NUMAD, ['-w', '1', 'extra'], base())).toMatchObject({ code: 1, stdout: '', stderr: 'Unexpected arg = extra\n' });
  });
});

describe('id lists are bounded (issue #12 F12)', () => {
  const t = tempDir();
  afterAll(t.cleanup);
  // Every path in the temp dir: should parsing ever get through, nothing touches the host's daemon or files.
  const env = (): NodeJS.ProcessEnv => ({
    NUMADVISOR_SOCKET: path.join(t.dir, 'absent.sock'),
    NUMADVISOR_LOG_FILE: path.join(t.dir, 'numad.log'),
    NUMADVISOR_STATE_DIR: path.join(t.dir, 'state'),
    NUMADVISOR_PID_FILE: path.join(t.dir, 'numad.pid'),
    NUMADVISOR_DAEMON_LOG: path.join(t.dir, 'numadvisor.log'),
    NUMADVISOR_FSROOT: fixture('sparse-0-8'),
    NUMADVISOR_LIBVIRT: 'none',
  });

  it.each(['9007199254740993', '0-300000000'])('F12: numad -R %s fails fast with a clear message (numad has none for -R) and starts nothing', async (arg) => {
    const started = Date.now();
    // Killed after 10 s: before the fix the first spun forever and the second died after ~8 s with a stack trace.
    const r = await run(NUMAD, ['-R', arg], env(), undefined, 10_000);
    expect(r).toEqual({ code: 1, stdout: '', stderr: `numad: -R ${arg}: CPU ids must be below 8192\n` });
    // Node.js start-up included; the parse itself takes microseconds (test/unit/topology.test.ts).
    expect(Date.now() - started).toBeLessThan(3000);
    expect(existsSync(path.join(t.dir, 'numadvisor.log'))).toBe(false);
  });

  it.each(['0-300000000', '0-9007199254740993'])('F12: a daemon answering the nodeset %s does not hang numad -w: the local answer comes at once', async (nodeset) => {
    const http = await import('node:http');
    const sock = path.join(t.dir, `huge-${nodeset.length}.sock`);
    // What the client asks for (format=nodeset): the list as text, one line.
    const liar = http.createServer((_req, res) => res.end(`${nodeset}\n`));
    await new Promise<void>((res) => liar.listen(sock, res));
    try {
      const started = Date.now();
      const r = await run(NUMAD, ['-w', '1:100'], { ...env(), NUMADVISOR_SOCKET: sock }, undefined, 20_000);
      expect(r).toMatchObject({ code: 0, stdout: '8\n' });
      // Before the fix, checking the answer alone took 5-6 s.
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await new Promise<void>((res) => liar.close(() => res()));
    }
  });
});

describe('idle CPU in integer ticks, as numad computes it', () => {
  const t = tempDir();
  afterAll(t.cleanup);

  it('2 nodes x 4 CPUs at 29 % idle: numad -w 1.16:100 answers 0, as numad does (floating point gave 0-1)', async () => {
    // 4 x 29 % = 116 hundredths per node exactly; 0.29 * 100 in floating point is 28.999..., which floored to 115.
    generate(twoByFourSpec('2node-4cpu-29idle', 'Two nodes of 4 CPUs, each CPU 29 % idle (numad computes 116 free hundredths per node).', 29), t.dir);
    const r = await run(NUMAD, ['-w', '1.16:100'], {
      NUMADVISOR_SOCKET: path.join(t.dir, 'absent.sock'),
      NUMADVISOR_LOG_FILE: path.join(t.dir, 'numad.log'),
      // A local answer counts what the state directory's ledger holds: the test's own, empty one.
      NUMADVISOR_STATE_DIR: path.join(t.dir, 'state'),
      NUMADVISOR_FSROOT: path.join(t.dir, '2node-4cpu-29idle'),
    });
    expect(r).toEqual({ code: 0, stdout: '0\n', stderr: '' });
  });
});

const unprivileged = testUser();

describe.skipIf(typeof unprivileged === 'string')("an unprivileged user against the root daemon's 0660 socket (issue #12 F16)", () => {
  const user = unprivileged as TestUser;
  const t = tempDir();
  let d: RunningDaemon;
  let socket: string;
  let userDir: string;
  const env = (): NodeJS.ProcessEnv => ({
    NUMADVISOR_SOCKET: socket,
    NUMADVISOR_LOG_FILE: path.join(userDir, 'numad.log'),
    NUMADVISOR_STATE_DIR: path.join(userDir, 'state'),
    NUMADVISOR_PID_FILE: path.join(userDir, 'numad.pid'),
    NUMADVISOR_DAEMON_LOG: path.join(userDir, 'numadvisor.log'),
    NUMADVISOR_FSROOT: fixture('2node-2s12c24t'),
    NUMADVISOR_LIBVIRT: 'none',
  });
  beforeAll(async () => {
    // Like /run/numadvisor: a directory anyone may enter, so the socket's own 0660 root:root is what refuses.
    chmodSync(t.dir, 0o755);
    d = await startTestDaemon(t.dir, '2node-2s12c24t');
    socket = d.app.server.address() as string;
    expect(statSync(socket)).toMatchObject({ uid: 0, mode: expect.any(Number) });
    expect(statSync(socket).mode & 0o777).toBe(0o660);
    userDir = path.join(t.dir, 'user');
    mkdirSync(userDir);
    chownSync(userDir, user.uid, user.gid);
  });
  afterAll(async () => {
    await d?.close();
    t.cleanup();
  });

  it('F16: numad -i 0 as an unprivileged user says permission denied and exits non-zero; the daemon keeps running', async () => {
    const r = await runAs(user, NUMAD, ['-i', '0'], env());
    expect(r).toEqual({ code: 1, stdout: '', stderr: `numad: cannot talk to the daemon on ${socket}: permission denied\n` });
    expect((await request(socket, 'GET', '/healthz')).status).toBe(200);
  });

  it('F16: numad -u 70 as an unprivileged user does not try to start a second daemon', async () => {
    const r = await runAs(user, NUMAD, ['-u', '70'], env());
    expect(r).toEqual({ code: 1, stdout: '', stderr: `numad: cannot talk to the daemon on ${socket}: permission denied\n` });
    // Starting a daemon opens its structured log first; nothing was started, so there is none.
    expect(existsSync(path.join(userDir, 'numadvisor.log'))).toBe(false);
    expect(d.control.settings.utilizationTargetPercent).toBe(85);
  });

  it.each([
    ['Node.js client', NUMAD],
    ['C front end', path.join(REPO_DIR, 'dist/numad')],
  ])('F16: numad -w as an unprivileged user (%s) still prints a nodeset, answered locally, and says so on stderr', async (_name, file) => {
    const before = d.service.ledger.size;
    const r = await runAs(user, file, ['-w', '2:1024'], env());
    expect(r).toEqual({
      code: 0,
      stdout: expect.stringMatching(/^(0|1|0-1)\n$/),
      stderr: `numad: cannot talk to the daemon on ${socket}: permission denied; answering locally\n`,
    });
    expect(d.service.ledger.size).toBe(before);
  });

  it('F17: numad as a non-root user without XDG_RUNTIME_DIR refuses with a clear message; with it, state and logs go to $XDG_STATE_HOME', async () => {
    const bare = { NUMADVISOR_FSROOT: fixture('2node-2s12c24t'), HOME: userDir };
    const refused = await runAs(user, NUMAD, ['-w', '1:100'], bare);
    expect(refused).toEqual({ code: 1, stdout: '', stderr: expect.stringMatching(/^numad: XDG_RUNTIME_DIR is not set.*NUMADVISOR_SOCKET or --socket.*\n$/) });
    // Before the fix the defaults were ./run/… of the working directory: / here, so the root daemon's /run.
    const runtime = path.join(userDir, 'runtime');
    mkdirSync(runtime, { mode: 0o700 });
    chownSync(runtime, user.uid, user.gid);
    const ok = await runAs(user, NUMAD, ['-w', '1:100'], { ...bare, XDG_RUNTIME_DIR: runtime, XDG_STATE_HOME: path.join(userDir, 'xdg-state') });
    expect(ok).toEqual({ code: 0, stdout: expect.stringMatching(/^(0|1|0-1)\n$/), stderr: '' });
    expect(readFileSync(path.join(userDir, 'xdg-state/numadvisor/numad.log'), 'utf8')).toMatch(/: Advising pid -1 \(unknown\) move from nodes \(0-1\)/);
  });
});

describe('numadvisor snapshot → advise offline', () => {
  it('answers from a captured snapshot like the daemon would', async () => {
    const snap = await run(NUMADVISOR, ['snapshot', '--fsroot', fixture('8node-dl980'), '--sample-ms', '0']);
    expect(snap.code).toBe(0);
    const parsed = JSON.parse(snap.stdout) as { nodes: unknown[] };
    expect(parsed.nodes).toHaveLength(8);
    const a = await run(NUMADVISOR, ['advise', '--snapshot', '-', '--cpus', '12', '--mem', '20000', '--nodeset-only'], {}, snap.stdout);
    // 12 CPUs need two 10-core nodes; the SLIT pairs (0,1) at distance 12; node 0 has the most free memory.
    expect(a).toEqual({ code: 0, stdout: '0-1\n', stderr: '' });
    const j = await run(NUMADVISOR, ['advise', '--snapshot', '-', '--cpus', '2', '--mem', '1024', '-C', '0', '-t', '50', '-R', '0-9'], {}, snap.stdout);
    const advice = JSON.parse(j.stdout) as { nodeset: string; reasons: string[] };
    expect(advice.nodeset).toBe('1');
    expect(advice.reasons.length).toBeGreaterThan(0);
  });

  it('rejects a bad snapshot or request with a clear message', async () => {
    const bad = await run(NUMADVISOR, ['advise', '--snapshot', '-', '--cpus', '1'], {}, '{"schemaVersion":1}');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/not a host snapshot/);
    const badCpus = await run(NUMADVISOR, ['advise', '--snapshot', '-', '--cpus', '-1'], {}, '{}');
    expect(badCpus.stderr).toMatch(/--cpus/);
    const unknown = await run(NUMADVISOR, ['frobnicate']);
    expect(unknown).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown command/) });
  });
});
