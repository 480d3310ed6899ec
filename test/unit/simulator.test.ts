// Placement quality goals (issue #7), asserted on the simulator's scenarios with the daemon's own policy, ledger and
// planner against numad's rules and the MILP optimum (docs/quality.md has the full tables).
import { beforeAll, describe, expect, it } from 'vitest';
import { SCENARIOS } from '../../src/sim/scenarios.js';
import { runScenario, type ScenarioResult } from '../../src/sim/run.js';
import { Simulator } from '../../src/sim/engine.js';

const results = new Map<string, ScenarioResult>();
const of = (scenario: string, strategy: string) => results.get(scenario)?.results.find((r) => r.strategy === strategy);

describe('placement quality (simulator)', () => {
  beforeAll(async () => {
    for (const name of Object.keys(SCENARIOS)) results.set(name, await runScenario(SCENARIOS[name] as NonNullable<(typeof SCENARIOS)[string]>));
  }, 120_000);

  it('numadvisor reaches at least 98 % of the optimum\'s locality in every scenario', () => {
    for (const name of Object.keys(SCENARIOS)) {
      const ours = of(name, 'numadvisor')?.metrics.localityPercent ?? 0;
      const best = of(name, 'optimum')?.metrics.localityPercent ?? 100;
      expect(ours, name).toBeGreaterThanOrEqual(0.98 * best);
    }
  });

  it('boot storm: node load stays within 10 % of the mean and no VM is at OOM risk; numad-like piles them up', () => {
    expect(of('boot-storm', 'numadvisor')?.metrics.cpuMaxOverMean).toBeLessThanOrEqual(1.1);
    expect(of('boot-storm', 'numadvisor')?.metrics.oomRiskVms).toBe(0);
    expect(of('boot-storm', 'numad')?.metrics.oomRiskVms).toBeGreaterThan(0);
  });

  it('two-node start: four-node balance in the minimum number of moves (10: half of the 20 VMs must leave nodes 0-1)', () => {
    expect(of('two-node-start', 'numadvisor')?.movesToBalance).toBeLessThanOrEqual(10);
    expect(of('two-node-start', 'numadvisor')?.metrics.cpuMaxOverMean).toBeLessThanOrEqual(1.1);
    expect(of('two-node-start', 'none')?.movesToBalance).toBeUndefined();
  });

  it('no strict-mode OOM-risk placement while capacity exists, in any scenario', () => {
    for (const name of Object.keys(SCENARIOS)) expect(of(name, 'numadvisor')?.metrics.oomRiskVms, name).toBe(0);
  });

  it('better than numad-like: locality in the dbench test, moves and MiB migrated overall', () => {
    expect(of('dbench', 'numadvisor')?.metrics.localityPercent).toBeGreaterThan((of('dbench', 'numad')?.metrics.localityPercent ?? 0) + 20);
    const sum = (strategy: string, k: 'moves' | 'migratedMiB'): number => Object.keys(SCENARIOS).reduce((a, n) => a + (of(n, strategy)?.metrics[k] ?? 0), 0);
    expect(sum('numadvisor', 'moves')).toBeLessThan(sum('numad', 'moves'));
    expect(sum('numadvisor', 'migratedMiB')).toBeLessThan(sum('numad', 'migratedMiB'));
  });

  it('is deterministic: the same scenario gives the same placement twice', () => {
    const a = new Simulator(SCENARIOS.dbench as NonNullable<(typeof SCENARIOS)['dbench']>, 'none').run();
    const b = new Simulator(SCENARIOS.dbench as NonNullable<(typeof SCENARIOS)['dbench']>, 'none').run();
    expect(a.vms.map((v) => v.memOn)).toEqual(b.vms.map((v) => v.memOn));
  });
});
