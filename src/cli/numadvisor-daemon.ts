// `numadvisor daemon`: its options become a DaemonConfig (src/config/daemon-config.ts), run until it is stopped.
import { daemonConfigFromArgs } from '../config/daemon-config.js';

export async function cmdDaemon(args: string[]): Promise<number> {
  const config = await daemonConfigFromArgs(args, process.env);
  const { runDaemonUntilStopped } = await import('../daemon/run.js');
  await runDaemonUntilStopped(config);
  return 0;
}
