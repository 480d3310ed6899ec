// numadvisor's policy: numad's (policy/numad.ts) with these changes (docs/policy.md, measured in docs/quality.md).
// 1. A host short of idle CPU everywhere. numad spreads a VM over more nodes until their idle CPU adds up to its vCPU
//    count. On a busy host that adds no CPU (every node is short; the VM competes for CPU wherever it runs) but it
//    makes most of the VM's memory remote and binds it strictly to several nodes. So when the VM's memory fits one
//    node, and its vCPU count fits one node's CPUs, the answer is a single node, not the spread.
// 2. That single node, for a new VM, is the one with the largest share of its CPUs idle (numad's value prefers free
//    memory 4:1 and piled VMs onto two nodes); the rebalancer (req.relocating) keeps numad's value, biased to where a
//    process's memory already is.
// 3. A multi-node answer's memory is spread evenly over its nodes (numad's walk fills the first one), in whole pages
//    for hugepages (req.memUnitMiB).
// 4. VMs larger than a node: the node set is also chosen by distance (policy/node-set.ts, O(n³)), and answers when it
//    is tighter than numad's walk (a smaller sum of pairwise distances); otherwise the walk's answer stands.
// 5. Hosts with CPU-less memory nodes (CXL, GPU memory): the VM's memory goes to the fastest tier that holds it, and a
//    memory-only node is never the whole answer (policy/memory-tiers.ts, adviseWithTiers).
// Hosts without CPU-less memory nodes are answered by 1-4 alone.
import { formatIdList } from '../topology/idlist.js';
import { adviseNumad, NODE_MEMORY_MARGIN_MIB, nodeMagnitude } from './numad.js';
import { describeSlowNode, splitTiers, subsetNodes, type TierSplit } from './memory-tiers.js';
import { chooseNodeSet, pairwiseDistanceSum, usableMemMiB } from './node-set.js';
import type { Advice, NodeScore, PlacementRequest, Policy, PolicyNode } from './types.js';

/** Positions of the given ids in the node list. */
function positionsOf(nodes: readonly PolicyNode[], ids: readonly number[]): number[] {
  const want = new Set(ids);
  const out: number[] = [];
  nodes.forEach((n, i) => {
    if (want.has(n.id)) out.push(i);
  });
  return out;
}

/**
 * For a VM larger than a node, numad's walk fits: the distance-chosen set instead when it is strictly tighter (or
 * as tight with fewer nodes). Equal sets keep the walk's answer, whose ties follow free capacity.
 */
function tighterSet(nodes: readonly PolicyNode[], req: PlacementRequest, spread: Advice): Advice | undefined {
  if (!spread.fits) return undefined;
  const choice = chooseNodeSet(nodes, req);
  if (choice === undefined) return undefined;
  const walked = positionsOf(nodes, spread.nodes);
  const walkCost = pairwiseDistanceSum(nodes, walked);
  if (!(choice.pairwiseDistance < walkCost || (choice.pairwiseDistance === walkCost && choice.nodes.length < walked.length))) return undefined;
  const ids = choice.nodes.map((i) => (nodes[i] as PolicyNode).id);
  const chosen = new Set(choice.nodes);
  return {
    ...spread,
    policy: 'numadvisor',
    nodes: ids,
    nodeset: formatIdList(ids),
    fits: true,
    unmet: { cpuHundredths: 0, memMiB: 0 },
    centre: (nodes[choice.seed] as PolicyNode).id,
    perNode: spread.perNode.map((p, i) => ({
      ...p,
      chosen: chosen.has(i),
      takenCpuHundredths: choice.takenCpuHundredths[i] ?? 0,
      takenMemMiB: choice.takenMemMiB[i] ?? 0,
    })),
    reasons: [
      `node set ${formatIdList(ids)} by distance: grown from node ${(nodes[choice.seed] as PolicyNode).id} by the node adding the least distance, ` +
        `pairwise distance ${choice.pairwiseDistance}; numad's walk answers ${spread.nodeset} (pairwise distance ${walkCost})`,
      ...spread.reasons.map((r) => `numad's walk: ${r}`),
    ],
  };
}

/**
 * A multi-node answer's memory spread evenly over its memory nodes (water-filling: a node short of room gives the
 * rest to the others). numad's walk fills the first node to its margin and puts the remainder on the next, so a
 * 96 GiB VM on two 64 GiB nodes reserved 63.9 + 32.1 GiB: the first node looked full to every later answer until the
 * reservation expired, though libvirt's interleaving kernel fault-in fills both nodes alike. Even is also what a guest
 * NUMA layout wants (one cell per node, the vCPUs split evenly by the walk). The simulator's DL980 mixed scenario
 * reached the optimum's CPU balance (1.07) only with this (docs/quality.md).
 */
function evenMemory(nodes: readonly PolicyNode[], advice: Advice): Advice {
  if (!advice.fits || advice.nodes.length < 2 || advice.request.memMiB <= 0) return advice;
  const members = advice.perNode.filter((p) => p.chosen).map((p) => nodes.find((n) => n.id === p.node) as PolicyNode).filter((n) => n.hasMemory);
  if (members.length < 2) return advice;
  // in whole units (hugepages: whole pages of each node's pool); a request that is not whole units keeps the walk's split
  const unit = Math.max(1, Math.floor(advice.request.memUnitMiB ?? 1));
  if (advice.request.memMiB % unit !== 0) return advice;
  const room = new Map(members.map((n) => [n.id, Math.floor(usableMemMiB(n) / unit)]));
  const share = new Map<number, number>();
  let left = advice.request.memMiB / unit;
  let open = [...members].sort((a, b) => (room.get(a.id) as number) - (room.get(b.id) as number) || a.id - b.id);
  while (open.length > 0 && left > 0) {
    const each = Math.ceil(left / open.length);
    const first = open[0] as PolicyNode;
    if ((room.get(first.id) as number) < each) {
      const take = room.get(first.id) as number;
      share.set(first.id, take);
      left -= take;
      open = open.slice(1);
      continue;
    }
    // every open node has room for an even share: the last ones take what rounding left
    for (const [i, n] of open.entries()) {
      const take = Math.min(Math.ceil(left / (open.length - i)), room.get(n.id) as number);
      share.set(n.id, take);
      left -= take;
    }
    open = [];
  }
  if (left > 0) return advice;
  return { ...advice, perNode: advice.perNode.map((p) => (share.has(p.node) ? { ...p, takenMemMiB: (share.get(p.node) as number) * unit } : p)) };
}

/** The policy on a host whose nodes are all one tier (what numadvisor answered before memory tiers). */
function adviseOneTier(nodes: readonly PolicyNode[], req: PlacementRequest): Advice {
  const answer = adviseOneTierWalk(nodes, req);
  return evenMemory(nodes, answer);
}

function adviseOneTierWalk(nodes: readonly PolicyNode[], req: PlacementRequest): Advice {
  const spread = adviseNumad(nodes, req);
  if (req.relocating === true && spread.nodes.length <= 1) return { ...spread, policy: 'numadvisor' };
  const candidates = nodes.filter((n) => n.hasMemory && n.hasCpu && n.memFreeMiB >= req.memMiB + NODE_MEMORY_MARGIN_MIB && n.cpuTotalHundredths >= req.cpuHundredths);
  if (candidates.length === 0) return spread.nodes.length <= 1 ? { ...spread, policy: 'numadvisor' } : (tighterSet(nodes, req, spread) ?? { ...spread, policy: 'numadvisor' });
  const score = new Map(spread.perNode.map((p) => [p.node, p.magnitude]));
  const fitsWhole = (n: PolicyNode): number => (n.cpuFreeHundredths >= req.cpuHundredths ? 1 : 0);
  // Among the nodes that hold the VM alone, the one with the largest share of its CPUs idle. numad's magnitude values
  // free memory beyond the request 4x and spare CPU 1x, so it sent every mid-size VM to the two nodes with the most
  // free memory while others idled (DL980 mixed: CPU max/mean 1.47 against the optimum's 1.07). Equal shares (an
  // idle host) fall back to the magnitude, so first answers stay numad's. Not for a process being relocated, whose
  // magnitude carries the bias towards its memory (req.relocating).
  const idleShare = (n: PolicyNode): number => (req.relocating !== true && n.cpuTotalHundredths > 0 ? n.cpuFreeHundredths / n.cpuTotalHundredths : 0);
  const best = [...candidates].sort(
    (a, b) => fitsWhole(b) - fitsWhole(a) || idleShare(b) - idleShare(a) || (score.get(b.id) ?? 0) - (score.get(a.id) ?? 0) || a.id - b.id,
  )[0] as PolicyNode;
  if (spread.nodes.length === 1 && spread.nodes[0] === best.id) return { ...spread, policy: 'numadvisor' };
  const bestFreeCpu = Math.max(...nodes.map((n) => n.cpuFreeHundredths));
  const why =
    spread.nodes.length === 1
      ? fitsWhole(best)
        ? `node ${best.id}: it has the memory and the largest share of its CPUs idle (${Math.round(idleShare(best) * 100)} %); numad's walk values free memory more and answers ${spread.nodeset}`
        : `node ${best.id}: its memory fits one node, and no node has ${req.cpuHundredths} idle CPU hundredths; it has the largest share of its CPUs idle (${Math.round(idleShare(best) * 100)} %); numad's walk answers ${spread.nodeset}`
      : fitsWhole(best)
        ? `node ${best.id}: it has the memory and the idle CPU on its own; numad's walk would spread it over ${spread.nodeset}`
        : `node ${best.id}: its memory fits one node, and no node has ${req.cpuHundredths} idle CPU hundredths (the most is ${bestFreeCpu}); ` +
          `numad would spread it over ${spread.nodeset}, which adds no CPU on a busy host but makes most of its memory remote`;
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
    reasons: [why, ...spread.reasons.map((r) => `numad's walk: ${r}`)],
  };
}

/** A node the sub-answer did not consider, as perNode lists it: not chosen, nothing taken. */
function leftOut(node: PolicyNode, req: PlacementRequest): NodeScore {
  const cpuFree = Math.max(node.cpuFreeHundredths, 1);
  const memFree = node.hasMemory ? Math.max(node.memFreeMiB, 0) : 0;
  return { node: node.id, cpuFreeHundredths: cpuFree, memFreeMiB: memFree, magnitude: nodeMagnitude(memFree, cpuFree, req), takenCpuHundredths: 0, takenMemMiB: 0, chosen: false };
}

/** An answer over the fast nodes only, with every node of the host in perNode. */
function fastAnswer(nodes: readonly PolicyNode[], req: PlacementRequest, split: TierSplit, sub: Advice): Advice {
  const scored = new Map(sub.perNode.map((p) => [p.node, p]));
  const slowNames = split.slow.map((s) => describeSlowNode(nodes, s, split.tiered)).join(', ');
  const lead = sub.fits
    ? `memory tiers: the CPU nodes' own memory (the fastest tier) holds it; slower memory left out: ${slowNames}`
    : `memory tiers: the CPU nodes lack ${sub.unmet.cpuHundredths} idle CPU hundredths, which slower memory cannot add; left out: ${slowNames}`;
  return {
    ...sub,
    request: { ...req },
    perNode: nodes.map((n) => scored.get(n.id) ?? leftOut(n, req)),
    reasons: [lead, ...sub.reasons],
  };
}

/**
 * The answer with slower memory: each CPU node stands for itself plus the CPU-less nodes attached to it, the
 * one-tier policy picks among those groups (so a VM can stay on one CPU node with its CXL memory rather than spread
 * over sockets), and the memory goes to the chosen CPU nodes' own memory first, then to their slower nodes.
 */
function spillAnswer(nodes: readonly PolicyNode[], req: PlacementRequest, split: TierSplit, why: string, base: AdviseFn): Advice {
  const members = (ci: number) => split.slow.filter((s) => s.cpuIndex === ci);
  const groups: PolicyNode[] = split.fast.map((ci) => {
    const c = nodes[ci] as PolicyNode;
    const slow = members(ci).map((s) => nodes[s.index] as PolicyNode);
    const hasMemory = c.hasMemory || slow.length > 0;
    const usable = usableMemMiB(c) + slow.reduce((a, s) => a + usableMemMiB(s), 0);
    return {
      id: c.id,
      hasCpu: c.hasCpu,
      hasMemory,
      cpuTotalHundredths: c.cpuTotalHundredths,
      cpuFreeHundredths: c.cpuFreeHundredths,
      memTotalMiB: c.memTotalMiB + slow.reduce((a, s) => a + s.memTotalMiB, 0),
      // one margin for the group, which the walk subtracts again: each member keeps its own 100 MiB
      memFreeMiB: hasMemory ? usable + NODE_MEMORY_MARGIN_MIB : 0,
      distances: split.fast.map((j) => c.distances[j] ?? Number.MAX_SAFE_INTEGER),
    };
  });
  const sub = base(groups, req);
  const groupScore = new Map(sub.perNode.map((p) => [p.node, p]));
  const taken = new Map<number, number>();
  const chosen = new Set<number>();
  // the memory the walk covered is placed fastest first: every chosen CPU node's own memory, then the slower nodes
  // attached to them in spill order (faster tier, then nearest), until it is placed
  let rest = 0;
  for (const ci of split.fast) {
    const g = groupScore.get((nodes[ci] as PolicyNode).id);
    if (g === undefined || !g.chosen) continue;
    chosen.add(ci);
    rest += g.takenMemMiB;
  }
  let fastMiB = 0;
  for (const ci of split.fast) {
    if (!chosen.has(ci)) continue;
    const own = Math.min(rest, usableMemMiB(nodes[ci] as PolicyNode));
    taken.set(ci, own);
    fastMiB += own;
    rest -= own;
  }
  const slowParts: string[] = [];
  for (const s of split.slow) {
    if (!chosen.has(s.cpuIndex)) continue;
    const part = Math.min(rest, usableMemMiB(nodes[s.index] as PolicyNode));
    // a request the walk could not cover hands out every memory node of its groups, as numad's answer does
    if (part > 0 || !sub.fits) chosen.add(s.index);
    if (part <= 0) continue;
    taken.set(s.index, part);
    rest -= part;
    slowParts.push(`${part} MiB on ${describeSlowNode(nodes, s, split.tiered)}`);
  }
  // an answer always holds memory (a cpuset's mems cannot be empty): a memoryless CPU node that took nothing still
  // brings the nearest memory attached to it
  let memoryFor = '';
  if (![...chosen].some((i) => (nodes[i] as PolicyNode).hasMemory)) {
    const first = split.slow.find((s) => chosen.has(s.cpuIndex));
    if (first !== undefined) {
      chosen.add(first.index);
      memoryFor = `; ${describeSlowNode(nodes, first, split.tiered)} added so that the answer holds memory`;
    }
  }
  const ids = [...chosen].sort((a, b) => a - b).map((i) => (nodes[i] as PolicyNode).id);
  const cpuIds = ids.filter((id) => groupScore.has(id));
  const placed =
    slowParts.length > 0
      ? `${fastMiB} MiB on the CPU nodes' own memory (${formatIdList(cpuIds)}), ${slowParts.join(', ')}`
      : `all ${fastMiB} MiB on the CPU nodes' own memory (${formatIdList(cpuIds)}); no slower memory needed`;
  // a CPU node's magnitude and free CPU are its group's (what the walk compared); its free memory is its own
  const perNode: NodeScore[] = nodes.map((n, i) => {
    const g = groupScore.get(n.id);
    const base = g !== undefined && split.fast.includes(i) ? { ...g, memFreeMiB: n.hasMemory ? Math.max(n.memFreeMiB, 0) : 0 } : leftOut(n, req);
    return { ...base, chosen: chosen.has(i), takenMemMiB: taken.get(i) ?? 0, takenCpuHundredths: chosen.has(i) && g !== undefined ? g.takenCpuHundredths : 0 };
  });
  return {
    ...sub,
    request: { ...req },
    nodes: ids,
    nodeset: formatIdList(ids),
    perNode,
    reasons: [
      `memory tiers: ${why}; ${placed}${memoryFor}`,
      ...sub.reasons.map((r) => `over CPU nodes with their attached memory: ${r}`),
    ],
  };
}

type AdviseFn = (nodes: readonly PolicyNode[], req: PlacementRequest) => Advice;

/**
 * `base`'s answer on a host with CPU-less memory nodes: first over the nodes with CPUs, spilling to the slower nodes
 * attached to them only when asked or when their own memory is short. Hosts without CPU-less memory get `base`'s
 * answer unchanged. Also used around numad's policy for `numad -w`'s local answers (cli/local-advice.ts): a nodeset
 * of memory-only nodes would leave libvirt no CPU to put the VM's vCPUs on.
 */
export function adviseWithTiers(nodes: readonly PolicyNode[], req: PlacementRequest, base: AdviseFn): Advice {
  const split = splitTiers(nodes);
  if (split === undefined) return base(nodes, req);
  if (req.allowSlowTier === true) return spillAnswer(nodes, req, split, 'the request allows a slower tier', base);
  const fastNodes = subsetNodes(nodes, split.fast);
  const fast = fastNodes.some((n) => n.hasMemory) ? base(fastNodes, req) : undefined;
  if (fast === undefined) return spillAnswer(nodes, req, split, 'no node with CPUs has memory of its own', base);
  // memory the fast tier holds stays there; slower memory cannot cover a shortage of idle CPU
  if (fast.fits || fast.unmet.memMiB <= 0) return fastAnswer(nodes, req, split, fast);
  return spillAnswer(nodes, req, split, `the CPU nodes' own memory is ${fast.unmet.memMiB} MiB short of it`, base);
}

export function adviseNumadvisor(nodes: readonly PolicyNode[], req: PlacementRequest): Advice {
  return adviseWithTiers(nodes, req, adviseOneTier);
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
