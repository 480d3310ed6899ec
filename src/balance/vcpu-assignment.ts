// Which physical CPUs each vCPU of one guest gets on its target nodes: one physical core per vCPU (all of that core's
// hyper-threads, so the scheduler can still pick a sibling) while free cores exist, because two vCPUs of one guest
// stacked on one core cost up to 80 % in a published KVM measurement. More vCPUs than cores: round-robin over cores.
// Where the host says which CPUs share an L3 cache (an AMD CCX, a sub-NUMA cluster), a guest's vCPUs keep to as few
// L3 groups as hold them: vCPUs that talk across two CCXs pay the fabric's latency on every shared line. Isolated
// (isolcpus=, nohz_full=) CPUs are the administrator's, never ours. With whole cores, each vCPU gets one hardware
// thread and the guest fills the sibling threads of its cores, so no other guest's vCPU shares them.
// Pure: the host's cores in, a CPU set per vCPU out; and where a domain's memory and CPUs go when it moves.
import { formatIdList, parseIdList } from '../topology/idlist.js';

export interface CoreCpu {
  id: number;
  node: number;
  packageId: number;
  coreId: number;
  /** the L3 cache this CPU shares (the snapshot's l3Id); absent when the host does not say */
  l3Id?: number | undefined;
}

/** How vCPUs are pinned, beyond the host's cores and the CPUs other guests were given. */
export interface PinOptions {
  /** isolcpus= and nohz_full= CPUs: no vCPU, emulator or IOThread is pinned there (unless an administrator did) */
  isolatedCpus?: ReadonlySet<number>;
  /** one hardware thread per vCPU, consecutive vCPUs on the sibling threads of one core; cores other guests use are skipped */
  wholeCores?: boolean;
  /** CPU → the L3 cache it shares; planDomainMove fills it from the host's CPUs. Without it: node and core order. */
  l3Of?: ReadonlyMap<number, number>;
}

/** Cores of the target nodes, each as its sorted CPU list, in node then core order; `isolatedCpus` are left out. */
export function coresOf(cpus: readonly CoreCpu[], nodes: readonly number[], isolatedCpus: ReadonlySet<number> = new Set()): number[][] {
  const byCore = new Map<string, number[]>();
  const wanted = cpus.filter((c) => nodes.includes(c.node) && !isolatedCpus.has(c.id));
  for (const c of wanted.sort((a, b) => a.node - b.node || a.packageId - b.packageId || a.coreId - b.coreId || a.id - b.id)) {
    const key = `${c.node}/${c.packageId}/${c.coreId}`;
    const list = byCore.get(key) ?? [];
    list.push(c.id);
    byCore.set(key, list);
  }
  return [...byCore.values()];
}

/** The CPU → L3 map of the CPUs that carry an L3 id. */
export function l3MapOf(cpus: readonly CoreCpu[]): Map<number, number> {
  const map = new Map<number, number>();
  for (const c of cpus) if (c.l3Id !== undefined) map.set(c.id, c.l3Id);
  return map;
}

interface Core {
  cpus: number[];
  /** another guest's vCPU was given one of its CPUs */
  busy: boolean;
}

interface L3Group {
  id: number;
  free: Core[];
  busy: Core[];
  /** what the group's free cores hold: cores, or hardware threads with whole cores */
  room: number;
}

/**
 * Cores in the order vCPUs take them, L3 group by L3 group: the group with the most room when it holds all `need`
 * (ties: fewer busy cores, then the lower id), else the fewest groups that do, largest first; then the other
 * groups' free cores, then busy cores (the chosen groups' first). undefined when a core has no L3 id.
 */
function l3Order(cores: readonly Core[], need: number, l3Of: ReadonlyMap<number, number>, size: (c: Core) => number): Core[] | undefined {
  const groups = new Map<number, L3Group>();
  for (const core of cores) {
    const id = l3Of.get(core.cpus[0] as number);
    if (id === undefined) return undefined;
    const g = groups.get(id) ?? { id, free: [], busy: [], room: 0 };
    if (core.busy) g.busy.push(core);
    else {
      g.free.push(core);
      g.room += size(core);
    }
    groups.set(id, g);
  }
  const sorted = [...groups.values()].sort((a, b) => b.room - a.room || a.busy.length - b.busy.length || a.id - b.id);
  const chosen: L3Group[] = [];
  let room = 0;
  // Sorted largest first, the first group holds all when any does; otherwise largest first is the fewest groups.
  for (const g of sorted) {
    if (room >= need || g.room === 0) break;
    chosen.push(g);
    room += g.room;
  }
  const rest = sorted.filter((g) => !chosen.includes(g));
  return [...chosen.flatMap((g) => g.free), ...rest.flatMap((g) => g.free), ...chosen.flatMap((g) => g.busy), ...rest.flatMap((g) => g.busy)];
}

/** One CPU set per vCPU, and what the plan's reason should say about how they were chosen. */
export interface VcpuChoice {
  vcpus: number[][];
  notes: string[];
}

/** assignVcpus with what it decided spelled out (planDomainMove puts the notes in the move's reason). */
export function chooseVcpus(vcpus: number, cores: readonly number[][], busyCpus: ReadonlySet<number> = new Set(), options: PinOptions = {}): VcpuChoice {
  const isolated = options.isolatedCpus ?? new Set<number>();
  const usable: Core[] = cores
    .map((c) => c.filter((cpu) => !isolated.has(cpu)))
    .filter((c) => c.length > 0)
    .map((c) => ({ cpus: c, busy: c.some((cpu) => busyCpus.has(cpu)) }));
  if (usable.length === 0 || vcpus <= 0) return { vcpus: [], notes: [] };
  const l3Of = options.l3Of ?? new Map<number, number>();
  const notes: string[] = [];
  if (options.wholeCores) {
    const free = usable.filter((c) => !c.busy);
    const threads = free.reduce((n, c) => n + c.cpus.length, 0);
    if (threads >= vcpus) {
      const order = (l3Of.size > 0 ? l3Order(free, vcpus, l3Of, (c) => c.cpus.length) : undefined) ?? free;
      const pins = order
        .flatMap((c) => c.cpus)
        .slice(0, vcpus)
        .map((cpu) => [cpu]);
      const where = l3Note(pins, l3Of);
      return { vcpus: pins, notes: ['whole cores: one hardware thread per vCPU', ...(where ? [where] : [])] };
    }
    notes.push(`too few whole cores free (${threads} threads on cores no other guest uses, ${vcpus} vCPUs): one core's threads per vCPU instead`);
  }
  const order = (l3Of.size > 0 ? l3Order(usable, vcpus, l3Of, () => 1) : undefined) ?? [...usable.filter((c) => !c.busy), ...usable.filter((c) => c.busy)];
  const pins = Array.from({ length: vcpus }, (_, i) => [...(order[i % order.length] as Core).cpus]);
  const where = l3Note(pins, l3Of);
  if (where) notes.push(where);
  return { vcpus: pins, notes };
}

/** `vCPUs on L3 cache(s) …` when the CPUs carry L3 ids, else ''. */
function l3Note(pins: readonly number[][], l3Of: ReadonlyMap<number, number>): string {
  const ids = new Set<number>();
  for (const pin of pins) for (const cpu of pin) {
    const id = l3Of.get(cpu);
    if (id === undefined) return '';
    ids.add(id);
  }
  return ids.size > 0 ? `vCPUs on L3 cache${ids.size > 1 ? 's' : ''} ${formatIdList(ids)}` : '';
}

/**
 * vCPU i → a core's CPUs (with `wholeCores`, one hardware thread). `busyCpus` (CPUs other guests' vCPUs were given)
 * are on cores used last, so guests spread over the free cores first; see PinOptions for the rest.
 */
export function assignVcpus(vcpus: number, cores: readonly number[][], busyCpus: ReadonlySet<number> = new Set(), options: PinOptions = {}): number[][] {
  return chooseVcpus(vcpus, cores, busyCpus, options).vcpus;
}

/** What libvirt reports of a domain now, as far as choosing its move needs it. */
export interface DomainNow {
  /** live `<memory mode>`; only 'restrictive' lets the memory nodeset change live */
  mode: string | undefined;
  /** live memory nodeset in list form, '' when libvirt reports none */
  nodeset: string;
  vcpus: number;
  iothreadIds: number[];
  /** the live CPU sets of the vCPUs an administrator pinned (TrackedDomain.adminPins), to tell an isolated guest */
  adminVcpuPins?: number[][];
}

/** A domain's move as apply/domain-mover.ts carries it out. */
export interface DomainMovePlan {
  /** the nodeset its memory moves to live; undefined when the memory stays where it is */
  memoryNodes: number[] | undefined;
  /** the nodes whose CPUs it is pinned to */
  cpuNodes: number[];
  /** one CPU set per vCPU; empty: the vCPUs stay where an administrator pinned them (on isolated CPUs) */
  vcpus: number[][];
  /** every CPU of cpuNodes but isolated ones: the emulator and each IOThread get all of them */
  emulator: number[];
  iothreads: { id: number; cpus: number[] }[];
  reason: string;
}

/**
 * A domain's move to `targetNodes` (libvirt.md §2, §6.4). restrictive mode: the memory nodeset changes live (cgroup
 * cpuset.mems migrates the pages) and the CPUs follow it. strict / preferred / interleave: memory cannot move live, so
 * the CPUs go to the nodes that hold it. `busyCpus` are CPUs other guests' vCPUs were given (used last). Isolated
 * CPUs (options.isolatedCpus) are left out of every pin; a domain whose administrator pinned its vCPUs there only (a
 * real-time or DPDK guest) keeps its vCPUs where they are. The plan's emulator list is empty when the CPU nodes have
 * no CPUs we may use.
 */
export function planDomainMove(now: DomainNow, targetNodes: number[], hostCpus: readonly CoreCpu[], busyCpus: ReadonlySet<number>, options: PinOptions = {}): DomainMovePlan {
  const target = formatIdList(targetNodes);
  let memoryNodes: number[] | undefined;
  let cpuNodes = targetNodes;
  let reason: string;
  if (now.mode === 'restrictive') {
    if (now.nodeset !== target) memoryNodes = targetNodes;
    reason = `restrictive mode: memory nodeset ${now.nodeset || '(none)'} → ${target}, CPUs re-pinned to nodes ${target}`;
  } else {
    // The memory stays where it is; the CPUs come to it.
    cpuNodes = now.nodeset ? parseIdList(now.nodeset) : targetNodes;
    reason =
      `${now.mode ?? 'strict'} mode: memory cannot move live (libvirt allows a live nodeset change only for ` +
      `<memory mode='restrictive'>); CPUs pinned to nodes ${formatIdList(cpuNodes)}, which hold it`;
  }
  const isolated = options.isolatedCpus ?? new Set<number>();
  const cores = coresOf(hostCpus, cpuNodes, isolated);
  const nodeCpus = cores.flat().sort((a, b) => a - b);
  const adminCpus = (now.adminVcpuPins ?? []).flat();
  let vcpus: number[][];
  if (adminCpus.length > 0 && adminCpus.every((c) => isolated.has(c))) {
    // Pinned onto isolated CPUs by hand: the guest was given them on purpose, and moving its other vCPUs off them
    // would split it between the CPUs kept quiet for it and the housekeeping ones.
    vcpus = [];
    reason += `; vCPUs left where an administrator pinned them, on isolated CPUs ${formatIdList(new Set(adminCpus))}`;
  } else {
    const choice = chooseVcpus(now.vcpus, cores, busyCpus, { ...options, l3Of: options.l3Of ?? l3MapOf(hostCpus) });
    vcpus = choice.vcpus;
    for (const note of choice.notes) reason += `; ${note}`;
  }
  return {
    memoryNodes,
    cpuNodes,
    vcpus,
    emulator: nodeCpus,
    iothreads: now.iothreadIds.map((id) => ({ id, cpus: nodeCpus })),
    reason,
  };
}
