// Which physical CPUs each vCPU of one guest gets on its target nodes: one physical core per vCPU (all of that core's
// hyper-threads, so the scheduler can still pick a sibling) while free cores exist, because two vCPUs of one guest
// stacked on one core cost up to 80 % in a published KVM measurement. More vCPUs than cores: round-robin over cores.
// Pure: the host's cores in, a CPU set per vCPU out; and where a domain's memory and CPUs go when it moves.
import { formatIdList, parseIdList } from '../topology/idlist.js';

export interface CoreCpu {
  id: number;
  node: number;
  packageId: number;
  coreId: number;
}

/** Cores of the target nodes, each as its sorted CPU list, in node then core order. */
export function coresOf(cpus: readonly CoreCpu[], nodes: readonly number[]): number[][] {
  const byCore = new Map<string, number[]>();
  for (const c of [...cpus].filter((c) => nodes.includes(c.node)).sort((a, b) => a.node - b.node || a.packageId - b.packageId || a.coreId - b.coreId || a.id - b.id)) {
    const key = `${c.node}/${c.packageId}/${c.coreId}`;
    const list = byCore.get(key) ?? [];
    list.push(c.id);
    byCore.set(key, list);
  }
  return [...byCore.values()];
}

/**
 * vCPU i → a core's CPUs. `busyCores` (cores other guests' vCPUs were given) are used last, so guests spread over
 * the free cores first.
 */
export function assignVcpus(vcpus: number, cores: readonly number[][], busyCpus: ReadonlySet<number> = new Set()): number[][] {
  if (cores.length === 0) return [];
  const free = cores.filter((c) => !c.some((cpu) => busyCpus.has(cpu)));
  const busy = cores.filter((c) => c.some((cpu) => busyCpus.has(cpu)));
  const order = [...free, ...busy];
  return Array.from({ length: vcpus }, (_, i) => [...(order[i % order.length] as number[])]);
}

/** What libvirt reports of a domain now, as far as choosing its move needs it. */
export interface DomainNow {
  /** live `<memory mode>`; only 'restrictive' lets the memory nodeset change live */
  mode: string | undefined;
  /** live memory nodeset in list form, '' when libvirt reports none */
  nodeset: string;
  vcpus: number;
  iothreadIds: number[];
}

/** A domain's move as apply/domain-mover.ts carries it out. */
export interface DomainMovePlan {
  /** the nodeset its memory moves to live; undefined when the memory stays where it is */
  memoryNodes: number[] | undefined;
  /** the nodes whose CPUs it is pinned to */
  cpuNodes: number[];
  /** one CPU set per vCPU */
  vcpus: number[][];
  /** every CPU of cpuNodes: the emulator and each IOThread get all of them */
  emulator: number[];
  iothreads: { id: number; cpus: number[] }[];
  reason: string;
}

/**
 * A domain's move to `targetNodes` (libvirt.md §2, §6.4). restrictive mode: the memory nodeset changes live (cgroup
 * cpuset.mems migrates the pages) and the CPUs follow it. strict / preferred / interleave: memory cannot move live, so
 * the CPUs go to the nodes that hold it. `busyCpus` are CPUs other guests' vCPUs were given (used last). The plan's
 * emulator list is empty when the CPU nodes have no CPUs.
 */
export function planDomainMove(now: DomainNow, targetNodes: number[], hostCpus: readonly CoreCpu[], busyCpus: ReadonlySet<number>): DomainMovePlan {
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
  const cores = coresOf(hostCpus, cpuNodes);
  const nodeCpus = cores.flat().sort((a, b) => a - b);
  return {
    memoryNodes,
    cpuNodes,
    vcpus: assignVcpus(now.vcpus, cores, busyCpus),
    emulator: nodeCpus,
    iothreads: now.iothreadIds.map((id) => ({ id, cpus: nodeCpus })),
    reason,
  };
}
