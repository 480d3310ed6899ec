// Units of a placement request as clients write them.

/** A number of CPUs as clients write it (`?cpus=`, `numadvisor advise --cpus`): up to 7 digits and two decimals. */
export const CPUS_TEXT = /^\d{1,7}(\.\d{1,2})?$/;

/** "2" → 200, "1.5" → 150, "1.25" → 125: numad's unit, exact (no binary floating point involved). */
export function cpusTextToHundredths(text: string): number {
  const [whole, frac = ''] = text.split('.');
  return Number(whole) * 100 + Number(frac.padEnd(2, '0'));
}
