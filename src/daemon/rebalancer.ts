// The periodic manager numad runs in its main loop (numad.md §5.4), as a sequence: observe (readings, local answers,
// guest memory, the process scan, the candidates' memory) → plan (balance/, pure, by the configured policy) → act on
// at most one move (rebalance-actions.ts), then sleep numad's min or max interval. The memory guard (issue #14,
// balance/memory-guard.ts) runs in the same cycle, before the plan: it checks bound domains for room for their
// untouched memory and may widen or narrow one, which then is the cycle's one change. Acting is opt-in (--apply);
// otherwise every decision is logged and shown (GET /v1/plan) but nothing on the host changes.
import type { Logger } from 'pino';
import type { ProcessScanner, TrackedProcess } from '../observe/process-scanner.js';
import { isCandidate, planMoves, type MoveRecord, type Plan, type PlanNode, type PlannedMove, type PlanProcess, type PlanSettings } from '../balance/plan.js';
import { SwapConfirmation } from '../balance/swap-confirmation.js';
import { LOG_NOTICE, LOG_WARNING, type NumadLog } from '../log/numad-log.js';
import type { NumadSettings } from '../model/numad-settings.js';
import type { Policy, PolicyNode } from '../policy/types.js';
import type { ApplyMode } from '../config/daemon-config.js';
import { evaluateMemoryGuard, nextGuardChange, NARROW_DWELL_MS, type GuardDomain, type GuardNode, type GuardVerdict, type MemoryGuardSettings, type Widening } from '../balance/memory-guard.js';
import { formatIdList, parseIdList } from '../topology/idlist.js';
import type { TrackedDomain } from '../libvirt/tracked-domain.js';
import type { MoveEvents } from '../server/advisor-api.js';
import { MEMORY_GUARD_WIDEN_REASON, RebalanceActions, type DomainSide, type GuardChange, type ProcessMoves } from './rebalance-actions.js';

export type { DomainSide } from './rebalance-actions.js';

/** The longest delay setTimeout honours (a signed 32-bit count of milliseconds, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * How long a cycle waits for the guests' numa_maps. A healthy read takes milliseconds even for a large guest; a guest
 * in reclaim can hold it for minutes (the lab's memory guard), and a cycle that waited that long would decide nothing.
 */
export const GUEST_MEMORY_DEADLINE_MS = 2000;

/** What a cycle reads from the daemon's AdvisorService. */
export interface RebalancerService {
  readonly nodeCount: number;
  sampleCpu(): void;
  /** answers `numad -w` gave while we could not: capacity promised, counted within a cycle even when idle */
  adoptLocalAnswers(): boolean;
  refreshMemory(): void;
  /** each node's CPUs, in freshPolicyNodes() order (may read: AdvisorService.freshSnapshot) */
  freshCapacity(): readonly { cpus: number[] }[];
  freshPolicyNodes(): PolicyNode[];
  /** each node's free memory for the memory guard (may read: AdvisorService.freshMemoryGuardNodes) */
  freshMemoryGuardNodes(): GuardNode[];
}

/** The memory guard's last evaluation (GET /v1/memory-guard, and each domain of GET /v1/domains). */
export interface MemoryGuardReport {
  settings: MemoryGuardSettings;
  /** when it was last evaluated; undefined before the first cycle (or with the guard off) */
  atMs: number | undefined;
  verdicts: GuardVerdict[];
}

/** What a cycle uses of observe/'s ProcessScanner. */
export type ProcessScans = Pick<ProcessScanner, 'scan' | 'measureMemoryAsync' | 'tracked'>;

/** Runs the next cycle later (a Node.js timer in the daemon; tests pass their own). */
export interface CycleTimer {
  after(ms: number, run: () => void): { cancel(): void };
}

/** Node's setTimeout, unref'd: a pending cycle never keeps the process alive. */
export const NODE_CYCLE_TIMER: CycleTimer = {
  after(ms, run) {
    const t = setTimeout(run, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

export interface RebalancerOptions {
  scanner: ProcessScans;
  service: RebalancerService;
  /** the policy the answers use (AdvisorService.policy, from policy/registry.ts): the planner rebalances by its rules */
  policy: Policy;
  /** numad's settings as they are now (they change at run time) */
  settings: () => NumadSettings;
  numadLog: Pick<NumadLog, 'log'>;
  logger: Logger;
  /** --apply processes */
  processMover?: ProcessMoves | undefined;
  /** libvirt, when the daemon talks to it (--apply domains moves VMs) */
  domains?: DomainSide | undefined;
  /** --memory-guard, --memory-guard-headroom-mib; off when unset */
  memoryGuard?: MemoryGuardSettings | undefined;
  clock?: () => number;
  timer?: CycleTimer;
}

/** One cycle's observation: the planner's input, or none when nothing is big and busy enough to plan for. */
interface Observation {
  nowMs: number;
  input: { nodes: PlanNode[]; processes: PlanProcess[]; settings: PlanSettings } | undefined;
  /** bound guests' memory per node read this cycle (tracker.materialise), by domain UUID */
  guestMemory: ReadonlyMap<string, Map<number, number>>;
}

export class Rebalancer {
  /** what the planner remembers of moves advised or made (dwell, probation), per pid */
  private readonly history = new Map<number, MoveRecord>();
  /** candidates whose memory read has not returned yet (measureCandidates) */
  private readonly measuring = new Set<number>();
  private readonly swaps = new SwapConfirmation();
  private readonly actions: RebalanceActions;
  private readonly clock: () => number;
  private readonly timer: CycleTimer;
  private pending: { cancel(): void } | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;
  readonly scanner: ProcessScans;
  readonly domains: DomainSide | undefined;
  lastPlan: Plan | undefined;
  /** the memory guard's widenings still held, by domain UUID */
  readonly guardWidenings = new Map<string, Widening>();
  /** when each short domain was last logged to numad's log, by UUID (a domain that recovers is dropped) */
  private readonly guardWarnedAtMs = new Map<string, number>();
  /** whether the widenings a previous daemon made were looked up in the domain-moves journal */
  private guardSeeded = false;
  readonly guardSettings: MemoryGuardSettings;
  lastGuard: MemoryGuardReport;
  cycles = 0;
  /** told of each action carried out (the server's numadvisor_moves_total); set by the daemon */
  moveEvents: MoveEvents | undefined;
  /**
   * Each running domain's guest memory per node (MiB) as a cycle last read it (bound guests' numa_maps, read for their
   * reservations and the memory guard), by UUID; a domain that stops is dropped. GET /metrics reports these.
   */
  readonly guestMemory = new Map<string, ReadonlyMap<number, number>>();

  constructor(private readonly o: RebalancerOptions) {
    this.scanner = o.scanner;
    this.domains = o.domains;
    this.clock = o.clock ?? Date.now;
    this.timer = o.timer ?? NODE_CYCLE_TIMER;
    this.guardSettings = o.memoryGuard ?? { mode: 'off', headroomMiB: 0 };
    this.lastGuard = { settings: this.guardSettings, atMs: undefined, verdicts: [] };
    const widenings = this.guardWidenings;
    this.actions = new RebalanceActions({
      numadLog: o.numadLog,
      logger: o.logger,
      guardWidenings: {
        widened: (uuid, from, to, atMs) => void widenings.set(uuid, { from, to, atMs }),
        narrowed: (uuid) => void widenings.delete(uuid),
      },
      history: this.history,
      processMover: o.processMover,
      domains: o.domains,
      memoryByNode: (pid) => o.scanner.tracked.find((p) => p.pid === pid)?.memoryMiBByNode,
      moveEvents: () => this.moveEvents,
    });
  }

  get mode(): ApplyMode {
    const d = this.domains?.apply === true;
    return this.o.processMover ? (d ? 'processes,domains' : 'processes') : d ? 'domains' : 'none';
  }

  /** numad's cadence: the first cycle after min/2 s, then max when idle and min right after a move. */
  start(): void {
    const first = Math.max(1, Math.floor(this.o.settings().intervalMinS / 2)) * 1000;
    this.schedule(first);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    // Node fires a timer longer than 2^31-1 ms after 1 ms instead (numad's `-i 5:3000000` ran a cycle every
    // millisecond). The parser bounds -i to numad's int; a longer wait than a timer holds is cut to 24.8 days.
    this.pending = this.timer.after(Math.min(ms, MAX_TIMER_MS), () => {
      this.running = this.cycle()
        .then((acted) => {
          const s = this.o.settings();
          this.schedule((acted ? s.intervalMinS : s.intervalMaxS) * 1000);
        })
        .catch((err: unknown) => {
          this.o.logger.error({ err }, 'rebalancer cycle failed');
          this.schedule(this.o.settings().intervalMaxS * 1000);
        });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.pending?.cancel();
    await this.running;
  }

  /**
   * Plan from the current process table without acting (GET /v1/plan). Not free: it reads each candidate's memory
   * per node and freshens the node readings (freshPolicyNodes), as a cycle does; it moves nothing.
   */
  async planNow(): Promise<Plan> {
    const s = this.o.settings();
    const processes = await this.measureCandidates(this.scanner.tracked, s);
    return planMoves(this.planNodes(), processes, this.planSettings(s), this.history, this.clock());
  }

  /**
   * One cycle: observe, plan, act. True when a move was acted on (the next cycle then comes after the min interval).
   * The memory guard comes first: a widening keeps a guest from the OOM killer, so when the guard changes a domain
   * the rebalancing move waits for the next cycle (one change per cycle, as numad).
   */
  async cycle(): Promise<boolean> {
    this.cycles++;
    // Guest memory first, off the event loop: bound guests (their reservations shrink) and guests bound by strict or
    // restrictive mode (the memory guard); the rest of the cycle uses what came back in time.
    const side = this.domains;
    const guestMemory =
      side === undefined
        ? new Map<string, Map<number, number>>()
        : await side.tracker.readGuestMemories(
            (d) => d.reservationId !== undefined || (this.guardSettings.mode !== 'off' && d.nodeset.length > 0 && (d.numaMode === 'strict' || d.numaMode === 'restrictive')),
            GUEST_MEMORY_DEADLINE_MS,
          );
    if (this.stopped) return false;
    const observed = await this.observe(guestMemory);
    if (this.stopped) return false;
    if (!observed) return false;
    this.noteGuestMemory(observed.guestMemory);
    const guardChange = this.guard(observed.nowMs, observed.input !== undefined, observed.guestMemory);
    if (guardChange) return this.actions.actOnGuard(guardChange, observed.nowMs);
    const move = this.plan(observed);
    return move ? this.actions.act(move, observed.nowMs) : false;
  }

  /**
   * The memory guard's cycle: every domain bound by strict or restrictive mode is checked against its nodes' free
   * memory (balance/memory-guard.ts), short ones are logged, and the change to make (--memory-guard widen with
   * --apply domains) is returned. Nothing is read when no domain is bound; a guest whose memory `materialise` read this
   * cycle (`guestMemory`) is not read again. `memoryFresh`: the cycle already re-read
   * node memory.
   */
  private guard(nowMs: number, memoryFresh: boolean, guestMemory: ReadonlyMap<string, Map<number, number>>): GuardChange | undefined {
    const settings = this.guardSettings;
    const side = this.domains;
    if (settings.mode === 'off' || !side) return undefined;
    // A widening whose domain is gone, or whose nodeset someone else has changed since (a move, an administrator, a
    // rollback), is no longer ours to undo. One whose guest merely could not be read this cycle is kept.
    for (const [uuid, w] of [...this.guardWidenings]) {
      const d = side.tracker.domains.get(uuid);
      if (!d || formatIdList(d.nodeset) !== formatIdList(w.to)) this.guardWidenings.delete(uuid);
    }
    const all = [...side.tracker.domains.values()];
    const bound = all.filter((d) => d.pid !== undefined && d.nodeset.length > 0 && (d.numaMode === 'strict' || d.numaMode === 'restrictive'));
    if (bound.length === 0) {
      this.lastGuard = { settings, atMs: nowMs, verdicts: [] };
      return undefined;
    }
    if (!memoryFresh) this.o.service.refreshMemory();
    const ours = this.nodesetsWeSet(bound, nowMs);
    const domains = all.map((d): GuardDomain => ({
      uuid: d.uuid,
      name: d.name,
      pid: d.pid,
      mode: d.numaMode,
      nodeset: d.nodeset,
      memoryMiB: d.spec.memoryMiB,
      touchedMiBByNode: bound.includes(d) ? guestMemory.get(d.uuid) : undefined,
      excluded: d.excluded,
      adminNodeset: d.spec.numatune?.placement === 'static' && !ours.has(d.uuid),
    }));
    const mode = settings.mode === 'widen' && side.apply ? 'widen' : 'warn';
    this.noteGuestMemory(new Map(domains.flatMap((d) => (d.touchedMiBByNode ? [[d.uuid, d.touchedMiBByNode] as const] : []))));
    const verdicts = evaluateMemoryGuard({ nodes: this.o.service.freshMemoryGuardNodes(), domains, thresholdMiB: settings.headroomMiB, mode, widenings: this.guardWidenings, nowMs });
    this.lastGuard = { settings, atMs: nowMs, verdicts };
    this.logGuard(verdicts, nowMs);
    return mode === 'widen' ? nextGuardChange(verdicts) : undefined;
  }

  /** Keep the guest memory read this cycle; forget domains no longer running. */
  private noteGuestMemory(read: ReadonlyMap<string, ReadonlyMap<number, number>>): void {
    for (const [uuid, byNode] of read) this.guestMemory.set(uuid, byNode);
    const running = this.domains?.tracker.domains;
    for (const uuid of [...this.guestMemory.keys()]) if (!running?.has(uuid)) this.guestMemory.delete(uuid);
  }

  /**
   * The UUIDs whose live nodeset was set by us (the guard or a domain move), not by an administrator: held widenings,
   * and, for restrictive domains whose XML now says placement='static' (libvirt turns a live nodeset change into a
   * static one), the domain-moves journal's last change if it set the nodeset they have. Widenings the journal shows
   * and the guard does not hold (made by a previous daemon) are taken back, so they can still be narrowed.
   */
  private nodesetsWeSet(bound: TrackedDomain[], nowMs: number): Set<string> {
    const ours = new Set(this.guardWidenings.keys());
    const side = this.domains;
    const needJournal = !this.guardSeeded || bound.some((d) => d.numaMode === 'restrictive' && d.spec.numatune?.placement === 'static' && !ours.has(d.uuid));
    if (!side || !needJournal) return ours;
    const last = side.mover.lastChanges();
    for (const d of bound) {
      const e = last.get(d.uuid);
      if (!e || !e.memoryMoved || e.after.nodeset !== formatIdList(d.nodeset)) continue;
      ours.add(d.uuid);
      if (!this.guardWidenings.has(d.uuid) && e.action === 'apply' && e.reason.startsWith(MEMORY_GUARD_WIDEN_REASON) && e.before.nodeset) {
        const at = e.at === undefined ? Number.NaN : Date.parse(e.at);
        this.guardWidenings.set(d.uuid, { from: parseIdList(e.before.nodeset), to: [...d.nodeset], atMs: Number.isFinite(at) ? at : nowMs });
      }
    }
    this.guardSeeded = true;
    return ours;
  }

  /**
   * numad's log gets a warning when a domain becomes short (repeated every NARROW_DWELL_MS while it stays short) and a
   * notice when it no longer is; the structured log gets each verdict that is short.
   */
  private logGuard(verdicts: GuardVerdict[], nowMs: number): void {
    for (const v of verdicts) {
      const who = `domain ${v.name} (pid ${v.pid ?? 'unknown'})`;
      const warnedAt = this.guardWarnedAtMs.get(v.uuid);
      if (v.state === 'short') {
        this.o.logger.warn({ memoryGuard: v }, 'memory guard: domain short of memory on its nodes');
        if (warnedAt !== undefined && nowMs - warnedAt < NARROW_DWELL_MS) continue;
        this.guardWarnedAtMs.set(v.uuid, nowMs);
        this.o.numadLog.log(LOG_WARNING, memoryGuardShortLine(v));
      } else if (warnedAt !== undefined) {
        this.guardWarnedAtMs.delete(v.uuid);
        if (v.state === 'ok') this.o.numadLog.log(LOG_NOTICE, `Memory guard: ${who} no longer short on nodes (${formatIdList(v.nodes)}): headroom ${v.headroomMiB} MBs`);
      }
    }
    for (const uuid of [...this.guardWarnedAtMs.keys()]) if (!verdicts.some((v) => v.uuid === uuid)) this.guardWarnedAtMs.delete(uuid);
  }

  /** Readings, local answers and guest memory every cycle; the process scan and its candidates' memory when planning is possible. */
  private async observe(guestMemory: ReadonlyMap<string, Map<number, number>>): Promise<Observation | undefined> {
    const service = this.o.service;
    service.sampleCpu();
    // Answers `numad -w` gave while we could not are capacity promised: count them within a cycle even if idle.
    service.adoptLocalAnswers();
    this.domains?.tracker.client.poke();
    this.domains?.tracker.materialise(guestMemory);
    // numad never examines processes on a single-node host: there is nowhere to move them.
    if (service.nodeCount < 2) return undefined;
    const s = this.o.settings();
    const nowMs = this.clock();
    const scanned = this.scanner.scan(nowMs, s);
    // Nothing big and busy: no plan to make, so no node memory to read (answers re-read it themselves when stale).
    if (!scanned.some((p) => isCandidate(p))) return { nowMs, input: undefined, guestMemory };
    service.refreshMemory();
    const nodes = this.planNodes();
    const processes = await this.measureCandidates(scanned, s);
    return { nowMs, input: { nodes, processes, settings: this.planSettings(s) }, guestMemory };
  }

  /** The plan (kept for GET /v1/plan) and the move to act on, if any: the first, and a swap only once confirmed. */
  private plan(o: Observation): PlannedMove | undefined {
    const plan = o.input ? planMoves(o.input.nodes, o.input.processes, o.input.settings, this.history, o.nowMs) : { atMs: o.nowMs, moves: [], skipped: [] };
    this.lastPlan = plan;
    const move = plan.moves[0];
    if (!this.swaps.admits(move)) {
      this.o.logger.info({ move }, 'swap proposed; acted on only if the next cycle agrees');
      return undefined;
    }
    return move;
  }

  private planSettings(s: NumadSettings): PlanSettings {
    return { utilizationTargetPercent: s.utilizationTargetPercent, memLocalityTargetPercent: s.memLocalityTargetPercent, keepInterleaved: s.keepInterleaved, policy: this.o.policy };
  }

  private planNodes(): PlanNode[] {
    const caps = this.o.service.freshCapacity();
    return this.o.service.freshPolicyNodes().map((n, i) => ({ ...n, cpus: caps[i]?.cpus ?? [] }));
  }

  /** Per-node memory of each candidate; a VM libvirt runs carries its exclusion and whether its pins are numad's. */
  private async measureCandidates(tracked: TrackedProcess[], s: NumadSettings): Promise<PlanProcess[]> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), GUEST_MEMORY_DEADLINE_MS);
      timer.unref();
    });
    const late: number[] = [];
    const out: PlanProcess[] = [];
    // One read at a time (a cgroup's numa_stat is quick; numa_maps may hang): at most one libuv pool thread is ever
    // held by a stuck read here, and once the deadline has passed the remaining candidates sit the cycle out.
    let expired = false;
    for (const p of tracked) {
      // A VM excluded by name or UUID is neither advised nor moved, like a pid given to -x.
      const dom = p.isLibvirtDomain ? this.domains?.tracker.byPid(p.pid) : undefined;
      const owned = dom !== undefined && dom.spec.vcpuPlacement === 'auto' && dom.adminPins.vcpus.length === 0 && !dom.adminPins.emulator;
      const q: TrackedProcess & { placementOwned?: boolean } = dom ? { ...p, excluded: p.excluded || dom.excluded, placementOwned: owned } : p;
      if (!isCandidate(q)) {
        out.push(q);
        continue;
      }
      // while a read from an earlier cycle still hangs, no other is started (each would hold another pool thread)
      let m: TrackedProcess | undefined | 'late' = 'late';
      const pending = this.measuring.size > 0;
      if (!expired && !pending) {
        this.measuring.add(q.pid);
        const reading = this.scanner.measureMemoryAsync(q.pid, s.keepInterleaved).finally(() => this.measuring.delete(q.pid));
        m = await Promise.race([reading, deadline]);
      }
      if (m === 'late') {
        // a candidate whose memory could not be read in time (stuck in reclaim) sits this cycle out rather than
        // being planned without its memory
        if (!pending) expired = true;
        late.push(q.pid);
        continue;
      }
      out.push(m ? { ...m, excluded: q.excluded, ...(dom ? { placementOwned: q.placementOwned } : {}) } : q);
    }
    clearTimeout(timer);
    if (late.length > 0) this.o.logger.warn({ pids: late, deadlineMs: GUEST_MEMORY_DEADLINE_MS }, 'process memory: numa_maps not read in time; left out of this cycle');
    return out;
  }
}

/** numad's log line for a short domain (LOG_WARNING), in numad's words and units (MBs). */
export function memoryGuardShortLine(v: GuardVerdict): string {
  return (
    `Memory guard: domain ${v.name} (pid ${v.pid ?? 'unknown'}) short of memory on nodes (${formatIdList(v.nodes)}): ` +
    `headroom ${v.headroomMiB} MBs < ${v.thresholdMiB} MBs (${v.untouchedMiB} MBs untouched, ${v.freeMiB} MBs free, ${v.othersUntouchedMiB} MBs for other guests)`
  );
}
