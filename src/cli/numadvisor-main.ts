// `numadvisor`: the daemon and the operator's tools (snapshot, offline advice, schema export). This module only
// dispatches: each command's module is imported when that command runs, so `numadvisor version` and `help` load
// nothing else (they took 1-1.5 s when this file imported every command's dependencies).
import { usageError, UsageError } from '../errors.js';
import { VERSION } from '../version.js';
import type { Io } from './io.js';

const USAGE = `Usage: numadvisor <command> [options]

Commands:
  daemon     run the placement daemon (HTTP API on a unix socket)
  snapshot   print this host's NUMA model as JSON (schemas/host-snapshot.schema.json)
  advise     answer a request offline from a snapshot file
  processes  list processes (RSS over 300 MiB, or --pid N) with memory per node from numa_maps
  schemas    write (--out DIR) or verify (--check DIR) the JSON Schemas of the API
  simulate   replay a placement scenario through every strategy and the optimum: numadvisor simulate SCENARIO|all
  status     what the running daemon holds: reservations (and the VM each is bound to), libvirt domains
  rollback   undo the daemon's last move of a libvirt domain: numadvisor rollback NAME|UUID
  version    print the version

numadvisor daemon [--fsroot DIR] [--socket PATH] [--socket-mode 0660] [--socket-group GROUP] [--tcp-port N] [--state-dir DIR]
                  [--log-file PATH] [--log-level 5] [--pid-file PATH] [--pino-level info] [-C 0|1] [-t PERCENT] [-R CPULIST]
                  [--daemon-log PATH]   (structured log to this file, reopened on SIGHUP; default stdout)
                  [--cpu-allocation-ratio 4] [--reservation-ttl SECONDS] [--policy numadvisor|numad]
                  [--apply none|processes|domains|processes,domains]   (default none: advise only; the numad
                  command starts it with processes,domains)
                  [--libvirt auto|none|URI] [--libvirt-socket PATH] [--domain-include NAME|UUID,...]
                  [--domain-exclude NAME|UUID,...]   (auto: qemu:///system when libvirt is installed)
                  [--memory-guard off|warn|widen] [--memory-guard-headroom-mib 1024]   (default widen with
                  --apply domains, else warn; widen needs --apply domains)
                  [--api-token-file PATH]   (--tcp-port is read-only without Authorization: Bearer <the token in
                  this file>; default STATE_DIR/api-token, 0640, written anew at each start)
numadvisor simulate dbench|two-node-start|boot-storm|dl980-mixed|memory-pressure|all [--json]
                  [--report FILE.md --plot FILE.svg]   (make bench-quality writes docs/quality.md and docs/quality.svg)
numadvisor status [--socket PATH] [--json]
numadvisor rollback NAME|UUID [--socket PATH]
numadvisor snapshot [--fsroot DIR] [--sample-ms 200]
numadvisor advise --snapshot FILE|- --cpus N[.NN] [--mem MIB] [--policy numad|numadvisor] [-C 0|1] [-t PERCENT] [-R CPULIST]
                  [--nodeset-only]
numadvisor processes [--fsroot DIR] [--pid N ...] [--min-rss 300]
`;

export async function numadvisorMain(args: string[], io: Io): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      // Each command's module is loaded when it runs: `version` and `help` load none of them (no zod, no fastify).
      case 'daemon':
        return await (await import('./numadvisor-daemon.js')).cmdDaemon(rest);
      case 'snapshot':
        return await (await import('./numadvisor-host.js')).cmdSnapshot(rest, io);
      case 'advise':
        return (await import('./numadvisor-advise.js')).cmdAdvise(rest, io);
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
        io.stdout(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw usageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    if (err instanceof UsageError || e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      io.stderr(`numadvisor: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    // The daemon client's own failures (refused, too slow) say all there is in their message, as they always have;
    // every other coded error names its code, so a script can tell them apart.
    const quiet = e.code === 'NUMADVISOR_ERR_DAEMON' || e.code === 'NUMADVISOR_ERR_DEADLINE';
    io.stderr(`numadvisor: ${e.code && !quiet ? `${e.code}: ` : ''}${e.message}\n`);
    return 1;
  }
}
