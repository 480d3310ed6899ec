// Where the daemon and its clients meet. Root uses the system locations. Anyone else uses the XDG base directories:
// the socket and the pid file in $XDG_RUNTIME_DIR/numadvisor (the per-user runtime directory logind creates 0700
// and removes at logout: what a socket and a pid file are for), state and logs in $XDG_STATE_HOME/numadvisor
// (default ~/.local/state/numadvisor). Never the working directory: with ./run/ a daemon started in one directory
// was invisible to a `numad` run from another, and run from / it meant the system's /run.
// Precedence, per path: an option (--socket …) over the NUMADVISOR_* variable over these defaults.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { stateError } from '../errors.js';

export const currentUid = (): number | undefined => (typeof process.getuid === 'function' ? process.getuid() : undefined);
export const isRoot = (): boolean => currentUid() === 0;

export interface Paths {
  socket: string;
  stateDir: string;
  numadLog: string;
  /** numad's pid file, for init scripts (`start-stop-daemon --pidfile /var/run/numad.pid`). */
  pidFile: string;
  /** the background daemon's structured (pino) log */
  daemonLog: string;
}

/** root's paths: numad's own log and pid file, so init scripts, logrotate and log tailers find them where numad's were. */
export const SYSTEM_PATHS: Readonly<Paths> = Object.freeze({
  socket: '/run/numadvisor/numadvisor.sock',
  stateDir: '/var/lib/numadvisor',
  numadLog: '/var/log/numad.log',
  pidFile: '/var/run/numad.pid',
  daemonLog: '/var/log/numadvisor.log',
});

export const PATH_ENV: Readonly<Record<keyof Paths, string>> = Object.freeze({
  socket: 'NUMADVISOR_SOCKET',
  stateDir: 'NUMADVISOR_STATE_DIR',
  numadLog: 'NUMADVISOR_LOG_FILE',
  pidFile: 'NUMADVISOR_PID_FILE',
  daemonLog: 'NUMADVISOR_DAEMON_LOG',
});

/** The XDG spec: a relative value is invalid and is to be ignored. */
const absolute = (value: string | undefined): string | undefined => (value && path.isAbsolute(value) ? value : undefined);

/**
 * The paths for this user, with `overrides` (options given on the command line) and the NUMADVISOR_* variables
 * taking precedence. For a non-root user without $XDG_RUNTIME_DIR (su, cron, a container) there is no private place
 * for a socket: that is refused with a coded error naming what to set, unless the socket is given, in which case the
 * pid file goes beside it. Likewise the state directory when neither $XDG_STATE_HOME nor $HOME is set; the logs go
 * where the state goes.
 */
export function resolvePaths(env: NodeJS.ProcessEnv, overrides: Partial<Paths> = {}, uid = currentUid()): Paths {
  const given = (key: keyof Paths): string | undefined => overrides[key] || env[PATH_ENV[key]] || undefined;
  if (uid === 0) {
    return {
      socket: given('socket') ?? SYSTEM_PATHS.socket,
      stateDir: given('stateDir') ?? SYSTEM_PATHS.stateDir,
      numadLog: given('numadLog') ?? SYSTEM_PATHS.numadLog,
      pidFile: given('pidFile') ?? SYSTEM_PATHS.pidFile,
      daemonLog: given('daemonLog') ?? SYSTEM_PATHS.daemonLog,
    };
  }
  const runtime = absolute(env.XDG_RUNTIME_DIR);
  const runDir = runtime === undefined ? undefined : path.join(runtime, 'numadvisor');
  const home = absolute(env.HOME);
  const stateHome = absolute(env.XDG_STATE_HOME) ?? (home === undefined ? undefined : path.join(home, '.local', 'state'));
  const socket = given('socket') ?? (runDir === undefined ? undefined : path.join(runDir, 'numadvisor.sock'));
  const stateDir = given('stateDir') ?? (stateHome === undefined ? undefined : path.join(stateHome, 'numadvisor'));
  const problems: string[] = [];
  if (socket === undefined) {
    problems.push(
      'XDG_RUNTIME_DIR is not set (or not absolute), so a non-root user has no private place for the socket and pid file; ' +
        'set it (a login through systemd-logind does), or name the socket with NUMADVISOR_SOCKET or --socket',
    );
  }
  if (stateDir === undefined) {
    problems.push('neither XDG_STATE_HOME nor HOME is set, so there is no place for state and logs; name it with NUMADVISOR_STATE_DIR or --state-dir');
  }
  if (socket === undefined || stateDir === undefined) throw stateError(problems.join('; '));
  return {
    socket,
    stateDir,
    numadLog: given('numadLog') ?? path.join(stateDir, 'numad.log'),
    pidFile: given('pidFile') ?? path.join(runDir ?? path.dirname(socket), 'numad.pid'),
    daemonLog: given('daemonLog') ?? path.join(stateDir, 'numadvisor.log'),
  };
}

/** The defaults for this user and environment, with no options given (see resolvePaths). */
export function defaultPaths(env: NodeJS.ProcessEnv = process.env, uid = currentUid()): Paths {
  return resolvePaths(env, {}, uid);
}

/**
 * Create the directory a file of ours goes in, 0700 as the XDG spec asks for a missing one: a fresh user has no
 * ~/.local/state/numadvisor, and `numad -w` opens its log before anything else would create it (it then wrote
 * "Cannot open numad log file" and its lines to stderr). Failure is left to whoever opens the file to report.
 */
export function ensureParentDir(file: string): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  } catch {
    // reported by the open that needs it
  }
}
