// The simulated host and workload: nodes with cores, memory and a SLIT row; VMs that arrive, run a vCPU load and
// touch their memory lazily after starting (which is what makes concurrent starts collide). Units as everywhere:
// MiB, hundredths of a CPU, seconds of simulated time.

export interface SimNode {
  id: number;
  cores: number;
  memMiB: number;
  /** SLIT row, aligned with the host's node list */
  distances: number[];
}

export interface SimHost {
  name: string;
  nodes: SimNode[];
}

export interface VmSpec {
  name: string;
  vcpus: number;
  memMiB: number;
  /** busy share of each vCPU, 0..1 */
  load: number;
  startS: number;
  /** started bound to these nodes by someone else (numactl, a static nodeset): not asked for advice */
  startOn?: number[];
}

export interface Scenario {
  name: string;
  title: string;
  host: SimHost;
  vms: VmSpec[];
  durationS: number;
  /** how fast a started guest touches its memory */
  touchMiBPerS: number;
  /** the VM size "stranded capacity" counts */
  reference: { vcpus: number; memMiB: number };
}

/** vCPUs a node can host: KVM hosts overcommit; the same 4:1 as the daemon's reservation ratio and Nova's default. */
export const VCPUS_PER_CORE = 4;

export interface VmState {
  spec: VmSpec;
  index: number;
  running: boolean;
  /** nodes the VM's vCPUs are bound to; undefined: the kernel default (unbound) */
  bound: number[] | undefined;
  /** strict memory binding (libvirt's numatune from the advice); undefined: first touch anywhere */
  memBound: number[] | undefined;
  /** per node position: the share of its vCPU time running there (sums to 1) */
  cpuShare: number[];
  /** per node position: MiB of its memory there */
  memOn: number[];
  /** unbound VMs: node position of each vCPU (the kernel moves them) */
  vcpuPos: number[];
  touchedMiB: number;
  migratedMiB: number;
  moves: number;
  /** a touch a strict binding could not satisfy: the guest would be OOM-killed */
  oomRisk: boolean;
  /** the guest NUMA layout it was given (numadvisor-layout): memOn and cpuShare are then its cells' sums */
  cells?: SimCell[];
}

/** One guest cell: its vCPUs run on one host node, its memory is bound there. */
export interface SimCell {
  /** the guest's cell id */
  id: number;
  /** node position of its host node */
  pos: number;
  vcpus: number;
  memMiB: number;
  touchedMiB: number;
}

export function minNodesFor(host: SimHost, vm: { vcpus: number; memMiB: number }): number {
  const mem = Math.max(...host.nodes.map((n) => n.memMiB));
  const cpus = Math.max(...host.nodes.map((n) => n.cores * VCPUS_PER_CORE));
  return Math.max(1, Math.ceil(vm.memMiB / mem), Math.ceil(vm.vcpus / cpus));
}
