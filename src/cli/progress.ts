// Progress of a long command on stderr, never stdout (stdout stays machine-clean: tables, JSON, reports). As
// curl, rsync and apt do: on a terminal by default, one line rewritten in place; `--progress` asks for it where
// stderr is not a terminal (one line per step, for a log), `--quiet` for none.
import type { Io } from './io.js';

export type ProgressMode = 'off' | 'tty' | 'lines';

/** The mode from `--progress` and `--quiet` (which wins over it) and whether stderr is a terminal. */
export function progressMode(options: { progress?: boolean | undefined; quiet?: boolean | undefined }, stderrIsTTY: boolean | undefined): ProgressMode {
  if (options.quiet) return 'off';
  if (stderrIsTTY) return 'tty';
  return options.progress ? 'lines' : 'off';
}

export interface Progress {
  /** a new step: "simulate 2/5 boot-storm: numadvisor" */
  step(text: string): void;
  /** the work is over: a terminal's line is cleared */
  done(): void;
}

/** `now` is injectable for tests; elapsed seconds since the reporter was made are shown with each step. */
export function progressReporter(io: Pick<Io, 'stderr'>, mode: ProgressMode, prefix: string, now: () => number = Date.now): Progress {
  const start = now();
  let shown = false;
  const elapsed = (): string => `${((now() - start) / 1000).toFixed(0)} s`;
  return {
    step(text) {
      if (mode === 'off') return;
      if (mode === 'tty') {
        // Carriage return and erase-to-end-of-line: one line, rewritten.
        io.stderr(`\r\u001b[K${prefix}: ${text} (${elapsed()})`);
        shown = true;
      } else io.stderr(`${prefix}: ${text} (${elapsed()})\n`);
    },
    done() {
      if (mode === 'tty' && shown) io.stderr('\r\u001b[K');
      shown = false;
    },
  };
}
