// `--help` for every `numadvisor` command, from the same parseArgs option tables the commands parse with: each
// option carries its value's name (`arg`), its default as text (`defaultText`) and one line of `help`, which
// parseArgs ignores. The man pages (src/cli/man-pages.ts) are made from the same tables. Light: no command module
// is loaded to print a command's help.

/** One option as the tables declare it (parseArgs's config plus what help prints). */
export interface HelpedOption {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** the value's name, e.g. PATH (string options) */
  readonly arg?: string;
  /** the default, as a person reads it; omitted for a switch that is off unless given */
  readonly defaultText?: string;
  readonly help: string;
}

export type OptionTable = Readonly<Record<string, HelpedOption>>;

/** An option as it is written on the command line: `--socket PATH`, `-C 0|1`, `-q, --quiet`. */
export function optionSyntax(name: string, o: HelpedOption): string {
  const flag = o.short === undefined ? `--${name}` : name.length === 1 ? `-${o.short}` : `-${o.short}, --${name}`;
  return o.type === 'string' ? `${flag} ${o.arg ?? 'VALUE'}` : flag;
}

/** Every command takes it; the dispatcher answers it before the command's module is loaded. */
export const HELP_OPTION: HelpedOption = { type: 'boolean', short: 'h', help: 'print this help and exit' };

/** Options whose syntax is longer than this are not padded to: their text follows after two blanks. */
const SYNTAX_COLUMN_MAX = 30;

/** One line per option: its syntax, what it does, its default, and "(repeatable)" when it may be given again. */
export function optionHelpLines(table: OptionTable): string[] {
  const entries = Object.entries({ ...table, help: HELP_OPTION }).map(([name, o]) => ({ syntax: optionSyntax(name, o), o }));
  const width = Math.min(SYNTAX_COLUMN_MAX, Math.max(0, ...entries.map((e) => e.syntax.length)));
  return entries.map(({ syntax, o }) => `  ${syntax.padEnd(width)}  ${o.help}${o.multiple ? ' (repeatable)' : ''}${o.defaultText === undefined ? '' : ` [default: ${o.defaultText}]`}`);
}
