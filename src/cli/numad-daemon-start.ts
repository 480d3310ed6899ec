// `numad` without -w and without a running daemon starts one, like numad's fork. Unlike numad, the parent returns
// only once the daemon answers on its socket (or reports why it did not start), so `numad && numad -w 2` works.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { probeSocket } from '../daemon/socket.js';
import { DAEMON_NODE_FLAGS } from '../config/node-flags.js';
import { CPU_ALLOCATION_RATIO } from '../daemon/advisor-service.js';
import { RESERVATION_TTL_MS } from '../model/reservations.js';
import type { NumadSettings } from '../model/numad-settings.js';
import type { Io, NumadInvocation } from './numad-main.js';

/** Node starts in ~60 ms natively but the lab's emulated 8-CPU guest needed 46 s; a daemon not up in 60 s has failed. */
const START_DEADLINE_MS = 60_000;

export async function startNumadDaemon(argv0: string, inv: NumadInvocation, settings: NumadSettings, io: Io): Promise<number> {
  const common = {
    fsRoot: path.resolve(inv.fsRoot),
    socketPath: path.resolve(inv.paths.socket),
    stateDir: path.resolve(inv.paths.stateDir),
    numadLogPath: path.resolve(inv.paths.numadLog),
    pidFile: path.resolve(inv.paths.pidFile),
  };
  // NUMADVISOR_LIBVIRT: auto (default), none, or a URI; the daemon resolves it like `numadvisor daemon --libvirt`.
  const libvirtChoice = process.env.NUMADVISOR_LIBVIRT ?? 'auto';
  if (inv.foreground) {
    const { libvirtOption } = await import('./numadvisor-main.js');
    const libvirt = libvirtOption(libvirtChoice, process.env.NUMADVISOR_LIBVIRT_SOCKET, undefined, undefined);
    const { runDaemonUntilStopped } = await import('../daemon/run.js');
    await runDaemonUntilStopped({
      ...common,
      socketMode: 0o660,
      numad: settings,
      cpuAllocationRatio: CPU_ALLOCATION_RATIO,
      reservationTtlMs: RESERVATION_TTL_MS,
      // numad moves processes by default; so does a daemon started through the numad command.
      apply: 'processes,domains',
      ...(libvirt ? { libvirt } : {}),
      logLevel: 'info',
    });
    return 0;
  }
  const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), 'numadvisor-entry.js');
  const args = [
    entry,
    'daemon',
    '--fsroot', common.fsRoot,
    '--socket', common.socketPath,
    '--state-dir', common.stateDir,
    '--log-file', common.numadLogPath,
    '--pid-file', common.pidFile,
    // The daemon writes its structured log itself, by path, so SIGHUP after logrotate's rename can reopen it.
    '--daemon-log', path.resolve(inv.paths.daemonLog),
    '--numad-settings', JSON.stringify(settings),
    '--apply', 'processes,domains',
    '--libvirt', libvirtChoice,
    ...(process.env.NUMADVISOR_LIBVIRT_SOCKET ? ['--libvirt-socket', process.env.NUMADVISOR_LIBVIRT_SOCKET] : []),
  ];
  // Anything the daemon prints outside its loggers (stdout: the structured log's file, stderr: numad's log) is kept.
  mkdirSync(path.dirname(inv.paths.daemonLog), { recursive: true });
  mkdirSync(path.dirname(common.numadLogPath), { recursive: true });
  const out = openSync(inv.paths.daemonLog, 'a', 0o640);
  const err = openSync(common.numadLogPath, 'a', 0o644);
  let exited: number | null | undefined;
  try {
    const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, ...args], { detached: true, stdio: ['ignore', out, err], cwd: '/' });
    child.once('exit', (code, signal) => {
      exited = code ?? (signal ? 128 : 1);
    });
    child.unref();
    const deadline = Date.now() + START_DEADLINE_MS;
    while (Date.now() < deadline) {
      if (exited !== undefined) break;
      if ((await probeSocket(common.socketPath, 200)) === 'alive') return 0;
      await sleep(30);
    }
  } finally {
    closeSync(out);
    closeSync(err);
  }
  io.stderr(
    `${argv0}: the daemon did not start${exited !== undefined ? ` (exit code ${exited})` : ' in time'}; see ${common.numadLogPath} and ${inv.paths.daemonLog}\n`,
  );
  return 1;
}
