// Builds host snapshots the way numad's reference observations describe them ("n4(id, idle%, free MB)"), so policy
// tests read like the table in numad.md §5.3 and still go through the real capacity derivation.
import type { HostSnapshot } from '../../src/model/snapshot.js';
import { deriveCapacity, NUMAD_DEFAULT_CAPACITY_OPTIONS, type CapacityOptions } from '../../src/model/capacity.js';
import { toPolicyNode } from '../../src/model/capacity.js';
import { adviseNumad } from '../../src/policy/numad.js';
import type { Advice, PolicyNode } from '../../src/policy/types.js';
import { D2 } from './slit.js';
import type { generate } from '../fixtures/make-fixtures.js';

export interface SynthNode {
  id?: number;
  cpus?: number;
  /** threads per core */
  tpc?: number;
  idle?: number;
  freeMB?: number;
  inactiveMB?: number;
  totalMB?: number;
}

export { D2, D4 } from './slit.js';

export function synthSnapshot(nodes: SynthNode[], distances: number[][]): HostSnapshot {
  let nextCpu = 0;
  const snapNodes: HostSnapshot['nodes'] = [];
  const cpus: HostSnapshot['cpus'] = [];
  nodes.forEach((n, i) => {
    const id = n.id ?? i;
    const count = n.cpus ?? 4;
    const tpc = n.tpc ?? 1;
    const ids = Array.from({ length: count }, (_, k) => nextCpu + k);
    nextCpu += count;
    for (const c of ids) {
      const local = c - (ids[0] as number);
      const core = Math.floor(local / tpc);
      cpus.push({
        id: c,
        node: id,
        packageId: id,
        coreId: core,
        threadSiblings: ids.filter((x) => Math.floor((x - (ids[0] as number)) / tpc) === core),
        idleHundredths: n.idle ?? 100,
      });
    }
    const totalMB = n.totalMB ?? 8192;
    snapNodes.push({
      id,
      cpus: ids,
      hasCpu: count > 0,
      hasMemory: totalMB > 0,
      memTotalKiB: totalMB * 1024,
      memFreeKiB: (n.freeMB ?? (totalMB > 0 ? 7000 : 0)) * 1024,
      inactiveFileKiB: (n.inactiveMB ?? 0) * 1024,
      filePagesKiB: 0,
      hugepages: [],
      distances: distances[i] as number[],
    });
  });
  return {
    schemaVersion: 1,
    takenAt: new Date(0).toISOString(),
    cpuSampleWindowMs: 2000,
    nodes: snapNodes,
    cpus,
    meminfo: { memTotalKiB: 0, memFreeKiB: 0, memAvailableKiB: 0, hugepageSizeKiB: 2048 },
  };
}

export function advise(
  snap: HostSnapshot,
  cpuHundredths: number,
  memMiB: number,
  options: Partial<CapacityOptions> = {},
): Advice {
  const caps = deriveCapacity(snap, { ...NUMAD_DEFAULT_CAPACITY_OPTIONS, ...options });
  return adviseNumad(caps.map((c) => toPolicyNode(c, { cpuHundredths: 0, memMiB: 0 }, 1)), { cpuHundredths, memMiB });
}

/** Two nodes of 4 CPUs (8 GiB, 6 GiB free), every CPU `idlePercent` idle: a fixture spec for make-fixtures' generate. */
export function twoByFourSpec(name: string, description: string, idlePercent: number): Parameters<typeof generate>[0] {
  return {
    name,
    description,
    nodes: [0, 1].map((id) => ({ id, cpus: [0, 1, 2, 3].map((c) => c + 4 * id), memTotalKiB: 8 * 1024 * 1024, memFreeKiB: 6 * 1024 * 1024, inactiveFileKiB: 0, idlePercent })),
    distances: D2,
    core: (cpu: number): [number, number] => [Math.floor(cpu / 4), cpu % 4],
  };
}

/** Two nodes of 4 CPUs and 8 GiB (7000 MiB free), as the policy sees them: the ledger and spool unit tests' host. */
export const TWO_POLICY_NODES: PolicyNode[] = [0, 1].map((id) => ({
  id,
  hasMemory: true,
  hasCpu: true,
  cpuTotalHundredths: 400,
  memTotalMiB: 8192,
  cpuFreeHundredths: 400,
  memFreeMiB: 7000,
  distances: id === 0 ? [10, 21] : [21, 10],
}));
