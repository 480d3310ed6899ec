// The optimum for a static set of VMs, from an exact MILP solver (HiGHS, compiled to WebAssembly: the `highs` npm
// package). Each VM goes to one node when it fits one, else to one of the SLIT-nearest node sets of the size it needs;
// memory and vCPU capacity (4 per core) hold on every node. Objective: first locality (every option is local, vCPUs
// and memory together), then the memory-weighted SLIT distance of spanning VMs, then the busiest node's load.
import { isErrno, notInstalled, optimumFailed } from '../errors.js';
import { minNodesFor, VCPUS_PER_CORE, type Scenario } from './model.js';
import type { Placed } from './metrics.js';

/** Node positions of the SLIT-nearest k-node sets, one per centre (deduplicated). */
function nearestSets(scenario: Scenario, k: number): number[][] {
  const nodes = scenario.host.nodes;
  const seen = new Set<string>();
  const out: number[][] = [];
  for (let c = 0; c < nodes.length; c++) {
    const set = nodes
      .map((_, i) => i)
      .sort((a, b) => (nodes[c]?.distances[a] ?? 0) - (nodes[c]?.distances[b] ?? 0) || a - b)
      .slice(0, k)
      .sort((a, b) => a - b);
    const key = set.join(',');
    if (!seen.has(key)) {
      seen.add(key);
      out.push(set);
    }
  }
  return out;
}

/** The part of HiGHS's legacy result we read. */
interface HighsResult {
  Status: string;
  Columns: Record<string, { Primal?: number }>;
}

export interface Optimum {
  status: string;
  placed: Placed[];
  solveMs: number;
}

/**
 * HiGHS, loaded when an optimum is asked for: it is 3.9 MB of WebAssembly that only `numadvisor simulate` uses, and
 * the Debian package leaves it out (docs/install.md); without it the command fails with NUMADVISOR_ERR_NOT_INSTALLED.
 */
async function importHighs(): Promise<unknown> {
  try {
    return await import('highs');
  } catch (err) {
    if (isErrno(err, 'ERR_MODULE_NOT_FOUND')) throw notInstalled('highs', 'numadvisor simulate', err);
    throw err;
  }
}

export async function solveOptimum(scenario: Scenario, timeLimitS = 30): Promise<Optimum> {
  const highsModule = await importHighs();
  // The package ships an ES module build whose default export is the loader; its typings describe it as CommonJS.
  const load = (highsModule as unknown as { default: () => Promise<{ solve: (lp: string, o?: Record<string, unknown>) => HighsResult }> }).default;
  const highs = await load();
  const nodes = scenario.host.nodes;
  const options = scenario.vms.map((vm) => nearestSets(scenario, minNodesFor(scenario.host, vm)));
  const name = (v: number, p: number): string => `z_${v}_${p}`;
  const totalMem = scenario.vms.reduce((a, v) => a + v.memMiB, 0);
  const objective: string[] = ['100 u'];
  const rows: string[] = [];
  scenario.vms.forEach((vm, v) => {
    rows.push(`one_${v}: ${options[v]?.map((_, p) => name(v, p)).join(' + ')} = 1`);
    options[v]?.forEach((set, p) => {
      const avgDist = set.reduce((a, i) => a + set.reduce((b, j) => b + (nodes[i]?.distances[j] ?? 10), 0), 0) / (set.length * set.length);
      const cost = (vm.memMiB * (avgDist - 10)) / totalMem;
      if (cost > 0) objective.push(`${cost.toFixed(6)} ${name(v, p)}`);
    });
  });
  nodes.forEach((n, i) => {
    const mem: string[] = [];
    const cpu: string[] = [];
    const load: string[] = [];
    scenario.vms.forEach((vm, v) => {
      options[v]?.forEach((set, p) => {
        if (!set.includes(i)) return;
        mem.push(`${(vm.memMiB / set.length).toFixed(3)} ${name(v, p)}`);
        cpu.push(`${(vm.vcpus / set.length).toFixed(3)} ${name(v, p)}`);
        load.push(`${((vm.vcpus * vm.load) / set.length / n.cores).toFixed(6)} ${name(v, p)}`);
      });
    });
    if (mem.length) rows.push(`mem_${i}: ${mem.join(' + ')} <= ${n.memMiB}`);
    if (cpu.length) rows.push(`vcpu_${i}: ${cpu.join(' + ')} <= ${n.cores * VCPUS_PER_CORE}`);
    if (load.length) rows.push(`load_${i}: ${load.join(' + ')} - u <= 0`);
  });
  const binaries = scenario.vms.flatMap((_, v) => options[v]?.map((__, p) => name(v, p)) ?? []);
  const lp = `Minimize\n obj: ${objective.join(' + ')}\nSubject To\n ${rows.join('\n ')}\nBinary\n ${binaries.join(' ')}\nEnd\n`;
  const started = Date.now();
  const r = highs.solve(lp, { time_limit: timeLimitS, mip_rel_gap: 0.01 });
  const solveMs = Date.now() - started;
  if (r.Status !== 'Optimal' && r.Status !== 'Time limit reached') throw optimumFailed(scenario.name, r.Status);
  const placed = scenario.vms.map((vm, v) => {
    const p = options[v]?.findIndex((_, q) => (r.Columns[name(v, q)]?.Primal ?? 0) > 0.5) ?? -1;
    const set = options[v]?.[p] ?? [];
    const cores = set.reduce((a, i) => a + (nodes[i]?.cores ?? 0), 0);
    return {
      vcpus: vm.vcpus,
      memMiB: vm.memMiB,
      load: vm.load,
      cpuShare: nodes.map((n, i) => (set.includes(i) ? n.cores / cores : 0)),
      memOn: nodes.map((_, i) => (set.includes(i) ? vm.memMiB / set.length : 0)),
    };
  });
  return { status: r.Status, placed, solveMs };
}
