// The kernel's one-value sysfs/procfs files ("%u\n", "%d\n", "%*pbl\n", "true\n") read strictly: a file that is there
// but does not hold what the kernel writes is a topology error (a wrong fsroot, a kernel we misread), while a file
// that is not there at all is "absent" (undefined) — older kernels and hosts without HMAT, tiers or isolation lack
// them, and that must never stop the daemon.
import { NumadvisorError, topologyError } from '../errors.js';
import type { FsRoot } from './fsroot.js';
import { parseIdList } from './idlist.js';

const show = (text: string): string => JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);

/** A non-negative decimal integer, as "%u\n"/"%lu\n"/"%llu\n" print it. */
export function parseSysfsUint(text: string, where: string): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw topologyError(`${where}: not a non-negative integer: ${show(text)}`);
  const v = Number(t);
  if (!Number.isSafeInteger(v)) throw topologyError(`${where}: integer out of range: ${show(text)}`);
  return v;
}

/** A signed decimal integer ("%d\n"). */
export function parseSysfsInt(text: string, where: string): number {
  const t = text.trim();
  if (!/^-?\d+$/.test(t)) throw topologyError(`${where}: not an integer: ${show(text)}`);
  const v = Number(t);
  if (!Number.isSafeInteger(v)) throw topologyError(`${where}: integer out of range: ${show(text)}`);
  return v;
}

/**
 * A CPU or node list ("%*pbl\n"); empty text is the empty list. parseIdList's own error is a bad request (it also
 * parses what clients send); text read from the host is the host's fault, so it becomes a topology error here.
 */
export function parseSysfsIdList(text: string, where: string): number[] {
  try {
    return parseIdList(text);
  } catch (err) {
    if (err instanceof NumadvisorError) throw topologyError(`${where}: ${err.message}`, err);
    throw err;
  }
}

/** A boolean as sysfs prints one: "true"/"false" (demotion_enabled), also "1"/"0" and "Y"/"N" (module params). */
export function parseSysfsBool(text: string, where: string): boolean {
  const t = text.trim();
  if (t === 'true' || t === '1' || t === 'Y' || t === 'y') return true;
  if (t === 'false' || t === '0' || t === 'N' || t === 'n') return false;
  throw topologyError(`${where}: not a boolean: ${show(text)}`);
}

/** Read a file and parse it, or undefined when the file is not there (or cannot be read). */
export function readParsed<T>(fs: FsRoot, absPath: string, parse: (text: string, where: string) => T): T | undefined {
  const text = fs.readTextMaybe(absPath);
  return text === undefined ? undefined : parse(text, absPath);
}
