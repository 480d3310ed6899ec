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

  it('big VMs: a guest NUMA layout makes every cell local where the flat guest is half local; numbers stable', () => {
    const flat = of('big-vms', 'numadvisor');
    const laid = of('big-vms', 'numadvisor-layout');
    const bigs = ['big1', 'big2', 'big3', 'big4'];
    for (const name of bigs) {
      const flatCells = flat?.guests.find((g) => g.name === name)?.cells ?? [];
      expect(flatCells, name).toHaveLength(1);
      expect(flatCells[0]?.nodes, name).toHaveLength(2);
      expect(flatCells[0]?.localityPercent, name).toBeCloseTo(50, 1);
      const cells = laid?.guests.find((g) => g.name === name)?.cells ?? [];
      expect(cells, name).toHaveLength(2);
      // one host node per cell, the two cells on two nodes, the guest's vCPUs and memory all placed, every cell local
      expect(new Set(cells.flatMap((c) => c.nodes)).size, name).toBe(2);
      expect(cells.reduce((a, c) => a + c.vcpus, 0), name).toBe(16);
      expect(cells.reduce((a, c) => a + c.memMiB, 0), name).toBe(96 * 1024);
      for (const c of cells) expect(c.localityPercent, name).toBe(100);
    }
    expect(laid?.metrics.localityPercent).toBe(100);
    expect(laid?.metrics.oomRiskVms).toBe(0);
    expect(of('big-vms', 'optimum-layout')?.metrics.localityPercent).toBe(100);
    expect(of('dl980-mixed', 'numadvisor-layout')?.metrics.localityPercent).toBe(100);
    expect(of('dl980-mixed', 'numadvisor-layout')?.metrics.oomRiskVms).toBe(0);
    // Stable numbers (docs/quality.md): the flat runs equal the flat optimum, and so do the layouts: the policy spreads
    // a multi-node answer's memory evenly (numad's walk filled the first node with 63.9 of 96 GiB, and the cells that
    // followed it cost CPU balance: 1.27 against the optimum's 1.09).
    const rounded = (r: typeof laid): number[] => [r?.metrics.localityPercent ?? 0, r?.metrics.cpuMaxOverMean ?? 0, r?.metrics.memMaxOverMean ?? 0].map((x) => Math.round(x * 100) / 100);
    expect(rounded(flat)).toEqual([55.56, 1.09, 1.04]);
    expect(rounded(of('big-vms', 'optimum'))).toEqual([55.56, 1.09, 1.04]);
    expect(rounded(laid)).toEqual([100, 1.09, 1.04]);
    expect(rounded(of('big-vms', 'optimum-layout'))).toEqual([100, 1.09, 1.04]);
    expect(laid?.metrics.moves).toBe(0);
  });

  it('scenarios without VMs larger than a node get no layout rows', () => {
    expect(results.get('dbench')?.results.map((r) => r.strategy)).toEqual(['none', 'numad', 'numadvisor', 'optimum']);
    expect(results.get('big-vms')?.results.map((r) => r.strategy)).toEqual(['none', 'numad', 'numadvisor', 'numadvisor-layout', 'optimum', 'optimum-layout']);
  });

  it('is deterministic: the same scenario gives the same placement twice', () => {
    const a = new Simulator(SCENARIOS.dbench as NonNullable<(typeof SCENARIOS)['dbench']>, 'none').run();
    const b = new Simulator(SCENARIOS.dbench as NonNullable<(typeof SCENARIOS)['dbench']>, 'none').run();
    expect(a.vms.map((v) => v.memOn)).toEqual(b.vms.map((v) => v.memOn));
  });
});
