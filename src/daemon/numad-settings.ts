// numad's run-time settings and what changing each one does, with numad's log lines (numad.md §1.2, §3.2).
// Pure: applying an option returns the new settings and the lines to log; the daemon performs the effects.
// No zod here: `numad -w` loads this, and zod alone costs ~100 ms of start-up (schemas: numad-settings-schema.ts).
import { formatIdList } from '../topology/idlist.js';

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
  logLevel: 5,
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

const NOTICE = 5;
const without = (list: number[], pid: number): number[] => list.filter((p) => p !== pid);

export function applyNumadOp(current: NumadSettings, op: NumadOp): OpResult {
  const s: NumadSettings = { ...current, includePids: [...current.includePids], excludePids: [...current.excludePids] };
  const lines: LogLine[] = [];
  const note = (message: string): void => {
    lines.push({ level: NOTICE, message });
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
