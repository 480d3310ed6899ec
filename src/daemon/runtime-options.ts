// Options changed while the daemon runs (`numad -u 70`, `numad -R 2-3`, PUT /v1/domains/filter) survive a restart,
// as an operator expects of `numad -u 70` on a host whose daemon systemd restarts. What is kept is the difference
// from the command line the daemon was started with: the command line stays the base, a run-time change overrides
// it until it is changed back at run time (or the file is removed). Written atomically (temp, fsync, rename).
import { closeSync, fsyncSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { openFreshTemp, safeOpen } from '../safe-open.js';
import path from 'node:path';
import { isErrno } from '../errors.js';
import type { DomainFilter } from '../model/domain-filter.js';
import { NumadSettingsSchema } from '../model/numad-settings-schema.js';
import type { NumadSettings } from '../model/numad-settings.js';

export const RUNTIME_OPTIONS_FILE_NAME = 'runtime-options.json';

/**
 * `-p`/`-x` name processes: after a reboot (or long after) those pids belong to other programs, which --apply
 * processes would then move. They last as long as the daemon, as in numad.
 */
const NOT_KEPT: ReadonlySet<keyof NumadSettings> = new Set(['includePids', 'excludePids']);

export interface RuntimeOverrides {
  numad: Partial<NumadSettings>;
  domainFilter?: DomainFilter;
}

export interface LoadedOverrides {
  settings: NumadSettings;
  domainFilter: DomainFilter | undefined;
  /** the settings fields taken from the file, for the log */
  restored: string[];
  /** why the file was set aside, when it was */
  problem?: string;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export function loadRuntimeOverrides(stateDir: string, base: NumadSettings): LoadedOverrides {
  const file = path.join(stateDir, RUNTIME_OPTIONS_FILE_NAME);
  let text: string;
  try {
    text = readOwn(file);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return { settings: base, domainFilter: undefined, restored: [] };
    return { settings: base, domainFilter: undefined, restored: [], problem: `cannot read ${file}: ${(err as Error).message}` };
  }
  const setAside = (why: string): LoadedOverrides => {
    const to = `${file}.corrupt-${Date.now()}`;
    try {
      renameSync(file, to);
    } catch {
      // left where it is; the daemon starts from its command line either way
    }
    return { settings: base, domainFilter: undefined, restored: [], problem: `${why}; moved to ${to}` };
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return setAside(`${file} is not JSON`);
  }
  const o = parsed as { numad?: unknown; domainFilter?: unknown };
  const overrides = typeof o.numad === 'object' && o.numad !== null ? (o.numad as Record<string, unknown>) : {};
  const merged = NumadSettingsSchema.safeParse({ ...base, ...overrides });
  if (!merged.success) return setAside(`${file} holds invalid settings (${merged.error.issues.map((i) => i.path.join('.')).join(', ')})`);
  let domainFilter: DomainFilter | undefined;
  const f = o.domainFilter as { include?: unknown; exclude?: unknown } | undefined;
  if (f !== undefined) {
    const list = (x: unknown): string[] | undefined => (Array.isArray(x) && x.every((s) => typeof s === 'string') ? (x as string[]) : undefined);
    const include = list(f.include);
    const exclude = list(f.exclude);
    if (!include || !exclude) return setAside(`${file} holds an invalid domain filter`);
    domainFilter = { include, exclude };
  }
  return { settings: merged.data, domainFilter, restored: Object.keys(overrides).filter((k) => k in base) };
}

/** Read through safeOpen: never a symlink, never another user's file. */
function readOwn(file: string): string {
  const fd = safeOpen(file, 'read');
  try {
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** Keep what differs from the command line; no file when nothing does. */
export function saveRuntimeOverrides(
  stateDir: string,
  base: NumadSettings,
  current: NumadSettings,
  filter: { base: DomainFilter | undefined; current: DomainFilter | undefined },
): void {
  const numad: Partial<NumadSettings> = {};
  for (const key of Object.keys(current) as (keyof NumadSettings)[]) {
    if (NOT_KEPT.has(key)) continue;
    if (!same(current[key], base[key])) (numad as Record<string, unknown>)[key] = current[key];
  }
  const body: RuntimeOverrides = { numad };
  if (filter.current && !same(filter.current, filter.base)) body.domainFilter = filter.current;
  mkdirSync(stateDir, { recursive: true, mode: 0o750 });
  const file = path.join(stateDir, RUNTIME_OPTIONS_FILE_NAME);
  const { tmp, fd } = openFreshTemp(file, 0o640);
  try {
    writeFileSync(fd, `${JSON.stringify({ schemaVersion: 1, savedAt: new Date().toISOString(), ...body }, null, 1)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
