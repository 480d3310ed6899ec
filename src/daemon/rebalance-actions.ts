// Acting on the move a rebalancer cycle planned: which action it is (actionFor) and carrying it out, one case per
// action. Plain processes change through apply/process-mover (taskset, migratepages); libvirt domains only through
// libvirt (DomainMoves). Each case writes numad's log lines and what the planner must remember (MoveRecord). The
// memory guard's widening or narrowing of a domain's nodeset is a case of its own, also through libvirt only.
import type { Logger } from 'pino';
import { formatIdList } from '../topology/idlist.js';
import type { MoveRecord, PlannedMove } from '../balance/plan.js';
import { movedLine, type ProcessMover } from '../apply/process-mover.js';
import { LOG_NOTICE, type NumadLog } from '../log/numad-log.js';
import type { GuardAction, GuardVerdict } from '../balance/memory-guard.js';
import type { DomainTracker } from './domain-tracker.js';
import type { DomainMoves } from './domain-moves.js';
import type { MoveEventKind, MoveEventResult, MoveEvents } from '../server/advisor-api.js';

/** The libvirt side: which domain a QEMU pid is, and the mover that goes through libvirt. */
export interface DomainSide {
  tracker: DomainTracker;
  /** present whenever libvirt is: rollback works even when moves are not enabled */
  mover: DomainMoves;
  /** --apply domains: the rebalancer moves VMs (through libvirt only) */
  apply: boolean;
}

/** What acting needs of apply/'s ProcessMover (--apply processes). */
export type ProcessMoves = Pick<ProcessMover, 'move' | 'swap'>;

export type RebalanceAction =
  /** numad's "Advising" line and a record, nothing changed: advise-only mode, or a VM that may not be moved */
  | { kind: 'advise'; move: PlannedMove; why: string }
  /** both sides of a swap advised */
  | { kind: 'advise-swap'; move: PlannedMove; other: PlannedMove; why: string }
  /** probation's first step: only the CPU affinity moves */
  | { kind: 'cpu-step'; move: PlannedMove; mover: ProcessMoves }
  /** probation passed: the memory follows the CPUs */
  | { kind: 'memory-step'; move: PlannedMove; mover: ProcessMoves }
  /** probation failed: the CPU affinity goes back */
  | { kind: 'revert'; move: PlannedMove; mover: ProcessMoves }
  /** two processes exchange nodes, both at once */
  | { kind: 'swap'; move: PlannedMove; other: PlannedMove; mover: ProcessMoves }
  /** a VM moves through libvirt, nodeset and pins in one step */
  | { kind: 'domain-move'; move: PlannedMove; domains: DomainSide }
  /** the memory guard widens a short restrictive domain's nodeset, or narrows it back: nodeset only, through libvirt */
  | { kind: 'memory-guard'; change: GuardChange; domains: DomainSide }
  /** nothing can carry the move out (a probation step for a process we cannot move, a swap without its partner) */
  | { kind: 'none'; move: PlannedMove };

/** A memory guard verdict that asks for a change (balance/memory-guard.ts nextGuardChange). */
export type GuardChange = GuardVerdict & { action: Exclude<GuardAction, { kind: 'none' }> };

/** Where the guard's widenings are kept (the Rebalancer's): set by a verified widening, cleared by a narrowing. */
export interface GuardWidenings {
  widened(uuid: string, from: number[], to: number[], atMs: number): void;
  narrowed(uuid: string): void;
}

/** The journal reason of the guard's widenings: also how a restarted daemon finds the widenings it still holds. */
export const MEMORY_GUARD_WIDEN_REASON = 'memory guard: widened';

/** Which action carries out `move`, given what this daemon may change. */
export function actionFor(move: PlannedMove, can: { processMover: ProcessMoves | undefined; domains: DomainSide | undefined }): RebalanceAction {
  const mover = move.applicable ? can.processMover : undefined;
  const why = can.processMover ? 'libvirt domain: advised only' : 'advise-only mode';
  switch (move.kind) {
    case 'cpu':
      if (!move.applicable && can.domains?.apply) return { kind: 'domain-move', move, domains: can.domains };
      return mover ? { kind: 'cpu-step', move, mover } : { kind: 'advise', move, why };
    case 'memory':
      return mover ? { kind: 'memory-step', move, mover } : { kind: 'none', move };
    case 'revert':
      return mover ? { kind: 'revert', move, mover } : { kind: 'none', move };
    case 'swap': {
      if (!move.partner) return { kind: 'none', move };
      const other: PlannedMove = { ...move, ...move.partner, partner: undefined };
      return mover ? { kind: 'swap', move, other, mover } : { kind: 'advise-swap', move, other, why };
    }
  }
}

export interface RebalanceActionsOptions {
  numadLog: Pick<NumadLog, 'log'>;
  logger: Logger;
  /** the memory guard's widenings, recorded as they are made and undone */
  guardWidenings?: GuardWidenings | undefined;
  /** the planner's memory of what was advised or done, per pid (the Rebalancer's; read by balance/plan) */
  history: Map<number, MoveRecord>;
  processMover: ProcessMoves | undefined;
  domains: DomainSide | undefined;
  /** a process's memory per node as the last scan measured it: where a memory step migrates pages from */
  memoryByNode(pid: number): Record<string, number> | undefined;
  /** told of each action carried out (numadvisor_moves_total); a getter, so the daemon can connect it after start */
  moveEvents?: (() => MoveEvents | undefined) | undefined;
}

export class RebalanceActions {
  constructor(private readonly o: RebalanceActionsOptions) {}

  /** Carry out `move`; true when the host changed (numad then runs the next cycle after its min interval). */
  async act(move: PlannedMove, nowMs: number): Promise<boolean> {
    return this.carryOut(actionFor(move, { processMover: this.o.processMover, domains: this.o.domains }), nowMs);
  }

  /** Carry out the memory guard's change (only with --apply domains: without libvirt's side there is nothing to act with). */
  async actOnGuard(change: GuardChange, nowMs: number): Promise<boolean> {
    const domains = this.o.domains;
    if (!domains?.apply) return false;
    return this.carryOut({ kind: 'memory-guard', change, domains }, nowMs);
  }

  private async carryOut(action: RebalanceAction, nowMs: number): Promise<boolean> {
    switch (action.kind) {
      case 'advise':
        return this.advise(action.move, action.why, nowMs);
      case 'advise-swap':
        return this.adviseSwap(action.move, action.other, action.why, nowMs);
      case 'cpu-step':
        return this.cpuStep(action.move, action.mover, nowMs);
      case 'memory-step':
        return this.memoryStep(action.move, action.mover, nowMs);
      case 'revert':
        return this.revert(action.move, action.mover, nowMs);
      case 'swap':
        return this.swap(action.move, action.other, action.mover, nowMs);
      case 'domain-move':
        return this.domainMove(action.move, action.domains, nowMs);
      case 'memory-guard':
        return this.memoryGuard(action.change, action.domains, nowMs);
      case 'none':
        return false;
    }
  }

  private counted(kind: MoveEventKind, result: MoveEventResult): void {
    this.o.moveEvents?.()?.moveCarriedOut(kind, result);
  }

  private record(move: PlannedMove, phase: MoveRecord['phase'], nowMs: number): MoveRecord {
    return { pid: move.pid, comm: move.comm, from: move.from, to: move.to, phase, atMs: nowMs, cpus: move.cpus };
  }

  private advising(move: PlannedMove): void {
    this.o.numadLog.log(LOG_NOTICE, `Advising pid ${move.pid} (${move.comm}) move from nodes (${formatIdList(move.from)}) to nodes (${move.toNodeset})`);
  }

  private advise(move: PlannedMove, why: string, nowMs: number): boolean {
    this.advising(move);
    this.o.history.set(move.pid, this.record(move, 'advised', nowMs));
    this.o.logger.info({ move, applied: false, why }, 'advised');
    this.counted('advise', 'advised');
    return false;
  }

  private adviseSwap(move: PlannedMove, other: PlannedMove, why: string, nowMs: number): boolean {
    this.advising(move);
    this.advising(other);
    this.o.history.set(move.pid, this.record(move, 'advised', nowMs));
    this.o.history.set(other.pid, this.record(other, 'advised', nowMs));
    this.o.logger.info({ move, applied: false, why }, 'swap advised');
    this.counted('advise', 'advised');
    return false;
  }

  private async cpuStep(move: PlannedMove, mover: ProcessMoves, nowMs: number): Promise<boolean> {
    // numad logs its decision before acting; the "moved" line comes only once memory followed and was verified.
    this.advising(move);
    const out = await mover.move(move.pid, move.cpus);
    this.o.logger.info({ move, outcome: out }, 'probation: CPU affinity set');
    this.o.history.set(move.pid, this.record(move, out.ok ? 'cpu' : 'done', nowMs));
    this.counted('cpu_step', out.ok ? 'ok' : 'failed');
    return out.ok;
  }

  private async memoryStep(move: PlannedMove, mover: ProcessMoves, nowMs: number): Promise<boolean> {
    const prior = this.o.history.get(move.pid);
    const fromNodes = Object.keys(this.o.memoryByNode(move.pid) ?? {})
      .map(Number)
      .filter((n) => !move.to.includes(n));
    const out = await mover.move(move.pid, move.cpus, { fromNodes, toNodes: move.to });
    this.o.logger.info({ move, outcome: out }, 'memory migrated');
    if (out.ok) this.o.numadLog.log(LOG_NOTICE, movedLine(move.pid, move.toNodeset, out.elapsedMs));
    // Where it came from is where it was before the CPU step.
    this.o.history.set(move.pid, { ...this.record(move, 'done', nowMs), from: prior?.from ?? move.from });
    this.counted('memory_step', out.ok ? 'ok' : 'failed');
    return true;
  }

  private async revert(move: PlannedMove, mover: ProcessMoves, nowMs: number): Promise<boolean> {
    const out = await mover.move(move.pid, move.cpus);
    this.o.logger.info({ move, outcome: out }, 'probation failed: affinity restored');
    this.o.history.set(move.pid, this.record(move, 'done', nowMs));
    this.counted('revert', out.ok ? 'ok' : 'failed');
    return true;
  }

  /** Both sides move together (no CPU-first probation: the two cycles that agreed were the probation). */
  private async swap(move: PlannedMove, other: PlannedMove, mover: ProcessMoves, nowMs: number): Promise<boolean> {
    this.advising(move);
    this.advising(other);
    const [a, b] = await mover.swap({ pid: move.pid, cpus: move.cpus, toNodes: move.to }, { pid: other.pid, cpus: other.cpus, toNodes: other.to });
    this.o.logger.info({ move, outcomes: [a, b] }, 'swap applied');
    for (const [m, out] of [
      [move, a],
      [other, b],
    ] as const) {
      if (out.ok) this.o.numadLog.log(LOG_NOTICE, movedLine(m.pid, m.toNodeset, out.elapsedMs));
      this.o.history.set(m.pid, this.record(m, 'done', nowMs));
    }
    this.counted('swap', a.ok && b.ok ? 'ok' : 'failed');
    return true;
  }

  /** A libvirt domain moves only through libvirt, in one step: its nodeset (restrictive mode) and its pins. */
  private async domainMove(move: PlannedMove, domains: DomainSide, nowMs: number): Promise<boolean> {
    const domain = domains.tracker.byPid(move.pid);
    const record = this.record(move, 'done', nowMs);
    this.advising(move);
    this.o.history.set(move.pid, record);
    if (!domain) {
      this.o.logger.warn({ move }, 'QEMU process of an unknown domain (libvirt not connected?): advised only');
      this.counted('advise', 'advised');
      return false;
    }
    try {
      const out = await domains.mover.apply(domain, move.to);
      this.o.logger.info({ move, domain: domain.name, outcome: out }, out.ok ? 'domain moved through libvirt' : 'domain move not verified');
      if (out.ok && out.memoryMoved) this.o.numadLog.log(LOG_NOTICE, movedLine(move.pid, move.toNodeset, out.elapsedMs));
      // The pins we set are ours; the planner must not take them for an administrator's.
      this.o.history.set(move.pid, { ...record, cpus: [...new Set(out.after.vcpuPins.flat())].sort((a, b) => a - b) });
      this.counted('domain_move', out.ok ? 'ok' : 'failed');
    } catch (err) {
      this.o.logger.error({ err, move, domain: domain.name }, 'domain move through libvirt failed');
      this.counted('domain_move', 'failed');
    }
    return true;
  }

  /**
   * The memory guard's widening or narrowing of a restrictive domain's nodeset, through libvirt: the pins stay. A
   * narrowing undoes the guard's own widening with a rollback when that widening is still the domain's last journaled
   * change (so `numadvisor rollback` then finds nothing of ours left to undo), otherwise sets the nodeset back.
   */
  private async memoryGuard(change: GuardChange, domains: DomainSide, nowMs: number): Promise<boolean> {
    const domain = domains.tracker.domains.get(change.uuid);
    if (!domain) return false;
    // setNodeset records the new nodeset in the tracked domain: keep the one it had.
    const beforeNodes = [...domain.nodeset];
    const from = formatIdList(beforeNodes);
    const to = formatIdList(change.action.to);
    const who = `domain ${domain.name} (pid ${domain.pid ?? 'unknown'})`;
    try {
      if (change.action.kind === 'widen') {
        const out = await domains.mover.setNodeset(domain, change.action.to, `${MEMORY_GUARD_WIDEN_REASON} nodes (${from}) → (${to}): ${change.reason}`);
        this.o.logger.info({ domain: domain.name, uuid: domain.uuid, verdict: change, outcome: out }, out.ok ? 'memory guard: nodeset widened' : 'memory guard: widening not verified');
        if (out.ok) {
          this.o.numadLog.log(LOG_NOTICE, `Memory guard: widened ${who} from nodes (${from}) to nodes (${to})`);
          // A widening of a widening keeps the original nodes as where to narrow back to.
          this.o.guardWidenings?.widened(domain.uuid, change.widened?.from ?? beforeNodes, change.action.to, nowMs);
        }
        this.counted('guard_widen', out.ok ? 'ok' : 'failed');
        return true;
      }
      const last = domains.mover.lastChanges().get(domain.uuid);
      const ours = last?.action === 'apply' && last.reason.startsWith(MEMORY_GUARD_WIDEN_REASON) && last.after.nodeset === from;
      const out = ours ? await domains.mover.rollback(domain) : await domains.mover.setNodeset(domain, change.action.to, `memory guard: narrowed back nodes (${from}) → (${to}): ${change.reason}`);
      this.o.logger.info({ domain: domain.name, uuid: domain.uuid, verdict: change, outcome: out }, out.ok ? 'memory guard: nodeset narrowed back' : 'memory guard: narrowing not verified');
      if (out.ok) {
        this.o.numadLog.log(LOG_NOTICE, `Memory guard: narrowed ${who} from nodes (${from}) back to nodes (${to})`);
        this.o.guardWidenings?.narrowed(domain.uuid);
      }
      this.counted('guard_narrow', out.ok ? 'ok' : 'failed');
    } catch (err) {
      this.o.logger.error({ err, domain: domain.name, verdict: change }, `memory guard: ${change.action.kind} through libvirt failed`);
      this.counted(change.action.kind === 'widen' ? 'guard_widen' : 'guard_narrow', 'failed');
    }
    return true;
  }
}
