// `numadvisor`: the daemon and the operator's tools (snapshot, offline advice, schema export). This module only
// dispatches: each command's module is imported when that command runs, so `numadvisor version` and `help` load
// nothing else (they took 1-1.5 s when this file imported every command's dependencies).
import { usageError, UsageError } from '../errors.js';
import { VERSION } from '../version.js';
import type { Io } from './io.js';
import { isCommandName, mainUsage } from './commands.js';

/** `--help` or `-h` among a command's arguments (before a `--`): print its help instead of running it. */
const asksHelp = (args: readonly string[]): boolean => {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
};

async function helpFor(command: string | undefined): Promise<string> {
  return command !== undefined && isCommandName(command) ? (await import('./command-options.js')).commandHelp(command) : mainUsage();
}

export async function numadvisorMain(args: string[], io: Io): Promise<number> {
  const [command, ...rest] = args;
  try {
    if (command !== undefined && isCommandName(command) && asksHelp(rest)) {
      io.stdout(await helpFor(command));
      return 0;
    }
    switch (command) {
      // Each command's module is loaded when it runs: `version` and `help` load none of them (no zod, no fastify).
      case 'daemon':
        return await (await import('./numadvisor-daemon.js')).cmdDaemon(rest);
      case 'snapshot':
        return await (await import('./numadvisor-host.js')).cmdSnapshot(rest, io);
      case 'advise':
        return await (await import('./numadvisor-advise.js')).cmdAdvise(rest, io);
      case 'processes':
        return (await import('./numadvisor-host.js')).cmdProcesses(rest, io);
      case 'schemas':
        return (await import('./numadvisor-schemas.js')).cmdSchemas(rest, io);
      case 'status':
        return await (await import('./numadvisor-daemon-client.js')).cmdStatus(rest, io);
      case 'simulate':
        return await (await import('./numadvisor-simulate.js')).cmdSimulate(rest, io);
      case 'rollback':
        return await (await import('./numadvisor-daemon-client.js')).cmdRollback(rest, io);
      case 'version':
      case '--version':
        io.stdout(`numadvisor ${VERSION}\n`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        // `numadvisor help status` is `numadvisor status --help`.
        if (command === 'help' && rest[0] !== undefined && isCommandName(rest[0])) {
          io.stdout(await helpFor(rest[0]));
          return 0;
        }
        io.stdout(mainUsage());
        return command === undefined ? 2 : 0;
      default:
        throw usageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    if (err instanceof UsageError || e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      io.stderr(`numadvisor: ${e.message}\n\n${await helpFor(command)}`);
      return 2;
    }
    // The daemon client's own failures (refused, too slow) say all there is in their message, as they always have;
    // every other coded error names its code, so a script can tell them apart.
    const quiet = e.code === 'NUMADVISOR_ERR_DAEMON' || e.code === 'NUMADVISOR_ERR_DEADLINE';
    io.stderr(`numadvisor: ${e.code && !quiet ? `${e.code}: ` : ''}${e.message}\n`);
    return 1;
  }
}
