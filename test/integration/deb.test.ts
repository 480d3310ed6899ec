// The Debian package (`make deb`, packaging/deb): built from this tree, installed with `dpkg -i`, used, purged.
//
// The installation is real — dpkg, its database, the maintainer scripts, dpkg-divert of /usr/bin/numad — but it
// happens in a private mount namespace whose /usr, /etc and /var are overlays of the host's (writes go to upper
// directories under a temporary directory). So the host's /usr/bin/numad never changes under the other test files
// that run the real numad in parallel (real-numad-compare, install), and whatever happens here — a failed test, a
// killed run — the host is left as it was: the namespace goes with its holder process. After the purge, the upper
// directories must hold nothing but dpkg's own records: every other file in them is a byte-identical copy of the
// host's, and no file or directory is new.
import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, appendFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_DIR, tempDir } from '../helpers/fixtures.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const tools = ['/usr/bin/dpkg-deb', '/usr/bin/dpkg-divert', '/usr/bin/unshare', '/usr/bin/nsenter'].every((p) => existsSync(p));
const skipReason = !isRoot ? 'not root (dpkg -i needs root)' : !tools ? 'dpkg-deb, dpkg-divert, unshare or nsenter missing' : undefined;
if (skipReason) console.warn(`deb.test.ts skipped: ${skipReason}`);

const OVERLAID = ['usr', 'etc', 'var'];
const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
/**
 * dpkg's own records, which an install and a purge leave changed by design, and numad's log, which the `numad -w`
 * calls below append to and which a purge keeps (Debian's numad writes it too).
 */
const DPKG_RECORDS = /^(var\/log\/numad\.log$|var\/lib\/dpkg\/|var\/log\/(dpkg\.log|alternatives\.log|apt\/)|var\/cache\/(debconf|apt|man)\/|var\/lib\/(ucf|systemd\/deb-systemd-helper)|etc\/ld\.so\.cache$)/;

describe.skipIf(skipReason !== undefined)('the Debian package: dpkg -i, numad -w, dpkg --purge', () => {
  const t = tempDir('numadvisor-deb-');
  let holder: ChildProcess | undefined;
  let pid = 0;
  let deb = '';
  const hostBefore = { diversions: '', numad: '' };
  /** A path as the namespace sees it (its mounts, through its root). */
  const inNs = (p: string): string => `/proc/${pid}/root${p}`;
  const ns = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> =>
    spawnSync('nsenter', ['-t', String(pid), '-m', '--', cmd, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  const diversions = (run: (cmd: string, args: string[]) => SpawnSyncReturns<string>): string => run('dpkg-divert', ['--list']).stdout.split('\n').sort().join('\n');

  beforeAll(async () => {
    hostBefore.diversions = diversions((c, a) => spawnSync(c, a, { encoding: 'utf8' }));
    hostBefore.numad = existsSync('/usr/bin/numad') ? sha256('/usr/bin/numad') : 'absent';
    // `-o build`: make test has built the tree, and rebuilding dist/ would race the other test files reading it.
    const out = execFileSync('make', ['-s', '-C', REPO_DIR, '-o', 'build', 'deb'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
    deb = path.join(REPO_DIR, /built (dist\/\S+\.deb)/.exec(out)?.[1] ?? 'missing.deb');
    const mounts = OVERLAID.map((d) => {
      mkdirSync(path.join(t.dir, 'upper', d), { recursive: true });
      mkdirSync(path.join(t.dir, 'work', d), { recursive: true });
      return `mount -t overlay overlay -o lowerdir=/${d},upperdir=${t.dir}/upper/${d},workdir=${t.dir}/work/${d} /${d}`;
    });
    holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `${mounts.join(' && ')} && echo ready && exec sleep 3600`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      holder?.stdout?.once('data', () => resolve());
      holder?.once('exit', (code) => reject(new Error(`the namespace holder exited (${code})`)));
    });
    pid = holder.pid ?? 0;
  }, 300_000);

  afterAll(() => {
    // The namespace, and with it every change dpkg made, goes with its holder; the host was never written.
    holder?.kill('SIGKILL');
    try {
      expect(diversions((c, a) => spawnSync(c, a, { encoding: 'utf8' }))).toBe(hostBefore.diversions);
      expect(existsSync('/usr/bin/numad') ? sha256('/usr/bin/numad') : 'absent').toBe(hostBefore.numad);
    } finally {
      t.cleanup();
    }
  });

  it('is built with its dependencies, the hardened unit and no highs', () => {
    const field = (name: string): string => execFileSync('dpkg-deb', ['-f', deb, name], { encoding: 'utf8' }).trim();
    expect(field('Package')).toBe('numadvisor');
    expect(field('Version')).toBe((JSON.parse(readFileSync(path.join(REPO_DIR, 'package.json'), 'utf8')) as { version: string }).version);
    // No libvirt library: the client speaks libvirt's protocol itself.
    expect(field('Depends')).toMatch(/^nodejs \(>= 20[.\d]*\), numactl, util-linux, libc6$/);
    const files = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8', maxBuffer: 64 << 20 })
      .split('\n')
      .map((l) => l.replace(/^.* \.\//, '/').replace(/\/$/, ''));
    for (const f of [
      '/usr/bin/numad',
      '/usr/bin/numadvisor',
      '/usr/lib/numadvisor/dist/cli/numadvisor-entry.js',
      '/usr/lib/numadvisor/dist/native/file-lock.node',
      '/usr/lib/numadvisor/node_modules/fastify/package.json',
      '/usr/lib/systemd/system/numadvisor.service',
      '/etc/default/numadvisor',
      '/etc/logrotate.d/numadvisor',
      '/usr/share/doc/numadvisor/README.md',
      '/usr/share/doc/numadvisor/docs/install.md',
      '/usr/share/doc/numadvisor/copyright',
    ]) {
      expect(files, f).toContain(f);
    }
    if (existsSync(path.join(REPO_DIR, 'man/numadvisor.8'))) expect(files).toContain('/usr/share/man/man8/numadvisor.8.gz');
    expect(files.filter((f) => f.includes('/node_modules/highs'))).toEqual([]);
    expect(files.filter((f) => f.startsWith('/usr/lib/numadvisor/dist/') && f.endsWith('.map'))).toEqual([]);
    // Every link of the README to docs/ is a file the package installs.
    const readme = readFileSync(path.join(REPO_DIR, 'README.md'), 'utf8');
    for (const [, doc] of readme.matchAll(/`(docs\/[\w.-]+\.md)`/g)) expect(files, doc).toContain(`/usr/share/doc/numadvisor/${doc}`);
    expect(execFileSync('dpkg-deb', ['-I', deb, 'conffiles'], { encoding: 'utf8' }).trim().split('\n')).toEqual(['/etc/default/numadvisor', '/etc/logrotate.d/numadvisor']);
  });

  it('installs with dpkg -i, diverts numad, answers numad -w, reads /etc/default/numadvisor, and purges to the host as it was', async () => {
    const before = diversions(ns);
    expect(before).toBe(hostBefore.diversions);
    const install = ns('dpkg', ['-i', deb]);
    expect(install.status, install.stderr + install.stdout).toBe(0);

    // Debian's numad moved aside, byte for byte; ours in its place, compiled for the installed paths.
    expect(ns('dpkg-divert', ['--list', '/usr/bin/numad']).stdout).toContain('diversion of /usr/bin/numad to /usr/bin/numad.distrib by numadvisor');
    if (hostBefore.numad !== 'absent') expect(sha256(inNs('/usr/bin/numad.distrib'))).toBe(hostBefore.numad);
    const front = readFileSync(inNs('/usr/bin/numad'));
    expect(front.includes('/usr/lib/numadvisor/dist/cli/numad-entry.js')).toBe(true);
    expect(front.includes(REPO_DIR)).toBe(false);
    expect(readFileSync(inNs('/usr/bin/numadvisor'), 'utf8')).toMatch(/^exec \/usr\/bin\/node .*\/usr\/lib\/numadvisor\/dist\/cli\/numadvisor-entry\.js "\$@"$/m);
    expect(readFileSync(inNs('/usr/lib/systemd/system/numadvisor.service'), 'utf8')).toMatch(/^EnvironmentFile=-\/etc\/default\/numadvisor$/m);

    // libvirt's call, no daemon running: the Node.js client of the package answers locally.
    const local = ns('/usr/bin/numad', ['-w', '2:1024']);
    expect(local.stdout, local.stderr).toMatch(/^\d+([-,]\d+)*\n$/);

    // The unit passes systemd's own checks once its command exists.
    const verify = ns('systemd-analyze', ['verify', '/usr/lib/systemd/system/numadvisor.service']);
    const complaints = verify.stderr.split('\n').filter((l) => l.trim() !== '' && !(/man numadvisor/.test(l) && !existsSync(path.join(REPO_DIR, 'man/numadvisor.8'))));
    expect(complaints).toEqual([]);

    // `numadvisor simulate` needs highs, which the package leaves out: a coded error says so.
    const sim = ns('/usr/bin/numadvisor', ['simulate', 'dbench']);
    expect(sim.status).toBe(1);
    expect(sim.stderr).toMatch(/NUMADVISOR_ERR_NOT_INSTALLED: numadvisor simulate needs the npm package highs/);

    // The installed daemon reads the conffile: its socket and policy from there, the rest as the unit would run it.
    const sock = path.join(t.dir, 'd.sock');
    appendFileSync(inNs('/etc/default/numadvisor'), `NUMADVISOR_SOCKET=${sock}\nNUMADVISOR_POLICY=numad\nNUMADVISOR_LIBVIRT=none\n`);
    const daemon = spawn('nsenter', ['-t', String(pid), '-m', '--', '/usr/bin/numadvisor', 'daemon'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let daemonErr = '';
    daemon.stderr?.on('data', (c: Buffer) => (daemonErr += c.toString()));
    try {
      for (let i = 0; i < 300 && !existsSync(sock); i++) await sleep(100);
      expect(existsSync(sock), daemonErr).toBe(true);
      const advice = await new Promise<string>((resolve, reject) => {
        const req = request({ socketPath: sock, path: '/v1/advice?cpus=2&mem=1024&reserve=false' }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve(body));
        });
        req.on('error', reject);
        req.end();
      });
      expect(JSON.parse(advice)).toMatchObject({ policy: 'numad' });
      const answered = ns('/usr/bin/numad', ['-w', '2:1024'], { NUMADVISOR_SOCKET: sock });
      expect(answered.stdout, answered.stderr).toMatch(/^\d+([-,]\d+)*\n$/);
    } finally {
      daemon.kill('SIGTERM');
      await new Promise((resolve) => (daemon.exitCode !== null ? resolve(undefined) : daemon.once('exit', resolve)));
    }
    // A key the daemon does not know stops it, naming the file and the line.
    const lines = readFileSync(inNs('/etc/default/numadvisor'), 'utf8').split('\n').length;
    appendFileSync(inNs('/etc/default/numadvisor'), 'NUMADVISOR_SOKET=/tmp/x\n');
    const bad = ns('/usr/bin/numadvisor', ['daemon']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(`NUMADVISOR_ERR_CONFIG: /etc/default/numadvisor:${lines}: unknown key NUMADVISOR_SOKET`);

    const purge = ns('dpkg', ['--purge', 'numadvisor']);
    expect(purge.status, purge.stderr + purge.stdout).toBe(0);
    expect(diversions(ns)).toBe(before);
    expect(existsSync(inNs('/usr/bin/numad.distrib'))).toBe(false);
    if (hostBefore.numad !== 'absent') expect(sha256(inNs('/usr/bin/numad'))).toBe(hostBefore.numad);
    // The purge deletes the state directory (the spool of the local answer above, the daemon's journal), also when
    // the host had one before the package (from `make install` or `make run`): it is the package's by its path.
    expect(existsSync(inNs('/var/lib/numadvisor'))).toBe(false);
    // Nothing else left: every file the overlays hold after the purge is dpkg's record or identical to the host's.
    const leftovers: string[] = [];
    const walk = (rel: string): void => {
      const upper = path.join(t.dir, 'upper', rel);
      for (const name of readdirSync(upper)) {
        const r = path.join(rel, name);
        if (DPKG_RECORDS.test(r) || r === 'var/lib/numadvisor') continue;
        const st = lstatSync(path.join(upper, name));
        const host = `/${r}`;
        if (st.isDirectory()) {
          if (!existsSync(host)) leftovers.push(`${host}/ (new directory)`);
          else walk(r);
        } else if (st.isCharacterDevice()) {
          leftovers.push(`${host} (removed from the host's tree)`);
        } else if (!existsSync(host) || (st.isFile() && sha256(path.join(upper, name)) !== sha256(host))) {
          leftovers.push(`${host} (${existsSync(host) ? 'changed' : 'new'})`);
        }
      }
    };
    for (const d of OVERLAID) walk(d);
    expect(leftovers).toEqual([]);
  }, 240_000);
});
