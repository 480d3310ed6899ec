// numadvisor's policy: numad's (policy/numad.ts) with one change, for a host short of idle CPU everywhere.
// numad spreads a VM over more nodes until their idle CPU adds up to its vCPU count. On a busy host that adds no CPU
// (every node is short; the VM competes for CPU wherever it runs) but it makes most of the VM's memory remote and
// binds it strictly to several nodes. So when the VM's memory fits one node, and its vCPU count fits one node's
// CPUs, the answer is the single node the walk values most (numad's magnitude), not the spread. Spreading remains
// the answer for VMs larger than a node in memory or in CPUs. Measured in the simulator (docs/quality.md).
import { formatIdList } from '../topology/idlist.js';
import { adviseNumad, NODE_MEMORY_MARGIN_MIB } from './numad.js';
import type { Advice, PlacementRequest, Policy, PolicyNode } from './types.js';

export function adviseNumadvisor(nodes: readonly PolicyNode[], req: PlacementRequest): Advice {
  const spread = adviseNumad(nodes, req);
  if (spread.nodes.length <= 1) return { ...spread, policy: 'numadvisor' };
  const candidates = nodes.filter((n) => n.hasMemory && n.hasCpu && n.memFreeMiB >= req.memMiB + NODE_MEMORY_MARGIN_MIB && n.cpuTotalHundredths >= req.cpuHundredths);
  if (candidates.length === 0) return { ...spread, policy: 'numadvisor' };
  const score = new Map(spread.perNode.map((p) => [p.node, p.magnitude]));
  const fitsWhole = (n: PolicyNode): number => (n.cpuFreeHundredths >= req.cpuHundredths ? 1 : 0);
  const best = [...candidates].sort((a, b) => fitsWhole(b) - fitsWhole(a) || (score.get(b.id) ?? 0) - (score.get(a.id) ?? 0) || a.id - b.id)[0] as PolicyNode;
  const bestFreeCpu = Math.max(...nodes.map((n) => n.cpuFreeHundredths));
  return {
    ...spread,
    policy: 'numadvisor',
    nodes: [best.id],
    nodeset: formatIdList([best.id]),
    fits: true,
    unmet: { cpuHundredths: Math.max(0, req.cpuHundredths - best.cpuFreeHundredths), memMiB: 0 },
    centre: best.id,
    perNode: spread.perNode.map((p) => ({
      ...p,
      chosen: p.node === best.id,
      takenCpuHundredths: p.node === best.id ? req.cpuHundredths : 0,
      takenMemMiB: p.node === best.id ? req.memMiB : 0,
    })),
    reasons: [
      fitsWhole(best)
        ? `node ${best.id}: it has the memory and the idle CPU on its own; numad's walk would spread it over ${spread.nodeset}`
        : `node ${best.id}: its memory fits one node, and no node has ${req.cpuHundredths} idle CPU hundredths (the most is ${bestFreeCpu}); ` +
          `numad would spread it over ${spread.nodeset}, which adds no CPU on a busy host but makes most of its memory remote`,
      ...spread.reasons.map((r) => `numad's walk: ${r}`),
    ],
  };
}

/**
 * The daemon's default: the answer above, and a rebalancer that leaves a process local on nodes with the CPU it needs,
 * does not spread one that fits nowhere, and swaps two that fit nowhere alone (balance/plan.ts, docs/quality.md).
 */
export const numadvisorPolicy = {
  name: 'numadvisor',
  advise: adviseNumadvisor,
  rebalancing: { stayWhenLocal: true, leaveWhenNoRoom: true, swaps: true },
} as const satisfies Policy;
