// numad's pre-placement policy (numad.c pick_numa_nodes, 20150602), with its defects fixed:
// - nodes are in numeric id order, and distance columns are looked up by position in that order;
// - the minimum node count comes from the nodes' own sizes, not from "array position 0";
// - memoryless nodes are never centres, never counted as memory, and never raise the memory still needed
//   (numad's unsigned margin arithmetic did that);
// - a CPU-only (memoryless) node is valued with the centre's free memory, since that is the memory its CPUs would
//   use; numad values it 0, so a centre next to one loses to a farther pair (E1);
// - the walk is bounded by the node list and stops once every memory node is in the answer;
// - an empty request gets the single best node, not array position 0.
// Everything else (node value, distance² weighting, tie rules, 100 MiB margin, no CPU flex) is numad's.
import { noMemoryNode, noPolicyNodes } from '../errors.js';
import { formatIdList } from '../topology/idlist.js';
import type { Advice, CentreScore, NodeScore, PlacementRequest, Policy, PolicyNode } from './types.js';

/**
 * numad's process thresholds (numad.md §4.5, §5.4): it tracks processes over 300 MB of RSS (smaller ones are not
 * worth a page migration), and a tracked process is a rebalancing candidate when it also uses over half a CPU.
 * The scan, the planner and `numadvisor processes` all use these.
 */
export const PROCESS_MIN_RSS_MIB = 300;
export const CANDIDATE_MIN_CPU_HUNDREDTHS = 50;

/** numad keeps 100 MB free on every node it takes memory from (numad.c: "target_using_MBs + 100"). */
export const NODE_MEMORY_MARGIN_MIB = 100;

export function nodeMagnitude(freeMemMiB: number, freeCpuHundredths: number, req: PlacementRequest): number {
  const neededMem = Math.min(freeMemMiB, req.memMiB);
  const excessMem = Math.max(freeMemMiB - req.memMiB, 0);
  const neededCpu = Math.min(freeCpuHundredths, req.cpuHundredths);
  const excessCpu = Math.max(freeCpuHundredths - req.cpuHundredths, 0);
  return (10 * neededMem + 4 * excessMem) * (6 * neededCpu + excessCpu);
}

/** Smallest number of nodes whose capacities (largest first) add up to `need`; `count` when even all fall short. */
function nodesNeeded(capacities: number[], need: number): number {
  if (need <= 0) return 0;
  const sorted = [...capacities].sort((a, b) => b - a);
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) {
    sum += sorted[i] as number;
    if (sum >= need) return i + 1;
  }
  return sorted.length;
}

export function adviseNumad(nodes: readonly PolicyNode[], req: PlacementRequest): Advice {
  const n = nodes.length;
  if (n === 0) throw noPolicyNodes();
  const memoryNodes = nodes.filter((x) => x.hasMemory).map((x) => x.id);
  if (memoryNodes.length === 0) throw noMemoryNode();

  const freeCpu = nodes.map((x) => Math.max(x.cpuFreeHundredths, 1));
  const freeMem = nodes.map((x) => (x.hasMemory ? Math.max(x.memFreeMiB, 0) : 0));
  const magnitude = nodes.map((_, i) => nodeMagnitude(freeMem[i] as number, freeCpu[i] as number, req));

  const minNodes = Math.min(
    n,
    Math.max(
      1,
      nodesNeeded(nodes.filter((x) => x.hasMemory).map((x) => x.memTotalMiB), req.memMiB),
      nodesNeeded(nodes.filter((x) => x.hasCpu).map((x) => x.cpuTotalHundredths), req.cpuHundredths),
    ),
  );

  const distance = (from: number, to: number): number => (nodes[from] as PolicyNode).distances[to] ?? Number.MAX_SAFE_INTEGER;
  const valueFrom = (centre: number, j: number): number =>
    (nodes[j] as PolicyNode).hasMemory ? (magnitude[j] as number) : nodeMagnitude(freeMem[centre] as number, freeCpu[j] as number, req);
  /** numad's chain order from a centre: distance ascending, then value descending, then position. */
  const before = (centre: number, a: number, b: number): number =>
    distance(centre, a) - distance(centre, b) || valueFrom(centre, b) - valueFrom(centre, a) || a - b;
  const orderFrom = (centre: number): number[] => nodes.map((_, i) => i).sort((a, b) => before(centre, a, b));
  /** The first `k` of orderFrom(centre) by selection, O(n·k): scoring 64 centres must not sort 64 times. */
  const windowFrom = (centre: number, k: number): number[] => {
    if (k * 4 > n) return orderFrom(centre).slice(0, k);
    const row = (nodes[centre] as PolicyNode).distances;
    const used = new Uint8Array(n);
    const picked: number[] = [];
    for (let r = 0; r < k; r++) {
      let pick = -1;
      let pickDist = 0;
      let pickValue = 0;
      for (let j = 0; j < n; j++) {
        if (used[j]) continue;
        const d = row[j] ?? Number.MAX_SAFE_INTEGER;
        if (pick >= 0 && d > pickDist) continue;
        const v = valueFrom(centre, j);
        if (pick < 0 || d < pickDist || v > pickValue) {
          pick = j;
          pickDist = d;
          pickValue = v;
        }
      }
      used[pick] = 1;
      picked.push(pick);
    }
    return picked;
  };

  const centres: CentreScore[] = [];
  let best = -1;
  let bestScore = -1;
  for (let c = 0; c < n; c++) {
    if (!(nodes[c] as PolicyNode).hasMemory) continue;
    const window = windowFrom(c, minNodes);
    let score = 0;
    for (const j of window) {
      const d = distance(c, j);
      score += Math.floor(valueFrom(c, j) / (d * d));
    }
    centres.push({ centre: (nodes[c] as PolicyNode).id, weightedMagnitude: score });
    if (score > bestScore) {
      best = c;
      bestScore = score;
    }
  }

  const takenMem = new Array<number>(n).fill(0);
  const takenCpu = new Array<number>(n).fill(0);
  const chosen = new Set<number>();
  let memcovered = 0;
  let windowLeft = minNodes;
  let memLeft = req.memMiB;
  let cpuLeft = req.cpuHundredths;
  const reasons: string[] = [];
  for (const j of orderFrom(best)) {
    if (!(windowLeft > 0 || memLeft > 0 || cpuLeft > 0)) break;
    const node = nodes[j] as PolicyNode;
    chosen.add(j);
    windowLeft--;
    if (node.hasMemory) {
      memcovered++;
      const fm = freeMem[j] as number;
      if (fm >= memLeft + NODE_MEMORY_MARGIN_MIB) {
        takenMem[j] = memLeft;
        memLeft = 0;
      } else if (fm > NODE_MEMORY_MARGIN_MIB) {
        takenMem[j] = fm - NODE_MEMORY_MARGIN_MIB;
        memLeft -= fm - NODE_MEMORY_MARGIN_MIB;
      }
    }
    if (node.hasCpu) {
      const fc = freeCpu[j] as number;
      const take = Math.min(fc, cpuLeft);
      takenCpu[j] = take;
      cpuLeft -= take;
    }
    reasons.push(
      `node ${node.id} (distance ${distance(best, j)} from centre): free ${freeMem[j]} MiB, ${freeCpu[j]} CPU hundredths; ` +
        `takes ${takenMem[j]} MiB, ${takenCpu[j]} CPU hundredths`,
    );
    if (memcovered === memoryNodes.length) break;
  }

  const fits = memLeft <= 0 && cpuLeft <= 0;
  if (!fits) {
    for (let i = 0; i < n; i++) if ((nodes[i] as PolicyNode).hasMemory) chosen.add(i);
    const short: string[] = [];
    if (memLeft > 0) short.push(`${memLeft} MiB of memory`);
    if (cpuLeft > 0) short.push(`${cpuLeft} hundredths of idle CPU`);
    reasons.push(`request does not fit: ${short.join(' and ')} not covered (with a ${NODE_MEMORY_MARGIN_MIB} MiB margin per node); answering every memory node`);
  }
  const centreNode = nodes[best] as PolicyNode;
  reasons.unshift(
    `centre node ${centreNode.id}: weighted value ${bestScore} over its ${minNodes} nearest node(s) (value/distance²; ties go to the lower id)`,
  );

  const ids = [...chosen].sort((a, b) => a - b).map((i) => (nodes[i] as PolicyNode).id);
  const perNode: NodeScore[] = nodes.map((x, i) => ({
    node: x.id,
    cpuFreeHundredths: freeCpu[i] as number,
    memFreeMiB: freeMem[i] as number,
    magnitude: magnitude[i] as number,
    takenCpuHundredths: takenCpu[i] as number,
    takenMemMiB: takenMem[i] as number,
    chosen: chosen.has(i),
  }));
  return {
    policy: 'numad',
    request: { ...req },
    nodes: ids,
    nodeset: formatIdList(ids),
    fits,
    unmet: { cpuHundredths: Math.max(cpuLeft, 0), memMiB: Math.max(memLeft, 0) },
    centre: centreNode.id,
    minNodes,
    centres,
    perNode,
    reasons,
  };
}

/** numad's own rules: its walk for answers, and none of numadvisor's rebalancing rules (the simulator's baseline). */
export const numadPolicy = {
  name: 'numad',
  advise: adviseNumad,
  rebalancing: { stayWhenLocal: false, leaveWhenNoRoom: false, swaps: false },
} as const satisfies Policy;
