// The daemon's configuration file, /etc/default/numadvisor (installed by the Debian package as a conffile, every key
// documented in it: packaging/deb/numadvisor.default). One format for two readers: systemd reads it into the
// unit's environment (EnvironmentFile=), and `numadvisor daemon` reads it itself, so a daemon started by hand on
// the same host runs with the same settings. Hence a strict subset of what both a shell and systemd understand:
//
//   # a comment (whole lines only)
//   NUMADVISOR_SOCKET_GROUP=libvirt
//   NUMADVISOR_APPLY="processes,domains"      (double or single quotes; no $, `, \ or quote inside)
//
// Each key is NUMADVISOR_ and a `numadvisor daemon` option in capitals with _ for - (--socket-group:
// NUMADVISOR_SOCKET_GROUP; numad's -C, -t and -R: NUMADVISOR_INACTIVE_FILE_IS_FREE, NUMADVISOR_HT_PERCENT,
// NUMADVISOR_RESERVED_CPUS), plus NUMADVISOR_SCAN. An empty value means unset. An option on the command line wins
// over the same variable in the environment, which wins over the file. Anything else (an unknown key, a line that
// is not KEY=value, a quote that does not close) is an error naming the file and the line.
import { readFileSync } from 'node:fs';
import { configFileError } from '../errors.js';

/** The file `numadvisor daemon` reads as root when neither --config nor NUMADVISOR_CONFIG names another. */
export const DEFAULT_CONFIG_FILE = '/etc/default/numadvisor';
/** Names another file, or `none` for no file. */
export const CONFIG_FILE_ENV = 'NUMADVISOR_CONFIG';

/** numad's one-letter options: the file spells out what they mean. */
const SHORT_OPTION_KEYS: Readonly<Record<string, string>> = Object.freeze({
  C: 'NUMADVISOR_INACTIVE_FILE_IS_FREE',
  t: 'NUMADVISOR_HT_PERCENT',
  R: 'NUMADVISOR_RESERVED_CPUS',
});

/** Variables the daemon reads from its environment only (no option): the file's value is put in the environment. */
export const ENVIRONMENT_ONLY_KEYS = ['NUMADVISOR_SCAN'] as const;

/** The file's (and the environment's) name for a daemon option: `socket-group` → NUMADVISOR_SOCKET_GROUP. */
export function keyForOption(option: string): string {
  return SHORT_OPTION_KEYS[option] ?? `NUMADVISOR_${option.toUpperCase().replaceAll('-', '_')}`;
}

export interface ConfigEntry {
  value: string;
  /** 1-based line number in the file */
  line: number;
}

export interface ConfigFile {
  file: string;
  entries: ReadonlyMap<string, ConfigEntry>;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const UNQUOTED = /^[^"'`$\\\s]*$/;

/**
 * Parses the file's text; `known` is every key it may set. Throws configFileError (NUMADVISOR_ERR_USAGE, naming
 * the file and the line) for anything it does not understand. A key given twice: the later line wins, as in both
 * a shell and systemd.
 */
export function parseConfigFile(file: string, text: string, known: ReadonlySet<string>): ConfigFile {
  const entries = new Map<string, ConfigEntry>();
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const eq = trimmed.indexOf('=');
    if (eq <= 0) throw configFileError(file, line, `expected KEY=value, got ${JSON.stringify(trimmed.slice(0, 80))}`);
    const key = trimmed.slice(0, eq);
    if (!KEY.test(key)) throw configFileError(file, line, `${JSON.stringify(key.slice(0, 80))} is not a variable name`);
    if (!known.has(key)) throw configFileError(file, line, `unknown key ${key}; known: ${[...known].sort().join(', ')}`);
    entries.set(key, { value: unquote(file, line, key, trimmed.slice(eq + 1)), line });
  });
  return { file, entries };
}

function unquote(file: string, line: number, key: string, text: string): string {
  const q = text[0];
  if (q === '"' || q === "'") {
    if (text.length < 2 || text[text.length - 1] !== q) throw configFileError(file, line, `${key}: the quote does not close at the end of the line`);
    const inner = text.slice(1, -1);
    if (/["'`$\\]/.test(inner)) throw configFileError(file, line, `${key}: no quotes, $, \` or \\ inside a quoted value (the shell and systemd read them differently)`);
    return inner;
  }
  if (!UNQUOTED.test(text)) throw configFileError(file, line, `${key}: quote a value with spaces, and use no quotes, $, \` or \\ inside it`);
  return text;
}

/** Reads and parses the file; a missing or unreadable file is an error too (the caller decides whether to read). */
export function readConfigFile(file: string, known: ReadonlySet<string>): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw configFileError(file, undefined, (err as Error).message);
  }
  return parseConfigFile(file, text, known);
}
