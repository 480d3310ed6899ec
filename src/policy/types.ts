// What every placement policy consumes and returns. Policies are pure: no I/O, no clock, no globals.

export interface PolicyNode {
  id: number;
  hasMemory: boolean;
  hasCpu: boolean;
  cpuTotalHundredths: number;
  memTotalMiB: number;
  /** Free after measured use and after reservations. */
  cpuFreeHundredths: number;
  memFreeMiB: number;
  /** SLIT row aligned with the node list the policy receives (numeric id order). */
  distances: number[];
  /**
   * N of the kernel's memory_tierN that lists this node (smaller = faster); absent on kernels without memory tiering
   * and on nodes without memory. policy/memory-tiers.ts uses it to order CPU-less memory nodes.
   */
  memoryTier?: number;
  /** HMAT access0 initiators of this node's memory: the CPU nodes nearest to it (policy/memory-tiers.ts attaches a CPU-less node to the lowest of them). */
  initiators?: number[];
  /**
   * The node has memory and no CPU at all in the hardware (a CXL expander, GPU memory), as opposed to a node whose
   * CPUs are only kept from guests (-R, isolcpus): hasCpu is false for both. Absent: decided by hasCpu.
   */
  memoryOnly?: boolean;
}

export interface PlacementRequest {
  cpuHundredths: number;
  memMiB: number;
  /**
   * May the answer put memory on a slower tier (a CPU-less CXL/GPU memory node) although the CPU nodes' own memory
   * would hold it? Without it, slower memory is used only when nothing else fits (docs/policy.md).
   */
  allowSlowTier?: boolean;
  /**
   * The rebalancer asks for a running process, whose memory is already somewhere: the node values carry numad's bias
   * towards where it is (balance/plan.ts), and moving it costs a migration, so among single nodes the policy keeps
   * numad's choice rather than the idlest node it would give a new VM.
   */
  relocating?: boolean;
  /**
   * The memory comes in whole units of this many MiB (hugepages of 2 MiB or 1 GiB): a multi-node answer splits it in
   * whole units, so what each node is given is whole pages of its pool. Absent: 1 MiB.
   */
  memUnitMiB?: number;
}

export interface NodeScore {
  node: number;
  /** Free CPU as the policy used it (numad raises it to at least 1). */
  cpuFreeHundredths: number;
  memFreeMiB: number;
  magnitude: number;
  /** What the chain walk took from this node for the request (0 when the node is not in the answer). */
  takenCpuHundredths: number;
  takenMemMiB: number;
  chosen: boolean;
}

export interface CentreScore {
  centre: number;
  weightedMagnitude: number;
}

export interface Advice {
  policy: string;
  request: PlacementRequest;
  nodes: number[];
  /** Canonical list form, e.g. `0-1,3`: what `numad -w` prints. */
  nodeset: string;
  /** False when the answer could not cover the request (memory or idle CPU); the answer is then every memory node, plus any memoryless node the walk passed before the last of them (docs/policy.md). */
  fits: boolean;
  unmet: PlacementRequest;
  centre: number;
  /** Minimum number of nodes the request needs by size. */
  minNodes: number;
  centres: CentreScore[];
  perNode: NodeScore[];
  reasons: string[];
}

/**
 * What one policy does differently from another when the rebalancer acts on its answers (balance/plan.ts applies
 * these; numad has none of them).
 */
export interface RebalanceRules {
  /**
   * A process already local on its own nodes moves only when those nodes lack the CPU it asks for and the target has
   * it. Without this, equal hosts trade VMs back and forth (the simulator saw 82 moves for 40 identical VMs).
   */
  stayWhenLocal: boolean;
  /** A process no node set has room for is left where it is; numad "moves" it to every node, which helps no one. */
  leaveWhenNoRoom: boolean;
  /** Two processes that fit on no node alone may exchange nodes (balance/plan.ts planSwap). */
  swaps: boolean;
}

/**
 * A placement policy as the daemon uses it: the answers (`numad -w`, /v1/advice) and the rebalancer's plan both take
 * it from policy/registry.ts by the configured name, so the two cannot disagree.
 */
export interface Policy {
  /** the name it is chosen by (--policy), also the `policy` of its answers */
  readonly name: string;
  advise(nodes: readonly PolicyNode[], req: PlacementRequest): Advice;
  readonly rebalancing: RebalanceRules;
}
