// `numadvisor`: the daemon and the operator's tools (snapshot, offline advice, schema export).
import { parseArgs } from 'node:util';
import { existsSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defaultPaths, resolvePaths } from '../config/paths.js';
import { defaultFsRoot, FsRoot } from '../topology/fsroot.js';
import { HostObserver } from '../observe/host-observer.js';
import { basePageKiB, listPids, readProcess } from '../observe/processes.js';
import { readProcMeminfo } from '../topology/sysfs.js';
import { deriveCapacity, NUMAD_DEFAULT_CAPACITY_OPTIONS, type CapacityOptions } from '../model/capacity.js';
import { HostSnapshotSchema } from '../model/snapshot.js';
import { RESERVATION_TTL_MS, type Reservation } from '../model/reservations.js';
import { advise, POLICIES, type PolicyName } from '../policy/numadvisor.js';
import { formatIdList, parseLooseCpuList } from '../topology/idlist.js';
import { LIBVIRT_SOCKETS } from '../libvirt/client.js';
import { requestDaemon } from './advice-client.js';
import { APPLY_MODES, type ApplyMode } from '../daemon/rebalancer.js';
import { NUMAD_DEFAULTS, type NumadSettings } from '../model/numad-settings.js';
import { NumadSettingsSchema } from '../model/numad-settings-schema.js';
import { CPU_ALLOCATION_RATIO } from '../daemon/advisor-service.js';
import { toPolicyNode } from '../model/capacity.js';
import { cpusTextToHundredths } from '../policy/request-units.js';
import { EXPORTED_SCHEMAS } from '../server/api-schemas.js';
import { VERSION } from '../version.js';
import type { ReopenableLog } from '../log/daemon-log.js';
import type { Logger } from 'pino';

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

class UsageError extends Error {}

const USAGE = `Usage: numadvisor <command> [options]

Commands:
  daemon     run the placement daemon (HTTP API on a unix socket)
  snapshot   print this host's NUMA model as JSON (schemas/host-snapshot.schema.json)
  advise     answer a request offline from a snapshot file
  processes  list processes (RSS over 300 MiB, or --pid N) with memory per node from numa_maps
  schemas    write (--out DIR) or verify (--check DIR) the JSON Schemas of the API
  simulate   replay a placement scenario through every strategy and the optimum: numadvisor simulate SCENARIO|all
  status     what the running daemon holds: reservations (and the VM each is bound to), libvirt domains
  rollback   undo the daemon's last move of a libvirt domain: numadvisor rollback NAME|UUID
  version    print the version

numadvisor daemon [--fsroot DIR] [--socket PATH] [--socket-mode 0660] [--socket-group GROUP] [--tcp-port N] [--state-dir DIR]
                  [--log-file PATH] [--log-level 5] [--pid-file PATH] [--pino-level info] [-C 0|1] [-t PERCENT] [-R CPULIST]
                  [--daemon-log PATH]   (structured log to this file, reopened on SIGHUP; default stdout)
                  [--cpu-allocation-ratio 4] [--reservation-ttl SECONDS] [--policy numadvisor|numad]
                  [--apply none|processes|domains|processes,domains]   (default none: advise only; the numad
                  command starts it with processes,domains)
                  [--libvirt auto|none|URI] [--libvirt-socket PATH] [--domain-include NAME|UUID,...]
                  [--domain-exclude NAME|UUID,...]   (auto: qemu:///system when libvirt is installed)
                  [--api-token-file PATH]   (--tcp-port is read-only without Authorization: Bearer <the token in
                  this file>; default STATE_DIR/api-token, 0640, written anew at each start)
numadvisor simulate dbench|two-node-start|boot-storm|dl980-mixed|memory-pressure|all [--json]
                  [--report FILE.md --plot FILE.svg]   (make bench-quality writes docs/quality.md and docs/quality.svg)
numadvisor status [--socket PATH] [--json]
numadvisor rollback NAME|UUID [--socket PATH]
numadvisor snapshot [--fsroot DIR] [--sample-ms 200]
numadvisor advise --snapshot FILE|- --cpus N[.NN] [--mem MIB] [--policy numad|numadvisor] [-C 0|1] [-t PERCENT] [-R CPULIST]
                  [--nodeset-only]
numadvisor processes [--fsroot DIR] [--pid N ...] [--min-rss 300]
`;

const capacityFlags = {
  C: { type: 'string', short: 'C' },
  t: { type: 'string', short: 't' },
  R: { type: 'string', short: 'R' },
} as const;

function intOption(name: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw new UsageError(`--${name} must be a whole number, got ${JSON.stringify(text)}`);
  const v = Number(text);
  if (v < min || v > max) throw new UsageError(`--${name} must be between ${min} and ${max}`);
  return v;
}

function capacityOptions(values: { C?: string; t?: string; R?: string }): CapacityOptions {
  const o: CapacityOptions = { ...NUMAD_DEFAULT_CAPACITY_OPTIONS, reservedCpus: new Set() };
  if (values.C !== undefined) {
    if (values.C !== '0' && values.C !== '1') throw new UsageError('-C takes 0 or 1');
    o.inactiveFileIsFree = values.C === '1';
  }
  o.htPercent = intOption('t', values.t, o.htPercent, 0, 100);
  if (values.R !== undefined) {
    try {
      o.reservedCpus = new Set(parseLooseCpuList(values.R));
    } catch (err) {
      // An id of 8192 or more (or a range up to one): a usage error with the parser's reason, not a stack trace.
      throw new UsageError(`-R ${values.R}: ${(err as Error).message}`);
    }
  }
  return o;
}

async function cmdDaemon(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      ...capacityFlags,
      fsroot: { type: 'string' },
      socket: { type: 'string' },
      'socket-mode': { type: 'string' },
      'socket-group': { type: 'string' },
      'tcp-port': { type: 'string' },
      'api-token-file': { type: 'string' },
      'state-dir': { type: 'string' },
      'log-file': { type: 'string' },
      'log-level': { type: 'string' },
      'pid-file': { type: 'string' },
      'daemon-log': { type: 'string' },
      'pino-level': { type: 'string' },
      'cpu-allocation-ratio': { type: 'string' },
      'reservation-ttl': { type: 'string' },
      'numad-settings': { type: 'string' },
      apply: { type: 'string' },
      libvirt: { type: 'string' },
      'libvirt-socket': { type: 'string' },
      'domain-include': { type: 'string' },
      'domain-exclude': { type: 'string' },
      policy: { type: 'string' },
    },
  });
  const policy = parsePolicy(values.policy ?? 'numadvisor');
  const apply = parseApply(values.apply ?? 'none');
  const libvirt = libvirtOption(values.libvirt ?? 'auto', values['libvirt-socket'], values['domain-include'], values['domain-exclude']);
  // Options first: a non-root user without XDG_RUNTIME_DIR may still run a daemon on a socket named here.
  const paths = resolvePaths(process.env, { socket: values.socket, stateDir: values['state-dir'], numadLog: values['log-file'] });
  const ratio = values['cpu-allocation-ratio'] === undefined ? CPU_ALLOCATION_RATIO : Number(values['cpu-allocation-ratio']);
  if (!Number.isFinite(ratio) || ratio < 1 || ratio > 64) throw new UsageError('--cpu-allocation-ratio must be a number from 1 to 64');
  const modeText = values['socket-mode'] ?? '0660';
  if (!/^0?[0-7]{3}$/.test(modeText)) throw new UsageError('--socket-mode must be octal, e.g. 0660');
  let numad: NumadSettings = { ...NUMAD_DEFAULTS };
  if (values['numad-settings'] !== undefined) {
    // How `numad` hands its parsed options to the daemon it starts.
    const parsed = NumadSettingsSchema.safeParse(JSON.parse(values['numad-settings']));
    if (!parsed.success) throw new UsageError(`--numad-settings: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    numad = parsed.data;
  }
  const capacity = capacityOptions(values);
  numad = {
    ...numad,
    inactiveFileIsFree: values.C !== undefined ? capacity.inactiveFileIsFree : numad.inactiveFileIsFree,
    htPercent: values.t !== undefined ? capacity.htPercent : numad.htPercent,
    reservedCpus: values.R !== undefined ? [...capacity.reservedCpus] : numad.reservedCpus,
    logLevel: intOption('log-level', values['log-level'], numad.logLevel, 0, 7),
  };
  const { runDaemonUntilStopped } = await import('../daemon/run.js');
  const structured = values['daemon-log'] === undefined ? undefined : await reopenableLogger(path.resolve(values['daemon-log']), values['pino-level'] ?? 'info');
  // logrotate renames the file and sends SIGHUP (src/install/numadvisor.logrotate). This listener is added before
  // the daemon's own (run.ts), so the daemon's "numad log reopened" line already lands in the new file.
  const reopen = (): void => structured?.log.reopen();
  if (structured) process.on('SIGHUP', reopen);
  try {
    await runDaemonUntilStopped({
      fsRoot: values.fsroot ?? defaultFsRoot(),
      socketPath: path.resolve(values.socket ?? paths.socket),
      socketMode: Number.parseInt(modeText, 8),
      ...(values['socket-group'] !== undefined ? { socketGroup: values['socket-group'] } : {}),
      ...(values['tcp-port'] !== undefined ? { tcpPort: intOption('tcp-port', values['tcp-port'], 0, 1, 65535) } : {}),
      ...(values['api-token-file'] !== undefined ? { apiTokenFile: path.resolve(values['api-token-file']) } : {}),
      stateDir: path.resolve(values['state-dir'] ?? paths.stateDir),
      numadLogPath: path.resolve(values['log-file'] ?? paths.numadLog),
      ...(values['pid-file'] !== undefined ? { pidFile: path.resolve(values['pid-file']) } : {}),
      numad,
      cpuAllocationRatio: ratio,
      reservationTtlMs: intOption('reservation-ttl', values['reservation-ttl'], RESERVATION_TTL_MS / 1000, 1, 86_400) * 1000,
      apply,
      policy,
      ...(libvirt ? { libvirt } : {}),
      logLevel: values['pino-level'] ?? 'info',
      ...(structured ? { logger: structured.logger } : {}),
    });
  } finally {
    process.off('SIGHUP', reopen);
    structured?.log.close();
  }
  return 0;
}

/** pino writing to a file the daemon can reopen by path (see src/log/daemon-log.ts); loaded only for the daemon. */
async function reopenableLogger(file: string, level: string): Promise<{ log: ReopenableLog; logger: Logger }> {
  const [{ pino }, { ReopenableLog }] = await Promise.all([import('pino'), import('../log/daemon-log.js')]);
  mkdirSync(path.dirname(file), { recursive: true });
  const log = new ReopenableLog(file);
  // The same logger daemon.ts makes for stdout, on this destination instead.
  return { log, logger: pino({ level, base: { pid: process.pid, name: 'numadvisor' } }, log) };
}

function parsePolicy(text: string): PolicyName {
  if (!(POLICIES as readonly string[]).includes(text)) throw new UsageError(`unknown policy ${JSON.stringify(text)}; known: ${POLICIES.join(', ')}`);
  return text as PolicyName;
}

export function parseApply(text: string): ApplyMode {
  // Either order of "processes,domains" is accepted; the mode is spelled as APPLY_MODES spells it.
  const parts = new Set(text.split(',').map((t) => t.trim()));
  const mode = APPLY_MODES.find((m) => {
    const named = m.split(',');
    return named.length === parts.size && named.every((x) => parts.has(x));
  });
  if (mode) return mode;
  throw new UsageError('--apply takes none, processes, domains or processes,domains');
}

const names = (text: string | undefined): string[] => (text ? text.split(',').map((t) => t.trim()).filter(Boolean) : []);

/** auto: qemu:///system when this host has a libvirt daemon (installed, or its socket is there). */
export function libvirtOption(
  value: string,
  socketPath: string | undefined,
  include: string | undefined,
  exclude: string | undefined,
): { uri: string; socketPath?: string; filter: { include: string[]; exclude: string[] } } | undefined {
  if (value === 'none') return undefined;
  const filter = { include: names(include), exclude: names(exclude) };
  if (value === 'auto') {
    const present = [...LIBVIRT_SOCKETS, '/usr/sbin/libvirtd', '/usr/sbin/virtqemud'].some((p) => existsSync(p));
    if (!present && socketPath === undefined) return undefined;
    value = 'qemu:///system';
  }
  if (!/^[a-z][a-z0-9+]*:\/\//.test(value)) throw new UsageError(`--libvirt takes auto, none or a URI such as qemu:///system, got ${JSON.stringify(value)}`);
  return { uri: value, ...(socketPath ? { socketPath: path.resolve(socketPath) } : {}), filter };
}

async function cmdStatus(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args, strict: true, options: { socket: { type: 'string' }, json: { type: 'boolean' } } });
  const socketPath = path.resolve(values.socket ?? defaultPaths().socket);
  const deadlines = { connectMs: 1000, replyMs: 5000 };
  const health = JSON.parse(await requestDaemon(socketPath, 'GET', '/healthz', undefined, deadlines)) as { version: string; pid: number; uptimeSeconds: number; nodes: number; libvirt: { uri: string; connected: boolean } | null };
  const { reservations } = JSON.parse(await requestDaemon(socketPath, 'GET', '/v1/reservations', undefined, deadlines)) as { reservations: Reservation[] };
  const domains = health.libvirt
    ? (JSON.parse(await requestDaemon(socketPath, 'GET', '/v1/domains', undefined, deadlines)) as { domains: { name: string; uuid: string; vcpus: number; memoryMiB: number; numaMode: string | null; nodeset: string; excluded: boolean }[] }).domains
    : [];
  if (values.json) {
    io.stdout(`${JSON.stringify({ health, reservations, domains }, null, 2)}\n`);
    return 0;
  }
  const lines = [
    `numadvisor ${health.version}, pid ${health.pid}, up ${health.uptimeSeconds} s, ${health.nodes} NUMA nodes`,
    `libvirt: ${health.libvirt ? `${health.libvirt.uri} ${health.libvirt.connected ? 'connected' : 'NOT connected'}` : 'not used'}`,
    '',
    `reservations (${reservations.length}):`,
    ...reservations.map((r) => {
      const cpus = (r.request.cpuHundredths / 100).toFixed(2).replace(/\.00$/, '');
      const holder = r.domain ? `domain ${r.domain.name} (${r.domain.uuid})` : `unbound, from ${r.client}`;
      const held = r.perNode.map((p) => `node ${p.node}: ${(p.cpuHundredths / 100).toFixed(2)} CPU ${p.memMiB} MiB`).join('; ');
      return `  ${r.id}  nodes ${r.nodeset}  ${cpus} CPUs ${r.request.memMiB} MiB  ${holder}  holds ${held}  until ${r.expiresAt}`;
    }),
    '',
    `domains (${domains.length}):`,
    ...domains.map((d) => `  ${d.name} (${d.uuid})  ${d.vcpus} vCPUs ${d.memoryMiB} MiB  numatune ${d.numaMode ?? '-'} ${d.nodeset || '-'}${d.excluded ? '  excluded' : ''}`),
  ];
  io.stdout(`${lines.join('\n')}\n`);
  return 0;
}

async function cmdSimulate(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args, strict: true, allowPositionals: true, options: { json: { type: 'boolean' }, report: { type: 'string' }, plot: { type: 'string' } } });
  const { SCENARIOS } = await import('../sim/scenarios.js');
  const { runScenario, markdownTable, svgPlot, qualityReport } = await import('../sim/run.js');
  const which = positionals[0] ?? '';
  const names = which === 'all' ? Object.keys(SCENARIOS) : [which];
  for (const n of names) if (!SCENARIOS[n]) throw new UsageError(`unknown scenario ${JSON.stringify(n)}; known: ${Object.keys(SCENARIOS).join(', ')}, all`);
  const results = [];
  for (const n of names) results.push(await runScenario(SCENARIOS[n] as NonNullable<(typeof SCENARIOS)[string]>));
  if (values.json) io.stdout(`${JSON.stringify(results.map((r) => ({ scenario: r.scenario.name, title: r.scenario.title, optimum: r.optimumStatus, results: r.results.map((x) => ({ strategy: x.strategy, movesToBalance: x.movesToBalance ?? null, ...x.metrics })) })), null, 2)}\n`);
  else for (const r of results) io.stdout(`\n${r.scenario.name}: ${r.scenario.title}\n\n${markdownTable(r)}\n`);
  if (values.report) writeFileSync(values.report, qualityReport(results, values.plot ? path.basename(values.plot) : undefined));
  if (values.plot) writeFileSync(values.plot, svgPlot(results));
  return 0;
}

async function cmdRollback(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args, strict: true, allowPositionals: true, options: { socket: { type: 'string' } } });
  if (positionals.length !== 1) throw new UsageError('rollback takes one domain name or UUID');
  const socketPath = path.resolve(values.socket ?? defaultPaths().socket);
  const out = JSON.parse(await requestDaemon(socketPath, 'POST', `/v1/domains/${encodeURIComponent(positionals[0] as string)}/rollback`, {}, { connectMs: 1000, replyMs: 120_000 })) as {
    ok: boolean;
    reason: string;
    after: { nodeset: string; vcpuPins: number[][] };
  };
  io.stdout(`${out.ok ? 'rolled back' : 'rollback NOT verified'}: ${out.reason}; nodeset ${out.after.nodeset || '-'}, vCPU pins ${out.after.vcpuPins.map((p) => formatIdList(p)).join(' ')}\n`);
  return out.ok ? 0 : 1;
}

async function cmdSnapshot(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args, strict: true, options: { fsroot: { type: 'string' }, 'sample-ms': { type: 'string' } } });
  const observer = new HostObserver(new FsRoot(values.fsroot ?? defaultFsRoot()));
  const sampleMs = intOption('sample-ms', values['sample-ms'], 200, 0, 60_000);
  if (sampleMs > 0) {
    await sleep(sampleMs);
    observer.sampleCpu();
    observer.refreshMemory();
  }
  io.stdout(`${JSON.stringify(observer.snapshot(), null, 2)}\n`);
  return 0;
}

/** numad tracks processes above 300 MB of RSS (numad.md §4.5). */
const NUMAD_MIN_RSS_MIB = 300;

function cmdProcesses(args: string[], io: Io): number {
  const { values } = parseArgs({
    args,
    strict: true,
    options: { fsroot: { type: 'string' }, pid: { type: 'string', multiple: true }, 'min-rss': { type: 'string' } },
  });
  const fs = new FsRoot(values.fsroot ?? defaultFsRoot());
  const minRss = intOption('min-rss', values['min-rss'], NUMAD_MIN_RSS_MIB, 0, 1 << 30);
  const pids = (values.pid ?? []).map((p) => intOption('pid', p, 0, 1, 1 << 30));
  const opts = { basePageKiB: basePageKiB(), defaultHugeKiB: readProcMeminfo(fs).hugepageSizeKiB || 2048 };
  // numa_maps only for the processes that matter: it walks page tables under the process's mm lock.
  const candidates = pids.length > 0 ? pids : listPids(fs);
  const out = [];
  for (const pid of candidates) {
    const light = readProcess(fs, pid, { ...opts, withNumaMaps: false });
    if (!light || (pids.length === 0 && light.rssMiB < minRss)) continue;
    const full = readProcess(fs, pid, { ...opts, withNumaMaps: true });
    if (full) out.push(full);
  }
  io.stdout(`${JSON.stringify(out, null, 2)}\n`);
  return 0;
}

function cmdAdvise(args: string[], io: Io): number {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      ...capacityFlags,
      snapshot: { type: 'string' },
      cpus: { type: 'string' },
      mem: { type: 'string' },
      policy: { type: 'string' },
      'nodeset-only': { type: 'boolean' },
    },
  });
  if (!values.snapshot) throw new UsageError('advise needs --snapshot FILE (or - for stdin)');
  if (values.cpus === undefined || !/^\d{1,7}(\.\d{1,2})?$/.test(values.cpus)) {
    throw new UsageError('advise needs --cpus N with at most two decimals');
  }
  const policy = parsePolicy(values.policy ?? 'numad');
  const memMiB = intOption('mem', values.mem, 0, 0, 1_073_741_824);
  const text = values.snapshot === '-' ? readFileSync(0, 'utf8') : readFileSync(values.snapshot, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${values.snapshot}: not JSON (${(err as Error).message})`);
  }
  const snap = HostSnapshotSchema.safeParse(parsed);
  if (!snap.success) {
    throw new UsageError(`${values.snapshot}: not a host snapshot: ${snap.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const caps = deriveCapacity(snap.data, capacityOptions(values));
  const advice = advise(policy, caps.map((c) => toPolicyNode(c, { cpuHundredths: 0, memMiB: 0 }, 1)), {
    cpuHundredths: cpusTextToHundredths(values.cpus),
    memMiB,
  });
  io.stdout(values['nodeset-only'] ? `${advice.nodeset}\n` : `${JSON.stringify(advice, null, 2)}\n`);
  return 0;
}

export function renderSchemas(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, schema] of Object.entries(EXPORTED_SCHEMAS)) {
    const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
    out.set(`${name}.schema.json`, `${JSON.stringify({ $id: `https://numadvisor.invalid/schemas/${name}.schema.json`, ...json }, null, 2)}\n`);
  }
  return out;
}

function cmdSchemas(args: string[], io: Io): number {
  const { values } = parseArgs({ args, strict: true, options: { out: { type: 'string' }, check: { type: 'string' } } });
  const rendered = renderSchemas();
  if (values.out) {
    mkdirSync(values.out, { recursive: true });
    for (const [file, text] of rendered) writeFileSync(path.join(values.out, file), text);
    io.stdout(`wrote ${rendered.size} schemas to ${values.out}\n`);
    return 0;
  }
  if (values.check) {
    const stale = [...rendered].filter(([file, text]) => {
      try {
        return readFileSync(path.join(values.check as string, file), 'utf8') !== text;
      } catch {
        return true;
      }
    });
    if (stale.length > 0) {
      io.stderr(`schemas out of date: ${stale.map(([f]) => f).join(', ')}; run make schemas\n`);
      return 1;
    }
    return 0;
  }
  throw new UsageError('schemas needs --out DIR or --check DIR');
}

export async function numadvisorMain(args: string[], io: Io): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case 'daemon':
        return await cmdDaemon(rest);
      case 'snapshot':
        return await cmdSnapshot(rest, io);
      case 'advise':
        return cmdAdvise(rest, io);
      case 'processes':
        return cmdProcesses(rest, io);
      case 'schemas':
        return cmdSchemas(rest, io);
      case 'status':
        return await cmdStatus(rest, io);
      case 'simulate':
        return await cmdSimulate(rest, io);
      case 'rollback':
        return await cmdRollback(rest, io);
      case 'version':
      case '--version':
        io.stdout(`numadvisor ${VERSION}\n`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    if (err instanceof UsageError || e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      io.stderr(`numadvisor: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    io.stderr(`numadvisor: ${e.code ? `${e.code}: ` : ''}${e.message}\n`);
    return 1;
  }
}
