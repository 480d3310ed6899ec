// `numad`: the numad-compatible command. libvirt runs it as `/usr/bin/numad -w <vcpus>:<MiB>` and parses all of
// stdout as a nodeset; operators run it with numad's options. stdout carries exactly one canonical nodeset line or
// nothing; diagnostics go to stderr with numad's wording and exit codes (numad.md §1–2).
import { getopt } from './getopt.js';
import { atoi, parseIntervalArg, parsePreplacementArg, type PreplacementRequest } from './numad-args.js';
import { askDaemon, sendOptions } from './advice-client.js';
import { adviseLocally } from './local-advice.js';
import { ensureParentDir, isRoot, resolvePaths, SYSTEM_PATHS, type Paths } from '../config/paths.js';
import { probeSocket, socketPermission } from '../daemon/socket.js';
import { defaultFsRoot } from '../topology/fsroot.js';
import { formatIdList, parseLooseCpuList, isCanonicalNodeset, ID_LIMIT } from '../topology/idlist.js';
import { LOG_DEBUG, LOG_INFO, LOG_NOTICE, NumadLog } from '../log/numad-log.js';
import { applyNumadOp, capacityFromSettings, NUMAD_DEFAULTS, NUMAD_OPTION_LIMITS, numadOpProblem, type NumadOp, type NumadSettings } from '../model/numad-settings.js';
import { NUMAD_VERSION } from '../version.js';
import type { Io } from './io.js';

const OPTSTRING = 'C:dD:hH:i:K:l:m:p:r:R:S:t:u:vVw:x:';
/**
 * numad's options as numad 20150602's usage text lists them, one [syntax, text] pair per line: `numad -h` prints them
 * byte for byte as numad does, and numadvisor-numad(8) is made from them (src/cli/man-pages.ts).
 */
export const NUMAD_USAGE_OPTIONS: readonly (readonly [string, string])[] = [
  ['-C 1', 'to count inactive file cache as available memory (default 1)'],
  ['-C 0', 'to count inactive file cache memory as unavailable (default 1)'],
  ['-d', "for debug logging (same effect as '-l 7')"],
  ['-h', 'to print this usage info'],
  ['-H <N>', 'to set THP scan_sleep_ms (default 1000)'],
  ['-i [<MIN>:]<MAX>', 'to specify interval seconds'],
  ['-K 1', 'to keep interleaved memory spread across nodes (default 0)'],
  ['-K 0', 'to merge interleaved memory to local NUMA nodes (default 0)'],
  ['-l <N>', 'to specify logging level (usually 5, 6, or 7 -- default 5)'],
  ['-m <N>', 'to specify memory locality target percent (default 90)'],
  ['-p <PID>', 'to add PID to inclusion pid list'],
  ['-r <PID>', 'to remove PID from explicit pid lists'],
  ['-R <CPU_LIST>', 'to reserve some CPUs for non-numad use'],
  ['-S 1', 'to scan all processes (default 1)'],
  ['-S 0', 'to scan only explicit PID list processes (default 1)'],
  ['-t <N>', 'to specify thread / logical CPU valuation percent (default 20)'],
  ['-u <N>', 'to specify utilization target percent (default 85)'],
  ['-v', "for verbose  (same effect as '-l 6')"],
  ['-V', 'to show version info'],
  ['-w <CPUs>[:<MBs>]', 'for NUMA node suggestions'],
  ['-x <PID>', 'to add PID to exclusion pid list'],
];

/**
 * Our long options (numad has none): whether each takes a value, its value's name and what it does. getopt reads
 * `takesArg`; numadvisor-numad(8) prints the rest.
 */
export const NUMAD_LONG_OPTIONS = {
  socket: { takesArg: true, arg: 'PATH', help: "the daemon's socket (NUMADVISOR_SOCKET; default /run/numadvisor/numadvisor.sock as root)" },
  fsroot: { takesArg: true, arg: 'DIR', help: 'read /sys and /proc under DIR (NUMADVISOR_FSROOT; default /)' },
  'log-file': { takesArg: true, arg: 'PATH', help: "numad's log (NUMADVISOR_LOG_FILE; default /var/log/numad.log as root)" },
  'state-dir': { takesArg: true, arg: 'DIR', help: 'the daemon\'s state: reservations, lock, spool of local answers (NUMADVISOR_STATE_DIR; default /var/lib/numadvisor as root)' },
  'pid-file': { takesArg: true, arg: 'PATH', help: 'the pid file (NUMADVISOR_PID_FILE; default /var/run/numad.pid as root)' },
  foreground: { takesArg: false, arg: '', help: 'run the daemon in the foreground, its structured log on stdout' },
} as const satisfies Record<string, { takesArg: boolean; arg: string; help: string }>;

const LONG: Record<string, boolean> = Object.fromEntries(Object.entries(NUMAD_LONG_OPTIONS).map(([name, o]) => [name, o.takesArg]));

export function numadUsage(argv0: string): string {
  // numad separates "-C 1" and its text by two blanks, other options by one.
  return [`Usage: ${argv0} <options> ...`, ...NUMAD_USAGE_OPTIONS.map(([syntax, text]) => `${syntax}${/ \d$/.test(syntax) ? '  ' : ' '}${text}`), ''].join('\n');
}

/** What one invocation asked for, after numad's parsing rules. */
export interface NumadInvocation {
  preplacement?: PreplacementRequest;
  /** options that change settings, one per kind (the last one given wins, as in numad) */
  C?: boolean;
  H?: number;
  interval?: { min: number; max: number };
  K?: boolean;
  logLevel?: number;
  m?: number;
  S?: boolean;
  t?: number;
  u?: number;
  R?: number[];
  /** -p/-r/-x in the order given (numad sends only the last PID; we send each) */
  pidOps: { opt: 'p' | 'r' | 'x'; pid: number }[];
  paths: Paths;
  fsRoot: string;
  foreground: boolean;
}

export type ParseOutcome = { kind: 'run'; inv: NumadInvocation; warnings: string[] } | { kind: 'exit'; code: number };

export function parseNumadArgs(argv0: string, args: readonly string[], env: NodeJS.ProcessEnv, io: Io): ParseOutcome {
  // --socket & co. are collected first: the defaults are resolved once every option is read (see resolvePaths).
  const pathOptions: Partial<Paths> = {};
  const inv: NumadInvocation = { pidOps: [], paths: { ...SYSTEM_PATHS }, fsRoot: defaultFsRoot(env), foreground: false };
  const warnings: string[] = [];
  const ranged = (opt: string, v: string, limits: { min: number; max: number }): number | undefined => {
    const n = atoi(v);
    if (n >= limits.min && n <= limits.max) return n;
    // numad drops these silently; we say so, and keep numad's exit code.
    warnings.push(`${argv0}: ignoring -${opt} ${v}: must be ${limits.min}..${limits.max}`);
    return undefined;
  };
  const { items, operands } = getopt(argv0, args, { short: OPTSTRING, long: LONG });
  let minInterval = NUMAD_DEFAULTS.intervalMinS;
  for (const item of items) {
    if (item.kind === 'error') {
      io.stderr(`${item.message}\n${numadUsage(argv0)}`);
      return { kind: 'exit', code: 1 };
    }
    const v = item.value ?? '';
    switch (item.name) {
      case 'h':
        io.stderr(numadUsage(argv0));
        return { kind: 'exit', code: 1 };
      case 'V':
        io.stdout(`${argv0} version: ${NUMAD_VERSION}: compiled by numadvisor\n`);
        return { kind: 'exit', code: 0 };
      case 'w': {
        const req = parsePreplacementArg(v);
        if (!req) {
          io.stderr(`Can't parse arg value(s): ${v}\n`);
          return { kind: 'exit', code: 1 };
        }
        inv.preplacement = req;
        break;
      }
      case 'i': {
        const iv = parseIntervalArg(v);
        if (!iv) {
          io.stderr(`Can't parse arg value(s): ${v}\n`);
          return { kind: 'exit', code: 1 };
        }
        if (iv.min !== undefined) minInterval = iv.min;
        inv.interval = { min: minInterval, max: iv.max };
        break;
      }
      case 'H': {
        const h = atoi(v);
        const limits = NUMAD_OPTION_LIMITS.thpScanSleepMs;
        if (h !== 0 && (h < limits.min || h > limits.max)) {
          io.stderr(`THP scan_sleep_ms must be > ${limits.min - 1} and < ${limits.max + 1}\n`);
          return { kind: 'exit', code: 1 };
        }
        inv.H = h;
        break;
      }
      case 'C':
        inv.C = atoi(v) !== 0;
        break;
      case 'K':
        inv.K = atoi(v) !== 0;
        break;
      case 'S':
        inv.S = atoi(v) !== 0;
        break;
      case 'd':
        inv.logLevel = LOG_DEBUG;
        break;
      case 'v':
        inv.logLevel = LOG_INFO;
        break;
      case 'l':
        inv.logLevel = atoi(v);
        break;
      case 'm': {
        const n = ranged('m', v, NUMAD_OPTION_LIMITS.memLocalityTargetPercent);
        if (n !== undefined) inv.m = n;
        break;
      }
      case 't': {
        const n = ranged('t', v, NUMAD_OPTION_LIMITS.htPercent);
        if (n !== undefined) inv.t = n;
        break;
      }
      case 'u': {
        const n = ranged('u', v, NUMAD_OPTION_LIMITS.utilizationTargetPercent);
        if (n !== undefined) inv.u = n;
        break;
      }
      case 'p':
      case 'r':
      case 'x':
        inv.pidOps.push({ opt: item.name, pid: atoi(v) });
        break;
      case 'R':
        try {
          inv.R = parseLooseCpuList(v);
        } catch {
          // numad has no message here (it ignores ids past its CPU count and walks any range); ours says why.
          io.stderr(`${argv0}: -R ${v}: CPU ids must be below ${ID_LIMIT}\n`);
          return { kind: 'exit', code: 1 };
        }
        break;
      case 'D':
        break; // obsolete in numad 20150602 (cgroup mount point), accepted and ignored
      case '--socket':
        pathOptions.socket = v;
        break;
      case '--fsroot':
        inv.fsRoot = v;
        break;
      case '--log-file':
        pathOptions.numadLog = v;
        break;
      case '--state-dir':
        pathOptions.stateDir = v;
        break;
      case '--pid-file':
        pathOptions.pidFile = v;
        break;
      case '--foreground':
        inv.foreground = true;
        break;
    }
  }
  if (operands.length > 0) {
    io.stderr(`Unexpected arg = ${operands[0]}\n`);
    return { kind: 'exit', code: 1 };
  }
  // The client compares with its own min, 5 unless given: `numad -i 3` fails.
  if (inv.interval && inv.interval.max !== 0 && inv.interval.max < inv.interval.min) {
    io.stderr(`Max interval (${inv.interval.max}) must be greater than min interval (${inv.interval.min})\n`);
    return { kind: 'exit', code: 1 };
  }
  try {
    inv.paths = resolvePaths(env, pathOptions);
  } catch (err) {
    // A non-root user without XDG_RUNTIME_DIR (or HOME) and no --socket: refused, never a path in the working directory.
    io.stderr(`${argv0}: ${(err as Error).message}\n`);
    return { kind: 'exit', code: 1 };
  }
  return { kind: 'run', inv, warnings };
}

/** The option messages for a running daemon, in numad's send order (C,H,i,K,l,m,p,r,S,t,u,x; R applied too). */
export function optionOps(inv: NumadInvocation): NumadOp[] {
  const ops: NumadOp[] = [];
  if (inv.C !== undefined) ops.push({ opt: 'C', value: inv.C });
  if (inv.H !== undefined) ops.push({ opt: 'H', value: inv.H });
  if (inv.interval && inv.interval.max > 0) ops.push({ opt: 'i', min: inv.interval.min, max: inv.interval.max });
  if (inv.K !== undefined) ops.push({ opt: 'K', value: inv.K });
  if (inv.logLevel !== undefined) ops.push({ opt: 'l', value: inv.logLevel });
  if (inv.m !== undefined) ops.push({ opt: 'm', value: inv.m });
  for (const p of inv.pidOps) ops.push({ opt: p.opt, pid: p.pid });
  if (inv.R !== undefined) ops.push({ opt: 'R', cpus: inv.R });
  if (inv.S !== undefined) ops.push({ opt: 'S', value: inv.S });
  if (inv.t !== undefined) ops.push({ opt: 't', value: inv.t });
  if (inv.u !== undefined) ops.push({ opt: 'u', value: inv.u });
  return ops;
}

/** Settings for a daemon this invocation starts (or a local answer): numad's defaults with the options applied. */
export function startSettings(inv: NumadInvocation): NumadSettings {
  return optionOps(inv).reduce((s, op) => applyNumadOp(s, op).settings, NUMAD_DEFAULTS);
}

export async function numadMain(argv0: string, args: readonly string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  const parsed = parseNumadArgs(argv0, args, env, io);
  if (parsed.kind === 'exit') return parsed.code;
  const { inv, warnings } = parsed;
  for (const w of warnings) io.stderr(`${w}\n`);
  // A non-root user's log lives in $XDG_STATE_HOME/numadvisor, which nothing has created yet on a first run.
  if (!isRoot()) ensureParentDir(inv.paths.numadLog);
  const shutdown = inv.interval !== undefined && inv.interval.max === 0;
  // numad puts `-p abc` (atoi: 0) on a list; the daemon refuses a batch holding an op numad's ranges exclude (issue
  // #12 F6), so such an op is left out here with a warning instead of failing the others.
  const ops = optionOps(inv).filter((op) => {
    const problem = numadOpProblem(op);
    if (problem !== undefined) io.stderr(`${argv0}: ignoring ${problem}\n`);
    return problem === undefined;
  });

  // A -w that a daemon answers needs no liveness probe first: askDaemon has its own deadlines. Whether we may use the
  // socket at all is still checked (access(2), no round trip), since permission denied is not "no daemon".
  const needsProbe = ops.length > 0 || shutdown || !inv.preplacement;
  const probe = needsProbe ? await probeSocket(inv.paths.socket) : socketPermission(inv.paths.socket) === 'denied' ? 'denied' : undefined;
  if (probe === 'denied') {
    // A user facing root's 0660 socket: a daemon may well be running, so neither "nothing to stop" (exit 0) nor
    // "start one" is right. A -w still owes its caller a nodeset: the local answer, and stderr says so.
    const why = `${argv0}: cannot talk to the daemon on ${inv.paths.socket}: permission denied`;
    if (!inv.preplacement) {
      io.stderr(`${why}\n`);
      return 1;
    }
    io.stderr(`${why}; answering locally\n`);
    return preplace(inv, inv.preplacement, io, true);
  }
  const alive = probe === 'alive';
  if (alive) {
    if (ops.length > 0) {
      try {
        await sendOptions(inv.paths.socket, ops);
      } catch (err) {
        io.stderr(`${argv0}: the daemon on ${inv.paths.socket} did not take the options: ${(err as Error).message}\n`);
        if (!inv.preplacement) return 1;
      }
    }
    const code = inv.preplacement ? await preplace(inv, inv.preplacement, io) : 0;
    // numad sends -i 0 before the -w and then waits forever for an answer that never comes; we answer first.
    if (shutdown) await sendOptions(inv.paths.socket, [{ opt: 'i', min: inv.interval?.min ?? 0, max: 0 }]).catch(() => undefined);
    return code;
  }
  if (inv.preplacement) return preplace(inv, inv.preplacement, io, probe !== undefined);
  if (shutdown) return 0;
  const { startNumadDaemon } = await import('./numad-daemon-start.js');
  return startNumadDaemon(argv0, inv, startSettings(inv), io);
}

/**
 * Set by the C front end when it has already asked the daemon for this answer: the fallback asks once in all, so
 * libvirt (waiting with the domain locked) waits for one deadline, not two.
 */
export const DAEMON_ASKED_ENV = 'NUMADVISOR_DAEMON_ASKED';

async function preplace(inv: NumadInvocation, req: PreplacementRequest, io: Io, knownDead = false): Promise<number> {
  let nodeset: string | undefined;
  if (!knownDead && process.env[DAEMON_ASKED_ENV] !== '1') {
    try {
      nodeset = (await askDaemon(inv.paths.socket, { ...req, client: 'numad -w' })).nodeset;
    } catch {
      nodeset = undefined;
    }
  }
  if (nodeset === undefined) {
    const settings = startSettings(inv);
    const log = new NumadLog({ path: inv.paths.numadLog, level: settings.logLevel, fallback: io.stderr });
    try {
      if (settings.reservedCpus.length > 0) {
        log.log(LOG_NOTICE, `Reserving ${settings.reservedCpus.length} CPUs (${formatIdList(settings.reservedCpus)}) for non-numad use`);
      }
      // Counts what the daemon promised and records this answer for it (its state directory, when readable).
      const local = await adviseLocally(inv.fsRoot, req, capacityFromSettings(settings), log, undefined, inv.paths.stateDir);
      if (local.note !== undefined) io.stderr(`numad: ${local.note}\n`);
      nodeset = local.advice.nodeset;
    } catch (err) {
      io.stderr(`${(err as Error).message}\n`);
      return 1;
    } finally {
      log.close();
    }
  }
  if (!isCanonicalNodeset(nodeset)) {
    io.stderr('internal error: refusing to print a non-nodeset answer\n');
    return 1;
  }
  io.stdout(`${nodeset}\n`);
  return 0;
}
