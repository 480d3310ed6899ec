// The `numadvisor` commands: name, operands and one line on what each does. `numadvisor help`, each command's
// `--help` (src/cli/command-options.ts) and numadvisor(8) print these. Nothing is imported: `help` stays light.

export const COMMANDS = {
  daemon: { operands: '', summary: 'run the placement daemon (HTTP API on a unix socket)' },
  status: { operands: '', summary: "what the running daemon holds: capacity per node, each libvirt domain's memory per node, reservations, domains" },
  processes: { operands: '', summary: 'list processes (RSS over 300 MiB, or --pid N) with their memory per node from numa_maps' },
  snapshot: { operands: '', summary: "print this host's NUMA model as JSON (schemas/host-snapshot.schema.json)" },
  advise: { operands: '', summary: 'answer a placement request offline from a snapshot file, or lay a libvirt domain XML out on the host (--domain-xml)' },
  simulate: { operands: 'SCENARIO|all', summary: 'replay a placement scenario through every strategy and the optimum' },
  rollback: { operands: 'NAME|UUID', summary: "undo the daemon's last move of a libvirt domain" },
  schemas: { operands: '', summary: 'write (--out DIR) or verify (--check DIR) the JSON Schemas of the API' },
  version: { operands: '', summary: 'print the version' },
} as const satisfies Record<string, { operands: string; summary: string }>;

export type CommandName = keyof typeof COMMANDS;

export const isCommandName = (x: string): x is CommandName => Object.hasOwn(COMMANDS, x);

/** `numadvisor help`. */
export function mainUsage(): string {
  const names = Object.keys(COMMANDS) as CommandName[];
  const width = Math.max(...names.map((n) => n.length));
  return [
    'Usage: numadvisor <command> [options]',
    '',
    'Commands:',
    ...names.map((n) => `  ${n.padEnd(width)}  ${COMMANDS[n].summary}`),
    '',
    "numadvisor <command> --help lists a command's options with their defaults; man numadvisor tells more.",
    '',
  ].join('\n');
}
