// The rules that tie a numad -w answer to the VM that took it, and let the answer go as the VM's own use becomes
// measurable. A numad -w answer carries no VM identity and must never call libvirt (the starting domain is locked,
// libvirt.md §1.2), so the reservation is bound afterwards to the domain's own answer — an unbound reservation of its
// vCPUs and MiB and of the nodeset libvirt recorded, given closest before its QEMU process started — and then shrunk
// node by node as the guest's memory materialises, so that capacity is never counted twice (once reserved, once
// measured as used). Pure: the daemon's domain tracker and the simulator both call these.
import { formatIdList } from '../topology/idlist.js';
import type { Reservation } from './reservations.js';

/**
 * A running guest's CPU use is in the host's /proc/stat samples once one sample window has passed since it started
 * (the daemon samples per answer and per cycle, at most numad's 15 s apart); after that the reservation's CPU part
 * would count the same CPU twice, so it is dropped. Its memory part shrinks as the guest touches its memory.
 */
export const RESERVED_CPU_UNTIL_MEASURED_MS = 15_000;

/** After a reconnect, a running domain takes an unbound answer given at most this long before its QEMU started. */
export const RESYNC_BIND_WINDOW_MS = 60_000;

/**
 * libvirt runs numad -w before it forks QEMU, so a domain's answer is older than its process. The process start is
 * known only to ~20 ms (/proc/<pid>/stat's starttime and /proc/uptime both count 10 ms), so an answer up to this
 * much after the computed start may still be the domain's.
 */
export const PROCESS_START_SLACK_MS = 50;

/** What binding needs of a domain's definition; the caller fills it from the parsed domain XML. */
export interface BindingSpec {
  /** online vCPUs at start: what libvirt passes to numad -w */
  vcpus: number;
  /** numad -w's MiB */
  memoryMiB: number;
  vcpuPlacement: 'auto' | 'static';
  numatune?: { placement: 'auto' | 'static' } | undefined;
}

/** A running domain as binding sees it. */
export interface BindingDomain {
  spec: BindingSpec;
  /** live NUMA nodeset */
  nodeset: readonly number[];
  /** the numad answer libvirt recorded in the status XML, when readable */
  numadNodeset?: readonly number[] | undefined;
}

/** Whether libvirt asked numad -w for this domain before starting it (placement='auto' of its vCPUs or memory). */
export function askedNumad(spec: Pick<BindingSpec, 'vcpuPlacement' | 'numatune'>): boolean {
  return spec.vcpuPlacement === 'auto' || spec.numatune?.placement === 'auto';
}

/**
 * The unbound reservation that is `d`'s numad answer: same vCPUs and MiB; the nodeset libvirt recorded, else
 * preferably the live one; answered before `startedMs` (within PROCESS_START_SLACK_MS), the closest first; with
 * `withinMs`, only those and at most that long before the start, otherwise the closest after it next.
 */
export function pickAnswer(reservations: readonly Reservation[], d: BindingDomain, startedMs: number, withinMs?: number): Reservation | undefined {
  if (!askedNumad(d.spec)) return undefined;
  const recorded = d.numadNodeset && d.numadNodeset.length > 0 ? formatIdList([...d.numadNodeset]) : undefined;
  const live = formatIdList([...d.nodeset]);
  const before = (r: Reservation): boolean => Date.parse(r.createdAt) <= startedMs + PROCESS_START_SLACK_MS;
  // Rank: answers before the computed start, the closest first; then those within the slack after it; then (STARTED
  // only) later ones, the closest first.
  const distance = (r: Reservation): number => {
    const ago = startedMs - Date.parse(r.createdAt);
    if (ago >= 0) return ago;
    return (before(r) ? 1e13 : 2e13) - ago;
  };
  const candidates = reservations.filter(
    (r) =>
      !r.domain &&
      r.request.cpuHundredths === d.spec.vcpus * 100 &&
      r.request.memMiB === d.spec.memoryMiB &&
      (recorded === undefined || r.nodeset === recorded) &&
      (withinMs === undefined || (before(r) && startedMs - Date.parse(r.createdAt) <= withinMs)),
  );
  candidates.sort((a, b) => (recorded === undefined ? Number(b.nodeset === live) - Number(a.nodeset === live) : 0) || distance(a) - distance(b));
  return candidates[0];
}

/**
 * What a bound reservation still holds: on each node what it promised when bound, less the guest's memory
 * materialised there (whole MiB), and no CPU once the guest has run long enough (`runningForMs`, measured from its
 * binding or start; undefined when unknown) for its CPU use to be in the samples. Measured use and the reservation
 * must not both count the same MiB or CPU. Nodes left at zero are dropped by the ledger's update.
 */
export function shrinkBoundReservation(
  promised: Reservation['perNode'],
  materialisedMiB: ReadonlyMap<number, number>,
  runningForMs: number | undefined,
): Reservation['perNode'] {
  const cpuMeasured = runningForMs !== undefined && runningForMs >= RESERVED_CPU_UNTIL_MEASURED_MS;
  return promised.map((p) => ({
    ...p,
    cpuHundredths: cpuMeasured ? 0 : p.cpuHundredths,
    memMiB: Math.max(0, p.memMiB - Math.floor(materialisedMiB.get(p.node) ?? 0)),
  }));
}

/** Whether two holdings are the same node by node (then shrinking changes nothing and writes nothing). */
export function sameHolding(a: Reservation['perNode'], b: Reservation['perNode']): boolean {
  return a.every((p, i) => p.memMiB === b[i]?.memMiB && p.cpuHundredths === b[i]?.cpuHundredths);
}
