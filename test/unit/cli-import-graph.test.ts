// What each command loads. `numad -w` is on libvirt's path with the domain locked, and zod alone costs ~100 ms to
// import; `numadvisor version` and `help` took 1-1.5 s when numadvisor-main imported every command's dependencies
// (fastify, zod, pino, the simulator). Each command below runs from the sources in a child node whose module loader
// records every module it resolves, so an `import { z } from 'zod'` added anywhere on these paths (directly or
// through any module they import) fails here. No timings: those belong to the benchmarks.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixture, REPO_DIR, tempDir } from '../helpers/fixtures.js';

/** Resolve hooks (on the loader's thread) appending each resolved URL to the file named by RECORD_ENV. */
const RECORD_ENV = 'NUMADVISOR_TEST_IMPORT_RECORD';
const HOOKS = `
import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  appendFileSync(process.env.${RECORD_ENV}, result.url + '\\n');
  return result;
}`;
const REGISTER = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)});`;
const HEAVY = /\/node_modules\/(zod|fastify|pino|highs|prom-client)\//;

const t = tempDir('numadvisor-imports-');
afterAll(t.cleanup);
let runs = 0;

/** The modules `node <entry> ...args` resolves, run from src/ through tsx (no build needed). */
function modulesLoadedBy(entry: string, args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stderr: string; modules: string[] } {
  const record = path.join(t.dir, `record-${runs++}.txt`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', `data:text/javascript,${encodeURIComponent(REGISTER)}`, path.join(REPO_DIR, entry), ...args], {
    cwd: REPO_DIR,
    encoding: 'utf8',
    env: { ...process.env, ...env, [RECORD_ENV]: record },
    timeout: 60_000,
  });
  const modules = readFileSync(record, 'utf8').split('\n').filter(Boolean);
  return { code: r.status, stderr: r.stderr, modules };
}

const heavy = (modules: string[]): string[] => [...new Set(modules.filter((m) => HEAVY.test(m) || m.includes('/src/server/')).map((m) => m.replace(/^.*\/(node_modules|src)\//, '$1/')))];

describe('what each command path loads', () => {
  it('the recorder sees zod where it is loaded (`numadvisor schemas`), so the checks below can fail', () => {
    const r = modulesLoadedBy('src/cli/numadvisor-entry.ts', ['schemas', '--check', path.join(t.dir, 'no-such-dir')]);
    expect(r.modules.some((m) => m.includes('/node_modules/zod/'))).toBe(true);
  });

  it.each([['version'], ['help'], ['--version']])('numadvisor %s loads no zod, fastify, pino or server module', (command) => {
    const r = modulesLoadedBy('src/cli/numadvisor-entry.ts', [command]);
    expect(r.code).toBe(0);
    expect(r.modules.some((m) => m.endsWith('/src/cli/numadvisor-main.ts'))).toBe(true);
    expect(heavy(r.modules)).toEqual([]);
  });

  it.each([['daemon'], ['status'], ['simulate'], ['schemas']])('numadvisor %s --help loads no zod, fastify, pino, highs or server module', (command) => {
    const r = modulesLoadedBy('src/cli/numadvisor-entry.ts', [command, '--help']);
    expect(r.code).toBe(0);
    expect(r.modules.some((m) => m.endsWith('/src/cli/command-options.ts'))).toBe(true);
    expect(heavy(r.modules)).toEqual([]);
  });

  it('numad -V loads no zod, fastify, pino or server module (the whole static graph of numad-entry)', () => {
    const r = modulesLoadedBy('src/cli/numad-entry.ts', ['-V']);
    expect(r.code).toBe(0);
    expect(r.modules.some((m) => m.endsWith('/src/cli/numad-main.ts'))).toBe(true);
    expect(heavy(r.modules)).toEqual([]);
  });

  it('numad -w answered locally (no daemon) loads no zod, fastify, pino or server module', () => {
    const r = modulesLoadedBy('src/cli/numad-entry.ts', ['-w', '2:1024'], {
      NUMADVISOR_FSROOT: fixture('2node-2s12c24t'),
      NUMADVISOR_SOCKET: path.join(t.dir, 'no-daemon.sock'),
      NUMADVISOR_STATE_DIR: path.join(t.dir, 'state'),
      NUMADVISOR_LOG_FILE: path.join(t.dir, 'numad.log'),
      NUMADVISOR_PID_FILE: path.join(t.dir, 'numad.pid'),
    });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.modules.some((m) => m.endsWith('/src/cli/local-advice.ts'))).toBe(true);
    expect(heavy(r.modules)).toEqual([]);
  });
});
