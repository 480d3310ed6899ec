// numadvisor.service's sandbox, scored by systemd itself: `systemd-analyze security --offline=yes` on the unit as
// `make install` and `make deb` fill it in. Before the hardening (issue #15) it scored 9.6 UNSAFE; the sandbox must
// keep what the daemon's job needs (docs/install.md, "The unit's sandbox"), which this test pins down too.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_DIR, tempDir } from '../helpers/fixtures.js';

const ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasMoveTools = ['/usr/bin/setpriv', '/usr/bin/taskset', '/usr/bin/migratepages'].every((p) => existsSync(p));
/** The highest exposure (0 safest, 10 unsafe) the unit may score; systemd calls below 4.0 "OK". */
const MAX_EXPOSURE = 4.0;

describe.skipIf(ANALYZE === undefined)('numadvisor.service hardening', () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const unit = path.join(t.dir, 'numadvisor.service');
  const text = readFileSync(path.join(REPO_DIR, 'src/install/numadvisor.service'), 'utf8')
    .replaceAll('@BINDIR@', '/usr/bin')
    .replaceAll('@DOCDIR@', '/usr/share/doc/numadvisor');
  writeFileSync(unit, text);
  const settings = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) settings.set(m[1], [...(settings.get(m[1]) ?? []), m[2]]);
  }
  const one = (key: string): string | undefined => settings.get(key)?.at(-1);

  it(`scores below ${MAX_EXPOSURE} with systemd-analyze security --offline=yes`, () => {
    const r = spawnSync(ANALYZE ?? 'systemd-analyze', ['security', '--offline=yes', '--no-pager', unit], { encoding: 'utf8' });
    const m = /Overall exposure level for numadvisor\.service: (\d+\.\d) (\w+)/.exec(r.stdout + r.stderr);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    const score = Number(m?.[1]);
    console.info(`numadvisor.service: exposure ${score} ${m?.[2]} (was 9.6 UNSAFE before the hardening)`);
    expect(score).toBeLessThan(MAX_EXPOSURE);
  });

  it('has the settings the issue asks for', () => {
    expect(one('Type')).toBe('notify');
    expect(one('NotifyAccess')).toBe('main');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('ProtectHome')).toBe('yes');
    expect(one('PrivateTmp')).toBe('yes');
    expect(one('PrivateDevices')).toBe('yes');
    expect(one('UMask')).toBe('0027');
    expect(one('CapabilityBoundingSet')?.split(/\s+/).sort()).toEqual(['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_SYS_NICE', 'CAP_SYS_PTRACE']);
    expect(one('RestrictAddressFamilies')).toBe('AF_UNIX AF_INET AF_INET6');
    expect(settings.get('SystemCallFilter')?.[0]).toBe('@system-service');
    expect(one('EnvironmentFile')).toBe('-/etc/default/numadvisor');
  });

  it('leaves the daemon what its job needs', () => {
    // Its own places writable: state (journal), runtime (socket, pid file), /var/log (numad.log, renamed by logrotate).
    expect(one('StateDirectory')).toBe('numadvisor');
    expect(one('RuntimeDirectory')).toBe('numadvisor');
    expect(settings.get('ReadWritePaths')).toContain('/var/log');
    expect(one('Environment')).toBe('NUMADVISOR_PID_FILE=/run/numadvisor/numad.pid');
    // Other users' processes stay visible (QEMU runs as libvirt-qemu), and /proc/stat and meminfo readable.
    expect(settings.has('ProtectProc')).toBe(false);
    expect(settings.has('ProcSubset')).toBe(false);
    // numad's -H writes khugepaged's scan interval: /sys read-only except that directory.
    expect(one('ProtectKernelTunables')).toBe('no');
    expect(settings.get('ReadWritePaths')).toContain('-/sys/kernel/mm/transparent_hugepage/khugepaged');
    // V8's JIT; --tcp-port on loopback.
    expect(settings.has('MemoryDenyWriteExecute')).toBe(false);
    expect(one('PrivateNetwork')).toBeUndefined();
    // migratepages and taskset: their system calls are in @system-service (@resources), not removed after it.
    const filters = execFileSync(ANALYZE ?? 'systemd-analyze', ['syscall-filter', '@resources', '--no-pager'], { encoding: 'utf8' });
    for (const call of ['migrate_pages', 'move_pages', 'sched_setaffinity', 'mbind']) expect(filters).toMatch(new RegExp(`^\\s+${call}$`, 'm'));
    expect(settings.get('SystemCallFilter')?.slice(1).join(' ')).not.toMatch(/@resources|@system-service/);
  });

  // The capability set, applied with setpriv as systemd applies it (bounding set, no new privileges), against a
  // process of another user, as QEMU is: the daemon's reads and moves work with it, and each capability is needed.
  it.skipIf(!isRoot || !hasMoveTools)('its capabilities let it read and move another user\'s process, and each one is needed', async () => {
    const caps = (one('CapabilityBoundingSet') ?? '').split(/\s+/).map((c) => c.replace(/^CAP_/, '').toLowerCase());
    const other = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sleep', '60'], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const target = String(other.pid);
      const as = (keep: string[], cmd: string, ...args: string[]): number | null =>
        spawnSync('setpriv', ['--bounding-set', ['-all', ...keep.map((c) => `+${c}`)].join(','), '--inh-caps=-all', '--no-new-privs', '--', cmd, ...args], { stdio: 'ignore' }).status;
      const without = (cap: string): string[] => caps.filter((c) => c !== cap);
      expect(as(caps, 'cat', `/proc/${target}/numa_maps`)).toBe(0);
      expect(as(caps, 'taskset', '-p', '-c', '0', target)).toBe(0);
      expect(as(caps, 'migratepages', target, '0', '0')).toBe(0);
      expect(as(without('sys_ptrace'), 'cat', `/proc/${target}/numa_maps`)).not.toBe(0);
      expect(as(without('sys_nice'), 'taskset', '-p', '-c', '0', target)).not.toBe(0);
    } finally {
      other.kill('SIGKILL');
    }
  });
});
