// Run the daemon in this process until it is asked to stop: SIGTERM/SIGINT/SIGQUIT or `numad -i 0` stop it cleanly,
// SIGHUP reopens the numad log (numad's rotation contract) and keeps going.
import { startDaemon, type DaemonConfig } from './daemon.js';

export async function runDaemonUntilStopped(config: DaemonConfig, onReady?: () => void): Promise<void> {
  const daemon = await startDaemon(config);
  const stop = (signal: string): void => {
    daemon.logger.info({ signal }, 'stopping');
    daemon.close().catch((err: unknown) => daemon.logger.error({ err }, 'error while stopping'));
  };
  const onTerm = (): void => stop('SIGTERM');
  const onInt = (): void => stop('SIGINT');
  const onQuit = (): void => stop('SIGQUIT');
  const onHup = (): void => {
    daemon.numadLog.reopen();
    daemon.logger.info('numad log reopened');
  };
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  process.on('SIGQUIT', onQuit);
  process.on('SIGHUP', onHup);
  onReady?.();
  try {
    await daemon.stopped;
  } finally {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    process.off('SIGQUIT', onQuit);
    process.off('SIGHUP', onHup);
  }
}
