// The daemon as a real process (`node dist/cli/numadvisor-entry.js daemon …`), for tests that kill it, restart it on
// the same state dir, or trace it: an in-process daemon cannot be SIGKILLed or straced without taking vitest along.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fixture, REPO_DIR } from './fixtures.js';

export const NUMADVISOR_ENTRY = path.join(REPO_DIR, 'dist/cli/numadvisor-entry.js');

export interface DaemonProcessOptions {
  /** fixture host (a name under test/fixtures) */
  fixture: string;
  socket: string;
  stateDir: string;
  logFile: string;
  /** further `numadvisor daemon` arguments (default `--libvirt none`) */
  args?: string[];
  /**
   * Start stopped (SIGSTOP before exec): the pid is known and nothing has run yet, so a tracer can attach before the
   * daemon's first syscall; `resume()` lets it go.
   */
  startStopped?: boolean;
  /** added to the daemon's environment */
  env?: Record<string, string>;
}

export interface DaemonProcess {
  pid: number;
  child: ChildProcess;
  socket: string;
  stateDir: string;
  /** what the daemon printed (the last 256 KiB of each stream) */
  stdout(): string;
  stderr(): string;
  alive(): boolean;
  /** resolves with how it ended */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  resume(): void;
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const KEEP = 256 * 1024;

export function spawnDaemon(o: DaemonProcessOptions): DaemonProcess {
  if (!existsSync(NUMADVISOR_ENTRY)) throw new Error(`${NUMADVISOR_ENTRY} is missing: run \`make build\` first`);
  const daemonArgs = [
    NUMADVISOR_ENTRY,
    'daemon',
    '--fsroot', fixture(o.fixture),
    '--socket', o.socket,
    '--state-dir', o.stateDir,
    '--log-file', o.logFile,
    ...(o.args ?? ['--libvirt', 'none']),
  ];
  const spawnOptions = { stdio: ['ignore', 'pipe', 'pipe'] as ('ignore' | 'pipe')[], env: { ...process.env, ...o.env } };
  const child = o.startStopped
    ? spawn('sh', ['-c', 'kill -STOP $$; exec "$@"', 'sh', process.execPath, ...daemonArgs], spawnOptions)
    : spawn(process.execPath, daemonArgs, spawnOptions);
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => {
    out = (out + c.toString()).slice(-KEEP);
  });
  child.stderr?.on('data', (c: Buffer) => {
    err = (err + c.toString()).slice(-KEEP);
  });
  let done: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      done = { code, signal };
      resolve(done);
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the daemon');
  return {
    pid,
    child,
    socket: o.socket,
    stateDir: o.stateDir,
    stdout: () => out,
    stderr: () => err,
    alive: () => done === undefined,
    exited,
    resume: () => {
      process.kill(pid, 'SIGCONT');
    },
    kill: async (signal = 'SIGKILL') => {
      if (done) return done;
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
      return exited;
    },
  };
}

/** The process state letter from /proc/PID/stat ('T' when stopped). */
export function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** GET on the socket with a deadline; undefined when nothing answered. */
export function getJson(socketPath: string, urlPath: string, timeoutMs = 2000): Promise<{ status: number; body: unknown } | undefined> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath, path: urlPath, method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => resolve(undefined));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** Waits until the daemon answers /healthz (or fails with what it printed when it exits or the deadline passes). */
export async function waitHealthy(d: DaemonProcess, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!d.alive()) throw new Error(`the daemon exited while starting:\n${d.stderr().slice(-4000)}\n${d.stdout().slice(-4000)}`);
    const r = await getJson(d.socket, '/healthz', 1000);
    if (r?.status === 200) return;
    await sleep(25);
  }
  throw new Error(`the daemon did not answer /healthz in ${ms} ms:\n${d.stderr().slice(-4000)}`);
}
