// A glibc-compatible getopt(3) for numad's command line: clustered short options (-dv), attached or separate
// arguments (-w2:512, -w 2:512), permutation (options may follow operands), "--" ends options, and glibc's exact
// diagnostics. numad has no long options; ours (--socket=…) cannot clash with it.

export type GetoptItem =
  | { kind: 'option'; name: string; value?: string }
  | { kind: 'error'; message: string };

export interface GetoptResult {
  items: GetoptItem[];
  operands: string[];
}

export interface GetoptSpec {
  /** getopt option string, e.g. "C:dD:h". */
  short: string;
  /** long option name → takes an argument. */
  long: Record<string, boolean>;
}

/** Parse left to right; the first error stops parsing (numad exits on it) and is the last item. */
export function getopt(argv0: string, args: readonly string[], spec: GetoptSpec): GetoptResult {
  const takesArg = new Map<string, boolean>();
  for (let i = 0; i < spec.short.length; i++) {
    const c = spec.short[i] as string;
    if (c === ':') continue;
    takesArg.set(c, spec.short[i + 1] === ':');
  }
  const items: GetoptItem[] = [];
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--') {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq === -1 ? undefined : eq);
      const wants = spec.long[name];
      if (wants === undefined) {
        items.push({ kind: 'error', message: `${argv0}: unrecognized option '${arg}'` });
        return { items, operands };
      }
      if (!wants) {
        if (eq !== -1) {
          items.push({ kind: 'error', message: `${argv0}: option '--${name}' doesn't allow an argument` });
          return { items, operands };
        }
        items.push({ kind: 'option', name: `--${name}` });
        continue;
      }
      let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
      if (value === undefined) {
        if (i + 1 >= args.length) {
          items.push({ kind: 'error', message: `${argv0}: option '--${name}' requires an argument` });
          return { items, operands };
        }
        value = args[++i] as string;
      }
      items.push({ kind: 'option', name: `--${name}`, value });
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') {
      operands.push(arg);
      continue;
    }
    for (let j = 1; j < arg.length; j++) {
      const c = arg[j] as string;
      const wants = takesArg.get(c);
      if (wants === undefined) {
        items.push({ kind: 'error', message: `${argv0}: invalid option -- '${c}'` });
        return { items, operands };
      }
      if (!wants) {
        items.push({ kind: 'option', name: c });
        continue;
      }
      let value = arg.slice(j + 1);
      if (value === '') {
        if (i + 1 >= args.length) {
          items.push({ kind: 'error', message: `${argv0}: option requires an argument -- '${c}'` });
          return { items, operands };
        }
        value = args[++i] as string;
      }
      items.push({ kind: 'option', name: c, value });
      break;
    }
  }
  return { items, operands };
}
