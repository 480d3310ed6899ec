// Every `numadvisor` command's options: the one table each command parses with (parseArgs ignores `arg`,
// `defaultText` and `help`), which `numadvisor <command> --help` and the man pages print. The daemon's table lives
// with its configuration (src/config/daemon-config.ts). Loaded only for a command that runs or for help.
import { CAPACITY_FLAGS } from '../config/option-values.js';
import { DAEMON_OPTIONS } from '../config/daemon-config.js';
import { SYSTEM_PATHS } from '../config/paths.js';
import { PROCESS_MIN_RSS_MIB } from '../policy/numad.js';
import { POLICIES, type PolicyName } from '../policy/registry.js';
import { SCENARIOS } from '../sim/scenarios.js';
import { COMMANDS, type CommandName } from './commands.js';
import { optionHelpLines, type OptionTable } from './option-help.js';

const socket = { type: 'string', arg: 'PATH', defaultText: `${SYSTEM_PATHS.socket} (root), $XDG_RUNTIME_DIR/numadvisor/numadvisor.sock`, help: "the daemon's socket (NUMADVISOR_SOCKET)" } as const;
const fsroot = { type: 'string', arg: 'DIR', defaultText: '/', help: 'read /sys and /proc under DIR (a recorded host; NUMADVISOR_FSROOT)' } as const;

export const STATUS_OPTIONS = {
  socket,
  json: { type: 'boolean', help: 'print the daemon\'s answers (health, reservations, domains) as one JSON object' },
} as const;

export const ROLLBACK_OPTIONS = { socket } as const;

/** `numadvisor snapshot`'s CPU sampling window when --sample-ms is not given. */
export const SNAPSHOT_SAMPLE_MS = 200;

export const SNAPSHOT_OPTIONS = {
  fsroot,
  'sample-ms': { type: 'string', arg: 'MS', defaultText: String(SNAPSHOT_SAMPLE_MS), help: 'CPU sampling window before the snapshot is taken (0: since-boot shares)' },
} as const;

/** `numadvisor advise` answers as numad would unless --policy says otherwise (the daemon's default is numadvisor). */
export const ADVISE_POLICY: PolicyName = 'numad';

export const ADVISE_OPTIONS = {
  ...CAPACITY_FLAGS,
  snapshot: { type: 'string', arg: 'FILE|-', help: "the host snapshot to answer from (numadvisor snapshot; - for stdin); required, except with --domain-xml (then the running daemon answers)" },
  cpus: { type: 'string', arg: 'N[.NN]', help: 'CPUs asked for, at most two decimals; required, except with --domain-xml' },
  mem: { type: 'string', arg: 'MIB', defaultText: '0', help: 'memory asked for, in MiB' },
  policy: { type: 'string', arg: POLICIES.join('|'), defaultText: ADVISE_POLICY, help: 'placement policy' },
  hugepages: { type: 'string', arg: 'KIB', help: "the memory is hugepages of this size (e.g. 2048): placed by each node's free pages of it, as the API's hugepages=" },
  'slow-tier': { type: 'boolean', help: "the memory may go to a slower tier (CPU-less memory nodes) though the CPU nodes' own would hold it, as the API's slowtier=true" },
  'nodeset-only': { type: 'boolean', help: 'print only the nodeset, as numad -w does' },
  'domain-xml': { type: 'string', arg: 'FILE|-', help: "a libvirt domain XML: ask for its vCPUs and memory, print it with the answer merged in (a guest NUMA layout when it spans nodes) for virsh define" },
  fragment: { type: 'boolean', help: 'with --domain-xml: print only the pieces to paste (<numa>, <numatune>, <cputune> pins)' },
  socket: { ...socket, help: "with --domain-xml and no --snapshot: the daemon's socket (NUMADVISOR_SOCKET); nothing is reserved" },
} as const;

export const PROCESSES_OPTIONS = {
  fsroot,
  pid: { type: 'string', multiple: true, arg: 'N', help: 'list this process, whatever its size' },
  'min-rss': { type: 'string', arg: 'MIB', defaultText: String(PROCESS_MIN_RSS_MIB), help: 'without --pid, list processes with more resident memory than this' },
  json: { type: 'boolean', help: 'print the processes as JSON (pid, comm, CPUs and nodes allowed, memoryMiBByNode, …)' },
} as const;

export const SCHEMAS_OPTIONS = {
  out: { type: 'string', arg: 'DIR', help: 'write the JSON Schemas into DIR' },
  check: { type: 'string', arg: 'DIR', help: 'exit 1 when the schemas in DIR are out of date' },
} as const;

export const SIMULATE_OPTIONS = {
  json: { type: 'boolean', help: 'print the results as JSON instead of tables' },
  report: { type: 'string', arg: 'FILE.md', help: 'write the quality report (make bench-quality: docs/quality.md)' },
  plot: { type: 'string', arg: 'FILE.svg', help: 'write the quality plot (make bench-quality: docs/quality.svg)' },
  progress: { type: 'boolean', help: 'report progress on stderr even when it is not a terminal' },
  quiet: { type: 'boolean', short: 'q', help: 'no progress on stderr (the default when stderr is not a terminal)' },
} as const;

/** Each command's option table; `undefined` for commands without options. */
export const COMMAND_OPTIONS: Readonly<Record<CommandName, OptionTable | undefined>> = {
  daemon: DAEMON_OPTIONS,
  snapshot: SNAPSHOT_OPTIONS,
  advise: ADVISE_OPTIONS,
  processes: PROCESSES_OPTIONS,
  schemas: SCHEMAS_OPTIONS,
  simulate: SIMULATE_OPTIONS,
  status: STATUS_OPTIONS,
  rollback: ROLLBACK_OPTIONS,
  version: undefined,
};

/** What a command's operands may be, where its usage line does not say it all. */
export const OPERAND_HELP: Partial<Record<CommandName, string>> = {
  simulate: `one of ${Object.keys(SCENARIOS).join(', ')}; all runs each in turn`,
  rollback: 'a running domain, by name or UUID',
};

/** `numadvisor <command> --help`: usage line, what it does, one line per option with its default. */
export function commandHelp(name: CommandName): string {
  const c = COMMANDS[name];
  const table = COMMAND_OPTIONS[name];
  const lines = [`Usage: numadvisor ${name} [options]${c.operands ? ` ${c.operands}` : ''}`, '', c.summary];
  const operands = OPERAND_HELP[name];
  if (operands !== undefined) lines.push('', `${c.operands}: ${operands}`);
  lines.push('', 'Options:', ...optionHelpLines(table ?? {}));
  return `${lines.join('\n')}\n`;
}
