// zod schemas of numad's settings and option messages: the API's contract for POST /v1/options.
import { z } from 'zod';
import type { NumadOp, NumadSettings } from './numad-settings.js';

export const NumadSettingsSchema: z.ZodType<NumadSettings> = z.object({
  /** -C: count Inactive(file) page cache as free memory */
  inactiveFileIsFree: z.boolean(),
  /** -H: khugepaged scan_sleep_millisecs to set; null = leave the kernel's value alone */
  thpScanSleepMs: z.number().int().nullable(),
  /** -i MIN:MAX, seconds */
  intervalMinS: z.number().int().nonnegative(),
  intervalMaxS: z.number().int().nonnegative(),
  /** -K */
  keepInterleaved: z.boolean(),
  /** -l / -d / -v */
  logLevel: z.number().int(),
  /** -m, percent */
  memLocalityTargetPercent: z.number().int(),
  /** -p / -x / -r */
  includePids: z.array(z.number().int()),
  excludePids: z.array(z.number().int()),
  /** -S */
  scanAll: z.boolean(),
  /** -t, percent */
  htPercent: z.number().int(),
  /** -u, percent */
  utilizationTargetPercent: z.number().int(),
  /** -R */
  reservedCpus: z.array(z.number().int().nonnegative()),
});

export const NumadOpSchema: z.ZodType<NumadOp> = z.discriminatedUnion('opt', [
  z.object({ opt: z.literal('C'), value: z.boolean() }),
  z.object({ opt: z.literal('H'), value: z.number().int() }),
  z.object({ opt: z.literal('i'), min: z.number().int().nonnegative(), max: z.number().int().nonnegative() }),
  z.object({ opt: z.literal('K'), value: z.boolean() }),
  z.object({ opt: z.literal('l'), value: z.number().int() }),
  z.object({ opt: z.literal('m'), value: z.number().int().min(50).max(100) }),
  z.object({ opt: z.literal('p'), pid: z.number().int() }),
  z.object({ opt: z.literal('r'), pid: z.number().int() }),
  z.object({ opt: z.literal('R'), cpus: z.array(z.number().int().nonnegative()) }),
  z.object({ opt: z.literal('S'), value: z.boolean() }),
  z.object({ opt: z.literal('t'), value: z.number().int().min(0).max(100) }),
  z.object({ opt: z.literal('u'), value: z.number().int().min(10).max(130) }),
  z.object({ opt: z.literal('x'), pid: z.number().int() }),
]);

