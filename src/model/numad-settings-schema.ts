// zod schemas of numad's settings and option messages: the API's contract for POST /v1/options.
import { z } from 'zod';
import { NUMAD_OPTION_LIMITS, numadOpProblem, type NumadOp, type NumadSettings } from './numad-settings.js';

export const NumadSettingsSchema: z.ZodType<NumadSettings> = z.object({
  /** -C: count Inactive(file) page cache as free memory */
  inactiveFileIsFree: z.boolean(),
  /** -H: khugepaged scan_sleep_millisecs to set; null = leave the kernel's value alone */
  thpScanSleepMs: z.number().int().nullable(),
  /** -i MIN:MAX, seconds (bounded like NumadOpSchema: settings also arrive as JSON, in the configuration `numad` hands its background daemon and in runtime-options.json) */
  intervalMinS: z.number().int().min(NUMAD_OPTION_LIMITS.intervalS.min).max(NUMAD_OPTION_LIMITS.intervalS.max),
  intervalMaxS: z.number().int().min(NUMAD_OPTION_LIMITS.intervalS.min).max(NUMAD_OPTION_LIMITS.intervalS.max),
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
  reservedCpus: z.array(z.number().int().min(NUMAD_OPTION_LIMITS.cpuId.min).max(NUMAD_OPTION_LIMITS.cpuId.max)).max(NUMAD_OPTION_LIMITS.cpuId.max + 1),
});

const L = NUMAD_OPTION_LIMITS;
const int = (r: { min: number; max: number }) => z.number().int().min(r.min).max(r.max);
const pid = int(L.pid);

/**
 * One option change. The ranges are numad's (NUMAD_OPTION_LIMITS), so the exported JSON Schema states them; the
 * refinement adds what a per-field range cannot say (-i MAX not below MIN), from the same check the daemon runs.
 */
export const NumadOpSchema: z.ZodType<NumadOp> = z
  .discriminatedUnion('opt', [
    z.object({ opt: z.literal('C'), value: z.boolean() }),
    z.object({ opt: z.literal('H'), value: z.union([z.literal(0), int(L.thpScanSleepMs)]) }),
    z.object({ opt: z.literal('i'), min: int(L.intervalS), max: int(L.intervalS) }),
    z.object({ opt: z.literal('K'), value: z.boolean() }),
    z.object({ opt: z.literal('l'), value: int(L.logLevel) }),
    z.object({ opt: z.literal('m'), value: int(L.memLocalityTargetPercent) }),
    z.object({ opt: z.literal('p'), pid }),
    z.object({ opt: z.literal('r'), pid }),
    z.object({ opt: z.literal('R'), cpus: z.array(int(L.cpuId)).max(L.cpuId.max + 1) }),
    z.object({ opt: z.literal('S'), value: z.boolean() }),
    z.object({ opt: z.literal('t'), value: int(L.htPercent) }),
    z.object({ opt: z.literal('u'), value: int(L.utilizationTargetPercent) }),
    z.object({ opt: z.literal('x'), pid }),
  ])
  .superRefine((op, ctx) => {
    const problem = numadOpProblem(op);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });
