// `numadvisor advise`: an answer computed offline from a snapshot file, through the same policies as the daemon.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { capacityOptions, intOption } from '../config/option-values.js';
import { usageError } from '../errors.js';
import { parsePolicy } from '../config/daemon-config.js';
import { deriveCapacity, toPolicyNode } from '../model/capacity.js';
import { HostSnapshotSchema } from '../model/snapshot.js';
import { advise } from '../policy/registry.js';
import { CPUS_TEXT, cpusTextToHundredths } from '../policy/request-units.js';
import type { Io } from './io.js';
import { ADVISE_OPTIONS, ADVISE_POLICY } from './command-options.js';

export function cmdAdvise(args: string[], io: Io): number {
  const { values } = parseArgs({
    args,
    strict: true,
    options: ADVISE_OPTIONS,
  });
  if (!values.snapshot) throw usageError('advise needs --snapshot FILE (or - for stdin)');
  if (values.cpus === undefined || !CPUS_TEXT.test(values.cpus)) {
    throw usageError('advise needs --cpus N with at most two decimals');
  }
  const policy = parsePolicy(values.policy ?? ADVISE_POLICY);
  const memMiB = intOption('mem', values.mem, 0, 0, 1_073_741_824);
  const text = values.snapshot === '-' ? readFileSync(0, 'utf8') : readFileSync(values.snapshot, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw usageError(`${values.snapshot}: not JSON (${(err as Error).message})`);
  }
  const snap = HostSnapshotSchema.safeParse(parsed);
  if (!snap.success) {
    throw usageError(`${values.snapshot}: not a host snapshot: ${snap.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const caps = deriveCapacity(snap.data, capacityOptions(values));
  const advice = advise(policy, caps.map((c) => toPolicyNode(c, { cpuHundredths: 0, memMiB: 0 }, 1)), {
    cpuHundredths: cpusTextToHundredths(values.cpus),
    memMiB,
  });
  io.stdout(values['nodeset-only'] ? `${advice.nodeset}\n` : `${JSON.stringify(advice, null, 2)}\n`);
  return 0;
}

