// Values of command-line options shared by more than one command: whole numbers in a range and numad's capacity
// options (-C, -t, -R), which both `numadvisor daemon` and `numadvisor advise` take.
import { usageError } from '../errors.js';
import { NUMAD_DEFAULT_CAPACITY_OPTIONS, type CapacityOptions } from '../model/capacity.js';
import { NUMAD_OPTION_LIMITS } from '../model/numad-settings.js';
import { parseLooseCpuList } from '../topology/idlist.js';

/**
 * `node:util` parseArgs declarations of the capacity options. `arg`, `defaultText` and `help` (ignored by parseArgs)
 * are what `numadvisor <command> --help` and the man pages print (src/cli/option-help.ts).
 */
export const CAPACITY_FLAGS = {
  C: { type: 'string', short: 'C', arg: '0|1', defaultText: NUMAD_DEFAULT_CAPACITY_OPTIONS.inactiveFileIsFree ? '1' : '0', help: "count inactive file cache as free memory (numad's -C)" },
  t: { type: 'string', short: 't', arg: 'PERCENT', defaultText: String(NUMAD_DEFAULT_CAPACITY_OPTIONS.htPercent), help: "what a hyperthread sibling counts for, in percent of a core (numad's -t)" },
  R: { type: 'string', short: 'R', arg: 'CPULIST', defaultText: 'none', help: "CPUs left out of placement (numad's -R)" },
} as const;

export function intOption(name: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw usageError(`--${name} must be a whole number, got ${JSON.stringify(text)}`);
  const v = Number(text);
  if (v < min || v > max) throw usageError(`--${name} must be between ${min} and ${max}`);
  return v;
}

/** A switch's value from the environment or the configuration file (yes/no, true/false, on/off, 1/0); `label` names it. */
export function switchOption(label: string, text: string | undefined, fallback: boolean): boolean {
  if (text === undefined) return fallback;
  const t = text.trim().toLowerCase();
  if (['1', 'yes', 'true', 'on'].includes(t)) return true;
  if (['0', 'no', 'false', 'off'].includes(t)) return false;
  throw usageError(`${label} takes yes or no (1/0, true/false, on/off), got ${JSON.stringify(text)}`);
}

export function capacityOptions(values: { C?: string; t?: string; R?: string }): CapacityOptions {
  const o: CapacityOptions = { ...NUMAD_DEFAULT_CAPACITY_OPTIONS, reservedCpus: new Set() };
  if (values.C !== undefined) {
    if (values.C !== '0' && values.C !== '1') throw usageError('-C takes 0 or 1');
    o.inactiveFileIsFree = values.C === '1';
  }
  o.htPercent = intOption('t', values.t, o.htPercent, NUMAD_OPTION_LIMITS.htPercent.min, NUMAD_OPTION_LIMITS.htPercent.max);
  if (values.R !== undefined) {
    try {
      o.reservedCpus = new Set(parseLooseCpuList(values.R));
    } catch (err) {
      // An id of 8192 or more (or a range up to one): a usage error with the parser's reason, not a stack trace.
      throw usageError(`-R ${values.R}: ${(err as Error).message}`);
    }
  }
  return o;
}
