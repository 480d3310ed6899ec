// numad's run-time settings and what changing each one does, with numad's log lines (numad.md §1.2, §3.2).
// Pure: applying an option returns the new settings and the lines to log; the daemon performs the effects.
// No zod here: `numad -w` loads this, and zod alone costs ~100 ms of start-up (schemas: numad-settings-schema.ts).
import { formatIdList, ID_LIMIT } from '../topology/idlist.js';
import { LOG_NOTICE } from '../log/numad-log.js';
import type { CapacityOptions } from './capacity.js';

export interface NumadSettings {
  /** -C: count Inactive(file) page cache as free memory */
  inactiveFileIsFree: boolean;
  /** -H: khugepaged scan_sleep_millisecs to set; null = leave the kernel's value alone */
  thpScanSleepMs: number | null;
  /** -i MIN:MAX, seconds */
  intervalMinS: number;
  intervalMaxS: number;
  /** -K */
  keepInterleaved: boolean;
  /** -l / -d / -v */
  logLevel: number;
  /** -m, percent */
  memLocalityTargetPercent: number;
  /** -p / -x / -r */
  includePids: number[];
  excludePids: number[];
  /** -S */
  scanAll: boolean;
  /** -t, percent */
  htPercent: number;
  /** -u, percent */
  utilizationTargetPercent: number;
  /** -R */
  reservedCpus: number[];
}

export const NUMAD_DEFAULTS: NumadSettings = {
  inactiveFileIsFree: true,
  thpScanSleepMs: null,
  intervalMinS: 5,
  intervalMaxS: 15,
  keepInterleaved: false,
  logLevel: LOG_NOTICE,
  memLocalityTargetPercent: 90,
  includePids: [],
  excludePids: [],
  scanAll: true,
  htPercent: 20,
  utilizationTargetPercent: 85,
  reservedCpus: [],
};

/** One option change, as `numad -X value` sends it to a running daemon. */
export type NumadOp =
  | { opt: 'C'; value: boolean }
  | { opt: 'H'; value: number }
  | { opt: 'i'; min: number; max: number }
  | { opt: 'K'; value: boolean }
  | { opt: 'l'; value: number }
  | { opt: 'm'; value: number }
  | { opt: 'p'; pid: number }
  | { opt: 'r'; pid: number }
  | { opt: 'R'; cpus: number[] }
  | { opt: 'S'; value: boolean }
  | { opt: 't'; value: number }
  | { opt: 'u'; value: number }
  | { opt: 'x'; pid: number };

/**
 * The values numad accepts for each option (numad.md §1.2; src/cli/numad-main.ts applies the same at the command
 * line), plus bounds numad leaves to chance where an unbounded value would hurt the daemon.
 */
export const NUMAD_OPTION_LIMITS = {
  /** -H: 0 (leave the kernel's value alone) or 10..1000000 ms ("THP scan_sleep_ms must be > 9 and < 1000001") */
  thpScanSleepMs: { min: 10, max: 1_000_000 },
  /** -m, percent */
  memLocalityTargetPercent: { min: 50, max: 100 },
  /** -t, percent */
  htPercent: { min: 0, max: 100 },
  /** -u, percent */
  utilizationTargetPercent: { min: 10, max: 130 },
  /** -i, seconds: what numad's int holds (a longer wait than Node's timers take is the rebalancer's to clamp) */
  intervalS: { min: 0, max: 2_147_483_647 },
  /** -l: numad takes any int (negative silences everything); an int is what its atoi can produce */
  logLevel: { min: -(2 ** 31), max: 2 ** 31 - 1 },
  /** -p/-r/-x: PID_MAX_LIMIT on 64-bit Linux (4194304) bounds every pid; 0 and below name no process */
  pid: { min: 1, max: 4_194_304 },
  /** -R: CPU ids below ID_LIMIT (8192, x86-64 MAXSMP's NR_CPUS, the most any kernel is built for), one entry per id at most */
  cpuId: { min: 0, max: ID_LIMIT - 1 },
} as const;

const inRange = (v: number, r: { min: number; max: number }): boolean => Number.isInteger(v) && v >= r.min && v <= r.max;
const range = (r: { min: number; max: number }): string => `${r.min}..${r.max}`;

/** What is wrong with an option change, in numad's terms, or undefined when numad would take it. */
export function numadOpProblem(op: NumadOp): string | undefined {
  const L = NUMAD_OPTION_LIMITS;
  switch (op.opt) {
    case 'C':
    case 'K':
    case 'S':
      return undefined;
    case 'H':
      return op.value === 0 || inRange(op.value, L.thpScanSleepMs) ? undefined : `-H ${op.value}: must be 0 or ${range(L.thpScanSleepMs)} ms`;
    case 'i':
      if (!inRange(op.min, L.intervalS) || !inRange(op.max, L.intervalS)) return `-i ${op.min}:${op.max}: MIN and MAX must be ${range(L.intervalS)} seconds`;
      // MAX 0 stops the daemon whatever MIN says; otherwise numad's client refuses MAX below MIN.
      return op.max !== 0 && op.max < op.min ? `-i ${op.min}:${op.max}: max interval must not be below min interval` : undefined;
    case 'l':
      return inRange(op.value, L.logLevel) ? undefined : `-l ${op.value}: must be a 32-bit integer`;
    case 'm':
      return inRange(op.value, L.memLocalityTargetPercent) ? undefined : `-m ${op.value}: must be ${range(L.memLocalityTargetPercent)}`;
    case 't':
      return inRange(op.value, L.htPercent) ? undefined : `-t ${op.value}: must be ${range(L.htPercent)}`;
    case 'u':
      return inRange(op.value, L.utilizationTargetPercent) ? undefined : `-u ${op.value}: must be ${range(L.utilizationTargetPercent)}`;
    case 'p':
    case 'r':
    case 'x':
      return inRange(op.pid, L.pid) ? undefined : `-${op.opt} ${op.pid}: a pid is ${range(L.pid)}`;
    case 'R': {
      if (op.cpus.length > L.cpuId.max + 1) return `-R: at most ${L.cpuId.max + 1} CPUs`;
      const bad = op.cpus.find((c) => !inRange(c, L.cpuId));
      return bad === undefined ? undefined : `-R: CPU ${bad} is outside ${range(L.cpuId)}`;
    }
  }
}

export interface LogLine {
  level: number;
  message: string;
}

export interface OpResult {
  settings: NumadSettings;
  lines: LogLine[];
  /** -i with MAX 0: numad shuts down. */
  shutdown: boolean;
  /** the capacity model must be re-derived (C, t, R) */
  capacityChanged: boolean;
  /** -H asks the daemon to (re)apply the THP knob */
  thpChanged: boolean;
}

const without = (list: number[], pid: number): number[] => list.filter((p) => p !== pid);

export function applyNumadOp(current: NumadSettings, op: NumadOp): OpResult {
  const s: NumadSettings = { ...current, includePids: [...current.includePids], excludePids: [...current.excludePids] };
  const lines: LogLine[] = [];
  const note = (message: string): void => {
    lines.push({ level: LOG_NOTICE, message });
  };
  let shutdown = false;
  let capacityChanged = false;
  let thpChanged = false;
  switch (op.opt) {
    case 'C':
      s.inactiveFileIsFree = op.value;
      capacityChanged = true;
      note(op.value ? 'Counting inactive file cache as available' : 'Counting inactive file cache as unavailable');
      break;
    case 'H':
      s.thpScanSleepMs = op.value === 0 ? null : op.value;
      thpChanged = op.value !== 0;
      break;
    case 'i':
      if (op.max <= 0) {
        shutdown = true;
      } else {
        s.intervalMinS = op.min;
        s.intervalMaxS = op.max;
        note(`Changing interval to ${op.min}:${op.max}`);
      }
      break;
    case 'K':
      s.keepInterleaved = op.value;
      note(op.value ? 'Keeping interleaved memory spread across nodes' : 'Merging interleaved memory to localized NUMA nodes');
      break;
    case 'l':
      // numad logs this at NOTICE before changing the level, so it is missing when the old level is below 5.
      note(`Changing log level to ${op.value}`);
      s.logLevel = op.value;
      break;
    case 'm':
      s.memLocalityTargetPercent = op.value;
      note(`Changing target memory locality to ${op.value}`);
      break;
    case 'p':
      s.excludePids = without(s.excludePids, op.pid);
      if (!s.includePids.includes(op.pid)) s.includePids.push(op.pid);
      note(`Adding PID ${op.pid} to inclusion PID list`);
      break;
    case 'r':
      s.includePids = without(s.includePids, op.pid);
      s.excludePids = without(s.excludePids, op.pid);
      note(`Removing PID ${op.pid} from explicit PID lists`);
      break;
    case 'x':
      s.includePids = without(s.includePids, op.pid);
      if (!s.excludePids.includes(op.pid)) s.excludePids.push(op.pid);
      note(`Adding PID ${op.pid} to exclusion PID list`);
      break;
    case 'R':
      s.reservedCpus = [...op.cpus];
      capacityChanged = true;
      note(`Reserving ${op.cpus.length} CPUs (${formatIdList(op.cpus)}) for non-numad use`);
      break;
    case 'S':
      s.scanAll = op.value;
      note(op.value ? 'Scanning all processes' : 'Scanning only explicit PID list processes');
      break;
    case 't':
      s.htPercent = op.value;
      capacityChanged = true;
      note(`Changing logical CPU thread percent to ${op.value}`);
      break;
    case 'u':
      s.utilizationTargetPercent = op.value;
      note(`Changing target utilization to ${op.value}`);
      break;
  }
  return { settings: s, lines, shutdown, capacityChanged, thpChanged };
}

export function capacityFromSettings(s: NumadSettings): CapacityOptions {
  return { inactiveFileIsFree: s.inactiveFileIsFree, htPercent: s.htPercent, reservedCpus: new Set(s.reservedCpus) };
}
