// Which physical CPUs each vCPU of one guest gets on its target nodes: one physical core per vCPU (all of that core's
// hyper-threads, so the scheduler can still pick a sibling) while free cores exist, because two vCPUs of one guest
// stacked on one core cost up to 80 % in a published KVM measurement. More vCPUs than cores: round-robin over cores.
// Pure: the host's cores in, a CPU set per vCPU out.

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
