// Default locations of the socket, pid file, state and logs (issue #12 F17): root gets the system paths; anyone else
// the XDG base directories, never the working directory.
import { describe, expect, it } from 'vitest';
import { defaultPaths, resolvePaths, SYSTEM_PATHS } from '../../src/config/paths.js';

const USER = 1000;

describe('default paths (issue #12 F17)', () => {
  it("F17: a non-root user's socket and pid file are under $XDG_RUNTIME_DIR, state and logs under $XDG_STATE_HOME, never ./run", () => {
    expect(defaultPaths({ XDG_RUNTIME_DIR: '/run/user/1000', XDG_STATE_HOME: '/home/u/.state', HOME: '/home/u' }, USER)).toEqual({
      socket: '/run/user/1000/numadvisor/numadvisor.sock',
      pidFile: '/run/user/1000/numadvisor/numad.pid',
      stateDir: '/home/u/.state/numadvisor',
      numadLog: '/home/u/.state/numadvisor/numad.log',
      daemonLog: '/home/u/.state/numadvisor/numadvisor.log',
    });
  });

  it('F17: XDG_STATE_HOME defaults to ~/.local/state; relative XDG values are ignored, as the XDG spec says', () => {
    expect(defaultPaths({ XDG_RUNTIME_DIR: '/run/user/1000', HOME: '/home/u' }, USER)).toMatchObject({
      stateDir: '/home/u/.local/state/numadvisor',
      numadLog: '/home/u/.local/state/numadvisor/numad.log',
    });
    expect(defaultPaths({ XDG_RUNTIME_DIR: '/run/user/1000', XDG_STATE_HOME: 'rel/state', HOME: '/home/u' }, USER).stateDir).toBe('/home/u/.local/state/numadvisor');
    expect(() => defaultPaths({ XDG_RUNTIME_DIR: 'run/user/1000', HOME: '/home/u' }, USER)).toThrow(/XDG_RUNTIME_DIR/);
  });

  it('F17: without XDG_RUNTIME_DIR a non-root user is refused with a clear message, unless the socket is given', () => {
    expect(() => defaultPaths({ HOME: '/home/u' }, USER)).toThrow(
      expect.objectContaining({ code: 'NUMADVISOR_ERR_STATE', message: expect.stringMatching(/XDG_RUNTIME_DIR is not set.*NUMADVISOR_SOCKET or --socket/) }),
    );
    // The socket names the runtime directory: the pid file goes beside it.
    expect(resolvePaths({ HOME: '/home/u', NUMADVISOR_SOCKET: '/tmp/x/n.sock' }, {}, USER)).toMatchObject({ socket: '/tmp/x/n.sock', pidFile: '/tmp/x/numad.pid' });
    expect(resolvePaths({ HOME: '/home/u' }, { socket: '/tmp/y/n.sock' }, USER)).toMatchObject({ socket: '/tmp/y/n.sock', pidFile: '/tmp/y/numad.pid' });
  });

  it('F17: without HOME or XDG_STATE_HOME the state directory must be given; the logs then go beside the state', () => {
    expect(() => defaultPaths({ XDG_RUNTIME_DIR: '/run/user/1000' }, USER)).toThrow(/XDG_STATE_HOME.*NUMADVISOR_STATE_DIR or --state-dir/);
    expect(resolvePaths({ XDG_RUNTIME_DIR: '/run/user/1000', NUMADVISOR_STATE_DIR: '/srv/st' }, {}, USER)).toMatchObject({
      stateDir: '/srv/st',
      numadLog: '/srv/st/numad.log',
      daemonLog: '/srv/st/numadvisor.log',
    });
  });

  it('F17: root keeps the system paths; environment variables and then options override any default', () => {
    expect(defaultPaths({ HOME: '/root', XDG_RUNTIME_DIR: '/run/user/0' }, 0)).toEqual(SYSTEM_PATHS);
    expect(SYSTEM_PATHS).toEqual({
      socket: '/run/numadvisor/numadvisor.sock',
      stateDir: '/var/lib/numadvisor',
      numadLog: '/var/log/numad.log',
      pidFile: '/var/run/numad.pid',
      daemonLog: '/var/log/numadvisor.log',
    });
    const env = { NUMADVISOR_SOCKET: '/e/s.sock', NUMADVISOR_LOG_FILE: '/e/numad.log' };
    expect(resolvePaths(env, {}, 0)).toMatchObject({ socket: '/e/s.sock', numadLog: '/e/numad.log', stateDir: '/var/lib/numadvisor' });
    expect(resolvePaths(env, { socket: '/o/s.sock' }, 0).socket).toBe('/o/s.sock');
    expect(resolvePaths({ ...env, XDG_RUNTIME_DIR: '/run/user/1000', HOME: '/home/u' }, { stateDir: '/o/state' }, USER)).toMatchObject({
      socket: '/e/s.sock',
      numadLog: '/e/numad.log',
      stateDir: '/o/state',
      pidFile: '/run/user/1000/numadvisor/numad.pid',
    });
  });
});
