// The shipped logrotate files against a real daemon under load, with the real logrotate (Debian package logrotate):
// the config under test is src/install/*.logrotate with only the paths (and the number of rotations kept) changed.
// copytruncate lost lines (issue #12 F18: 11 line pairs in 10 rotations): whatever the daemon writes between
// logrotate's copy and its truncate is gone. Renaming and then SIGHUP (the daemon reopens by path) loses nothing.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { fixture, REPO_DIR, tempDir } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';

const NUMADVISOR = path.join(REPO_DIR, 'dist/cli/numadvisor-entry.js');
const LOGROTATE = ['/usr/sbin/logrotate', '/sbin/logrotate'].find((p) => existsSync(p));
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const CTIME = /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3]\d \d{2}:\d{2}:\d{2} \d{4}: /;

/** The shipped config with the system paths replaced (and enough rotations kept to count every line). */
function configFor(shipped: string, logPath: string, pidFile: string): string {
  const text = readFileSync(path.join(REPO_DIR, 'src/install', shipped), 'utf8');
  return text
    .replaceAll(/\/var\/log\/numad(visor)?\.log/g, logPath)
    .replaceAll('/var/run/numad.pid', pidFile)
    .replace(/^(\s*)rotate \d+$/m, '$1rotate 1000');
}

/** Every line of the log and its rotations (numad.log, .1, .2.gz, …), oldest first. */
function allLines(dir: string, base: string): string[] {
  const rotations = readdirSync(dir)
    .filter((f) => f.startsWith(`${base}.`) && /^\d+(\.gz)?$/.test(f.slice(base.length + 1)))
    .sort((a, b) => Number.parseInt(b.slice(base.length + 1), 10) - Number.parseInt(a.slice(base.length + 1), 10));
  const texts = rotations.map((f) => {
    const data = readFileSync(path.join(dir, f));
    return (f.endsWith('.gz') ? gunzipSync(data) : data).toString('utf8');
  });
  if (existsSync(path.join(dir, base))) texts.push(readFileSync(path.join(dir, base), 'utf8'));
  return texts.join('').split('\n').filter((l) => l !== '');
}

function advise(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/v1/advice?cpus=1&mem=100&reserve=false', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
  });
}

/** Another writer of the log, like standalone `numad -w` processes: open, append one line, close; until `stop` exists. */
function spawnAppender(file: string, stop: string): Promise<number> {
  const script = `
    const fs = require('node:fs');
    const [file, stop] = process.argv.slice(1);
    let n = 0;
    for (;;) {
      for (let i = 0; i < 50; i++, n++) fs.appendFileSync(file, 'Fri Nov 27 09:00:00 2026: numad -w elsewhere ' + n + '\\n');
      if (fs.existsSync(stop)) break;
    }
    process.stdout.write(String(n));`;
  const child = spawn(process.execPath, ['-e', script, file, stop], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve) => child.on('close', () => resolve(Number(out))));
}

function startDaemon(dir: string): ChildProcess {
  const out = openSync(path.join(dir, 'stdout'), 'a');
  const child = spawn(
    process.execPath,
    [
      NUMADVISOR,
      'daemon',
      '--fsroot', fixture('2node-2s12c24t'),
      '--socket', path.join(dir, 'numadvisor.sock'),
      '--state-dir', path.join(dir, 'state'),
      '--log-file', path.join(dir, 'numad.log'),
      '--pid-file', path.join(dir, 'numad.pid'),
      '--daemon-log', path.join(dir, 'numadvisor.log'),
      '--libvirt', 'none',
    ],
    { stdio: ['ignore', out, out] },
  );
  closeSync(out);
  return child;
}

describe.skipIf(!LOGROTATE || !isRoot)('shipped logrotate files with the real logrotate (issue #12 F18)', () => {
  const t = tempDir();
  let daemon: ChildProcess | undefined;
  afterAll(async () => {
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((r) => daemon?.once('exit', r));
      daemon.kill('SIGTERM');
      await exited;
    }
    t.cleanup();
  });

  it('F18: 10 forced rotations of numad.log while the daemon writes under load lose no line', async () => {
    const sock = path.join(t.dir, 'numadvisor.sock');
    daemon = startDaemon(t.dir);
    await waitFor(() => existsSync(path.join(t.dir, 'numad.pid')) && existsSync(sock), 30_000);
    const conf = path.join(t.dir, 'numad.conf');
    writeFileSync(conf, configFor('numad.logrotate', path.join(t.dir, 'numad.log'), path.join(t.dir, 'numad.pid')));
    expect(readFileSync(conf, 'utf8')).not.toMatch(/^\s*copytruncate/m);

    let answered = 0;
    let loading = true;
    const client = async (): Promise<void> => {
      while (loading) if (await advise(sock)) answered++;
    };
    const clients = Array.from({ length: 4 }, client);
    // numad.log has other writers than the daemon: each standalone `numad -w` opens it, appends its pair and closes
    // it. One that writes as fast as it can makes the window between copytruncate's copy and its truncate visible
    // on every rotation (the daemon alone at a few hundred answers a second lost lines in some runs only).
    const stop = path.join(t.dir, 'stop-appender');
    const appender = spawnAppender(path.join(t.dir, 'numad.log'), stop);
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const r = spawnSync(LOGROTATE as string, ['-f', '-s', path.join(t.dir, 'logrotate.state'), conf], { encoding: 'utf8' });
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    }
    await new Promise((r) => setTimeout(r, 150));
    loading = false;
    writeFileSync(stop, '');
    const appended = await appender;
    await Promise.all(clients);
    const exited = new Promise((r) => daemon?.once('exit', r));
    daemon.kill('SIGTERM');
    await exited;

    const lines = allLines(t.dir, 'numad.log');
    expect(readdirSync(t.dir).filter((f) => f.startsWith('numad.log.')).length).toBe(10);
    expect(answered).toBeGreaterThan(100);
    expect(lines.filter((l) => !CTIME.test(l))).toEqual([]);
    expect(lines.filter((l) => l.includes('Getting NUMA pre-placement advice for 100 CPUs and 100 MBs')).length).toBe(answered);
    expect(lines.filter((l) => l.includes('Advising pid -1 (unknown)')).length).toBe(answered);
    expect(appended).toBeGreaterThan(1000);
    expect(lines.filter((l) => l.includes(': numad -w elsewhere ')).length).toBe(appended);
    expect(lines.filter((l) => l.includes('Registering numad version')).length).toBe(1);
    expect(lines.filter((l) => l.includes('Shutting down numad')).length).toBe(1);
  }, 120_000);

  it('F18: the structured log (numadvisor.log) is reopened on SIGHUP too, so the same rotation works for it', async () => {
    const dir = path.join(t.dir, 'hup');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    const child = startDaemon(dir);
    daemon = child;
    const log = path.join(dir, 'numadvisor.log');
    await waitFor(() => existsSync(path.join(dir, 'numad.pid')) && existsSync(log) && readFileSync(log, 'utf8').includes('"msg"'), 30_000);
    renameSync(log, `${log}.1`);
    child.kill('SIGHUP');
    // The daemon's own SIGHUP line (run.ts) lands in the new file: the structured log was reopened first.
    await waitFor(() => existsSync(log) && readFileSync(log, 'utf8').includes('numad log reopened'), 10_000);
    expect(readFileSync(`${log}.1`, 'utf8')).not.toContain('numad log reopened');
    const conf = configFor('numadvisor.logrotate', log, path.join(dir, 'numad.pid'));
    expect(conf).toMatch(/postrotate/);
    expect(conf).not.toMatch(/^\s*copytruncate/m);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }, 60_000);
});
