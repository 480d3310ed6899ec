// The built `numad` command as libvirt runs it: a separate process, stdout parsed whole.
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../helpers/run.js';
import type { RunningDaemon } from '../../src/daemon/daemon.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { fixture, REPO_DIR, tempDir } from '../helpers/fixtures.js';

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
  const base = (): NodeJS.ProcessEnv => ({
    NUMADVISOR_SOCKET: path.join(t.dir, 'absent.sock'),
    NUMADVISOR_LOG_FILE: path.join(t.dir, 'numad.log'),
    NUMADVISOR_FSROOT: fixture('sparse-0-8'),
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
