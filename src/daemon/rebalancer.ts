// The periodic manager numad runs in its main loop: scan, plan, act on at most one process, sleep min or max
// interval (numad.md §5.4). Acting is opt-in (--apply processes); otherwise every decision is logged and shown
// (GET /v1/plan) but nothing on the host changes.
import type { Logger } from 'pino';
import { formatIdList } from '../topology/idlist.js';
import { ProcessScanner, type TrackedProcess } from '../observe/process-scanner.js';
import { isCandidate, planMoves, type MoveRecord, type Plan, type PlanNode, type PlannedMove } from '../balance/plan.js';
import { movedLine, type ProcessMover } from '../apply/process-mover.js';
import { LOG_NOTICE, type NumadLog } from '../log/numad-log.js';
import type { AdvisorService } from './advisor-service.js';
import type { NumadSettings } from '../model/numad-settings.js';
import type { DomainTracker } from '../libvirt/domain-tracker.js';
import type { DomainMover } from '../apply/domain-mover.js';

/** The longest delay setTimeout honours (a signed 32-bit count of milliseconds, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const APPLY_MODES = ['none', 'processes', 'domains', 'processes,domains'] as const;
export type ApplyMode = (typeof APPLY_MODES)[number];

/** The libvirt side: which domain a QEMU pid is, and (with --apply domains) the mover that goes through libvirt. */
export interface DomainSide {
  tracker: DomainTracker;
  /** present whenever libvirt is: rollback works even when moves are not enabled */
  mover: DomainMover;
  /** --apply domains: the rebalancer moves VMs (through libvirt only) */
  apply: boolean;
}

export class Rebalancer {
  private readonly history = new Map<number, MoveRecord>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;
  lastPlan: Plan | undefined;
  /** the swap proposed by the previous cycle: a swap is acted on only when two cycles in a row agree */
  private proposedSwap: string | undefined;
  cycles = 0;

  constructor(
    readonly scanner: ProcessScanner,
    private readonly service: AdvisorService,
    private readonly settings: () => NumadSettings,
    private readonly numadLog: NumadLog,
    private readonly logger: Logger,
    private readonly mover: ProcessMover | undefined,
    private readonly clock: () => number = Date.now,
    readonly domains: DomainSide | undefined = undefined,
  ) {}

  get mode(): ApplyMode {
    const d = this.domains?.apply === true;
    return this.mover ? (d ? 'processes,domains' : 'processes') : d ? 'domains' : 'none';
  }

  /** numad's cadence: the first cycle after min/2 s, then max when idle and min right after a move. */
  start(): void {
    const first = Math.max(1, Math.floor(this.settings().intervalMinS / 2)) * 1000;
    this.schedule(first);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    // Node fires a timer longer than 2^31-1 ms after 1 ms instead (numad's `-i 5:3000000` ran a cycle every
    // millisecond). The parser bounds -i to numad's int; a longer wait than a timer holds is cut to 24.8 days.
    this.timer = setTimeout(() => {
      this.running = this.cycle()
        .then((acted) => {
          const s = this.settings();
          this.schedule((acted ? s.intervalMinS : s.intervalMaxS) * 1000);
        })
        .catch((err: unknown) => {
          this.logger.error({ err }, 'rebalancer cycle failed');
          this.schedule(this.settings().intervalMaxS * 1000);
        });
    }, Math.min(ms, MAX_TIMER_MS));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private planNodes(): PlanNode[] {
    const caps = this.service.capacity();
    return this.service.policyNodes().map((n, i) => ({ ...n, cpus: caps[i]?.cpus ?? [] }));
  }

  /** Plan from the current table without acting (GET /v1/plan). */
  planNow(): Plan {
    const nodes = this.planNodes();
    const tracked = this.measureCandidates(this.scanner.tracked);
    return planMoves(nodes, tracked, this.settings(), this.history, this.clock());
  }

  private measureCandidates(tracked: TrackedProcess[]): TrackedProcess[] {
    const needInterleave = this.settings().keepInterleaved;
    return tracked.map((p) => {
      // A VM excluded by name or UUID is neither advised nor moved, like a pid given to -x.
      const dom = p.isLibvirtDomain ? this.domains?.tracker.byPid(p.pid) : undefined;
      const owned = dom !== undefined && dom.spec.vcpuPlacement === 'auto' && dom.adminPins.vcpus.length === 0 && !dom.adminPins.emulator;
      const q: TrackedProcess & { placementOwned?: boolean } = dom ? { ...p, excluded: p.excluded || dom.excluded, placementOwned: owned } : p;
      if (!isCandidate(q)) return q;
      const measured = this.scanner.measureMemory(q.pid, needInterleave);
      return measured ? { ...measured, excluded: q.excluded, ...(dom ? { placementOwned: q.placementOwned } : {}) } : q;
    });
  }

  /** One cycle; true when a process was acted on (the next cycle then comes after the min interval). */
  async cycle(): Promise<boolean> {
    this.cycles++;
    this.service.sampleCpu();
    // Answers `numad -w` gave while we could not are capacity promised: count them within a cycle even if idle.
    this.service.adoptLocalAnswers();
    this.domains?.tracker.client.poke();
    this.domains?.tracker.materialise();
    // numad never examines processes on a single-node host: there is nowhere to move them.
    if (this.service.nodeCount < 2) return false;
    const s = this.settings();
    const now = this.clock();
    const scanned = this.scanner.scan(now, s);
    // Nothing big and busy: no plan to make, so no node memory to read (answers re-read it themselves when stale).
    if (!scanned.some((p) => isCandidate(p))) {
      this.lastPlan = { atMs: now, moves: [], skipped: [] };
      this.proposedSwap = undefined;
      return false;
    }
    this.service.refreshMemory();
    const nodes = this.planNodes();
    const tracked = this.measureCandidates(scanned);
    const plan = planMoves(nodes, tracked, s, this.history, now);
    this.lastPlan = plan;
    const move = plan.moves[0];
    const swapKey = move?.kind === 'swap' ? `${move.pid}>${move.toNodeset} ${move.partner?.pid}>${move.partner?.toNodeset}` : undefined;
    const confirmed = swapKey !== undefined && swapKey === this.proposedSwap;
    this.proposedSwap = confirmed ? undefined : swapKey;
    if (!move) return false;
    if (move.kind === 'swap') {
      if (!confirmed) {
        this.logger.info({ move }, 'swap proposed; acted on only if the next cycle agrees');
        return false;
      }
      return this.actSwap(move, now);
    }
    return this.act(move, now);
  }

  private advising(move: PlannedMove): string {
    return `Advising pid ${move.pid} (${move.comm}) move from nodes (${formatIdList(move.from)}) to nodes (${move.toNodeset})`;
  }

  /** Both sides of a swap move together (no CPU-first probation: the two cycles that agreed were the probation). */
  private async actSwap(move: PlannedMove, now: number): Promise<boolean> {
    const partner = move.partner;
    if (!partner) return false;
    const other: PlannedMove = { ...move, ...partner, partner: undefined };
    this.numadLog.log(LOG_NOTICE, this.advising(move));
    this.numadLog.log(LOG_NOTICE, this.advising(other));
    const record = (m: PlannedMove, phase: MoveRecord['phase']): MoveRecord => ({ pid: m.pid, comm: m.comm, from: m.from, to: m.to, phase, atMs: now, cpus: m.cpus });
    if (!this.mover || !move.applicable) {
      this.history.set(move.pid, record(move, 'advised'));
      this.history.set(other.pid, record(other, 'advised'));
      this.logger.info({ move, applied: false, why: this.mover ? 'libvirt domain: advised only' : 'advise-only mode' }, 'swap advised');
      return false;
    }
    const [a, b] = await this.mover.swap({ pid: move.pid, cpus: move.cpus, toNodes: move.to }, { pid: other.pid, cpus: other.cpus, toNodes: other.to });
    this.logger.info({ move, outcomes: [a, b] }, 'swap applied');
    for (const [m, out] of [
      [move, a],
      [other, b],
    ] as const) {
      if (out.ok) this.numadLog.log(LOG_NOTICE, movedLine(m.pid, m.toNodeset, out.elapsedMs));
      this.history.set(m.pid, record(m, 'done'));
    }
    return true;
  }

  /** A libvirt domain moves only through libvirt, in one step: its nodeset (restrictive mode) and its pins. */
  private async actDomain(move: PlannedMove, now: number): Promise<boolean> {
    const side = this.domains as DomainSide;
    const mover = side.mover;
    const domain = side.tracker.byPid(move.pid);
    const record: MoveRecord = { pid: move.pid, comm: move.comm, from: move.from, to: move.to, phase: 'done', atMs: now, cpus: move.cpus };
    this.numadLog.log(LOG_NOTICE, this.advising(move));
    this.history.set(move.pid, record);
    if (!domain) {
      this.logger.warn({ move }, 'QEMU process of an unknown domain (libvirt not connected?): advised only');
      return false;
    }
    try {
      const out = await mover.apply(domain, move.to);
      this.logger.info({ move, domain: domain.name, outcome: out }, out.ok ? 'domain moved through libvirt' : 'domain move not verified');
      if (out.ok && out.memoryMoved) this.numadLog.log(LOG_NOTICE, movedLine(move.pid, move.toNodeset, out.elapsedMs));
      // The pins we set are ours; the planner must not take them for an administrator's.
      this.history.set(move.pid, { ...record, cpus: [...new Set(out.after.vcpuPins.flat())].sort((a, b) => a - b) });
    } catch (err) {
      this.logger.error({ err, move, domain: domain.name }, 'domain move through libvirt failed');
    }
    return true;
  }

  private async act(move: PlannedMove, now: number): Promise<boolean> {
    if (!move.applicable && this.domains?.apply && move.kind === 'cpu') return this.actDomain(move, now);
    const record: MoveRecord = { pid: move.pid, comm: move.comm, from: move.from, to: move.to, phase: 'advised', atMs: now, cpus: move.cpus };
    if (!this.mover || !move.applicable) {
      if (move.kind === 'cpu') {
        this.numadLog.log(LOG_NOTICE, this.advising(move));
        this.history.set(move.pid, record);
        this.logger.info({ move, applied: false, why: this.mover ? 'libvirt domain: advised only' : 'advise-only mode' }, 'advised');
      }
      return false;
    }
    if (move.kind === 'cpu') {
      // numad logs its decision before acting; the "moved" line comes only once memory followed and was verified.
      this.numadLog.log(LOG_NOTICE, this.advising(move));
      const out = await this.mover.move(move.pid, move.cpus);
      this.logger.info({ move, outcome: out }, 'probation: CPU affinity set');
      if (out.ok) this.history.set(move.pid, { ...record, phase: 'cpu' });
      else this.history.set(move.pid, { ...record, phase: 'done' });
      return out.ok;
    }
    if (move.kind === 'memory') {
      const prior = this.history.get(move.pid);
      const fromNodes = Object.keys(this.scanner.tracked.find((p) => p.pid === move.pid)?.memoryMiBByNode ?? {})
        .map(Number)
        .filter((n) => !move.to.includes(n));
      const out = await this.mover.move(move.pid, move.cpus, { fromNodes, toNodes: move.to });
      this.logger.info({ move, outcome: out }, 'memory migrated');
      if (out.ok) this.numadLog.log(LOG_NOTICE, movedLine(move.pid, move.toNodeset, out.elapsedMs));
      this.history.set(move.pid, { ...record, from: prior?.from ?? move.from, phase: 'done', cpus: move.cpus });
      return true;
    }
    const out = await this.mover.move(move.pid, move.cpus);
    this.logger.info({ move, outcome: out }, 'probation failed: affinity restored');
    this.history.set(move.pid, { ...record, phase: 'done', cpus: move.cpus });
    return true;
  }
}
