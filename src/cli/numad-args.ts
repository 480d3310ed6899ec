// numad's value grammars, byte for byte where users can see the difference.
import { NUMAD_OPTION_LIMITS } from '../model/numad-settings.js';

export interface PreplacementRequest {
  cpuHundredths: number;
  memMiB: number;
}

const LEADING_INT = /^[ \t\n\v\f\r]*([+-]?)(\d+)/;

/**
 * `-w CPUs[:MB]` as numad parses it: CPUs is an integer with an optional fraction of which two digits count
 * (hundredths, truncated); `.5` (no leading digit), negatives, `2:` and `:512` are errors; anything after the CPU
 * part that is not `:` is ignored (`2x`), as is anything after MB (`2:512:7`). Returns undefined on error.
 */
export function parsePreplacementArg(arg: string): PreplacementRequest | undefined {
  const cpu = LEADING_INT.exec(arg);
  if (!cpu || cpu[1] === '-') return undefined;
  let rest = arg.slice(cpu[0].length);
  let fraction = 0;
  if (rest.startsWith('.')) {
    const digits = /^\.(\d*)/.exec(rest)?.[1] ?? '';
    fraction = Number(digits.slice(0, 2).padEnd(2, '0'));
    rest = rest.slice(1 + digits.length);
  }
  const cpuHundredths = Number(cpu[2]) * 100 + fraction;
  if (!rest.startsWith(':')) return { cpuHundredths, memMiB: 0 };
  const mem = LEADING_INT.exec(rest.slice(1));
  if (!mem || mem[1] === '-') return undefined;
  return { cpuHundredths, memMiB: Number(mem[2]) };
}

/** C's atoi: leading blanks, optional sign, digits; anything else gives 0. */
export function atoi(text: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(text);
  return m ? Number.parseInt(m[1] as string, 10) : 0;
}

/**
 * The largest interval numad can hold: it keeps `-i` in a C int (and sleeps that many seconds). Larger values wrap in
 * numad (99999999999 became 1215752191, 2147483648 a negative "Can't parse"); we refuse all of them with numad's
 * message. Anything up to this is accepted as numad accepts it; the rebalancer clamps a wait longer than its timers
 * can hold (2^31-1 ms, 24.8 days).
 */
export const MAX_INTERVAL_S = NUMAD_OPTION_LIMITS.intervalS.max;

/**
 * `-i [MIN:]MAX` as numad parses it: strtol-like numbers (leading blanks and `+` allowed), a fraction after `.` is
 * skipped, anything after the last number is ignored; negatives, empty fields, no digits, or values above
 * MAX_INTERVAL_S are errors.
 */
export function parseIntervalArg(arg: string): { min?: number; max: number } | undefined {
  const num = /^[ \t\n\v\f\r]*([+-]?)(\d+)(?:\.\d*)?/;
  const value = (m: RegExpExecArray | null): number | undefined => {
    if (!m || m[1] === '-') return undefined;
    const n = Number(m[2]);
    return n <= MAX_INTERVAL_S ? n : undefined;
  };
  const first = num.exec(arg);
  const a = value(first);
  if (!first || a === undefined) return undefined;
  const rest = arg.slice(first[0].length);
  if (!rest.startsWith(':')) return { max: a };
  const b = value(num.exec(rest.slice(1)));
  if (b === undefined) return undefined;
  return { min: a, max: b };
}
