// A domain's move as the daemon makes it (the rebalancer, and a rollback asked for on the API): the move is chosen by
// balance/ (planDomainMove, from what libvirt reports now), carried out by apply/'s DomainMover, and what changed is
// recorded in the tracked domain here.
import { noCpusToPin } from '../errors.js';
import { formatIdList } from '../topology/idlist.js';
import { planDomainMove, type CoreCpu, type PinOptions } from '../balance/vcpu-assignment.js';
import type { DomainMover, DomainMoveOutcome, DomainMoveResult } from '../apply/domain-mover.js';
import type { TrackedDomain } from '../libvirt/tracked-domain.js';

/** What a move needs of apply/'s DomainMover. */
export type DomainMechanism = Pick<DomainMover, 'placement' | 'apply' | 'rollback' | 'readOtherGuestsVcpuCpus' | 'readHistory'>;

/** A journaled change with the time the journal line carries (DomainMover writes `at` beside the outcome). */
export type JournaledChange = DomainMoveOutcome & { at?: string };

/**
 * The pinning facts of a host snapshot: its CPUs (with their L3 ids) and the CPUs kept from us, isolcpus= and
 * nohz_full= alike (a nohz_full CPU is isolated for the one task its administrator puts there); `wholeCores` is the
 * daemon's --pin-whole-cores.
 */
export function hostPinning(
  snapshot: { cpus: readonly CoreCpu[]; isolatedCpus?: readonly number[]; nohzFullCpus?: readonly number[] },
  wholeCores = false,
): { cpus: CoreCpu[]; options: PinOptions } {
  const isolatedCpus = new Set([...(snapshot.isolatedCpus ?? []), ...(snapshot.nohzFullCpus ?? [])]);
  return { cpus: [...snapshot.cpus], options: { isolatedCpus, wholeCores } };
}

export class DomainMoves {
  constructor(
    private readonly mover: DomainMechanism,
    /** the host's CPUs; with `options`, how vCPUs are pinned on them (read at each move: CPUs come and go) */
    private readonly host: () => CoreCpu[] | { cpus: CoreCpu[]; options: PinOptions },
  ) {}

  /** Move domain `d` towards `targetNodes`. */
  async apply(d: TrackedDomain, targetNodes: number[]): Promise<DomainMoveOutcome> {
    const before = await this.mover.placement(d);
    // An administrator's vCPU pins as libvirt has them now: planDomainMove keeps an isolated guest where it was put.
    const adminVcpuPins = d.adminPins.vcpus.map((v) => before.vcpuPins[v]).filter((cpus): cpus is number[] => cpus !== undefined);
    const now = { mode: before.mode, nodeset: before.nodeset, vcpus: d.spec.vcpus, iothreadIds: before.iothreadPins.map((io) => io.id), adminVcpuPins };
    const host = this.host();
    const { cpus, options } = Array.isArray(host) ? { cpus: host, options: {} } : host;
    const plan = planDomainMove(now, targetNodes, cpus, this.mover.readOtherGuestsVcpuCpus(d.uuid), options);
    if (plan.emulator.length === 0) throw noCpusToPin(formatIdList(plan.cpuNodes));
    return recorded(d, await this.mover.apply(d, plan, before));
  }

  /**
   * Change only the memory nodeset (restrictive mode; the memory guard's widening and narrowing): the pins stay as
   * they are, since memory allowed on more nodes needs no CPU to move. Journaled like a move, so `numadvisor rollback`
   * undoes it.
   */
  async setNodeset(d: TrackedDomain, nodes: number[], reason: string): Promise<DomainMoveOutcome> {
    const before = await this.mover.placement(d);
    return recorded(d, await this.mover.apply(d, { memoryNodes: nodes, vcpus: [], emulator: [], iothreads: [], reason }, before));
  }

  /** The last journaled change of each domain, by UUID (one read of the journal). */
  lastChanges(): Map<string, JournaledChange> {
    const last = new Map<string, JournaledChange>();
    for (const e of this.mover.readHistory()) last.set(e.uuid, e);
    return last;
  }

  /** Restore what the last move of this domain changed (nodeset and the pins we set; an administrator's stay). */
  async rollback(d: TrackedDomain): Promise<DomainMoveOutcome> {
    return recorded(d, await this.mover.rollback(d));
  }
}

/** The tracked domain's nodeset follows a memory move at once: the API and the next cycle read it before any resync. */
function recorded(d: TrackedDomain, result: DomainMoveResult): DomainMoveOutcome {
  if (result.memoryNodes) d.nodeset = result.memoryNodes;
  return result.outcome;
}
