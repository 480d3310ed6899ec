// The daemon's policy: numad's walk, except that a VM whose memory and vCPU count fit one node is not spread over
// several nodes only because no node has enough idle CPU (docs/policy.md). And the planner's hysteresis.
import { describe, expect, it } from 'vitest';
import { adviseNumad, numadPolicy } from '../../src/policy/numad.js';
import { adviseNumadvisor, numadvisorPolicy } from '../../src/policy/numadvisor.js';
import { planMoves, type PlanNode } from '../../src/balance/plan.js';
import type { PolicyNode } from '../../src/policy/types.js';
import { D4 } from '../helpers/slit.js';

const node = (id: number, cpuFree: number, memFree: number): PolicyNode => ({
  id,
  hasMemory: true,
  hasCpu: true,
  cpuTotalHundredths: 1000,
  memTotalMiB: 32_768,
  cpuFreeHundredths: cpuFree,
  memFreeMiB: memFree,
  distances: D4[id] as number[],
});

describe('numadvisor policy', () => {
  it('a busy host: numad spreads a 4-vCPU VM over nodes for CPU that is short everywhere; we answer one node', () => {
    const nodes = [node(0, 150, 20_000), node(1, 250, 30_000), node(2, 100, 10_000), node(3, 200, 25_000)];
    const req = { cpuHundredths: 400, memMiB: 2048 };
    const numad = adviseNumad(nodes, req);
    expect(numad.nodes.length).toBeGreaterThan(1);
    const ours = adviseNumadvisor(nodes, req);
    expect(ours).toMatchObject({ policy: 'numadvisor', nodes: [1], nodeset: '1', fits: true, unmet: { cpuHundredths: 150, memMiB: 0 } });
    expect(ours.perNode.filter((p) => p.chosen)).toEqual([expect.objectContaining({ node: 1, takenCpuHundredths: 400, takenMemMiB: 2048 })]);
    expect(ours.reasons[0]).toMatch(/no node has 400 idle CPU hundredths .* numad would spread it over/);
  });

  it('spreads like numad when the VM is larger than a node in memory or in CPUs, and agrees when one node fits', () => {
    const nodes = [0, 1, 2, 3].map((id) => node(id, 1000, 30_000));
    const big = { cpuHundredths: 400, memMiB: 40_000 };
    expect(adviseNumadvisor(nodes, big).nodes).toEqual(adviseNumad(nodes, big).nodes);
    const wide = { cpuHundredths: 1600, memMiB: 1024 };
    expect(adviseNumadvisor(nodes, wide).nodes).toEqual(adviseNumad(nodes, wide).nodes);
    const small = { cpuHundredths: 200, memMiB: 1024 };
    expect(adviseNumadvisor(nodes, small).nodeset).toBe(adviseNumad(nodes, small).nodeset);
  });
});

describe('planner hysteresis and no-room skip', () => {
  const all = Array.from({ length: 40 }, (_, i) => i);
  const planNode = (id: number, cpuFree: number): PlanNode => ({ ...node(id, cpuFree, 20_000), cpus: all.slice(id * 10, id * 10 + 10) });
  const vm = { pid: 7, comm: 'vm', threads: 4, rssMiB: 2048, cpuUsedHundredths: 100, cpusAllowed: all.slice(0, 10), memoryMiBByNode: { '0': 2048 }, isLibvirtDomain: false, excluded: false, placementOwned: true };
  const settings = { utilizationTargetPercent: 85, memLocalityTargetPercent: 90, policy: numadvisorPolicy };

  it('a VM local on a node with the CPU it needs stays, although another node is idler (numad would move it)', () => {
    const nodes = [planNode(0, 300), planNode(1, 900), planNode(2, 900), planNode(3, 900)];
    expect(planMoves(nodes, [vm], settings, new Map(), 0)).toMatchObject({ moves: [], skipped: [{ pid: 7, reason: '100 % local on nodes 0, which have the CPU it needs: staying' }] });
    expect(planMoves(nodes, [vm], { ...settings, policy: numadPolicy }, new Map(), 0).moves[0]).toMatchObject({ kind: 'cpu', to: [1] });
  });

  it('moves it when its node is saturated and another has room; not when every node is saturated', () => {
    expect(planMoves([planNode(0, 0), planNode(1, 0), planNode(2, 500), planNode(3, 0)], [vm], settings, new Map(), 0).moves[0]).toMatchObject({ kind: 'cpu', to: [2] });
    const full = [0, 1, 2, 3].map((id) => planNode(id, 0));
    const plan = planMoves(full, [vm], settings, new Map(), 0);
    expect(plan.moves).toEqual([]);
    expect(plan.skipped[0]?.reason).toMatch(/already 100 percent localized|no node set has room|no more idle CPU/);
  });
});
