// The rebalancer's decisions, pure: (node capacity, tracked processes, settings, memory of past moves, now) → Plan.
// numad's rules (numad.md §5.2 process path, §5.4) with the NUMA talk's "future work" added. Swaps, and the
// hysteresis and no-room skip below, are the policy's RebalanceRules (policy/types.ts): numad's policy has none of them.
// - cheapest move first: least memory to migrate per point of locality gained;
// - probation: a move first changes only CPU affinity; memory follows on a later cycle if the advice still covers
//   where the CPUs went, and the affinity is reverted if it does not (the need went away);
// - a process larger than a node gets the SLIT-nearest node set (the policy's chain walk does that);
// - a swap: two processes spread over the same nodes, where neither fits on a node alone, exchange pages so each ends
//   on one node (planSwap).
import { CANDIDATE_MIN_CPU_HUNDREDTHS, PROCESS_MIN_RSS_MIB } from '../policy/numad.js';
import type { Policy, PolicyNode } from '../policy/types.js';
import { formatIdList } from '../topology/idlist.js';

/** numad re-evaluates a process it moved only after 300 s. */
export const DWELL_MS = 300_000;

export interface PlanNode extends PolicyNode {
  cpus: number[];
}

export interface PlanProcess {
  pid: number;
  comm: string;
  threads: number;
  rssMiB: number;
  cpuUsedHundredths: number;
  cpusAllowed: number[];
  memoryMiBByNode?: Record<string, number>;
  /** MiB under an interleave policy (measured when keepInterleaved) */
  interleavedMiB?: number;
  isLibvirtDomain: boolean;
  excluded: boolean;
  /** its CPU affinity comes from libvirt's auto placement (numad's answer), not from an administrator */
  placementOwned?: boolean;
}

export interface PlanSettings {
  utilizationTargetPercent: number;
  memLocalityTargetPercent: number;
  /** numad -K 1: a process that interleaves memory on purpose is left spread */
  keepInterleaved?: boolean;
  /**
   * The placement policy (policy/registry.ts): its answer says where a process belongs, and its rebalancing rules
   * say whether to stay when local, leave one that fits nowhere, and swap. The daemon passes the policy its answers use.
   */
  policy: Policy;
}

/** What the planner remembers about a process it acted on or advised. */
export interface MoveRecord {
  pid: number;
  comm: string;
  from: number[];
  to: number[];
  /** cpu: affinity set, memory not yet migrated; done: both; advised: logged only (advise-only mode or a VM) */
  phase: 'cpu' | 'done' | 'advised';
  atMs: number;
  /** the affinity we set, to tell our pins from an administrator's */
  cpus: number[];
}

export type MoveKind = 'cpu' | 'memory' | 'revert' | 'swap';

export interface PlannedMove {
  pid: number;
  comm: string;
  kind: MoveKind;
  from: number[];
  to: number[];
  toNodeset: string;
  /** CPUs the process's threads get (the target nodes' CPUs) */
  cpus: number[];
  migrateMiB: number;
  localityBeforePercent: number;
  localityAfterPercent: number;
  /** MiB to migrate per percentage point of locality gained; the plan applies the cheapest first */
  costMiBPerPoint: number;
  /** false for libvirt domains: their apply path goes through libvirt, never behind its back */
  applicable: boolean;
  reason: string;
  /** kind 'swap': the other process, moving to where this one leaves (both move together) */
  partner?: SwapPartner;
}

/** The other side of a swap: the same fields a move has for where it goes and what it costs. */
export type SwapPartner = Pick<PlannedMove, 'pid' | 'comm' | 'from' | 'to' | 'toNodeset' | 'cpus' | 'migrateMiB' | 'localityBeforePercent'>;

export interface Skipped {
  pid: number;
  comm: string;
  reason: string;
}

export interface Plan {
  atMs: number;
  moves: PlannedMove[];
  skipped: Skipped[];
}

const nodeOfCpu = (nodes: PlanNode[]): Map<number, number> => new Map(nodes.flatMap((n) => n.cpus.map((c) => [c, n.id] as const)));

function memOn(p: PlanProcess, ids: Iterable<number>): number {
  let sum = 0;
  for (const id of ids) sum += p.memoryMiBByNode?.[String(id)] ?? 0;
  return sum;
}

const sameSet = (a: number[], b: number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

export function isCandidate(p: PlanProcess): boolean {
  return !p.excluded && p.cpuUsedHundredths > CANDIDATE_MIN_CPU_HUNDREDTHS && p.rssMiB > PROCESS_MIN_RSS_MIB;
}

export function planMoves(
  nodes: PlanNode[],
  processes: PlanProcess[],
  settings: PlanSettings,
  history: ReadonlyMap<number, MoveRecord>,
  nowMs: number,
): Plan {
  const moves: PlannedMove[] = [];
  const skipped: Skipped[] = [];
  const cpuNode = nodeOfCpu(nodes);
  const allCpus = [...cpuNode.keys()].sort((a, b) => a - b);
  const memoryNodes = nodes.filter((n) => n.hasMemory).map((n) => n.id);
  const u = Math.min(Math.max(settings.utilizationTargetPercent, 10), 130);
  const rules = settings.policy.rebalancing;
  /** processes no single move helps: their best place is every node (swap material) */
  const stuck: { p: PlanProcess; from: number[] }[] = [];

  for (const p of processes) {
    if (!isCandidate(p)) continue;
    const skip = (reason: string): void => {
      skipped.push({ pid: p.pid, comm: p.comm, reason });
    };
    if (!p.memoryMiBByNode) {
      skip('per-node memory not measured');
      continue;
    }
    if (settings.keepInterleaved && (p.interleavedMiB ?? 0) > 0) {
      skip(`${p.interleavedMiB} MiB interleaved on purpose; kept spread (-K 1)`);
      continue;
    }
    const record = history.get(p.pid);
    const restricted = p.cpusAllowed.length > 0 && p.cpusAllowed.length < allCpus.length;
    const ourPins = p.placementOwned === true || (record !== undefined && sameSet(record.cpus, p.cpusAllowed));
    if (restricted && !ourPins) {
      skip(`CPU affinity ${formatIdList(p.cpusAllowed)} was set by someone else; never overridden`);
      continue;
    }
    if (record && record.phase !== 'cpu' && nowMs - record.atMs < DWELL_MS) {
      skip(`${record.phase === 'advised' ? 'advised' : 'moved'} ${Math.round((nowMs - record.atMs) / 1000)} s ago; re-evaluated after ${DWELL_MS / 1000} s`);
      continue;
    }

    // numad's bias (numad.md §5.2 step 2): what the process occupies counts as available where it is, inflated a
    // little so staying put wins ties. Unbound: its memory ×17/16 and a share of its CPU by memory share. Bound (to
    // our pins): its memory ×5/4, and on its nodes the CPU it uses plus their free CPU, averaged over them. Crediting
    // a bound process's CPU by memory share instead made the advice flip right after the CPU step (seen in the lab).
    const total = memOn(p, Object.keys(p.memoryMiBByNode).map(Number));
    const boundNodes = restricted ? new Set(p.cpusAllowed.map((c) => cpuNode.get(c))) : undefined;
    const procAvg = boundNodes
      ? (p.cpuUsedHundredths + nodes.filter((n) => boundNodes.has(n.id)).reduce((a, n) => a + n.cpuFreeHundredths, 0)) / Math.max(1, boundNodes.size)
      : 0;
    const biased = nodes.map((n) => {
      const own = p.memoryMiBByNode?.[String(n.id)] ?? 0;
      if (boundNodes) {
        return {
          ...n,
          memFreeMiB: Math.min(n.memTotalMiB, n.memFreeMiB + Math.floor((own * 5) / 4)),
          cpuFreeHundredths: boundNodes.has(n.id) ? Math.min(n.cpuTotalHundredths, Math.round(procAvg)) : n.cpuFreeHundredths,
        };
      }
      return {
        ...n,
        memFreeMiB: Math.min(n.memTotalMiB, n.memFreeMiB + Math.floor((own * 17) / 16)),
        cpuFreeHundredths: Math.min(n.cpuTotalHundredths, n.cpuFreeHundredths + (total > 0 ? Math.round((p.cpuUsedHundredths * own) / total) : 0)),
      };
    });
    const request = {
      cpuHundredths: Math.min(Math.round((p.cpuUsedHundredths * 100) / u), p.threads * 100),
      memMiB: Math.round((p.rssMiB * 100) / Math.min(u, 100)),
      relocating: true,
    };
    const advice = settings.policy.advise(biased, request);
    const to = advice.nodes;
    const toCpus = nodes.filter((n) => to.includes(n.id)).flatMap((n) => n.cpus).sort((a, b) => a - b);
    const from = restricted ? [...new Set(p.cpusAllowed.map((c) => cpuNode.get(c)).filter((x): x is number => x !== undefined))].sort((a, b) => a - b) : record?.to ?? memoryNodes;
    const inTarget = memOn(p, to);
    const before = total > 0 ? Math.floor((100 * inTarget) / total) : 100;
    const base = { pid: p.pid, comm: p.comm, from, to, toNodeset: advice.nodeset, cpus: toCpus, localityBeforePercent: before, applicable: !p.isLibvirtDomain };

    if (record?.phase === 'cpu') {
      // Probation: memory follows where the CPUs went while the advice still covers those nodes (it may widen by a
      // node as the CPU readings move with the process: the need is still there); otherwise undo. An advice over
      // three or more nodes may also have swapped one of them, if its centre is still among them: the lab saw the
      // third node of a 3-node advice flip between two equally near nodes as idle CPU wobbled (0-1,3 then 0,2-3),
      // and reverting for that undid a sound move twice in a row.
      const kept = record.to.filter((n) => to.includes(n)).length;
      const holds = kept === record.to.length || (record.to.length >= 3 && kept >= record.to.length - 1 && record.to.includes(advice.centre));
      if (holds) {
        const onCpus = memOn(p, record.to);
        const migrateMiB = total - onCpus;
        const beforeOnCpus = total > 0 ? Math.floor((100 * onCpus) / total) : 100;
        const toNodeset = formatIdList(record.to);
        const cpus = nodes.filter((n) => record.to.includes(n.id)).flatMap((n) => n.cpus).sort((a, b) => a - b);
        const still = sameSet(to, record.to)
          ? `still best on ${toNodeset}`
          : kept === record.to.length
            ? `the advice (${advice.nodeset}) still covers ${toNodeset}`
            : `the advice (${advice.nodeset}) keeps its centre and all but one of ${toNodeset}`;
        moves.push({ ...base, to: record.to, toNodeset, cpus, localityBeforePercent: beforeOnCpus, kind: 'memory', migrateMiB, localityAfterPercent: 100, costMiBPerPoint: migrateMiB / Math.max(1, 100 - beforeOnCpus), reason: `probation passed: ${still}; migrating ${migrateMiB} MiB` });
      } else {
        moves.push({ ...base, kind: 'revert', to: record.from, toNodeset: formatIdList(record.from), cpus: allCpus, migrateMiB: 0, localityAfterPercent: before, costMiBPerPoint: 0, reason: `probation failed: the advice moved to ${advice.nodeset}; restoring the CPU affinity` });
      }
      continue;
    }
    if (!advice.fits && rules.leaveWhenNoRoom) {
      // numad then "moves" it to every node: spreading a process because nothing has room helps no one. (A process
      // on probation is past this point: its memory follows its CPUs, or they go back.)
      skip(`no node set has room for ${request.cpuHundredths / 100} CPUs and ${request.memMiB} MiB now; left where it is`);
      continue;
    }
    const alreadyThere = !restricted ? false : sameSet(from, to);
    if (alreadyThere && before >= settings.memLocalityTargetPercent) {
      skip(`already ${before} percent localized to nodes ${advice.nodeset}`);
      continue;
    }
    if (restricted && !alreadyThere) {
      // Hysteresis numad lacks: a process already local on its own nodes moves only when those nodes cannot give it
      // the CPU it asks for and the target can. Otherwise equal hosts trade VMs back and forth (seen in the simulator:
      // 82 moves and 34 GiB migrated for 40 identical VMs, locality falling instead of rising).
      const localHere = total > 0 ? Math.floor((100 * memOn(p, from)) / total) : 100;
      const freeOf = (ids: number[]): number => nodes.filter((n) => ids.includes(n.id)).reduce((a, n) => a + n.cpuFreeHundredths, 0);
      if (rules.stayWhenLocal && localHere >= settings.memLocalityTargetPercent) {
        const why =
          freeOf(from) >= request.cpuHundredths
            ? ', which have the CPU it needs'
            : freeOf(to) < p.cpuUsedHundredths
              ? `; nodes ${advice.nodeset} have no more idle CPU`
              : to.length > from.length
                ? `; ${advice.nodeset} would spread it over more nodes`
                : undefined;
        if (why !== undefined) {
          skip(`${localHere} % local on nodes ${formatIdList(from)}${why}: staying`);
          continue;
        }
      }
    }
    if (!restricted && to.length >= memoryNodes.length) {
      skip('its best placement is every node: no single move helps');
      stuck.push({ p, from });
      continue;
    }
    const migrateMiB = total - inTarget;
    moves.push({
      ...base,
      kind: 'cpu',
      migrateMiB,
      localityAfterPercent: 100,
      costMiBPerPoint: migrateMiB / Math.max(1, 100 - before),
      reason: `${before} % of ${total} MiB is on ${advice.nodeset}, the best place for ${request.cpuHundredths / 100} CPUs and ${request.memMiB} MiB (${advice.reasons[0] ?? ''})`,
    });
  }
  if (rules.swaps && !moves.some((m) => m.kind === 'cpu')) {
    const swap = planSwap(nodes, stuck, u, settings.memLocalityTargetPercent);
    if (swap) moves.push(swap);
  }
  // Cheapest first; the daemon acts on one move per cycle, like numad, and on the first applicable one.
  moves.sort((a, b) => (a.kind === 'cpu' ? 1 : 0) - (b.kind === 'cpu' ? 1 : 0) || a.costMiBPerPoint - b.costMiBPerPoint || a.pid - b.pid);
  return { atMs: nowMs, moves, skipped };
}

/** At most this many stuck processes are paired (the biggest): pairs grow with the square, nodes with it too. */
const SWAP_POOL_MAX = 32;

/**
 * Two processes A and B, both spread so that neither fits on one node by itself: if A can take node x once B's pages
 * leave it, and B node y once A's leave, exchanging them localizes both. After the swap every involved node keeps
 * numad's utilization headroom (-u) free, and its CPUs can carry the process's measured CPU use. The pair with the
 * least memory to migrate per point of locality gained wins. Pure arithmetic on the measured per-node MiB.
 */
export function planSwap(nodes: PlanNode[], stuck: { p: PlanProcess; from: number[] }[], u: number, localityTarget: number): PlannedMove | undefined {
  const pool = [...stuck].sort((a, b) => b.p.rssMiB - a.p.rssMiB || a.p.pid - b.p.pid).slice(0, SWAP_POOL_MAX);
  const memNodes = nodes.filter((n) => n.hasMemory && n.cpus.length > 0);
  const headroom = (n: PlanNode): number => Math.ceil((n.memTotalMiB * Math.max(0, 100 - Math.min(u, 100))) / 100);
  const mem = (p: PlanProcess, id: number): number => p.memoryMiBByNode?.[String(id)] ?? 0;
  const totalOf = (p: PlanProcess): number => Object.values(p.memoryMiBByNode ?? {}).reduce((a, b) => a + b, 0);
  const bestLocality = (p: PlanProcess, total: number): number => (total > 0 ? Math.floor((100 * Math.max(...memNodes.map((n) => mem(p, n.id)))) / total) : 100);
  let best: { cost: number; move: PlannedMove } | undefined;
  for (let i = 0; i < pool.length; i++) {
    for (let j = i + 1; j < pool.length; j++) {
      const a = pool[i] as (typeof pool)[number];
      const b = pool[j] as (typeof pool)[number];
      const ta = totalOf(a.p);
      const tb = totalOf(b.p);
      const locA = bestLocality(a.p, ta);
      const locB = bestLocality(b.p, tb);
      if (locA >= localityTarget && locB >= localityTarget) continue;
      for (const x of memNodes) {
        for (const y of memNodes) {
          if (x.id === y.id) continue;
          // Free memory after: A arrives whole on x while B's pages there leave; the reverse on y.
          const freeX = x.memFreeMiB - (ta - mem(a.p, x.id)) + mem(b.p, x.id);
          const freeY = y.memFreeMiB - (tb - mem(b.p, y.id)) + mem(a.p, y.id);
          if (freeX < headroom(x) || freeY < headroom(y)) continue;
          // A swap is only worth it where no single move would do: A alone on x must not fit.
          if (x.memFreeMiB - (ta - mem(a.p, x.id)) >= headroom(x) && y.memFreeMiB - (tb - mem(b.p, y.id)) >= headroom(y)) continue;
          const cpuShare = (p: PlanProcess, total: number, id: number): number => (total > 0 ? (p.cpuUsedHundredths * mem(p, id)) / total : 0);
          const cpuX = x.cpuFreeHundredths + cpuShare(a.p, ta, x.id) + cpuShare(b.p, tb, x.id) - a.p.cpuUsedHundredths;
          const cpuY = y.cpuFreeHundredths + cpuShare(a.p, ta, y.id) + cpuShare(b.p, tb, y.id) - b.p.cpuUsedHundredths;
          if (cpuX < 0 || cpuY < 0) continue;
          const migrateA = ta - mem(a.p, x.id);
          const migrateB = tb - mem(b.p, y.id);
          // Locality now is each one's best single node; between pairings of the same two only the MiB differ.
          const gain = 100 - locA + (100 - locB);
          const cost = (migrateA + migrateB) / gain;
          if (best && best.cost <= cost) continue;
          const beforeA = Math.floor((100 * mem(a.p, x.id)) / Math.max(1, ta));
          const beforeB = Math.floor((100 * mem(b.p, y.id)) / Math.max(1, tb));
          best = {
            cost,
            move: {
              pid: a.p.pid,
              comm: a.p.comm,
              kind: 'swap',
              from: a.from,
              to: [x.id],
              toNodeset: String(x.id),
              cpus: [...x.cpus].sort((m, n) => m - n),
              migrateMiB: migrateA,
              localityBeforePercent: beforeA,
              localityAfterPercent: 100,
              costMiBPerPoint: cost,
              applicable: !a.p.isLibvirtDomain && !b.p.isLibvirtDomain,
              reason:
                `neither fits on one node alone (best single-node locality ${locA} % and ${locB} %); swapping: ` +
                `pid ${a.p.pid} to node ${x.id} (${migrateA} MiB) and pid ${b.p.pid} to node ${y.id} (${migrateB} MiB)`,
              partner: {
                pid: b.p.pid,
                comm: b.p.comm,
                from: b.from,
                to: [y.id],
                toNodeset: String(y.id),
                cpus: [...y.cpus].sort((m, n) => m - n),
                migrateMiB: migrateB,
                localityBeforePercent: beforeB,
              },
            },
          };
        }
      }
    }
  }
  return best?.move;
}
