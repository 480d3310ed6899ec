// A real unprivileged user for tests that need one (permission errors on the daemon's 0660 root socket cannot be
// seen as root, which bypasses them). Tests run as root; the system user is created once, without a home, and kept.
import { execFileSync, spawn } from 'node:child_process';
import type { Run } from './run.js';

export const TEST_USER = 'numadvisor-test';

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
}

function lookup(): TestUser | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', TEST_USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const gid = Number(execFileSync('id', ['-g', TEST_USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { name: TEST_USER, uid, gid };
  } catch {
    return undefined;
  }
}

/** The test user, created if missing; or why there is none (then the caller skips). */
export function testUser(): TestUser | string {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'needs root (to create a user and run as it)';
  const found = lookup();
  if (found) return found;
  try {
    execFileSync('useradd', ['-r', '-M', '-s', '/usr/sbin/nologin', TEST_USER], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    // Another test file may have created it meanwhile: only a user that still does not exist is a failure.
    if (!lookup()) return `useradd ${TEST_USER} failed: ${(err as Error).message}`;
  }
  return lookup() ?? `${TEST_USER} does not exist after useradd`;
}

/**
 * Run a Node.js entry (or an executable) as `user` with exactly `env` (no root HOME or XDG variables leak in), and
 * kill it after `timeoutMs`: a hung command then shows as code null instead of hanging the test.
 */
export function runAs(user: TestUser, file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 20_000): Promise<Run> {
  const [cmd, argv] = file.endsWith('.js') ? [process.execPath, [file, ...args]] : [file, args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { uid: user.uid, gid: user.gid, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
