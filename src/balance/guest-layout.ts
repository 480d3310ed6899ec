// A guest NUMA layout for a VM larger than one host node: guest cells (libvirt's <cpu><numa><cell>), each backed by
// exactly one host node of the answer (<numatune><memnode>), with its vCPUs pinned to distinct cores of that node.
// Without it a guest spread over N host nodes sees one flat node: its kernel cannot keep a task's memory near the
// vCPU running it, so about (N-1)/N of its accesses are remote whatever the host does. With it the guest's own NUMA
// balancing and allocator do that work. numad cannot say any of this (it answers a nodeset only).
// Pure: the answer, the request and the host's CPUs in, the layout out.
import type { Advice } from '../policy/types.js';
import { assignVcpus, coresOf, l3MapOf, type CoreCpu, type PinOptions } from './vcpu-assignment.js';

/**
 * Cell sizes are multiples of this (KiB) without hugepages: libvirt rounds each cell up to 1 MiB on x86 before it
 * starts QEMU (qemuDomainAlignMemorySizes), so a smaller unit would make the guest larger than asked.
 */
export const CELL_ALIGN_KIB = 1024;

export interface GuestLayoutRequest {
  /** every vCPU id the guest can have (libvirt's maximum <vcpu>): each must be in exactly one cell */
  vcpus: number;
  /** the guest's memory, KiB */
  memKiB: number;
  /** the hugepage size backing the guest, KiB: QEMU maps each cell's memory in whole pages */
  hugepageKiB?: number | undefined;
  /** vCPUs that stay together in one cell: the threads of one guest core (<cpu><topology threads>) */
  vcpuGranule?: number | undefined;
}

export interface GuestVcpuPin {
  vcpu: number;
  cpus: number[];
}

export interface GuestCell {
  /** the guest's NUMA node id (<cell id>, <memnode cellid>) */
  id: number;
  /** the host node holding this cell's memory and running its vCPUs */
  hostNode: number;
  /** the cell's vCPU ids, contiguous and ascending; empty for a cell on a memory-only host node */
  vcpus: number[];
  memKiB: number;
  /** one entry per vCPU of the cell: a distinct core of hostNode while there are enough */
  vcpuPins: GuestVcpuPin[];
}

export interface GuestLayout {
  cells: GuestCell[];
  /** the sum of the cells: the request's memory rounded up to alignKiB */
  memKiB: number;
  alignKiB: number;
  /** what was decided and why, for the reasons an answer carries */
  reasons: string[];
}

/**
 * Split `total` whole units in proportion to `weights` (largest remainder; ties go to the earlier entry). All-zero
 * weights split evenly.
 */
export function apportion(total: number, weights: readonly number[]): number[] {
  if (weights.length === 0) return [];
  const w = weights.every((x) => x <= 0) ? weights.map(() => 1) : weights.map((x) => Math.max(0, x));
  const sum = w.reduce((a, b) => a + b, 0);
  const exact = w.map((x) => (total * x) / sum);
  const out = exact.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => ({ i, frac: x - Math.floor(x) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (let k = 0; left > 0; k = (k + 1) % order.length, left--) (out[(order[k] as { i: number }).i] as number)++;
  return out;
}

/**
 * The layout for `req` on the answer `advice`, or undefined when the answer uses one host node (the guest then needs
 * no cells: a nodeset says it all) or cannot be laid out (no chosen node has CPUs, or fewer aligned memory units than
 * nodes). Cells follow the chosen nodes in id order, one per node that gives the guest memory or CPU.
 *
 * An answer that fits splits the vCPUs as the walk took idle CPU and the memory as it took memory (the numadvisor
 * policy spreads a multi-node answer's memory evenly). An answer that does not fit (the host lacks idle CPU: the walk's
 * figures are then whatever idle CPU was left) splits the vCPUs by each chosen CPU node's cores and gives each such
 * cell the memory of its vCPUs, so that every vCPU's memory is on its own node; memory-only nodes keep what they gave.
 */
export function guestLayout(
  req: GuestLayoutRequest,
  advice: Pick<Advice, 'perNode'> & { fits?: boolean },
  hostCpus: readonly CoreCpu[],
  /** as for a domain move: no pins on isolated/nohz_full CPUs, a cell's vCPUs in as few L3 groups as hold them */
  pinning: Pick<PinOptions, 'isolatedCpus' | 'wholeCores'> = {},
): GuestLayout | undefined {
  const fits = advice.fits !== false;
  const cpuNodes = new Set(hostCpus.map((c) => c.node));
  const used = advice.perNode
    .filter((p) => p.chosen && (p.takenCpuHundredths > 0 || p.takenMemMiB > 0 || (!fits && cpuNodes.has(p.node))))
    .sort((a, b) => a.node - b.node);
  if (used.length < 2 || req.vcpus < 1 || req.memKiB <= 0) return undefined;
  const reasons: string[] = [];

  // vCPUs: over the nodes that have CPUs. A node that gave memory only (a memory-only node, or a CPU node the walk
  // took memory from) gets a cell without vCPUs.
  const withCpu = used.map((p) => cpuNodes.has(p.node));
  if (!withCpu.some(Boolean)) return undefined;
  const isolated = pinning.isolatedCpus ?? new Set<number>();
  const pinOptions: PinOptions = { ...pinning, l3Of: l3MapOf(hostCpus) };
  const coresOn = (node: number): number => coresOf(hostCpus, [node], isolated).length;
  let weights: number[];
  if (!fits) {
    weights = used.map((p, i) => (withCpu[i] ? coresOn(p.node) : 0));
    reasons.push('the answer does not fit (too little idle CPU): vCPUs split by each node\'s cores, each cell\'s memory with its vCPUs');
  } else {
    const cpuWeight = used.map((p, i) => (withCpu[i] ? p.takenCpuHundredths : 0));
    // No CPU taken anywhere (a memory-only request): the vCPUs follow the memory, over the nodes with CPUs.
    weights = cpuWeight.some((w) => w > 0) ? cpuWeight : used.map((p, i) => (withCpu[i] ? Math.max(p.takenMemMiB, 1) : 0));
  }
  // no usable core on any CPU node (all isolated or kept): no cell can run a vCPU
  if (weights.every((w) => w <= 0)) return undefined;
  const granule = req.vcpuGranule !== undefined && req.vcpuGranule > 1 && req.vcpus % req.vcpuGranule === 0 ? req.vcpuGranule : 1;
  const vcpuCounts = apportion(req.vcpus / granule, weights).map((n) => n * granule);
  if (granule > 1) reasons.push(`guest cores of ${granule} threads stay whole in one cell`);

  // Memory: in proportion to what each node gave (or, for an answer that does not fit, to each CPU cell's vCPUs
  // beside what memory-only nodes gave), in whole aligned units, every cell at least one unit (QEMU refuses a NUMA
  // node backed by a zero-sized memory backend).
  const alignKiB = Math.max(CELL_ALIGN_KIB, req.hugepageKiB ?? 0);
  const units = Math.ceil(req.memKiB / alignKiB);
  if (units < used.length) return undefined;
  let memWeights: number[];
  if (!fits) {
    const memOnlyMiB = used.reduce((a, p, i) => a + (withCpu[i] ? 0 : p.takenMemMiB), 0);
    const cpuCellMiB = Math.max(0, req.memKiB / 1024 - memOnlyMiB);
    memWeights = used.map((p, i) => (withCpu[i] ? (cpuCellMiB * (vcpuCounts[i] as number)) / req.vcpus : p.takenMemMiB));
  } else {
    memWeights = used.some((p) => p.takenMemMiB > 0) ? used.map((p) => p.takenMemMiB) : vcpuCounts;
  }
  const memUnits = apportion(units, memWeights);
  for (let i = 0; i < memUnits.length; i++) {
    if ((memUnits[i] as number) > 0) continue;
    const donor = memUnits.indexOf(Math.max(...memUnits));
    (memUnits[donor] as number)--;
    memUnits[i] = 1;
    reasons.push(`node ${(used[i] as { node: number }).node} gave CPU only; its cell gets ${alignKiB} KiB so it is a valid guest node`);
  }
  const memKiB = units * alignKiB;
  if (memKiB !== req.memKiB) {
    reasons.push(`memory rounded up from ${req.memKiB} to ${memKiB} KiB: each cell is a multiple of ${alignKiB} KiB${req.hugepageKiB ? ' (the hugepage size)' : ' (libvirt aligns cells to 1 MiB)'}`);
  }

  let next = 0;
  const cells = used.map((p, id): GuestCell => {
    const n = vcpuCounts[id] as number;
    const vcpus = Array.from({ length: n }, (_, k) => next + k);
    next += n;
    const pins = n > 0 ? assignVcpus(n, coresOf(hostCpus, [p.node], isolated), new Set(), pinOptions) : [];
    if (!withCpu[id]) reasons.push(`cell ${id} on node ${p.node} has memory only: node ${p.node} has no CPUs`);
    return { id, hostNode: p.node, vcpus, memKiB: (memUnits[id] as number) * alignKiB, vcpuPins: vcpus.map((vcpu, k) => ({ vcpu, cpus: pins[k] ?? [] })) };
  });
  // a cell whose node has no usable core (isolated, kept) would leave its vCPUs unpinned and the emulator nowhere
  if (cells.some((c) => c.vcpus.length > 0 && c.vcpuPins.every((p) => p.cpus.length === 0))) return undefined;
  reasons.unshift(
    `guest NUMA layout: ${cells.length} cells, ${cells.map((c) => `cell ${c.id} → node ${c.hostNode} (${c.vcpus.length} vCPUs, ${c.memKiB} KiB)`).join(', ')}`,
  );
  return { cells, memKiB, alignKiB, reasons };
}
