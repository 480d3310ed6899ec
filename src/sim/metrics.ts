// Placement quality of a host state, the same measures for every strategy and for the optimum.
import { minNodesFor, VCPUS_PER_CORE, type Scenario } from './model.js';

/** A placement as metrics see it: per VM, its CPU share and its MiB per node position. */
export interface Placed {
  vcpus: number;
  memMiB: number;
  load: number;
  cpuShare: number[];
  memOn: number[];
}

export interface Metrics {
  /**
   * Per vCPU, the share of its guest's memory on the node it runs on, averaged (memory-weighted over guests): the
   * share of a guest's accesses that are local when its vCPUs touch all of its memory alike. A guest spread evenly
   * over two nodes scores 50 %, however its nodeset is written.
   */
  localityPercent: number;
  /** memory-weighted mean SLIT distance between a guest's vCPUs and its memory (10 = all local) */
  slitDistance: number;
  cpuMaxOverMean: number;
  memMaxOverMean: number;
  /** nodes spanned beyond what each VM's size needs, summed */
  extraNodes: number;
  /** more VMs of the scenario's reference size that still fit */
  referenceVmsThatFit: number;
  moves: number;
  migratedMiB: number;
  oomRiskVms: number;
}

/**
 * A placement as a guest with one NUMA cell per host node it spans sees it: each cell's vCPUs on its node (the node's
 * share of the guest's vCPUs) and that node's memory as the cell's. A guest on one node stays as it is.
 */
export function asCells(p: Placed): Placed[] {
  const spanned = p.cpuShare.map((_, i) => i).filter((i) => (p.cpuShare[i] as number) > 0 || (p.memOn[i] as number) > 0);
  if (spanned.length <= 1) return [p];
  const oneHot = (i: number, x: number): number[] => p.memOn.map((_, j) => (j === i ? x : 0));
  return spanned.map((i) => ({ vcpus: p.vcpus * (p.cpuShare[i] as number), memMiB: p.memOn[i] as number, load: p.load, cpuShare: oneHot(i, 1), memOn: oneHot(i, p.memOn[i] as number) }));
}

/** Per vCPU, the share of the guest's (or cell's) memory on the node it runs on, percent. */
export function placedLocality(p: Placed): number {
  const total = p.memOn.reduce((a, b) => a + b, 0);
  return total > 0 ? (100 * p.memOn.reduce((a, m, i) => a + (p.cpuShare[i] as number) * m, 0)) / total : 100;
}

const maxOverMean = (xs: number[]): number => {
  const mean = xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return mean > 0 ? Math.max(...xs) / mean : 1;
};

export function measure(scenario: Scenario, placed: Placed[], extra: { moves: number; migratedMiB: number; oomRiskVms: number }): Metrics {
  const nodes = scenario.host.nodes;
  let local = 0;
  let total = 0;
  let weightedDistance = 0;
  let extraNodes = 0;
  const cpu = new Array<number>(nodes.length).fill(0);
  const vcpus = new Array<number>(nodes.length).fill(0);
  const mem = new Array<number>(nodes.length).fill(0);
  for (const v of placed) {
    const vm = v.memOn.reduce((a, b) => a + b, 0);
    let d = 0;
    for (let i = 0; i < nodes.length; i++) {
      total += v.memOn[i] as number;
      local += (v.cpuShare[i] as number) * (v.memOn[i] as number);
      cpu[i] = (cpu[i] as number) + (v.cpuShare[i] as number) * v.vcpus * v.load * 100;
      vcpus[i] = (vcpus[i] as number) + (v.cpuShare[i] as number) * v.vcpus;
      mem[i] = (mem[i] as number) + (v.memOn[i] as number);
      for (let j = 0; j < nodes.length; j++) d += (v.cpuShare[i] as number) * ((v.memOn[j] as number) / Math.max(1, vm)) * (nodes[i]?.distances[j] ?? 10);
    }
    weightedDistance += d * vm;
    const spanned = nodes.filter((_, i) => (v.cpuShare[i] as number) > 0 || (v.memOn[i] as number) > vm * 0.01).length;
    extraNodes += Math.max(0, spanned - minNodesFor(scenario.host, v));
  }
  const ref = scenario.reference;
  const fit = nodes.reduce((a, n, i) => {
    const byCpu = Math.floor((n.cores * VCPUS_PER_CORE - (vcpus[i] as number) + 1e-9) / ref.vcpus);
    const byMem = Math.floor((n.memMiB - (mem[i] as number)) / ref.memMiB);
    return a + Math.max(0, Math.min(byCpu, byMem));
  }, 0);
  return {
    localityPercent: total > 0 ? (100 * local) / total : 100,
    slitDistance: total > 0 ? weightedDistance / total : 10,
    cpuMaxOverMean: maxOverMean(cpu.map((c, i) => c / Math.max(1, nodes[i]?.cores ?? 1))),
    memMaxOverMean: maxOverMean(mem),
    extraNodes,
    referenceVmsThatFit: fit,
    ...extra,
  };
}
