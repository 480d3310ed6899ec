// `numadvisor simulate`: the placement-quality simulator (src/sim/) and its report.
import { parseArgs } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { usageError } from '../errors.js';
import { SCENARIOS } from '../sim/scenarios.js';
import { runScenario, markdownTable, svgPlot, qualityReport } from '../sim/run.js';
import type { Io } from './io.js';
import { SIMULATE_OPTIONS } from './command-options.js';
import { progressMode, progressReporter } from './progress.js';

export async function cmdSimulate(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args, strict: true, allowPositionals: true, options: SIMULATE_OPTIONS });
  const which = positionals[0] ?? '';
  const names = which === 'all' ? Object.keys(SCENARIOS) : [which];
  for (const n of names) if (!SCENARIOS[n]) throw usageError(`unknown scenario ${JSON.stringify(n)}; known: ${Object.keys(SCENARIOS).join(', ')}, all`);
  // Progress on stderr (`simulate all` takes ~45 s): on a terminal, or with --progress; stdout gets only the results.
  const progress = progressReporter(io, progressMode(values, io.stderrIsTTY), 'numadvisor simulate');
  const results = [];
  for (const [i, n] of names.entries()) {
    results.push(await runScenario(SCENARIOS[n] as NonNullable<(typeof SCENARIOS)[string]>, (step) => progress.step(`${i + 1}/${names.length} ${n}: ${step}`)));
  }
  progress.done();
  if (values.json) io.stdout(`${JSON.stringify(results.map((r) => ({ scenario: r.scenario.name, title: r.scenario.title, optimum: r.optimumStatus, results: r.results.map((x) => ({ strategy: x.strategy, movesToBalance: x.movesToBalance ?? null, ...x.metrics })) })), null, 2)}\n`);
  else for (const r of results) io.stdout(`\n${r.scenario.name}: ${r.scenario.title}\n\n${markdownTable(r)}\n`);
  if (values.report) writeFileSync(values.report, `${qualityReport(results, values.plot ? path.basename(values.plot) : undefined).trimEnd()}\n${keptSections(values.report)}`);
  if (values.plot) writeFileSync(values.plot, svgPlot(results));
  return 0;
}

/**
 * The heading of the report's part the simulator does not make: the lab's measurements on real kernels
 * (test/bench/lab-vs-anchors.mts). A regenerated report keeps it, from this heading to the end.
 */
const KEPT_HEADING = '\n## Real kernels';

/** What of an existing report a regeneration keeps (KEPT_HEADING to the end), '' when there is none. */
function keptSections(file: string): string {
  let old = '';
  try {
    old = readFileSync(file, 'utf8');
  } catch {
    return '';
  }
  const at = old.indexOf(KEPT_HEADING);
  return at >= 0 ? old.slice(at) : '';
}
