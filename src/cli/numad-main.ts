// `numad`: the numad-compatible command libvirt runs as `/usr/bin/numad -w <vcpus>:<MiB>`. stdout carries exactly
// one canonical nodeset line or nothing; every diagnostic goes to stderr with numad's wording and exit codes.
import { getopt } from './getopt.js';
import { parsePreplacementArg, type PreplacementRequest } from './numad-args.js';
import { askDaemon } from './advice-client.js';
import { adviseLocally } from './local-advice.js';
import { defaultPaths } from '../daemon/paths.js';
import { defaultFsRoot } from '../topology/fsroot.js';
import { formatIdList, parseLooseCpuList, CANONICAL_NODESET } from '../topology/idlist.js';
import { LOG_NOTICE, NumadLog } from '../log/numad-log.js';
import { NUMAD_DEFAULT_CAPACITY_OPTIONS, type CapacityOptions } from '../model/capacity.js';
import { NUMAD_VERSION } from '../version.js';

const OPTSTRING = 'C:dD:hH:i:K:l:m:p:r:R:S:t:u:vVw:x:';
const LONG = { socket: true, fsroot: true, 'log-file': true, 'state-dir': true, foreground: false };

export function numadUsage(argv0: string): string {
  return [
    `Usage: ${argv0} <options> ...`,
    '-C 1  to count inactive file cache as available memory (default 1)',
    '-C 0  to count inactive file cache memory as unavailable (default 1)',
    "-d for debug logging (same effect as '-l 7')",
    '-h to print this usage info',
    '-H <N> to set THP scan_sleep_ms (default 1000)',
    '-i [<MIN>:]<MAX> to specify interval seconds',
    '-K 1  to keep interleaved memory spread across nodes (default 0)',
    '-K 0  to merge interleaved memory to local NUMA nodes (default 0)',
    '-l <N> to specify logging level (usually 5, 6, or 7 -- default 5)',
    '-m <N> to specify memory locality target percent (default 90)',
    '-p <PID> to add PID to inclusion pid list',
    '-r <PID> to remove PID from explicit pid lists',
    '-R <CPU_LIST> to reserve some CPUs for non-numad use',
    '-S 1  to scan all processes (default 1)',
    '-S 0  to scan only explicit PID list processes (default 1)',
    '-t <N> to specify thread / logical CPU valuation percent (default 20)',
    '-u <N> to specify utilization target percent (default 85)',
    "-v for verbose  (same effect as '-l 6')",
    '-V to show version info',
    '-w <CPUs>[:<MBs>] for NUMA node suggestions',
    '-x <PID> to add PID to exclusion pid list',
    '',
  ].join('\n');
}

/** C's atoi: leading blanks, optional sign, digits; anything else gives 0. */
export function atoi(text: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(text);
  return m ? Number.parseInt(m[1] as string, 10) : 0;
}

interface Invocation {
  preplacement?: PreplacementRequest;
  capacity: CapacityOptions;
  logLevel: number;
  socket: string;
  fsRoot: string;
  logFile: string;
  daemonOptionsGiven: string[];
}

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export async function numadMain(argv0: string, args: readonly string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  const paths = defaultPaths(env);
  const inv: Invocation = {
    capacity: { ...NUMAD_DEFAULT_CAPACITY_OPTIONS, reservedCpus: new Set() },
    logLevel: LOG_NOTICE,
    socket: paths.socket,
    fsRoot: defaultFsRoot(env),
    logFile: paths.numadLog,
    daemonOptionsGiven: [],
  };
  const { items, operands } = getopt(argv0, args, { short: OPTSTRING, long: LONG });
  for (const item of items) {
    if (item.kind === 'error') {
      io.stderr(`${item.message}\n${numadUsage(argv0)}`);
      return 1;
    }
    const v = item.value ?? '';
    switch (item.name) {
      case 'h':
        io.stderr(numadUsage(argv0));
        return 1;
      case 'V':
        io.stdout(`${argv0} version: ${NUMAD_VERSION}: compiled by numadvisor\n`);
        return 0;
      case 'w': {
        const req = parsePreplacementArg(v);
        if (!req) {
          io.stderr(`Can't parse arg value(s): ${v}\n`);
          return 1;
        }
        inv.preplacement = req;
        break;
      }
      case 'C':
        inv.capacity.inactiveFileIsFree = atoi(v) !== 0;
        break;
      case 't': {
        const t = atoi(v);
        if (t >= 0 && t <= 100) inv.capacity.htPercent = t;
        break;
      }
      case 'R':
        inv.capacity.reservedCpus = new Set(parseLooseCpuList(v));
        break;
      case 'd':
        inv.logLevel = 7;
        break;
      case 'v':
        inv.logLevel = 6;
        break;
      case 'l':
        inv.logLevel = atoi(v);
        break;
      case '--socket':
        inv.socket = v;
        break;
      case '--fsroot':
        inv.fsRoot = v;
        break;
      case '--log-file':
        inv.logFile = v;
        break;
      case '--state-dir':
      case '--foreground':
      case 'D':
        break;
      default:
        inv.daemonOptionsGiven.push(item.name);
    }
  }
  if (operands.length > 0) {
    io.stderr(`Unexpected arg = ${operands[0]}\n`);
    return 1;
  }
  if (!inv.preplacement) {
    io.stderr(
      `${argv0}: this build answers -w only; run the daemon with \`numadvisor daemon\`` +
        (inv.daemonOptionsGiven.length > 0 ? ` (options ${inv.daemonOptionsGiven.map((o) => `-${o}`).join(' ')} not applied)` : '') +
        '\n',
    );
    return 1;
  }
  return preplace(inv, inv.preplacement, io);
}

async function preplace(inv: Invocation, req: PreplacementRequest, io: Io): Promise<number> {
  let nodeset: string | undefined;
  try {
    nodeset = (await askDaemon(inv.socket, { ...req, client: 'numad -w' })).nodeset;
  } catch {
    nodeset = undefined;
  }
  if (nodeset === undefined) {
    const log = new NumadLog({ path: inv.logFile, level: inv.logLevel, fallback: io.stderr });
    try {
      if (inv.capacity.reservedCpus.size > 0) {
        const list = formatIdList(inv.capacity.reservedCpus);
        log.log(LOG_NOTICE, `Reserving ${inv.capacity.reservedCpus.size} CPUs (${list}) for non-numad use`);
      }
      nodeset = (await adviseLocally(inv.fsRoot, req, inv.capacity, log)).nodeset;
    } catch (err) {
      io.stderr(`${(err as Error).message}\n`);
      return 1;
    } finally {
      log.close();
    }
  }
  if (!CANONICAL_NODESET.test(nodeset)) {
    io.stderr(`internal error: refusing to print a non-nodeset answer\n`);
    return 1;
  }
  io.stdout(`${nodeset}\n`);
  return 0;
}
