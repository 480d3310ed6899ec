// `numadvisor daemon`: its options become a DaemonConfig (src/config/daemon-config.ts), run until it is stopped.
import { daemonConfigFromArgs } from '../config/daemon-config.js';

export async function cmdDaemon(args: string[]): Promise<number> {
  const config = await daemonConfigFromArgs(args, process.env);
  const [{ runDaemonUntilStopped }, { sdNotify }] = await Promise.all([import('../daemon/run.js'), import('../daemon/sd-notify.js')]);
  // Under systemd (Type=notify) the unit is started once the socket answers: tell it so.
  await runDaemonUntilStopped(config, () => {
    const failed = sdNotify('READY=1');
    if (failed) process.stderr.write(`numadvisor: cannot tell systemd the daemon is ready: ${failed.message}\n`);
  });
  return 0;
}
