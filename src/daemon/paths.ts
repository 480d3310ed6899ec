// Where the daemon and its clients meet. Root uses the system locations; anyone else gets ./run/ so a developer
// can run everything without privileges. Environment variables override both (tests, several daemons at once).
import path from 'node:path';

export const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

export interface Paths {
  socket: string;
  stateDir: string;
  numadLog: string;
  /** numad's pid file, for init scripts (`start-stop-daemon --pidfile /var/run/numad.pid`). */
  pidFile: string;
  /** the background daemon's structured (pino) log */
  daemonLog: string;
}

export function defaultPaths(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Paths {
  const root = isRoot();
  const local = (p: string): string => path.resolve(cwd, 'run', p);
  return {
    socket: env.NUMADVISOR_SOCKET || (root ? '/run/numadvisor/numadvisor.sock' : local('numadvisor.sock')),
    stateDir: env.NUMADVISOR_STATE_DIR || (root ? '/var/lib/numadvisor' : local('state')),
    numadLog: env.NUMADVISOR_LOG_FILE || (root ? '/var/log/numad.log' : local('numad.log')),
    pidFile: env.NUMADVISOR_PID_FILE || (root ? '/var/run/numad.pid' : local('numad.pid')),
    daemonLog: env.NUMADVISOR_DAEMON_LOG || (root ? '/var/log/numadvisor.log' : local('numadvisor.log')),
  };
}
