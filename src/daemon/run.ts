// Run the daemon in this process until it is asked to stop: SIGTERM/SIGINT/SIGQUIT or `numad -i 0` stop it cleanly,
// SIGHUP reopens the numad log (numad's and logrotate's rotation contract) and keeps going. The handlers are in
// place before the daemon starts: the pid file appears before the socket listens, and a SIGTERM sent as soon as
// it does must stop the daemon cleanly, not kill a half-started one.
import { startDaemon, type DaemonConfig, type RunningDaemon } from './daemon.js';

export async function runDaemonUntilStopped(config: DaemonConfig, onReady?: () => void): Promise<void> {
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
    daemon = await startDaemon(config);
    if (hupRequested) onHup();
    if (stopRequested !== undefined) stop(stopRequested);
    onReady?.();
    await daemon.stopped;
  } finally {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    process.off('SIGQUIT', onQuit);
    process.off('SIGHUP', onHup);
  }
}
