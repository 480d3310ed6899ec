// Run the daemon in this process until it is asked to stop: SIGTERM/SIGINT/SIGQUIT or `numad -i 0` stop it cleanly,
// SIGHUP reopens the numad log (numad's and logrotate's rotation contract) and keeps going. The handlers are in
// place before the daemon starts: the pid file appears before the socket listens, and a SIGTERM sent as soon as
// it does must stop the daemon cleanly, not kill a half-started one. With `daemonLogPath` (the background daemon
// `numad` starts, `numadvisor daemon --daemon-log`) the structured log goes to that file, reopened on SIGHUP too.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { DaemonConfig } from '../config/daemon-config.js';
import type { ReopenableLog } from '../log/daemon-log.js';
import { startDaemon, type RunningDaemon } from './daemon.js';

export async function runDaemonUntilStopped(config: DaemonConfig, onReady?: () => void): Promise<void> {
  const structured = config.logger === undefined && config.daemonLogPath !== undefined ? await reopenableLogger(config.daemonLogPath, config.logLevel) : undefined;
  let daemon: RunningDaemon | undefined;
  let stopRequested: string | undefined;
  let hupRequested = false;
  const stop = (signal: string): void => {
    if (!daemon) {
      stopRequested ??= signal;
      return;
    }
    const d = daemon;
    d.logger.info({ signal }, 'stopping');
    d.close().catch((err: unknown) => d.logger.error({ err }, 'error while stopping'));
  };
  const onTerm = (): void => stop('SIGTERM');
  const onInt = (): void => stop('SIGINT');
  const onQuit = (): void => stop('SIGQUIT');
  const onHup = (): void => {
    // The structured log first, so that "numad log reopened" already lands in its new file.
    structured?.log.reopen();
    if (!daemon) {
      hupRequested = true;
      return;
    }
    daemon.numadLog.reopen();
    daemon.logger.info('numad log reopened');
  };
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  process.on('SIGQUIT', onQuit);
  process.on('SIGHUP', onHup);
  try {
    daemon = await startDaemon(structured ? { ...config, logger: structured.logger } : config);
    if (hupRequested) onHup();
    if (stopRequested !== undefined) stop(stopRequested);
    onReady?.();
    await daemon.stopped;
  } finally {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    process.off('SIGQUIT', onQuit);
    process.off('SIGHUP', onHup);
    structured?.log.close();
  }
}

/** pino writing to a file the daemon can reopen by path (see src/log/daemon-log.ts). */
async function reopenableLogger(file: string, level: string): Promise<{ log: ReopenableLog; logger: Logger }> {
  const [{ pino }, { ReopenableLog }] = await Promise.all([import('pino'), import('../log/daemon-log.js')]);
  mkdirSync(path.dirname(file), { recursive: true });
  const log = new ReopenableLog(file);
  // The same logger daemon.ts makes for stdout, on this destination instead.
  return { log, logger: pino({ level, base: { pid: process.pid, name: 'numadvisor' } }, log) };
}
