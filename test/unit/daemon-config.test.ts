// The daemon's configuration module: `numadvisor daemon`'s options, what the numad command's daemon runs with, and
// the JSON hand-over to the daemon `numad` starts in the background.
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import {
  daemonConfigFromArgs,
  DAEMON_DEFAULTS,
  encodeDaemonConfig,
  libvirtConfig,
  numadDaemonConfig,
  parseApply,
  type DaemonConfig,
} from '../../src/config/daemon-config.js';
import { decodeDaemonConfig } from '../../src/config/daemon-config-schema.js';
import { UsageError } from '../../src/errors.js';
import { NUMAD_DEFAULTS } from '../../src/model/numad-settings.js';

const env = { XDG_RUNTIME_DIR: '/run/user/1000', HOME: '/home/u', NUMADVISOR_LIBVIRT: 'none' };
const paths = {
  socket: '/tmp/nv/numadvisor.sock',
  stateDir: '/tmp/nv/state',
  numadLog: '/tmp/nv/numad.log',
  pidFile: '/tmp/nv/numad.pid',
  daemonLog: '/tmp/nv/numadvisor.log',
};

describe('numadvisor daemon options', () => {
  it('defaults: advise only, numadvisor policy, 0660, ratio 4, TTL 300 s, no pid file', async () => {
    // Paths are resolved against the working directory (their defaults per user are test/unit/paths.test.ts's).
    const c = await daemonConfigFromArgs(['--libvirt', 'none', '--socket', 'rel.sock', '--state-dir', '/s', '--log-file', 'n.log'], env);
    expect(c).toEqual({
      fsRoot: '/',
      socketPath: path.resolve('rel.sock'),
      socketMode: 0o660,
      stateDir: '/s',
      numadLogPath: path.resolve('n.log'),
      numad: NUMAD_DEFAULTS,
      cpuAllocationRatio: 4,
      reservationTtlMs: 300_000,
      apply: 'none',
      policy: 'numadvisor',
      memoryGuard: { mode: 'warn', headroomMiB: 1024 },
      logLevel: 'info',
    });
  });

  it('capacity options, log levels, the structured log and the socket mode', async () => {
    const c = await daemonConfigFromArgs(
      ['--libvirt', 'none', '-C', '0', '-t', '30', '-R', '0-2', '--log-level', '7', '--pino-level', 'warn', '--daemon-log', 'd.log', '--socket-mode', '0600', '--apply', 'domains,processes'],
      env,
    );
    expect(c.numad).toEqual({ ...NUMAD_DEFAULTS, inactiveFileIsFree: false, htPercent: 30, reservedCpus: [0, 1, 2], logLevel: 7 });
    expect(c).toMatchObject({ logLevel: 'warn', daemonLogPath: path.resolve('d.log'), socketMode: 0o600, apply: 'processes,domains' });
  });

  it.each([
    [['--apply', 'everything']],
    [['--libvirt', 'libvirtd']],
    [['--cpu-allocation-ratio', '0.5']],
    [['--socket-mode', '0999']],
    [['--policy', 'random']],
    [['-t', '101']],
    [['--reservation-ttl', '0']],
    [['--memory-guard', 'on']],
    [['--memory-guard', 'widen']],
    [['--memory-guard-headroom-mib=-1']],
    [['--memory-guard-headroom-mib', '1.5']],
    [['--memory-guard-headroom-mib', '1048577']],
  ])('%j is a usage error', async (args) => {
    await expect(daemonConfigFromArgs(['--libvirt', 'none', ...args], env)).rejects.toBeInstanceOf(UsageError);
  });

  it('--memory-guard: warn by default, widen by default with --apply domains (and only then), off; the headroom in MiB', async () => {
    const guard = async (...args: string[]): Promise<DaemonConfig['memoryGuard']> => (await daemonConfigFromArgs(['--libvirt', 'none', ...args], env)).memoryGuard;
    expect(await guard()).toEqual({ mode: 'warn', headroomMiB: 1024 });
    expect(await guard('--apply', 'domains')).toEqual({ mode: 'widen', headroomMiB: 1024 });
    expect(await guard('--apply', 'processes,domains', '--memory-guard', 'warn', '--memory-guard-headroom-mib', '4096')).toEqual({ mode: 'warn', headroomMiB: 4096 });
    expect(await guard('--memory-guard', 'off', '--memory-guard-headroom-mib', '0')).toEqual({ mode: 'off', headroomMiB: 0 });
    await expect(guard('--memory-guard', 'widen')).rejects.toThrow(/--memory-guard widen .* needs --apply domains/);
  });

  it('--pin-whole-cores (or NUMADVISOR_PIN_WHOLE_CORES=yes|no): off by default', async () => {
    const base = ['--libvirt', 'none', '--socket', '/s.sock', '--state-dir', '/s'];
    expect((await daemonConfigFromArgs(base, env)).pinWholeCores).toBeUndefined();
    expect((await daemonConfigFromArgs([...base, '--pin-whole-cores'], env)).pinWholeCores).toBe(true);
    expect((await daemonConfigFromArgs(base, { ...env, NUMADVISOR_PIN_WHOLE_CORES: 'on' })).pinWholeCores).toBe(true);
    expect((await daemonConfigFromArgs(base, { ...env, NUMADVISOR_PIN_WHOLE_CORES: 'no' })).pinWholeCores).toBeUndefined();
    // The option wins over the environment, as every option does.
    expect((await daemonConfigFromArgs([...base, '--pin-whole-cores'], { ...env, NUMADVISOR_PIN_WHOLE_CORES: 'no' })).pinWholeCores).toBe(true);
    await expect(daemonConfigFromArgs(base, { ...env, NUMADVISOR_PIN_WHOLE_CORES: 'sometimes' })).rejects.toBeInstanceOf(UsageError);
  });

  it('--apply takes either order of processes,domains and spells it one way', () => {
    expect(parseApply('domains, processes')).toBe('processes,domains');
    expect(() => parseApply('processes,threads')).toThrow(UsageError);
  });

  it('--libvirt auto with a socket named connects to qemu:///system; a URI is kept; none is none', async () => {
    expect(await libvirtConfig('auto', 'l.sock', 'a, b', undefined)).toEqual({ uri: 'qemu:///system', socketPath: path.resolve('l.sock'), filter: { include: ['a', 'b'], exclude: [] } });
    expect(await libvirtConfig('qemu+ssh://h/system', undefined, undefined, 'x')).toEqual({ uri: 'qemu+ssh://h/system', filter: { include: [], exclude: ['x'] } });
    expect(await libvirtConfig('none', 'l.sock', undefined, undefined)).toBeUndefined();
  });
});

describe("the numad command's daemon", () => {
  const settings = { ...NUMAD_DEFAULTS, reservedCpus: [0, 1], scanAll: false };

  it('moves processes and domains, writes the pid file, and logs structured lines to its file in the background', async () => {
    const c = await numadDaemonConfig({ fsRoot: '/fx', paths, settings, background: true }, env);
    expect(c).toEqual({
      fsRoot: '/fx',
      socketPath: paths.socket,
      socketMode: 0o660,
      stateDir: paths.stateDir,
      numadLogPath: paths.numadLog,
      pidFile: paths.pidFile,
      numad: settings,
      cpuAllocationRatio: 4,
      reservationTtlMs: 300_000,
      policy: 'numadvisor',
      apply: DAEMON_DEFAULTS.numadApply,
      memoryGuard: { mode: 'widen', headroomMiB: 1024 },
      logLevel: 'info',
      daemonLogPath: paths.daemonLog,
    });
    expect(c.apply).toBe('processes,domains');
    // In the foreground (systemd Type=simple) the structured log is stdout.
    expect((await numadDaemonConfig({ fsRoot: '/fx', paths, settings, background: false }, env)).daemonLogPath).toBeUndefined();
  });

  it('NUMADVISOR_LIBVIRT and NUMADVISOR_LIBVIRT_SOCKET stand for --libvirt and --libvirt-socket', async () => {
    const c = await numadDaemonConfig({ fsRoot: '/', paths, settings, background: true }, { ...env, NUMADVISOR_LIBVIRT: 'qemu:///system', NUMADVISOR_LIBVIRT_SOCKET: '/tmp/l.sock' });
    expect(c.libvirt).toEqual({ uri: 'qemu:///system', socketPath: '/tmp/l.sock', filter: { include: [], exclude: [] } });
    await expect(numadDaemonConfig({ fsRoot: '/', paths, settings, background: true }, { ...env, NUMADVISOR_LIBVIRT: 'bogus' })).rejects.toBeInstanceOf(UsageError);
  });

  it('NUMADVISOR_MEMORY_GUARD and NUMADVISOR_MEMORY_GUARD_HEADROOM_MIB stand for --memory-guard and --memory-guard-headroom-mib', async () => {
    const request = { fsRoot: '/', paths, settings, background: true };
    expect((await numadDaemonConfig(request, { ...env, NUMADVISOR_MEMORY_GUARD: 'off', NUMADVISOR_MEMORY_GUARD_HEADROOM_MIB: '2048' })).memoryGuard).toEqual({ mode: 'off', headroomMiB: 2048 });
    // Empty means unset, as for NUMADVISOR_LIBVIRT_SOCKET.
    expect((await numadDaemonConfig(request, { ...env, NUMADVISOR_MEMORY_GUARD: '' })).memoryGuard).toEqual({ mode: 'widen', headroomMiB: 1024 });
    await expect(numadDaemonConfig(request, { ...env, NUMADVISOR_MEMORY_GUARD: 'loud' })).rejects.toThrow(/^NUMADVISOR_MEMORY_GUARD takes off, warn, widen/);
    await expect(numadDaemonConfig(request, { ...env, NUMADVISOR_MEMORY_GUARD_HEADROOM_MIB: '1G' })).rejects.toThrow(/^NUMADVISOR_MEMORY_GUARD_HEADROOM_MIB must be a whole number/);
  });

  it('NUMADVISOR_PIN_WHOLE_CORES stands for --pin-whole-cores; off unless set', async () => {
    const request = { fsRoot: '/', paths, settings, background: true };
    expect((await numadDaemonConfig(request, { ...env, NUMADVISOR_PIN_WHOLE_CORES: 'yes' })).pinWholeCores).toBe(true);
    expect((await numadDaemonConfig(request, { ...env, NUMADVISOR_PIN_WHOLE_CORES: '0' })).pinWholeCores).toBeUndefined();
    expect((await numadDaemonConfig(request, env)).pinWholeCores).toBeUndefined();
    await expect(numadDaemonConfig(request, { ...env, NUMADVISOR_PIN_WHOLE_CORES: 'maybe' })).rejects.toThrow(/^NUMADVISOR_PIN_WHOLE_CORES takes yes or no/);
  });

  it('is what `numadvisor daemon` builds from the same choices as options', async () => {
    const fromNumad = await numadDaemonConfig({ fsRoot: '/fx', paths, settings: { ...NUMAD_DEFAULTS, htPercent: 30 }, background: true }, env);
    const fromArgs = await daemonConfigFromArgs(
      ['--fsroot', '/fx', '--socket', paths.socket, '--state-dir', paths.stateDir, '--log-file', paths.numadLog, '--pid-file', paths.pidFile, '--daemon-log', paths.daemonLog, '--apply', 'processes,domains', '--libvirt', 'none', '-t', '30'],
      env,
    );
    expect(fromArgs).toEqual(fromNumad);
  });
});

describe('the hand-over to the background daemon (JSON in its environment)', () => {
  it('round-trips a whole configuration; the logger stays behind', async () => {
    const c: DaemonConfig = {
      ...(await numadDaemonConfig({ fsRoot: '/fx', paths, settings: { ...NUMAD_DEFAULTS, reservedCpus: [3], includePids: [42] }, background: true }, env)),
      libvirt: { uri: 'qemu:///system', socketPath: '/l.sock', filter: { include: ['web1'], exclude: [] } },
      tcpPort: 8080,
      pinWholeCores: true,
      requestDeadlines: { headersMs: 1000, requestMs: 2000 },
      logger: pino({ level: 'silent' }),
    };
    const { logger: _logger, ...plain } = c;
    expect(decodeDaemonConfig(encodeDaemonConfig(c))).toEqual(plain);
  });

  it.each([
    ['not JSON', '{', /not JSON/],
    ['a relative path', JSON.stringify({ ...baseline(), stateDir: 'state' }), /stateDir: must be an absolute path/],
    ['an unknown field', JSON.stringify({ ...baseline(), apply2: 'none' }), /apply2/],
    ['an unknown apply mode', JSON.stringify({ ...baseline(), apply: 'all' }), /apply/],
    ['an unknown memory guard mode', JSON.stringify({ ...baseline(), memoryGuard: { mode: 'loud', headroomMiB: 1024 } }), /memoryGuard\.mode/],
    ['a negative memory guard headroom', JSON.stringify({ ...baseline(), memoryGuard: { mode: 'warn', headroomMiB: -1 } }), /memoryGuard\.headroomMiB/],
    ['numad settings out of range', JSON.stringify({ ...baseline(), numad: { ...NUMAD_DEFAULTS, reservedCpus: [8192] } }), /numad\.reservedCpus/],
  ])('refuses %s', (_what, text, message) => {
    expect(() => decodeDaemonConfig(text)).toThrow(message);
  });
});

function baseline(): Omit<DaemonConfig, 'logger'> {
  return {
    fsRoot: '/',
    socketPath: paths.socket,
    socketMode: 0o660,
    stateDir: paths.stateDir,
    numadLogPath: paths.numadLog,
    numad: NUMAD_DEFAULTS,
    cpuAllocationRatio: 4,
    reservationTtlMs: 300_000,
    apply: 'none',
    logLevel: 'info',
  };
}
