// The memory guard (issue #14), pure: does a running guest bound to some nodes still have room there for the memory it
// has not touched yet, and if not, which node its nodeset should be widened to — or, once the pressure is gone, back.
// A guest bound with cpuset.mems (libvirt's strict and restrictive modes) can allocate only on its nodes: when they run
// out, the kernel's OOM killer picks a process instead of spilling to the next node, and numad reacts too late ("if a
// process requests too much memory too rapidly, numad does not have the time to tell KVM to extend its memory pool").
// The rule sees numbers only: the daemon gathers them (rebalancer's observe), carries out a widen or narrow through
// libvirt (rebalance-actions' 'memory-guard' case) and logs and shows the verdicts.
import { formatIdList } from '../topology/idlist.js';

/** off: not evaluated; warn: logged and shown only; widen: restrictive domains are also widened and narrowed back. */
export const MEMORY_GUARD_MODES = ['off', 'warn', 'widen'] as const;
export type MemoryGuardMode = (typeof MEMORY_GUARD_MODES)[number];

/** The daemon's --memory-guard and --memory-guard-headroom-mib. */
export interface MemoryGuardSettings {
  mode: MemoryGuardMode;
  headroomMiB: number;
}

/**
 * The default headroom, in MiB, below which a bound domain is short. An absolute amount, not a percentage: what runs
 * out is a number of pages on a node, and what eats the margin between two cycles (host processes, QEMU's own
 * allocations, unbound guests) does not grow with the node's or the guest's size — 15 % of a 512 GiB node would warn
 * about 77 GiB that nothing needs, 15 % of a 2 GiB guest would leave 300 MiB. 1 GiB covers a cycle's ordinary churn
 * on a KVM host and is easy to reason about; raise it on hosts where guests fault memory in quickly.
 */
export const DEFAULT_MEMORY_GUARD_HEADROOM_MIB = 1024;

/**
 * Hysteresis for narrowing back: the original nodes must keep this many times the threshold free after taking back
 * everything the guest has (spilled pages and untouched memory). At 1× a guest hovering at the threshold would be
 * widened and narrowed on alternate cycles, migrating its pages each time.
 */
export const NARROW_HEADROOM_FACTOR = 2;

/**
 * The headroom asked of a domain's nodes is at most this share of their memory: 1 GiB is a thin margin on a 64 GiB
 * node but more than a small node ever has free (a 768 MiB lab node with a 400 MiB guest on it, room to spare, was
 * "short" every cycle and widened at once). An eighth keeps the absolute figure on any node of 8 GiB or more.
 */
export const HEADROOM_MAX_SHARE_OF_NODES = 1 / 8;

/** A widening is held at least this long before narrowing is considered (numad's own re-evaluation delay, 300 s). */
export const NARROW_DWELL_MS = 300_000;

/** libvirt modes whose nodeset the kernel enforces (cgroup cpuset.mems): only these can run short. */
const BINDING_MODES = new Set(['strict', 'restrictive']);

export interface GuardNode {
  id: number;
  hasMemory: boolean;
  /**
   * Free now (MemFree, plus Inactive(file) under numad's -C, as the answers count it), less what unbound reservations
   * hold for VMs about to start. Bound reservations are not subtracted: they hold running guests' untouched memory,
   * which the guard counts itself from each guest's numa_maps.
   */
  memFreeMiB: number;
  /** the node's memory (MemTotal): bounds the headroom asked of it (HEADROOM_MAX_SHARE_OF_NODES) */
  memTotalMiB: number;
  /** SLIT row, aligned with the node list passed in (numeric id order) */
  distances: number[];
}

export interface GuardDomain {
  uuid: string;
  name: string;
  pid: number | undefined;
  /** live `<memory mode>`: strict, restrictive, preferred, interleave; undefined when libvirt did not say */
  mode: string | undefined;
  /** live memory nodeset ([] when libvirt reports none: not bound) */
  nodeset: number[];
  /** the guest's memory size (libvirt's `<memory>`) */
  memoryMiB: number;
  /** the QEMU process's memory on each node (numa_maps); undefined when it could not be read */
  touchedMiBByNode: ReadonlyMap<number, number> | undefined;
  /** excluded by the domain filter: shown, never changed */
  excluded: boolean;
  /** the nodeset is an administrator's (`<numatune>` with placement='static' that we did not set): never changed */
  adminNodeset: boolean;
}

/** A widening the guard made and still holds: `from` is where the domain was bound before, `to` what it was given. */
export interface Widening {
  from: number[];
  to: number[];
  atMs: number;
}

export type GuardAction = { kind: 'none' } | { kind: 'widen'; to: number[] } | { kind: 'narrow'; to: number[] };

export interface GuardVerdict {
  uuid: string;
  name: string;
  pid: number | undefined;
  /** unbound: not evaluated (no binding mode or nodeset, or memory unreadable); short: headroom below the threshold */
  state: 'unbound' | 'ok' | 'short';
  nodes: number[];
  /** guest memory not yet on any node: memoryMiB less what the QEMU process holds */
  untouchedMiB: number;
  /** free on its nodes (GuardNode.memFreeMiB summed) */
  freeMiB: number;
  /** other bound guests' untouched memory counted against the same nodes (each spread evenly over its own nodes) */
  othersUntouchedMiB: number;
  /** freeMiB − othersUntouchedMiB − untouchedMiB */
  headroomMiB: number;
  thresholdMiB: number;
  action: GuardAction;
  /** the guard's widening this domain still has, if any */
  widened: Widening | undefined;
  reason: string;
}

export interface GuardInput {
  nodes: readonly GuardNode[];
  domains: readonly GuardDomain[];
  thresholdMiB: number;
  /** warn: never an action; widen: restrictive domains may be widened and narrowed */
  mode: 'warn' | 'widen';
  /** the guard's widenings by domain UUID (a widening whose domain's nodeset is no longer its `to` is dropped) */
  widenings: ReadonlyMap<string, Widening>;
  nowMs: number;
}

const sum = (xs: Iterable<number>): number => {
  let s = 0;
  for (const x of xs) s += x;
  return s;
};
const mib = (x: number): number => Math.round(x);
const same = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

interface Bound {
  d: GuardDomain;
  nodes: number[];
  untouchedMiB: number;
  touchedMiBByNode: ReadonlyMap<number, number>;
}

/** The guard's verdict for every domain, in input order. Pure. */
export function evaluateMemoryGuard(input: GuardInput): GuardVerdict[] {
  const byId = new Map(input.nodes.map((n, i) => [n.id, { n, index: i }] as const));
  const memoryNode = (id: number): boolean => byId.get(id)?.n.hasMemory === true;
  const free = (id: number): number => byId.get(id)?.n.memFreeMiB ?? 0;
  const thresholdOn = (nodes: readonly number[]): number =>
    Math.min(input.thresholdMiB, Math.floor(sum(nodes.map((id) => byId.get(id)?.n.memTotalMiB ?? 0)) * HEADROOM_MAX_SHARE_OF_NODES));

  const bound = new Map<string, Bound>();
  for (const d of input.domains) {
    const nodes = d.nodeset.filter(memoryNode);
    if (d.mode === undefined || !BINDING_MODES.has(d.mode) || nodes.length === 0 || d.touchedMiBByNode === undefined) continue;
    // QEMU's own allocations are in numa_maps too, so what it holds may exceed the guest's size: then nothing is left.
    const untouchedMiB = Math.max(0, d.memoryMiB - sum(d.touchedMiBByNode.values()));
    bound.set(d.uuid, { d, nodes, untouchedMiB, touchedMiBByNode: d.touchedMiBByNode });
  }
  // Every bound guest's untouched memory is a claim on its nodes, spread evenly (the kernel fills the local node first,
  // but which node is local depends on where the vCPU runs at the time; evenly is the estimate that needs no guess).
  const claims = new Map<number, number>();
  for (const b of bound.values()) for (const n of b.nodes) claims.set(n, (claims.get(n) ?? 0) + b.untouchedMiB / b.nodes.length);
  const othersOn = (b: Bound, nodes: readonly number[]): number =>
    sum(nodes.map((n) => (claims.get(n) ?? 0) - (b.nodes.includes(n) ? b.untouchedMiB / b.nodes.length : 0)));

  return input.domains.map((d): GuardVerdict => {
    const b = bound.get(d.uuid);
    const thresholdMiB = b ? thresholdOn(b.nodes) : input.thresholdMiB;
    const base = { uuid: d.uuid, name: d.name, pid: d.pid, thresholdMiB };
    const prior = input.widenings.get(d.uuid);
    if (!b) {
      const why =
        d.mode !== undefined && !BINDING_MODES.has(d.mode)
          ? `${d.mode} mode: the kernel falls back to other nodes, nothing to guard`
          : d.nodeset.length === 0 || d.mode === undefined
            ? 'no memory binding reported by libvirt'
            : 'guest memory per node not readable (QEMU process gone?)';
      return { ...base, state: 'unbound', nodes: d.nodeset, untouchedMiB: 0, freeMiB: 0, othersUntouchedMiB: 0, headroomMiB: 0, action: { kind: 'none' }, widened: undefined, reason: why };
    }
    // A widening holds only while the domain still has the nodeset we gave it; a later move or an administrator's
    // change takes the nodeset over.
    const widened = prior && same(prior.to, d.nodeset) ? prior : undefined;
    const freeMiB = sum(b.nodes.map(free));
    const othersUntouchedMiB = othersOn(b, b.nodes);
    const headroomMiB = freeMiB - othersUntouchedMiB - b.untouchedMiB;
    const numbers = { nodes: b.nodes, untouchedMiB: mib(b.untouchedMiB), freeMiB: mib(freeMiB), othersUntouchedMiB: mib(othersUntouchedMiB), headroomMiB: mib(headroomMiB), widened };
    const onNodes = `nodes (${formatIdList(b.nodes)})`;
    const figures = `${mib(b.untouchedMiB)} MiB untouched, ${mib(freeMiB)} MiB free on ${onNodes}${othersUntouchedMiB > 0 ? `, ${mib(othersUntouchedMiB)} MiB of it other guests' untouched memory` : ''}, headroom ${mib(headroomMiB)} MiB`;
    // Why this domain may not be changed, when it may not.
    const fixed =
      input.mode === 'warn'
        ? 'warned only (memory guard in warn mode)'
        : d.excluded
          ? 'excluded by the domain filter: warned only'
          : d.mode !== 'restrictive'
            ? `${d.mode} mode: libvirt cannot change a running domain's nodeset (only mode='restrictive' can); warned only`
            : d.adminNodeset
              ? "nodeset set by the administrator (<numatune> placement='static'): warned only"
              : undefined;

    // A guest with nothing left to touch cannot run its nodes out by itself: what it has is already allocated.
    if (b.untouchedMiB > 0 && headroomMiB < thresholdMiB) {
      const shortText = `short: ${figures} < ${thresholdMiB} MiB`;
      if (fixed) return { ...base, ...numbers, state: 'short', action: { kind: 'none' }, reason: `${shortText}; ${fixed}` };
      const to = widenTarget(input.nodes, byId, b, claims, thresholdMiB - headroomMiB);
      if (!to) return { ...base, ...numbers, state: 'short', action: { kind: 'none' }, reason: `${shortText}; no other node has room` };
      const target = [...new Set([...d.nodeset, ...to])].sort((x, y) => x - y);
      return { ...base, ...numbers, state: 'short', action: { kind: 'widen', to: target }, reason: `${shortText}; widen to nodes (${formatIdList(target)})` };
    }

    const okText = b.untouchedMiB > 0 ? `ok: ${figures} ≥ ${thresholdMiB} MiB` : `ok: ${figures}, nothing left to touch`;
    if (!widened) return { ...base, ...numbers, state: 'ok', action: { kind: 'none' }, reason: okText };
    const widenedText = `widened from nodes (${formatIdList(widened.from)})`;
    if (fixed) return { ...base, ...numbers, state: 'ok', action: { kind: 'none' }, reason: `${okText}; ${widenedText}, kept: ${fixed}` };
    // Narrowing takes back what spilled over and needs room for what is still untouched, with a margin wider than the
    // threshold (hysteresis), and not before the widening has been held NARROW_DWELL_MS.
    const from = widened.from.filter(memoryNode);
    const spilledMiB = sum([...b.touchedMiBByNode].filter(([n]) => !from.includes(n)).map(([, v]) => v));
    const projectedMiB = sum(from.map(free)) - othersOn(b, from) - b.untouchedMiB - spilledMiB;
    const needMiB = NARROW_HEADROOM_FACTOR * thresholdOn(from);
    if (input.nowMs - widened.atMs < NARROW_DWELL_MS) {
      return { ...base, ...numbers, state: 'ok', action: { kind: 'none' }, reason: `${okText}; ${widenedText} ${Math.round((input.nowMs - widened.atMs) / 1000)} s ago, held at least ${NARROW_DWELL_MS / 1000} s` };
    }
    if (projectedMiB < needMiB) {
      return { ...base, ...numbers, state: 'ok', action: { kind: 'none' }, reason: `${okText}; ${widenedText}, kept: back there the headroom would be ${mib(projectedMiB)} MiB < ${needMiB} MiB` };
    }
    return { ...base, ...numbers, state: 'ok', action: { kind: 'narrow', to: widened.from }, reason: `${okText}; narrow back to nodes (${formatIdList(widened.from)}): headroom there ${mib(projectedMiB)} MiB ≥ ${needMiB} MiB` };
  });
}

/**
 * The nodes to add so `shortfallMiB` more is free for the guest: the SLIT-nearest node (nearest to any of its nodes;
 * ties: more room, then lower id) that alone has room for the shortfall after other guests' claims; if none has,
 * the nearest nodes with room until the shortfall is covered; undefined when all of them together cannot.
 */
function widenTarget(
  nodes: readonly GuardNode[],
  byId: ReadonlyMap<number, { n: GuardNode; index: number }>,
  b: Bound,
  claims: ReadonlyMap<number, number>,
  shortfallMiB: number,
): number[] | undefined {
  const distance = (n: GuardNode): number => Math.min(...b.nodes.map((own) => n.distances[byId.get(own)?.index ?? -1] ?? Number.MAX_SAFE_INTEGER));
  const room = (n: GuardNode): number => n.memFreeMiB - (claims.get(n.id) ?? 0);
  const candidates = nodes
    .filter((n) => n.hasMemory && !b.nodes.includes(n.id) && room(n) > 0)
    .sort((x, y) => distance(x) - distance(y) || room(y) - room(x) || x.id - y.id);
  const single = candidates.find((n) => room(n) >= shortfallMiB);
  if (single) return [single.id];
  const taken: number[] = [];
  let covered = 0;
  for (const n of candidates) {
    taken.push(n.id);
    covered += room(n);
    if (covered >= shortfallMiB) return taken;
  }
  return undefined;
}

/** The guard's next change: a widening first (a guest about to be OOM-killed), then a narrowing; at most one per cycle. */
export function nextGuardChange(verdicts: readonly GuardVerdict[]): (GuardVerdict & { action: Exclude<GuardAction, { kind: 'none' }> }) | undefined {
  const acting = verdicts.filter((v): v is GuardVerdict & { action: Exclude<GuardAction, { kind: 'none' }> } => v.action.kind !== 'none');
  // The most short first: its guest is closest to failing an allocation.
  const widen = acting.filter((v) => v.action.kind === 'widen').sort((a, b) => a.headroomMiB - b.headroomMiB)[0];
  return widen ?? acting.find((v) => v.action.kind === 'narrow');
}
