// `numad` without -w and without a running daemon starts one, like numad's fork. Unlike numad, the parent returns
// only once the daemon answers on its socket (or reports why it did not start), so `numad && numad -w 2` works.
// The daemon's configuration is built here, once, by the configuration module both commands use; the background
// daemon receives it whole (DAEMON_CONFIG_ENV) rather than as options of another command to be parsed again.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { probeSocket } from '../daemon/socket.js';
import { DAEMON_NODE_FLAGS } from '../config/node-flags.js';
import { DAEMON_CONFIG_ENV, encodeDaemonConfig, numadDaemonConfig } from '../config/daemon-config.js';
import type { Paths } from '../config/paths.js';
import type { NumadSettings } from '../model/numad-settings.js';
import type { Io } from './io.js';

/** Node starts in ~60 ms natively but the lab's emulated 8-CPU guest needed 46 s; a daemon not up in 60 s has failed. */
const START_DEADLINE_MS = 60_000;

/** What of a numad invocation the daemon it starts depends on (besides its settings). */
export interface NumadStart {
  fsRoot: string;
  paths: Paths;
  /** run the daemon in this process (systemd Type=simple) instead of in the background */
  foreground: boolean;
}

export async function startNumadDaemon(argv0: string, start: NumadStart, settings: NumadSettings, io: Io): Promise<number> {
  const config = await numadDaemonConfig({ fsRoot: start.fsRoot, paths: start.paths, settings, background: !start.foreground }, process.env);
  if (start.foreground) {
    const { runDaemonUntilStopped } = await import('../daemon/run.js');
    await runDaemonUntilStopped(config);
    return 0;
  }
  const daemonLog = path.resolve(start.paths.daemonLog);
  const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), 'numad-daemon-entry.js');
  // Anything the daemon prints outside its loggers (stdout: the structured log's file, stderr: numad's log) is kept.
  mkdirSync(path.dirname(daemonLog), { recursive: true });
  mkdirSync(path.dirname(config.numadLogPath), { recursive: true });
  const out = openSync(daemonLog, 'a', 0o640);
  const err = openSync(config.numadLogPath, 'a', 0o644);
  let exited: number | null | undefined;
  try {
    const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, entry], {
      detached: true,
      stdio: ['ignore', out, err],
      cwd: '/',
      env: { ...process.env, [DAEMON_CONFIG_ENV]: encodeDaemonConfig(config) },
    });
    child.once('exit', (code, signal) => {
      exited = code ?? (signal ? 128 : 1);
    });
    child.unref();
    const deadline = Date.now() + START_DEADLINE_MS;
    while (Date.now() < deadline) {
      if (exited !== undefined) break;
      if ((await probeSocket(config.socketPath, 200)) === 'alive') return 0;
      await sleep(30);
    }
  } finally {
    closeSync(out);
    closeSync(err);
  }
  io.stderr(`${argv0}: the daemon did not start${exited !== undefined ? ` (exit code ${exited})` : ' in time'}; see ${config.numadLogPath} and ${start.paths.daemonLog}\n`);
  return 1;
}
