// A deterministic NUMA host simulator driven by the daemon's own code: placement answers and the rebalancing rules come
// from the policy of the strategy's name (policy/registry: numad's for the numad-like strategy, the daemon's default
// numadvisor), reservations from model/reservations (ReservationLedger, toPolicyNode) and model/reservation-binding
// (how a bound reservation shrinks), and rebalancing decisions from balance/plan (planMoves, planSwap). Only the host
// is simulated: the kernel's default scheduling (vCPUs of an unbound VM wander to the least-loaded node), first-touch
// memory, lazy guest memory, and moves that cost MiB. The numadvisor-layout strategy also gives a VM that the answer
// spreads over several nodes a guest NUMA layout (balance/guest-layout): one guest cell per host node, each cell's vCPUs
// pinned to its node and its memory bound to it, so a NUMA-aware guest keeps each vCPU's memory in its own cell.
import { policyNamed, type PolicyName } from '../policy/registry.js';
import type { PolicyNode } from '../policy/types.js';
import { ReservationLedger, type Reservation } from '../model/reservations.js';
import { toPolicyNode } from '../model/capacity.js';
import { shrinkBoundReservation } from '../model/reservation-binding.js';
import { planMoves, type MoveRecord, type PlanNode, type PlanProcess, type PlannedMove } from '../balance/plan.js';
import { guestLayout } from '../balance/guest-layout.js';
import type { CoreCpu } from '../balance/vcpu-assignment.js';
import { VCPUS_PER_CORE, type Scenario, type VmSpec, type VmState } from './model.js';

/** numadvisor-layout: the daemon as numadvisor, plus a guest NUMA layout for every VM its answer spreads over nodes. */
export type StrategyName = 'none' | 'numad' | 'numadvisor' | 'numadvisor-layout';

/** The placement policy a strategy answers and rebalances with (none: no advisor, the kernel alone). */
const POLICY_OF: Record<Exclude<StrategyName, 'none'>, PolicyName> = { numad: 'numad', numadvisor: 'numadvisor', 'numadvisor-layout': 'numadvisor' };

/** numad's defaults: -u 85, -m 90, -i 5:15. */
const SETTINGS = { utilizationTargetPercent: 85, memLocalityTargetPercent: 90 };
const CYCLE_IDLE_S = 15;
const CYCLE_AFTER_ACTION_S = 5;
const RESERVATION_TTL_MS = 300_000;
/** CPU ids in the planner's terms: node position p owns p*CPU_ID_STRIDE + core. */
const CPU_ID_STRIDE = 1000;

export interface TimePoint {
  t: number;
  localityPercent: number;
  cpuMaxOverMean: number;
}

/** Deterministic PRNG (mulberry32): the same seed gives the same run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Simulator {
  readonly vms: VmState[];
  readonly series: TimePoint[] = [];
  readonly ledger = new ReservationLedger();
  private readonly promised = new Map<number, Reservation['perNode']>();
  private readonly reservationOf = new Map<number, string>();
  private readonly history = new Map<number, MoveRecord>();
  private readonly random: () => number;
  private nextCycleS = Math.floor(CYCLE_IDLE_S / 2);
  private proposedSwap: string | undefined;
  nowS = 0;
  /** CPU use as last measured: a VM's load shows in /proc/stat only after it has run for a while, not at its start */
  private measuredDemand: number[] | undefined;
  /** VM relocations (a swap counts two) and when the host first reached balance */
  moves = 0;
  balancedAtMoves: number | undefined;

  constructor(
    readonly scenario: Scenario,
    readonly strategy: StrategyName,
    seed = 1,
  ) {
    this.random = prng(seed);
    const n = scenario.host.nodes.length;
    this.vms = scenario.vms.map((spec, index) => ({
      spec,
      index,
      running: false,
      bound: undefined,
      memBound: undefined,
      cpuShare: new Array<number>(n).fill(0),
      memOn: new Array<number>(n).fill(0),
      vcpuPos: [],
      touchedMiB: 0,
      migratedMiB: 0,
      moves: 0,
      oomRisk: false,
    }));
  }

  private get nodes() {
    return this.scenario.host.nodes;
  }

  /** The daemon's strategies: reservations, the numadvisor policy and our rebalancer's rules. */
  private get ours(): boolean {
    return this.strategy === 'numadvisor' || this.strategy === 'numadvisor-layout';
  }

  private get policyName(): PolicyName {
    return POLICY_OF[this.strategy === 'none' ? 'numad' : this.strategy];
  }

  /** CPU demand per node position, hundredths (may exceed the cores: that is overload). */
  cpuDemand(): number[] {
    const d = new Array<number>(this.nodes.length).fill(0);
    for (const v of this.vms) if (v.running) v.cpuShare.forEach((s, i) => (d[i] = (d[i] as number) + s * v.spec.vcpus * v.spec.load * 100));
    return d;
  }

  memUsed(): number[] {
    const m = new Array<number>(this.nodes.length).fill(0);
    for (const v of this.vms) v.memOn.forEach((x, i) => (m[i] = (m[i] as number) + x));
    return m;
  }

  /** What numad measures: idle CPU and free memory per node; with reservations subtracted for numadvisor. */
  policyNodes(withReservations: boolean): PolicyNode[] {
    const demand = this.measuredDemand ?? this.cpuDemand();
    const used = this.memUsed();
    return this.nodes.map((n, i) => {
      const cap = {
        id: n.id,
        cpus: [],
        hasMemory: n.memMiB > 0,
        hasCpu: n.cores > 0,
        cpuTotalHundredths: n.cores * 100,
        cpuFreeHundredths: Math.max(0, Math.round(n.cores * 100 - (demand[i] as number))),
        memTotalMiB: n.memMiB,
        memFreeMiB: Math.max(0, n.memMiB - (used[i] as number)),
        distances: n.distances,
      };
      return toPolicyNode(cap, withReservations ? this.ledger.reservedOn(n.id) : { cpuHundredths: 0, memMiB: 0 }, VCPUS_PER_CORE);
    });
  }

  private pos(id: number): number {
    return this.nodes.findIndex((n) => n.id === id);
  }

  private bind(v: VmState, nodeIds: number[] | undefined): void {
    v.bound = nodeIds;
    if (!nodeIds) {
      if (v.vcpuPos.length === 0) v.vcpuPos = Array.from({ length: v.spec.vcpus }, () => this.leastLoaded());
      this.shareFromVcpus(v);
      return;
    }
    const positions = nodeIds.map((id) => this.pos(id));
    const cores = positions.reduce((a, p) => a + (this.nodes[p]?.cores ?? 0), 0);
    v.cpuShare = v.cpuShare.map((_, i) => (positions.includes(i) ? (this.nodes[i]?.cores ?? 0) / Math.max(1, cores) : 0));
  }

  private shareFromVcpus(v: VmState): void {
    v.cpuShare = v.cpuShare.map((_, i) => v.vcpuPos.filter((p) => p === i).length / Math.max(1, v.vcpuPos.length));
  }

  private leastLoaded(): number {
    const demand = this.cpuDemand();
    let best = 0;
    for (let i = 1; i < this.nodes.length; i++) {
      if ((demand[i] as number) / (this.nodes[i]?.cores ?? 1) < (demand[best] as number) / (this.nodes[best]?.cores ?? 1)) best = i;
    }
    return best;
  }

  /** A VM starts: libvirt asks for advice (numad -w V:M) unless it was started on fixed nodes. */
  private start(v: VmState): void {
    const spec = v.spec;
    v.running = true;
    if (spec.startOn) {
      this.bind(v, spec.startOn);
      v.memBound = spec.startOn;
      return;
    }
    if (this.strategy === 'none') {
      this.bind(v, undefined);
      return;
    }
    const request = { cpuHundredths: spec.vcpus * 100, memMiB: spec.memMiB };
    const advice = policyNamed(this.policyName).advise(this.policyNodes(this.ours), request);
    if (this.ours) {
      const r = this.ledger.reserve(advice, { nowMs: this.nowS * 1000, ttlMs: RESERVATION_TTL_MS, client: spec.name });
      this.reservationOf.set(v.index, r.id);
      this.promised.set(v.index, r.perNode);
    }
    this.bind(v, advice.nodes);
    // libvirt's default for placement='auto': <memory mode='strict'> on the advised nodes.
    v.memBound = advice.nodes;
    if (this.strategy === 'numadvisor-layout' && advice.nodes.length > 1) this.layOut(v, advice);
  }

  /**
   * The guest layout the daemon would give (balance/guest-layout, from what the answer took per node): each cell's
   * vCPUs pinned to its host node, its memory strictly bound there (<numatune><memnode>). The VM's CPU share per node
   * is then its cells' vCPU counts, not the nodes' core counts.
   */
  private layOut(v: VmState, advice: Parameters<typeof guestLayout>[1]): void {
    const hostCpus: CoreCpu[] = this.nodes.flatMap((n, p) => Array.from({ length: n.cores }, (_, c) => ({ id: p * CPU_ID_STRIDE + c, node: n.id, packageId: n.id, coreId: c })));
    const layout = guestLayout({ vcpus: v.spec.vcpus, memKiB: v.spec.memMiB * 1024 }, advice, hostCpus);
    if (!layout) return;
    v.cells = layout.cells.map((c) => ({ id: c.id, pos: this.pos(c.hostNode), vcpus: c.vcpus.length, memMiB: c.memKiB / 1024, touchedMiB: 0 }));
    v.cpuShare = v.cpuShare.map((_, i) => (v.cells ?? []).filter((c) => c.pos === i).reduce((a, c) => a + c.vcpus, 0) / v.spec.vcpus);
  }

  /** The kernel's default for unbound VMs: each vCPU now and then goes to the least-loaded node, or just wanders. */
  private schedule(): void {
    for (const v of this.vms) {
      if (!v.running || v.bound) continue;
      for (let c = 0; c < v.vcpuPos.length; c++) {
        const r = this.random();
        if (r < 0.02) v.vcpuPos[c] = Math.floor(this.random() * this.nodes.length);
        else if (r < 0.1) v.vcpuPos[c] = this.leastLoaded();
      }
      this.shareFromVcpus(v);
    }
  }

  /** Guests touch their memory after starting; pages land where the touching vCPU runs (first touch). */
  private touch(): void {
    const used = this.memUsed();
    for (const v of this.vms) {
      if (!v.running || v.touchedMiB >= v.spec.memMiB) continue;
      if (v.cells) {
        this.touchCells(v, used);
        continue;
      }
      const want = Math.min(this.scenario.touchMiBPerS, v.spec.memMiB - v.touchedMiB);
      let left = want;
      const strict = v.memBound;
      const allowed = strict ? strict.map((id) => this.pos(id)) : this.nodes.map((_, i) => i);
      // Where the vCPUs run first, then (unbound only) the nearest node with room; strict bindings have no fallback.
      const order = [...allowed].sort((a, b) => (v.cpuShare[b] as number) - (v.cpuShare[a] as number));
      const first = strict ? order : order.filter((p) => (v.cpuShare[p] as number) > 0);
      for (const p of first) {
        const share = Math.ceil(want * (v.cpuShare[p] as number));
        const room = (this.nodes[p]?.memMiB ?? 0) - (used[p] as number);
        const put = Math.max(0, Math.min(left, share > 0 ? share : left, room));
        v.memOn[p] = (v.memOn[p] as number) + put;
        used[p] = (used[p] as number) + put;
        left -= put;
        if (left <= 0) break;
      }
      if (left > 0 && !strict) {
        const home = order[0] ?? 0;
        const byDistance = this.nodes.map((_, i) => i).sort((a, b) => (this.nodes[home]?.distances[a] ?? 0) - (this.nodes[home]?.distances[b] ?? 0));
        for (const p of byDistance) {
          const put = Math.max(0, Math.min(left, (this.nodes[p]?.memMiB ?? 0) - (used[p] as number)));
          v.memOn[p] = (v.memOn[p] as number) + put;
          used[p] = (used[p] as number) + put;
          left -= put;
          if (left <= 0) break;
        }
      }
      if (left > 0 && strict) v.oomRisk = true;
      v.touchedMiB += want - left;
    }
  }

  /** A guest with cells touches each cell's memory in proportion to its size, on the cell's node only (strict). */
  private touchCells(v: VmState, used: number[]): void {
    for (const c of v.cells ?? []) {
      const want = Math.min(Math.ceil((this.scenario.touchMiBPerS * c.memMiB) / v.spec.memMiB), c.memMiB - c.touchedMiB);
      const put = Math.max(0, Math.min(want, (this.nodes[c.pos]?.memMiB ?? 0) - (used[c.pos] as number)));
      v.memOn[c.pos] = (v.memOn[c.pos] as number) + put;
      used[c.pos] = (used[c.pos] as number) + put;
      c.touchedMiB += put;
      v.touchedMiB += put;
      if (put < want) v.oomRisk = true;
    }
  }

  /**
   * Bound reservations shrink by what their guest has materialised, by the daemon's own rule. The simulated answer is
   * bound the moment it is given (the VM's start), so the time since the start is the time since binding.
   */
  private shrinkReservations(): void {
    this.ledger.expire(this.nowS * 1000);
    for (const [index, id] of this.reservationOf) {
      const v = this.vms[index] as VmState;
      const promised = this.promised.get(index) ?? [];
      const materialisedMiB = new Map(this.nodes.map((n, i) => [n.id, v.memOn[i] as number]));
      const perNode = shrinkBoundReservation(promised, materialisedMiB, (this.nowS - v.spec.startS) * 1000);
      if (!this.ledger.get(id) || !this.ledger.update(id, { perNode })) this.reservationOf.delete(index);
    }
  }

  private planNodes(): PlanNode[] {
    return this.policyNodes(this.ours).map((n, p) => ({ ...n, cpus: this.cpusOf([this.nodes[p]?.id ?? 0]) }));
  }

  private cpusOf(ids: number[]): number[] {
    return ids.flatMap((id) => {
      const p = this.pos(id);
      return Array.from({ length: this.nodes[p]?.cores ?? 0 }, (_, c) => p * CPU_ID_STRIDE + c);
    });
  }

  private planProcesses(): PlanProcess[] {
    const all = this.cpusOf(this.nodes.map((n) => n.id));
    return this.vms
      .filter((v) => v.running)
      .map((v) => ({
        pid: v.index + 1,
        comm: v.spec.name,
        threads: v.spec.vcpus,
        rssMiB: Math.round(v.touchedMiB),
        cpuUsedHundredths: Math.round(v.spec.vcpus * v.spec.load * 100),
        cpusAllowed: v.bound ? this.cpusOf(v.bound) : all,
        memoryMiBByNode: Object.fromEntries(this.nodes.map((n, i) => [String(n.id), Math.round(v.memOn[i] as number)])),
        isLibvirtDomain: false,
        // A guest with cells has a pin and a memory binding per cell; the planner moves a process to one nodeset and
        // has no move that keeps cells whole, so the simulator leaves such a guest where its layout put it.
        excluded: v.cells !== undefined,
        // Placed by libvirt's auto placement (the advisor's answer) or started there: the rebalancer may move it.
        placementOwned: true,
      }));
  }

  /** Move v's pages from nodes outside `to` onto `to`, as far as they have room. */
  private migrate(v: VmState, to: number[]): void {
    const used = this.memUsed();
    const targets = to.map((id) => this.pos(id));
    for (let p = 0; p < this.nodes.length; p++) {
      if (targets.includes(p)) continue;
      let amount = v.memOn[p] as number;
      for (const q of targets) {
        const put = Math.max(0, Math.min(amount, (this.nodes[q]?.memMiB ?? 0) - (used[q] as number)));
        v.memOn[q] = (v.memOn[q] as number) + put;
        used[q] = (used[q] as number) + put;
        v.memOn[p] = (v.memOn[p] as number) - put;
        used[p] = (used[p] as number) - put;
        v.migratedMiB += put;
        amount -= put;
      }
    }
  }

  /** One rebalancer cycle; true when something was done. */
  private cycle(): boolean {
    if (this.strategy === 'none') return false;
    const nowMs = this.nowS * 1000;
    const plan = planMoves(this.planNodes(), this.planProcesses(), { ...SETTINGS, policy: policyNamed(this.policyName) }, this.history, nowMs);
    const vmOf = (m: { pid: number }): VmState => this.vms[m.pid - 1] as VmState;
    const record = (m: PlannedMove, phase: MoveRecord['phase']): void => {
      this.history.set(m.pid, { pid: m.pid, comm: m.comm, from: m.from, to: m.to, phase, atMs: nowMs, cpus: m.cpus });
    };
    if (this.strategy === 'numad') {
      // numad: the biggest candidate first (CPU × MiB), CPU and memory in one go, no probation, no swaps.
      const byMagnitude = plan.moves
        .filter((m) => m.kind === 'cpu')
        .sort((a, b) => {
          const va = vmOf(a);
          const vb = vmOf(b);
          return vb.spec.vcpus * vb.spec.load * vb.touchedMiB - va.spec.vcpus * va.spec.load * va.touchedMiB || a.pid - b.pid;
        });
      const m = byMagnitude[0];
      if (!m) return false;
      const v = vmOf(m);
      this.bind(v, m.to);
      v.memBound = m.to;
      this.migrate(v, m.to);
      record(m, 'done');
      this.relocated(v);
      return true;
    }
    const m = plan.moves[0];
    const swapKey = m?.kind === 'swap' ? `${m.pid}>${m.toNodeset} ${m.partner?.pid}>${m.partner?.toNodeset}` : undefined;
    const confirmed = swapKey !== undefined && swapKey === this.proposedSwap;
    this.proposedSwap = confirmed ? undefined : swapKey;
    if (!m) return false;
    const v = vmOf(m);
    switch (m.kind) {
      case 'cpu':
        this.bind(v, m.to);
        record(m, 'cpu');
        this.relocated(v);
        return true;
      case 'memory':
        v.memBound = m.to;
        this.migrate(v, m.to);
        record(m, 'done');
        return true;
      case 'revert':
        this.bind(v, m.to.length === this.nodes.length ? undefined : m.to);
        record(m, 'done');
        return true;
      case 'swap': {
        if (!confirmed || !m.partner) return false;
        const w = this.vms[m.partner.pid - 1] as VmState;
        this.bind(v, m.to);
        this.bind(w, m.partner.to);
        v.memBound = m.to;
        w.memBound = m.partner.to;
        // Alternating rounds, as the process mover does: each fills room the other just freed.
        for (let round = 0; round < 8; round++) {
          this.migrate(v, m.to);
          this.migrate(w, m.partner.to);
        }
        record(m, 'done');
        record({ ...m, ...m.partner, partner: undefined } as PlannedMove, 'done');
        this.relocated(v);
        this.relocated(w);
        return true;
      }
    }
  }

  private relocated(v: VmState): void {
    v.moves++;
    this.moves++;
  }

  localityPercent(): number {
    let local = 0;
    let total = 0;
    for (const v of this.vms) {
      for (let i = 0; i < this.nodes.length; i++) {
        total += v.memOn[i] as number;
        local += (v.cpuShare[i] as number) * (v.memOn[i] as number);
      }
    }
    return total > 0 ? (100 * local) / total : 100;
  }

  cpuMaxOverMean(): number {
    const d = this.cpuDemand().map((x, i) => x / Math.max(1, this.nodes[i]?.cores ?? 1));
    const mean = d.reduce((a, b) => a + b, 0) / d.length;
    return mean > 0 ? Math.max(...d) / mean : 1;
  }

  /** Run to the end of the scenario. */
  run(): this {
    const byStart = new Map<number, VmState[]>();
    for (const v of this.vms) byStart.set(v.spec.startS, [...(byStart.get(v.spec.startS) ?? []), v]);
    for (this.nowS = 0; this.nowS <= this.scenario.durationS; this.nowS++) {
      // Concurrent starts: every VM starting this second asks before any of them has touched memory or used CPU.
      this.measuredDemand = this.cpuDemand();
      for (const v of byStart.get(this.nowS) ?? []) this.start(v);
      this.schedule();
      this.touch();
      if (this.ours) this.shrinkReservations();
      if (this.nowS >= this.nextCycleS) {
        const acted = this.cycle();
        this.nextCycleS = this.nowS + (acted ? CYCLE_AFTER_ACTION_S : CYCLE_IDLE_S);
      }
      if (this.balancedAtMoves === undefined && this.vms.every((v) => v.running) && this.cpuMaxOverMean() <= 1.1) this.balancedAtMoves = this.moves;
      if (this.nowS % 10 === 0) this.series.push({ t: this.nowS, localityPercent: this.localityPercent(), cpuMaxOverMean: this.cpuMaxOverMean() });
    }
    return this;
  }
}

export type { VmSpec };
