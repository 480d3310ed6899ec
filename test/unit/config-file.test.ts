// The daemon's configuration file (/etc/default/numadvisor; src/config/config-file.ts): its format, its errors, its
// place between the command line, the environment and the defaults, and the shipped file documenting every key.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_FILE_ENV, keyForOption, parseConfigFile } from '../../src/config/config-file.js';
import { CONFIG_FILE_KEYS, daemonConfigFromArgs, loadDaemonConfigFile } from '../../src/config/daemon-config.js';
import { NumadvisorError, UsageError } from '../../src/errors.js';
import { REPO_DIR } from '../helpers/fixtures.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'numadvisor-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const env = { XDG_RUNTIME_DIR: '/run/user/1000', HOME: '/home/u' };
const base = ['--libvirt', 'none', '--socket', '/tmp/nv/s.sock', '--state-dir', '/tmp/nv/state'];

describe('the file format', () => {
  const known = new Set(['NUMADVISOR_A', 'NUMADVISOR_B', 'NUMADVISOR_C']);
  it('reads KEY=value, quoted values, comments and blank lines; an empty value is kept as empty', () => {
    const f = parseConfigFile('/f', '# comment\n\n  NUMADVISOR_A=1\nNUMADVISOR_B="x y"\nNUMADVISOR_C=\'z\'\n', known);
    expect(Object.fromEntries([...f.entries].map(([k, v]) => [k, v]))).toEqual({
      NUMADVISOR_A: { value: '1', line: 3 },
      NUMADVISOR_B: { value: 'x y', line: 4 },
      NUMADVISOR_C: { value: 'z', line: 5 },
    });
    expect(parseConfigFile('/f', 'NUMADVISOR_A=\nNUMADVISOR_A=2\n', known).entries.get('NUMADVISOR_A')).toEqual({ value: '2', line: 2 });
  });

  it.each([
    ['NUMADVISOR_D=1', /^\/f:1: unknown key NUMADVISOR_D; known: NUMADVISOR_A, NUMADVISOR_B, NUMADVISOR_C$/],
    ['just words', /^\/f:1: expected KEY=value/],
    ['=1', /^\/f:1: expected KEY=value/],
    ['export NUMADVISOR_A=1', /^\/f:1: "export NUMADVISOR_A" is not a variable name/],
    ['NUMADVISOR_A="open', /^\/f:1: NUMADVISOR_A: the quote does not close/],
    ['NUMADVISOR_A=a b', /^\/f:1: NUMADVISOR_A: quote a value with spaces/],
    ['NUMADVISOR_A=$HOME', /^\/f:1: NUMADVISOR_A: quote a value with spaces, and use no quotes, \$/],
    ['NUMADVISOR_A="$HOME"', /^\/f:1: NUMADVISOR_A: no quotes, \$/],
  ])('%s is refused with the file and line', (text, message) => {
    let thrown: unknown;
    try {
      parseConfigFile('/f', text, known);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(NumadvisorError);
    expect(thrown).not.toBeInstanceOf(UsageError);
    expect((thrown as NumadvisorError).code).toBe('NUMADVISOR_ERR_CONFIG');
    expect((thrown as Error).message).toMatch(message);
  });

  it('names each option NUMADVISOR_ and the option in capitals; numad\'s letters are spelled out', () => {
    expect(keyForOption('socket-group')).toBe('NUMADVISOR_SOCKET_GROUP');
    expect(keyForOption('memory-guard-headroom-mib')).toBe('NUMADVISOR_MEMORY_GUARD_HEADROOM_MIB');
    expect([keyForOption('C'), keyForOption('t'), keyForOption('R')]).toEqual(['NUMADVISOR_INACTIVE_FILE_IS_FREE', 'NUMADVISOR_HT_PERCENT', 'NUMADVISOR_RESERVED_CPUS']);
    // The variables the paths module has always read are the same names.
    for (const k of ['NUMADVISOR_SOCKET', 'NUMADVISOR_STATE_DIR', 'NUMADVISOR_LOG_FILE', 'NUMADVISOR_PID_FILE', 'NUMADVISOR_DAEMON_LOG', 'NUMADVISOR_FSROOT', 'NUMADVISOR_LIBVIRT', 'NUMADVISOR_LIBVIRT_SOCKET', 'NUMADVISOR_MEMORY_GUARD', 'NUMADVISOR_MEMORY_GUARD_HEADROOM_MIB']) {
      expect(CONFIG_FILE_KEYS.has(k), k).toBe(true);
    }
    expect(CONFIG_FILE_KEYS.has('NUMADVISOR_CONFIG')).toBe(false);
  });
});

describe('numadvisor daemon with a configuration file', () => {
  it('takes settings from the file; the environment beats the file and an option beats both', async () => {
    const f = file('a', 'NUMADVISOR_POLICY=numad\nNUMADVISOR_RESERVATION_TTL=60\nNUMADVISOR_SOCKET_GROUP=libvirt\nNUMADVISOR_HT_PERCENT=30\nNUMADVISOR_APPLY="processes,domains"\n');
    const c = await daemonConfigFromArgs([...base, '--config', f], env);
    expect(c).toMatchObject({ policy: 'numad', reservationTtlMs: 60_000, socketGroup: 'libvirt', apply: 'processes,domains' });
    expect(c.numad.htPercent).toBe(30);
    const e = await daemonConfigFromArgs([...base, '--config', f], { ...env, NUMADVISOR_RESERVATION_TTL: '90', NUMADVISOR_POLICY: '' });
    expect(e).toMatchObject({ policy: 'numad', reservationTtlMs: 90_000 });
    const o = await daemonConfigFromArgs([...base, '--config', f, '--reservation-ttl', '120', '--policy', 'numadvisor'], { ...env, NUMADVISOR_RESERVATION_TTL: '90' });
    expect(o).toMatchObject({ policy: 'numadvisor', reservationTtlMs: 120_000 });
  });

  it('a bad value from the file is NUMADVISOR_ERR_CONFIG naming the file, the line and the key; from an option, a usage error', async () => {
    const f = file('b', '# x\nNUMADVISOR_TCP_PORT=99999\n');
    await expect(daemonConfigFromArgs([...base, '--config', f], env)).rejects.toMatchObject({
      code: 'NUMADVISOR_ERR_CONFIG',
      message: `${f}:2: NUMADVISOR_TCP_PORT=99999: --tcp-port must be between 1 and 65535`,
    });
    await expect(daemonConfigFromArgs([...base, '--config', f, '--tcp-port', '0'], env)).rejects.toBeInstanceOf(UsageError);
    // A cross-option rule blames the file's line too.
    const g = file('c', 'NUMADVISOR_MEMORY_GUARD=widen\n');
    await expect(daemonConfigFromArgs([...base, '--config', g], env)).rejects.toMatchObject({ code: 'NUMADVISOR_ERR_CONFIG', message: expect.stringMatching(/:1: NUMADVISOR_MEMORY_GUARD=widen: --memory-guard widen changes domains/) });
  });

  it('reads /etc/default/numadvisor only as root; NUMADVISOR_CONFIG and --config name another file or none', () => {
    const f = file('d', 'NUMADVISOR_POLICY=numad\n');
    expect(loadDaemonConfigFile(undefined, {}, 1000)).toBeUndefined();
    expect(loadDaemonConfigFile(undefined, { [CONFIG_FILE_ENV]: f }, 1000)?.file).toBe(f);
    expect(loadDaemonConfigFile('none', { [CONFIG_FILE_ENV]: f }, 0)).toBeUndefined();
    expect(loadDaemonConfigFile(undefined, { [CONFIG_FILE_ENV]: 'none' }, 0)).toBeUndefined();
    expect(() => loadDaemonConfigFile(path.join(dir, 'absent'), {}, 0)).toThrow(/NUMADVISOR_ERR_CONFIG|absent: ENOENT/);
  });

  it('NUMADVISOR_SCAN from the file reaches the environment unless the environment has its own', async () => {
    const f = file('e', 'NUMADVISOR_SCAN=typescript\n');
    const e1: NodeJS.ProcessEnv = { ...env };
    await daemonConfigFromArgs([...base, '--config', f], e1);
    expect(e1.NUMADVISOR_SCAN).toBe('typescript');
    const e2: NodeJS.ProcessEnv = { ...env, NUMADVISOR_SCAN: 'native' };
    await daemonConfigFromArgs([...base, '--config', f], e2);
    expect(e2.NUMADVISOR_SCAN).toBe('native');
    await expect(daemonConfigFromArgs([...base, '--config', file('f', 'NUMADVISOR_SCAN=c\n')], { ...env })).rejects.toMatchObject({ code: 'NUMADVISOR_ERR_CONFIG' });
  });
});

describe('the shipped /etc/default/numadvisor (packaging/deb/numadvisor.default)', () => {
  const shipped = readFileSync(path.join(REPO_DIR, 'packaging/deb/numadvisor.default'), 'utf8');

  it('documents every key the daemon reads, and no other', () => {
    const documented = new Set([...shipped.matchAll(/^#(NUMADVISOR_[A-Z_]+)=/gm)].map((m) => m[1]));
    expect([...documented].sort()).toEqual([...CONFIG_FILE_KEYS].sort());
  });

  it('sets nothing as shipped, and every example line is accepted once uncommented', async () => {
    expect(parseConfigFile('/etc/default/numadvisor', shipped, CONFIG_FILE_KEYS).entries.size).toBe(0);
    const examples = shipped
      .split('\n')
      .filter((l) => /^#NUMADVISOR_[A-Z_]+=/.test(l))
      .map((l) => l.slice(1))
      // A running daemon's paths and an absent socket are fine to parse; only the parse and the values are checked.
      .join('\n');
    const f = file('examples', examples);
    const c = await daemonConfigFromArgs(['--config', f, '--libvirt', 'none'], { ...env }, 0);
    expect(c).toMatchObject({ socketPath: '/run/numadvisor/numadvisor.sock', stateDir: '/var/lib/numadvisor', numadLogPath: '/var/log/numad.log', pidFile: '/run/numadvisor/numad.pid', policy: 'numadvisor', apply: 'none', reservationTtlMs: 300_000, cpuAllocationRatio: 4 });
  });
});
