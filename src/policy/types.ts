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
}

export interface PlacementRequest {
  cpuHundredths: number;
  memMiB: number;
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
  /** False when the answer could not cover the request (memory or idle CPU); the answer is then every memory node. */
  fits: boolean;
  unmet: PlacementRequest;
  centre: number;
  /** Minimum number of nodes the request needs by size. */
  minNodes: number;
  centres: CentreScore[];
  perNode: NodeScore[];
  reasons: string[];
}
