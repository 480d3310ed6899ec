#!/usr/bin/env node
// The daemon `numad` starts in the background (src/cli/numad-daemon-start.ts): it runs with the DaemonConfig the
// numad command built, handed over whole in DAEMON_CONFIG_ENV. Not a command of its own: it takes no arguments.
// stderr is numad's log (as numad's own messages would be), so a daemon that cannot start says why there.
import { DAEMON_CONFIG_ENV } from '../config/daemon-config.js';
import { UsageError } from '../errors.js';

const text = process.env[DAEMON_CONFIG_ENV];
// The daemon's own children (taskset, migratepages) have no use for it.
delete process.env[DAEMON_CONFIG_ENV];
if (text === undefined) {
  process.stderr.write(`numadvisor: ${DAEMON_CONFIG_ENV} is not set: this is the daemon the numad command starts, not a command\n`);
  process.exitCode = 2;
} else {
  try {
    const [{ decodeDaemonConfig }, { runDaemonUntilStopped }] = await Promise.all([import('../config/daemon-config-schema.js'), import('../daemon/run.js')]);
    await runDaemonUntilStopped(decodeDaemonConfig(text));
  } catch (err) {
    const e = err as Error & { code?: string };
    // A usage error (a configuration that does not decode) is for people: its message alone, as numadvisor prints it.
    const code = e.code && !(err instanceof UsageError) ? `${e.code}: ` : '';
    process.stderr.write(`numadvisor: ${code}${e.message}\n`);
    process.exitCode = 1;
  }
}
