// `make install` / `make uninstall` into a staging root: the real recipe, with dpkg-divert working on the staging
// root's own database (--root), so the host's /usr/bin/numad is never touched. `-o build`: the tree is built
// already (make test builds first), and rebuilding dist/ here would race the other test files reading it.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_DIR, tempDir } from '../helpers/fixtures.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { run } from '../helpers/run.js';
import { REAL_NUMAD } from '../helpers/real-numad.js';

const hasDpkg = existsSync('/usr/bin/dpkg-divert');

describe.skipIf(!hasDpkg)('make install / uninstall (staging root)', () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const stage = path.join(t.dir, 'root');
  const make = (target: string): string =>
    execFileSync('make', ['-s', '-C', REPO_DIR, '-o', 'build', target, `DESTDIR=${stage}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  it('diverts the distribution numad, installs ours at /usr/bin/numad, and uninstall restores it byte for byte', async () => {
    mkdirSync(path.join(stage, 'var/lib/dpkg'), { recursive: true });
    mkdirSync(path.join(stage, 'usr/bin'), { recursive: true });
    writeFileSync(path.join(stage, 'var/lib/dpkg/diversions'), '');
    const distro = path.join(stage, 'usr/bin/numad');
    if (existsSync(REAL_NUMAD)) copyFileSync(REAL_NUMAD, distro);
    else writeFileSync(distro, '#!/bin/sh\necho distro numad\n', { mode: 0o755 });
    const original = readFileSync(distro);

    make('install');
    expect(readFileSync(path.join(stage, 'usr/bin/numad.distrib'))).toEqual(original);
    expect(readFileSync(path.join(stage, 'var/lib/dpkg/diversions'), 'utf8')).toBe('/usr/bin/numad\n/usr/bin/numad.distrib\nnumadvisor\n');
    const unit = readFileSync(path.join(stage, 'etc/systemd/system/numadvisor.service'), 'utf8');
    // Settings come from /etc/default/numadvisor (the daemon reads it too); the pid file lives in the runtime
    // directory, the one part of /run the sandbox leaves writable (test/integration/unit-hardening.test.ts).
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/numadvisor daemon$/m);
    expect(unit).toMatch(/^Environment=NUMADVISOR_PID_FILE=\/run\/numadvisor\/numad\.pid$/m);
    expect(unit).toContain('Documentation=man:numadvisor(8) man:numadvisor-numad(8) file:/usr/lib/numadvisor/README.md');
    expect(unit).not.toMatch(/@[A-Z_]+@/);
    // Rotation by rename + SIGHUP: copytruncate lost lines (issue #12 F18, test/integration/logrotate.test.ts).
    const rotation = readFileSync(path.join(stage, 'etc/logrotate.d/numadvisor'), 'utf8');
    expect(rotation).not.toMatch(/^\s*copytruncate/m);
    expect(rotation).toMatch(/postrotate[\s\S]*kill -HUP[\s\S]*endscript/);
    expect(readFileSync(path.join(stage, 'usr/bin/numadvisor'), 'utf8')).toContain('/usr/lib/numadvisor/dist/cli/numadvisor-entry.js');

    // The installed tree runs with production dependencies only.
    const v = await run(path.join(stage, 'usr/lib/numadvisor/dist/cli/numadvisor-entry.js'), ['version']);
    expect(v).toMatchObject({ code: 0, stdout: expect.stringMatching(/^numadvisor \d/) });
    // The installed /usr/bin/numad answers libvirt's call from a daemon.
    const d = await startTestDaemon(t.dir, '2node-2s12c24t');
    try {
      const r = await run(distro, ['-w', '4:2048'], { NUMADVISOR_SOCKET: d.app.server.address() as string });
      expect(r).toEqual({ code: 0, stdout: expect.stringMatching(/^[01]\n$/), stderr: '' });
    } finally {
      await d.close();
    }

    make('uninstall');
    expect(readFileSync(distro)).toEqual(original);
    expect(existsSync(path.join(stage, 'usr/bin/numad.distrib'))).toBe(false);
    expect(existsSync(path.join(stage, 'usr/lib/numadvisor'))).toBe(false);
    expect(existsSync(path.join(stage, 'usr/bin/numadvisor'))).toBe(false);
    expect(readFileSync(path.join(stage, 'var/lib/dpkg/diversions'), 'utf8')).toBe('');
    expect(spawnSync('find', [path.join(stage, 'etc'), '-type', 'f'], { encoding: 'utf8' }).stdout).toBe('');
  }, 180_000);
});
