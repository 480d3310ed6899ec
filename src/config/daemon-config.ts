// The daemon's configuration: its shape, its defaults, and how each command that starts a daemon builds it —
// `numadvisor daemon` from its options, `numad` from numad's options and the NUMADVISOR_* environment. The daemon
// that `numad` starts in the background receives the configuration the command built as one JSON value in its
// environment (DAEMON_CONFIG_ENV; read back by daemon-config-schema.ts), never re-encoded as another command's
// options: two encodings of one configuration had to be kept in step by hand.
// Light to load (no zod, no libvirt client until `--libvirt auto` needs it): `numad -w` reads CPU_ALLOCATION_RATIO here.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { configFileError, usageError, UsageError } from '../errors.js';
import { LOG_DEBUG } from '../log/numad-log.js';
import type { DomainFilter } from '../model/domain-filter.js';
import { NUMAD_DEFAULTS, type NumadSettings } from '../model/numad-settings.js';
import { RESERVATION_TTL_MS } from '../model/reservations.js';
import { DEFAULT_POLICY, POLICIES, type PolicyName } from '../policy/registry.js';
import { DEFAULT_MEMORY_GUARD_HEADROOM_MIB, MEMORY_GUARD_MODES, type MemoryGuardMode, type MemoryGuardSettings } from '../balance/memory-guard.js';
import { defaultFsRoot } from '../topology/fsroot.js';
import { CAPACITY_FLAGS, capacityOptions, intOption, switchOption } from './option-values.js';
import { CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE, ENVIRONMENT_ONLY_KEYS, keyForOption, readConfigFile, type ConfigEntry, type ConfigFile } from './config-file.js';
import { currentUid, resolvePaths, SYSTEM_PATHS, type Paths } from './paths.js';

/** What the rebalancer may change: nothing (advise only), plain processes, libvirt domains, or both. */
export const APPLY_MODES = ['none', 'processes', 'domains', 'processes,domains'] as const;
export type ApplyMode = (typeof APPLY_MODES)[number];

/**
 * A reserved vCPU is expected to keep 1/ratio of a CPU busy. Counting it as a whole CPU would make a host refuse
 * single-node answers after one vCPU per core, although KVM hosts overcommit vCPUs routinely; Nova's default
 * initial_cpu_allocation_ratio is 4.0 for the same reason (docs/architecture.md, "Reservations"). Measured load is
 * still counted in full. The daemon's default (--cpu-allocation-ratio), and what a local `numad -w` answer counts with.
 */
export const CPU_ALLOCATION_RATIO = 4;

/** The TCP listener's per-connection deadlines (the server's RequestDeadlines has this shape). */
export interface RequestDeadlinesConfig {
  /** from the connection (or the previous answer) to the end of the request's headers */
  headersMs: number;
  /** from the same start to the end of the request's body */
  requestMs: number;
}

export interface LibvirtConfig {
  uri: string;
  socketPath?: string;
  filter: DomainFilter;
}

export interface DaemonConfig {
  fsRoot: string;
  socketPath: string;
  /** 0660: root and the socket's group (e.g. libvirt's) may ask; others may not, unlike numad's open queue. */
  socketMode: number;
  /** the socket's group (name or gid), e.g. libvirt's, whose members may then use the socket */
  socketGroup?: string;
  /** 127.0.0.1 only; read-only routes unless the request carries the bearer token of apiTokenFile (issue #12 F7) */
  tcpPort?: number;
  /** where the TCP listener's bearer token is written at start (default <stateDir>/api-token; 0640, socket's group) */
  apiTokenFile?: string;
  /** the TCP listener's header and request deadlines (DEFAULT_REQUEST_DEADLINES when unset) */
  requestDeadlines?: RequestDeadlinesConfig;
  stateDir: string;
  numadLogPath: string;
  /** numad's options at start (-C, -t, -R, -l, -i, -H, …); changed later through POST /v1/options. */
  numad: NumadSettings;
  /** numad's pid file; none when undefined. */
  pidFile?: string;
  cpuAllocationRatio: number;
  reservationTtlMs: number;
  /** placement policy for answers (default numadvisor) */
  policy?: PolicyName;
  /** what the rebalancer may change (APPLY_MODES) */
  apply: ApplyMode;
  /** libvirt connection: undefined for none */
  libvirt?: LibvirtConfig;
  /**
   * The memory guard (docs/libvirt.md, "Memory guard"): off, warn, or widen (needs --apply domains); the headroom in
   * MiB below which a bound domain is short. defaultMemoryGuard(apply) when unset.
   */
  memoryGuard?: MemoryGuardSettings;
  /**
   * A moved domain's vCPUs each get one hardware thread, filling the sibling threads of whole cores no other guest
   * uses (docs/libvirt.md, "Moving VMs"); off (each vCPU gets all threads of one core) when unset.
   */
  pinWholeCores?: boolean;
  /** pino's level for the structured log */
  logLevel: string;
  /**
   * The structured log's file, written by path so that SIGHUP after logrotate's rename reopens it (daemon/run.ts);
   * stdout when undefined. Ignored when `logger` is given.
   */
  daemonLogPath?: string;
  logger?: Logger;
}

/** What a daemon runs with when nothing says otherwise. */
export const DAEMON_DEFAULTS = {
  socketMode: 0o660,
  cpuAllocationRatio: CPU_ALLOCATION_RATIO,
  reservationTtlMs: RESERVATION_TTL_MS,
  policy: DEFAULT_POLICY,
  /** `numadvisor daemon` advises only unless --apply says otherwise */
  apply: 'none',
  /** numad moves processes, and so does a daemon the numad command starts (domains too, through libvirt) */
  numadApply: 'processes,domains',
  libvirt: 'auto',
  logLevel: 'info',
} as const satisfies {
  socketMode: number;
  cpuAllocationRatio: number;
  reservationTtlMs: number;
  policy: PolicyName;
  apply: ApplyMode;
  numadApply: ApplyMode;
  libvirt: string;
  logLevel: string;
};

/** Set in the environment of the daemon `numad` starts in the background: its whole DaemonConfig, as JSON. */
export const DAEMON_CONFIG_ENV = 'NUMADVISOR_DAEMON_CONFIG';

export function parsePolicy(text: string): PolicyName {
  if (!(POLICIES as readonly string[]).includes(text)) throw usageError(`unknown policy ${JSON.stringify(text)}; known: ${POLICIES.join(', ')}`);
  return text as PolicyName;
}

/** The guard a daemon runs when nothing says otherwise: it widens when it may move domains, otherwise it warns. */
export function defaultMemoryGuard(apply: ApplyMode): MemoryGuardSettings {
  return { mode: apply.includes('domains') ? 'widen' : 'warn', headroomMiB: DEFAULT_MEMORY_GUARD_HEADROOM_MIB };
}

/**
 * `--memory-guard off|warn|widen` and `--memory-guard-headroom-mib N` (or NUMADVISOR_MEMORY_GUARD and
 * NUMADVISOR_MEMORY_GUARD_HEADROOM_MIB for the daemon `numad` starts); widening changes domains, so it needs
 * `--apply domains`.
 */
export function memoryGuardConfig(modeText: string | undefined, headroomText: string | undefined, apply: ApplyMode, names: { mode: string; headroom: string } = { mode: '--memory-guard', headroom: '--memory-guard-headroom-mib' }): MemoryGuardSettings {
  const fallback = defaultMemoryGuard(apply);
  if (modeText !== undefined && !(MEMORY_GUARD_MODES as readonly string[]).includes(modeText)) throw usageError(`${names.mode} takes ${MEMORY_GUARD_MODES.join(', ')}, got ${JSON.stringify(modeText)}`);
  const mode = (modeText as MemoryGuardMode | undefined) ?? fallback.mode;
  if (mode === 'widen' && !apply.includes('domains')) throw usageError(`${names.mode} widen changes domains' nodesets: it needs --apply domains (or processes,domains)`);
  if (headroomText !== undefined && !/^\d+$/.test(headroomText.trim())) throw usageError(`${names.headroom} must be a whole number of MiB from 0 to 1048576`);
  const headroomMiB = headroomText === undefined ? fallback.headroomMiB : Number(headroomText.trim());
  if (headroomMiB > 1_048_576) throw usageError(`${names.headroom} must be a whole number of MiB from 0 to 1048576`);
  return { mode, headroomMiB };
}

export function parseApply(text: string): ApplyMode {
  // Either order of "processes,domains" is accepted; the mode is spelled as APPLY_MODES spells it.
  const parts = new Set(text.split(',').map((t) => t.trim()));
  const mode = APPLY_MODES.find((m) => {
    const named = m.split(',');
    return named.length === parts.size && named.every((x) => parts.has(x));
  });
  if (mode) return mode;
  throw usageError('--apply takes none, processes, domains or processes,domains');
}

const names = (text: string | undefined): string[] => (text ? text.split(',').map((t) => t.trim()).filter(Boolean) : []);

/** `--libvirt auto|none|URI`; auto: qemu:///system when this host has a libvirt daemon (installed, or its socket is there). */
export async function libvirtConfig(
  value: string,
  socketPath: string | undefined,
  include: string | undefined,
  exclude: string | undefined,
): Promise<LibvirtConfig | undefined> {
  if (value === 'none') return undefined;
  const filter = { include: names(include), exclude: names(exclude) };
  if (value === 'auto') {
    // Loaded here only: the libvirt client's modules are ~10 ms that `numad -w` (which imports this file) never needs.
    const { LIBVIRT_SOCKETS } = await import('../libvirt/client.js');
    const present = [...LIBVIRT_SOCKETS, '/usr/sbin/libvirtd', '/usr/sbin/virtqemud'].some((p) => existsSync(p));
    if (!present && socketPath === undefined) return undefined;
    value = 'qemu:///system';
  }
  if (!/^[a-z][a-z0-9+]*:\/\//.test(value)) throw usageError(`--libvirt takes auto, none or a URI such as qemu:///system, got ${JSON.stringify(value)}`);
  return { uri: value, ...(socketPath ? { socketPath: path.resolve(socketPath) } : {}), filter };
}

/**
 * `numadvisor daemon`'s options. `arg`, `defaultText` and `help` are ignored by parseArgs; `numadvisor daemon --help`
 * and numadvisor(8) print them (src/cli/option-help.ts). Defaults are applied below, not by parseArgs.
 */
export const DAEMON_OPTIONS = {
  ...CAPACITY_FLAGS,
  fsroot: { type: 'string', arg: 'DIR', defaultText: '/', help: 'read /sys and /proc under DIR (a recorded host; NUMADVISOR_FSROOT)' },
  socket: { type: 'string', arg: 'PATH', defaultText: `${SYSTEM_PATHS.socket} (root), $XDG_RUNTIME_DIR/numadvisor/numadvisor.sock`, help: "the API's unix socket (NUMADVISOR_SOCKET)" },
  'socket-mode': { type: 'string', arg: 'OCTAL', defaultText: `0${DAEMON_DEFAULTS.socketMode.toString(8)}`, help: "the socket's mode" },
  'socket-group': { type: 'string', arg: 'GROUP', defaultText: 'the daemon\'s group', help: "the socket's group, e.g. libvirt's, whose members may then ask" },
  'tcp-port': { type: 'string', arg: 'N', defaultText: 'none', help: 'also listen on 127.0.0.1:N; read-only without the bearer token of --api-token-file' },
  'api-token-file': { type: 'string', arg: 'PATH', defaultText: 'STATE_DIR/api-token', help: "the TCP listener's bearer token, written anew (0640) at each start" },
  'state-dir': { type: 'string', arg: 'DIR', defaultText: `${SYSTEM_PATHS.stateDir} (root), $XDG_STATE_HOME/numadvisor`, help: 'reservations journal, lock, run-time options (NUMADVISOR_STATE_DIR)' },
  'log-file': { type: 'string', arg: 'PATH', defaultText: `${SYSTEM_PATHS.numadLog} (root), STATE_DIR/numad.log`, help: "numad's log (NUMADVISOR_LOG_FILE)" },
  'log-level': { type: 'string', arg: 'N', defaultText: String(NUMAD_DEFAULTS.logLevel), help: "numad's log level (numad's -l: 5, 6 or 7)" },
  'pid-file': { type: 'string', arg: 'PATH', defaultText: 'none', help: 'write the pid here' },
  'daemon-log': { type: 'string', arg: 'PATH', defaultText: 'stdout', help: 'the structured log, reopened on SIGHUP' },
  'pino-level': { type: 'string', arg: 'LEVEL', defaultText: DAEMON_DEFAULTS.logLevel, help: "the structured log's level (pino: trace, debug, info, warn, error)" },
  'cpu-allocation-ratio': { type: 'string', arg: 'RATIO', defaultText: String(DAEMON_DEFAULTS.cpuAllocationRatio), help: 'a reserved vCPU counts as 1/RATIO of a CPU (1 to 64)' },
  'reservation-ttl': { type: 'string', arg: 'SECONDS', defaultText: String(DAEMON_DEFAULTS.reservationTtlMs / 1000), help: "how long an answer's reservation waits for its VM" },
  apply: { type: 'string', arg: APPLY_MODES.join('|'), defaultText: DAEMON_DEFAULTS.apply, help: 'what the rebalancer may change (none: advise only)' },
  libvirt: { type: 'string', arg: 'auto|none|URI', defaultText: DAEMON_DEFAULTS.libvirt, help: 'libvirt connection (auto: qemu:///system when libvirt is installed)' },
  'libvirt-socket': { type: 'string', arg: 'PATH', defaultText: "libvirt's", help: "libvirtd's (or virtqemud's) socket" },
  'domain-include': { type: 'string', arg: 'NAME|UUID,...', defaultText: 'all', help: 'advise and move only these domains' },
  'domain-exclude': { type: 'string', arg: 'NAME|UUID,...', defaultText: 'none', help: 'never move these domains' },
  'memory-guard': { type: 'string', arg: MEMORY_GUARD_MODES.join('|'), defaultText: 'widen with --apply domains, else warn', help: "bound VMs short of room for their untouched memory: log them or widen their nodeset (widen needs --apply domains)" },
  'memory-guard-headroom-mib': { type: 'string', arg: 'MIB', defaultText: String(DEFAULT_MEMORY_GUARD_HEADROOM_MIB), help: 'headroom below which a bound VM is short' },
  'pin-whole-cores': { type: 'boolean', help: "a moved VM's vCPUs each get one hardware thread, on whole cores no other VM uses" },
  policy: { type: 'string', arg: POLICIES.join('|'), defaultText: DAEMON_DEFAULTS.policy, help: 'placement policy for answers and rebalancing (docs/policy.md)' },
  config: {
    type: 'string',
    arg: 'FILE|none',
    defaultText: `${DEFAULT_CONFIG_FILE} (root, when present)`,
    help: 'KEY=value settings: NUMADVISOR_ and an option in capitals, e.g. NUMADVISOR_SOCKET_GROUP=libvirt; options and the environment win (NUMADVISOR_CONFIG)',
  },
} as const;

type DaemonOption = Exclude<keyof typeof DAEMON_OPTIONS, 'config'>;
const FILE_OPTIONS = (Object.keys(DAEMON_OPTIONS) as (keyof typeof DAEMON_OPTIONS)[]).filter((o): o is DaemonOption => o !== 'config');
/** Every key the configuration file may set: one per daemon option, and the environment-only ones. */
export const CONFIG_FILE_KEYS: ReadonlySet<string> = new Set([...FILE_OPTIONS.map(keyForOption), ...ENVIRONMENT_ONLY_KEYS]);

/**
 * The configuration file `numadvisor daemon` reads: `--config FILE` or NUMADVISOR_CONFIG (`none`: no file), else
 * /etc/default/numadvisor when running as root and the file exists. A user's daemon never reads the system's file.
 */
export function loadDaemonConfigFile(option: string | undefined, env: NodeJS.ProcessEnv, uid = currentUid()): ConfigFile | undefined {
  const named = option ?? (env[CONFIG_FILE_ENV] || undefined);
  if (named === 'none') return undefined;
  if (named !== undefined) return readConfigFile(path.resolve(named), CONFIG_FILE_KEYS);
  return uid === 0 && existsSync(DEFAULT_CONFIG_FILE) ? readConfigFile(DEFAULT_CONFIG_FILE, CONFIG_FILE_KEYS) : undefined;
}

/**
 * `numadvisor daemon [options]` (its usage is in src/cli/numadvisor-main.ts). Each option's value comes from the
 * command line, else from its NUMADVISOR_* variable (keyForOption), else from the configuration file
 * (loadDaemonConfigFile). Throws UsageError for a bad value given as an option or variable, and configFileError
 * (naming the file and line) for one from the file.
 */
export async function daemonConfigFromArgs(args: string[], env: NodeJS.ProcessEnv, uid = currentUid()): Promise<DaemonConfig> {
  const { values: given } = parseArgs({ args, strict: true, options: DAEMON_OPTIONS });
  const file = loadDaemonConfigFile(given.config, env, uid);
  const values: Partial<Record<DaemonOption, string>> = {};
  const fromFile = new Map<DaemonOption, ConfigEntry>();
  for (const option of FILE_OPTIONS) {
    const key = keyForOption(option);
    const entry = file?.entries.get(key);
    // A switch given on the command line is on: the same as `yes` in the environment or the file.
    const cli = given[option];
    const value = (cli === true ? 'yes' : cli === false ? undefined : cli) ?? (env[key] || undefined) ?? (entry?.value || undefined);
    if (value === undefined) continue;
    values[option] = value;
    if (cli === undefined && !env[key] && entry) fromFile.set(option, entry);
  }
  // The one environment-only key: the file's value reaches the process scan through the environment, as the unit's
  // EnvironmentFile= would put it there.
  const scan = file?.entries.get('NUMADVISOR_SCAN');
  if (scan && scan.value !== '' && !env.NUMADVISOR_SCAN) {
    if (scan.value !== 'typescript' && scan.value !== 'native') throw configFileError(file?.file ?? DEFAULT_CONFIG_FILE, scan.line, `NUMADVISOR_SCAN takes typescript or native, got ${JSON.stringify(scan.value)}`);
    env.NUMADVISOR_SCAN = scan.value;
  }
  /** Runs a parser of the given options' values; a usage error about a value from the file names the file and line. */
  const check = <T>(options: DaemonOption[], parse: () => T | Promise<T>): Promise<T> =>
    Promise.resolve()
      .then(parse)
      .catch((err: unknown) => {
        const culprit = options.find((o) => fromFile.has(o));
        const entry = culprit === undefined ? undefined : fromFile.get(culprit);
        if (!(err instanceof UsageError) || culprit === undefined || entry === undefined || file === undefined) throw err;
        throw configFileError(file.file, entry.line, `${keyForOption(culprit)}=${entry.value}: ${err.message}`);
      });
  const policy = await check(['policy'], () => parsePolicy(values.policy ?? DAEMON_DEFAULTS.policy));
  const apply = await check(['apply'], () => parseApply(values.apply ?? DAEMON_DEFAULTS.apply));
  const libvirt = await check(['libvirt', 'libvirt-socket'], () => libvirtConfig(values.libvirt ?? DAEMON_DEFAULTS.libvirt, values['libvirt-socket'], values['domain-include'], values['domain-exclude']));
  const memoryGuard = await check(['memory-guard', 'memory-guard-headroom-mib'], () => memoryGuardConfig(values['memory-guard'], values['memory-guard-headroom-mib'], apply));
  const pinWholeCores = await check(['pin-whole-cores'], () => switchOption('--pin-whole-cores', values['pin-whole-cores'], false));
  // Options first: a non-root user without XDG_RUNTIME_DIR may still run a daemon on a socket named here.
  const paths = resolvePaths(env, { socket: values.socket, stateDir: values['state-dir'], numadLog: values['log-file'] }, uid);
  const ratio = await check(['cpu-allocation-ratio'], () => {
    const r = values['cpu-allocation-ratio'] === undefined ? DAEMON_DEFAULTS.cpuAllocationRatio : Number(values['cpu-allocation-ratio']);
    if (!Number.isFinite(r) || r < 1 || r > 64) throw usageError('--cpu-allocation-ratio must be a number from 1 to 64');
    return r;
  });
  const modeText = values['socket-mode'];
  const socketMode = await check(['socket-mode'], () => {
    if (modeText !== undefined && !/^0?[0-7]{3}$/.test(modeText)) throw usageError('--socket-mode must be octal, e.g. 0660');
    return modeText === undefined ? DAEMON_DEFAULTS.socketMode : Number.parseInt(modeText, 8);
  });
  const capacity = await check(['C', 't', 'R'], () => capacityOptions(values));
  const numadLogLevel = await check(['log-level'], () => intOption('log-level', values['log-level'], NUMAD_DEFAULTS.logLevel, 0, LOG_DEBUG));
  const tcpPort = await check(['tcp-port'], () => (values['tcp-port'] !== undefined ? intOption('tcp-port', values['tcp-port'], 0, 1, 65535) : undefined));
  const ttlSeconds = await check(['reservation-ttl'], () => intOption('reservation-ttl', values['reservation-ttl'], DAEMON_DEFAULTS.reservationTtlMs / 1000, 1, 86_400));
  const numad: NumadSettings = {
    ...NUMAD_DEFAULTS,
    inactiveFileIsFree: values.C !== undefined ? capacity.inactiveFileIsFree : NUMAD_DEFAULTS.inactiveFileIsFree,
    htPercent: values.t !== undefined ? capacity.htPercent : NUMAD_DEFAULTS.htPercent,
    reservedCpus: values.R !== undefined ? [...capacity.reservedCpus] : NUMAD_DEFAULTS.reservedCpus,
    logLevel: numadLogLevel,
  };
  return {
    fsRoot: values.fsroot ?? defaultFsRoot(env),
    socketPath: path.resolve(paths.socket),
    socketMode,
    ...(values['socket-group'] !== undefined ? { socketGroup: values['socket-group'] } : {}),
    ...(tcpPort !== undefined ? { tcpPort } : {}),
    ...(values['api-token-file'] !== undefined ? { apiTokenFile: path.resolve(values['api-token-file']) } : {}),
    stateDir: path.resolve(paths.stateDir),
    numadLogPath: path.resolve(paths.numadLog),
    ...(values['pid-file'] !== undefined ? { pidFile: path.resolve(values['pid-file']) } : {}),
    numad,
    cpuAllocationRatio: ratio,
    reservationTtlMs: ttlSeconds * 1000,
    apply,
    policy,
    ...(libvirt ? { libvirt } : {}),
    memoryGuard,
    ...(pinWholeCores ? { pinWholeCores } : {}),
    logLevel: values['pino-level'] ?? DAEMON_DEFAULTS.logLevel,
    ...(values['daemon-log'] !== undefined ? { daemonLogPath: path.resolve(values['daemon-log']) } : {}),
  };
}

/** What the numad command resolved: its paths and host root (options over NUMADVISOR_* variables) and its settings. */
export interface NumadDaemonRequest {
  fsRoot: string;
  paths: Paths;
  /** numad's defaults with the command's options applied */
  settings: NumadSettings;
  /** a daemon detached from the command writes its structured log to paths.daemonLog; in the foreground, stdout */
  background: boolean;
}

/**
 * The daemon `numad` runs (in the foreground with --foreground, otherwise in the background): numad's paths, pid
 * file and settings; it moves processes and domains, as numad does. NUMADVISOR_LIBVIRT (auto, none or a URI) and
 * NUMADVISOR_LIBVIRT_SOCKET stand for `numadvisor daemon --libvirt` and `--libvirt-socket`; NUMADVISOR_MEMORY_GUARD
 * and NUMADVISOR_MEMORY_GUARD_HEADROOM_MIB for `--memory-guard` and `--memory-guard-headroom-mib`;
 * NUMADVISOR_PIN_WHOLE_CORES for `--pin-whole-cores`.
 */
export async function numadDaemonConfig(request: NumadDaemonRequest, env: NodeJS.ProcessEnv): Promise<DaemonConfig> {
  const libvirt = await libvirtConfig(env.NUMADVISOR_LIBVIRT ?? DAEMON_DEFAULTS.libvirt, env.NUMADVISOR_LIBVIRT_SOCKET || undefined, undefined, undefined);
  const memoryGuard = memoryGuardConfig(env.NUMADVISOR_MEMORY_GUARD || undefined, env.NUMADVISOR_MEMORY_GUARD_HEADROOM_MIB || undefined, DAEMON_DEFAULTS.numadApply, {
    mode: 'NUMADVISOR_MEMORY_GUARD',
    headroom: 'NUMADVISOR_MEMORY_GUARD_HEADROOM_MIB',
  });
  const pinWholeCores = switchOption('NUMADVISOR_PIN_WHOLE_CORES', env.NUMADVISOR_PIN_WHOLE_CORES || undefined, false);
  return {
    fsRoot: path.resolve(request.fsRoot),
    socketPath: path.resolve(request.paths.socket),
    socketMode: DAEMON_DEFAULTS.socketMode,
    stateDir: path.resolve(request.paths.stateDir),
    numadLogPath: path.resolve(request.paths.numadLog),
    pidFile: path.resolve(request.paths.pidFile),
    numad: request.settings,
    cpuAllocationRatio: DAEMON_DEFAULTS.cpuAllocationRatio,
    reservationTtlMs: DAEMON_DEFAULTS.reservationTtlMs,
    policy: DAEMON_DEFAULTS.policy,
    apply: DAEMON_DEFAULTS.numadApply,
    ...(libvirt ? { libvirt } : {}),
    memoryGuard,
    ...(pinWholeCores ? { pinWholeCores } : {}),
    logLevel: DAEMON_DEFAULTS.logLevel,
    ...(request.background ? { daemonLogPath: path.resolve(request.paths.daemonLog) } : {}),
  };
}

/** The value of DAEMON_CONFIG_ENV for a daemon started with `config` (a logger object does not cross processes). */
export function encodeDaemonConfig(config: DaemonConfig): string {
  const { logger: _notSerialisable, ...plain } = config;
  return JSON.stringify(plain);
}
