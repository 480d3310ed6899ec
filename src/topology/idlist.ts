// Linux list syntax ("0-3,8,10-11") for CPU and node sets. The same canonical form is numad's -w output and what
// libvirt parses, so formatting must be exact: ascending, runs of two or more written a-b.
import { badRequest } from '../errors.js';

/**
 * Every id in a list is below this. Linux is built for at most 8192 CPUs (x86-64 CONFIG_MAXSMP's NR_CPUS, the largest
 * of any architecture) and at most 1024 nodes (NODES_SHIFT 10), so no host has an id this high; a list that names one
 * is a mistake or an attack. Checked before a range is walked: `0-300000000` used to add 300 million ids (8 s, then a
 * crash), and an id past 2^53 never ended, since `id++` no longer changes it. A fixed bound, not the host's own count:
 * the parsers are pure and run where the host is not known (`numad -R` is parsed before `--fsroot`, a daemon's answer
 * is checked by a client that never reads sysfs); ids beyond the host are harmless, as in numad.
 */
export const ID_LIMIT = 8192;

/** An id as written, or a coded error when it is not below ID_LIMIT (digits this long are compared exactly). */
function boundedId(digits: string, text: string): number {
  const id = Number(digits);
  if (id >= ID_LIMIT) throw badRequest(`id ${digits} in ${JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text)}: ids must be below ${ID_LIMIT}`);
  return id;
}

/**
 * Marks ids in a bitmap over 0..ID_LIMIT-1: repeated or overlapping ranges cost a memset, not a Set insertion per id,
 * and the ids come out sorted. Only the span between the lowest and highest mark is read back (sysfs lists are short).
 */
class IdMarks {
  private readonly seen = new Uint8Array(ID_LIMIT);
  private low = ID_LIMIT;
  private high = -1;

  mark(lo: number, hi: number): void {
    this.seen.fill(1, lo, hi + 1);
    this.low = Math.min(this.low, lo);
    this.high = Math.max(this.high, hi);
  }

  ids(): number[] {
    const out: number[] = [];
    for (let id = this.low; id <= this.high; id++) if (this.seen[id] === 1) out.push(id);
    return out;
  }
}

export function parseIdList(text: string): number[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const marks = new IdMarks();
  for (const part of trimmed.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw badRequest(`not a list of ids: ${JSON.stringify(text)}`);
    const lo = boundedId(m[1] as string, text);
    const hi = m[2] === undefined ? lo : boundedId(m[2], text);
    if (hi < lo) throw badRequest(`descending range in list: ${JSON.stringify(part)}`);
    marks.mark(lo, hi);
  }
  return marks.ids();
}

/**
 * numad's -R parser treats any non-digit as a separator ("0-2" is a range, "0 1;2" is three CPUs). numad drops ids
 * beyond the host's CPU count silently; one at or above ID_LIMIT is refused here (a coded error with the reason).
 */
export function parseLooseCpuList(text: string): number[] {
  const marks = new IdMarks();
  const re = /(\d+)(?:\s*-\s*(\d+))?/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const lo = boundedId(m[1] as string, text);
    const hi = m[2] === undefined ? lo : boundedId(m[2], text);
    if (hi >= lo) marks.mark(lo, hi);
  }
  return marks.ids();
}

export function formatIdList(ids: Iterable<number>): string {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] as number) + 1) j++;
    parts.push(j > i ? `${sorted[i]}-${sorted[j]}` : `${sorted[i]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** The shape of a list (digits, ranges, commas); isCanonicalNodeset also checks order and ranges. */
export const CANONICAL_NODESET = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

/** Exactly what formatIdList prints: ascending, no duplicates, runs of two or more written a-b. */
export function isCanonicalNodeset(text: string): boolean {
  if (text.length > 4096 || !CANONICAL_NODESET.test(text)) return false;
  try {
    return formatIdList(parseIdList(text)) === text;
  } catch {
    return false;
  }
}
