// Linux list syntax ("0-3,8,10-11") for CPU and node sets. The same canonical form is numad's -w output and what
// libvirt parses, so formatting must be exact: ascending, runs of two or more written a-b.

export function parseIdList(text: string): number[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const ids = new Set<number>();
  for (const part of trimmed.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`not a list of ids: ${JSON.stringify(text)}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new Error(`descending range in list: ${JSON.stringify(part)}`);
    for (let id = lo; id <= hi; id++) ids.add(id);
  }
  return [...ids].sort((a, b) => a - b);
}

/** numad's -R parser treats any non-digit as a separator ("0-2" is a range, "0 1;2" is three CPUs). */
export function parseLooseCpuList(text: string): number[] {
  const ids = new Set<number>();
  const re = /(\d+)(?:\s*-\s*(\d+))?/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let id = lo; id <= hi; id++) ids.add(id);
  }
  return [...ids].sort((a, b) => a - b);
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
