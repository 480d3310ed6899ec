// Reading back the configuration `numad` hands to the daemon it starts (DAEMON_CONFIG_ENV, see daemon-config.ts).
// Checked field by field although the same program wrote it: a value in the environment can come from anywhere, and
// a daemon must refuse what it does not understand rather than run on part of it. Loaded by the daemon only (zod).
import { z } from 'zod';
import { daemonConfigInvalid, daemonConfigNotJson } from '../errors.js';
import { NumadSettingsSchema } from '../model/numad-settings-schema.js';
import { POLICIES } from '../policy/registry.js';
import { MEMORY_GUARD_MODES } from '../balance/memory-guard.js';
import { APPLY_MODES, type DaemonConfig } from './daemon-config.js';

const absolutePath = z.string().refine((p) => p.startsWith('/'), 'must be an absolute path');
const positiveInt = z.number().int().positive();

const DaemonConfigSchema = z.strictObject({
  fsRoot: absolutePath,
  socketPath: absolutePath,
  socketMode: z.number().int().min(0).max(0o777),
  socketGroup: z.string().optional(),
  tcpPort: z.number().int().min(1).max(65535).optional(),
  apiTokenFile: absolutePath.optional(),
  requestDeadlines: z.strictObject({ headersMs: positiveInt, requestMs: positiveInt }).optional(),
  stateDir: absolutePath,
  numadLogPath: absolutePath,
  numad: NumadSettingsSchema,
  pidFile: absolutePath.optional(),
  cpuAllocationRatio: z.number().min(1).max(64),
  reservationTtlMs: positiveInt,
  policy: z.enum(POLICIES).optional(),
  apply: z.enum(APPLY_MODES),
  libvirt: z
    .strictObject({
      uri: z.string(),
      socketPath: absolutePath.optional(),
      filter: z.strictObject({ include: z.array(z.string()), exclude: z.array(z.string()) }),
    })
    .optional(),
  memoryGuard: z.strictObject({ mode: z.enum(MEMORY_GUARD_MODES), headroomMiB: z.number().int().min(0).max(1_048_576) }).optional(),
  pinWholeCores: z.boolean().optional(),
  logLevel: z.string(),
  daemonLogPath: absolutePath.optional(),
}) satisfies z.ZodType<Omit<DaemonConfig, 'logger'>>;

/** The DaemonConfig in `text` (encodeDaemonConfig's output), or an Error saying what is wrong with it. */
export function decodeDaemonConfig(text: string): DaemonConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw daemonConfigNotJson((err as Error).message);
  }
  const parsed = DaemonConfigSchema.safeParse(value);
  if (!parsed.success) throw daemonConfigInvalid(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return parsed.data;
}
