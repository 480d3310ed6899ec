// Moving a libvirt domain, only through libvirt (libvirt.md §2, §6.4): mechanism only. The caller decides the move
// (balance/vcpu-assignment.ts planDomainMove: the memory nodeset, one CPU set per vCPU, the emulator's and IOThreads'
// CPUs); this sets the nodeset live (virDomainSetNumaParameters; cgroup cpuset.mems migrates the pages) and the pins,
// which libvirt does not re-pin by itself. Pins an administrator made are never changed. Every change is journaled
// before → after, verified by reading it back, and can be rolled back. What changed is returned, for the caller to
// record in its tracker.
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { nothingToRollBack } from '../errors.js';
import { formatIdList, parseIdList } from '../topology/idlist.js';
import { VIR_DOMAIN_AFFECT_LIVE, type Domain, type LibvirtClient } from '../libvirt/client.js';
import type { TrackedDomain, TunableAnnouncer } from '../libvirt/tracked-domain.js';

export interface DomainPlacement {
  mode: string | undefined;
  nodeset: string;
  vcpuPins: number[][];
  emulatorPin: number[];
  iothreadPins: { id: number; cpus: number[] }[];
}

export interface DomainMoveOutcome {
  ok: boolean;
  domain: string;
  uuid: string;
  action: 'apply' | 'rollback';
  /** true when the memory nodeset changed (restrictive mode) */
  memoryMoved: boolean;
  reason: string;
  before: DomainPlacement;
  after: DomainPlacement;
  elapsedMs: number;
  error?: string;
}

/** Pins with CURRENT (0): LIVE on a running domain, and the only flag the test driver's PinVcpuFlags accepts. */
const PIN_FLAGS = 0;

/** A move as decided by the planner (balance/vcpu-assignment.ts DomainMovePlan has this shape). */
export interface DomainChange {
  /** the nodeset the memory moves to live; undefined when the memory stays where it is */
  memoryNodes: number[] | undefined;
  /** one CPU set per vCPU; empty: the vCPU pins stay as they are (a nodeset-only change, the memory guard's; a guest an
   * administrator pinned onto isolated CPUs) */
  vcpus: number[][];
  emulator: number[];
  iothreads: { id: number; cpus: number[] }[];
  reason: string;
}

export interface DomainMoveResult {
  outcome: DomainMoveOutcome;
  /** the memory nodeset the domain now has, when this changed it (the tracker records it) */
  memoryNodes: number[] | undefined;
}

export class DomainMover {
  constructor(
    private readonly client: LibvirtClient,
    /** told before each pin, so the TUNABLE event the pin causes is not taken for an administrator's */
    private readonly announcer: TunableAnnouncer,
    private readonly journalPath: string,
  ) {}

  private ref(d: TrackedDomain): Domain {
    return { name: d.name, uuid: d.uuid, id: d.id };
  }

  async placement(d: TrackedDomain): Promise<DomainPlacement> {
    const ref = this.ref(d);
    const numa = await this.client.numaParameters(ref, VIR_DOMAIN_AFFECT_LIVE);
    return {
      mode: numa.mode,
      nodeset: numa.nodeset,
      vcpuPins: await this.client.vcpuPins(ref, d.spec.vcpus, PIN_FLAGS),
      emulatorPin: await this.client.emulatorPin(ref, PIN_FLAGS),
      iothreadPins: d.spec.iothreadIds.length > 0 ? await this.client.iothreads(ref, 0).catch(() => []) : [],
    };
  }

  private journal(entry: DomainMoveOutcome): void {
    try {
      mkdirSync(path.dirname(this.journalPath), { recursive: true });
      appendFileSync(this.journalPath, `${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`);
    } catch {
      // a full disk must not turn a verified move into a failure
    }
  }

  /** Carry out `change`, decided from `before` (this domain's placement as placement() read it). */
  async apply(d: TrackedDomain, change: DomainChange, before: DomainPlacement): Promise<DomainMoveResult> {
    const started = Date.now();
    const ref = this.ref(d);
    const memoryMoved = change.memoryNodes !== undefined;
    const target = change.memoryNodes ? formatIdList(change.memoryNodes) : undefined;
    if (target !== undefined) await this.client.setNumaNodeset(ref, target, VIR_DOMAIN_AFFECT_LIVE);
    let reason = change.reason;
    const skipped = await this.pinAll(d, { vcpus: change.vcpus, emulator: change.emulator, iothreads: change.iothreads });
    if (skipped.length) reason += `; left as an administrator pinned them: ${skipped.join(', ')}`;
    const after = await this.placement(d);
    const ok = (change.vcpus.length === 0 || this.pinsAre(d, after, change.vcpus)) && (target === undefined || after.nodeset === target);
    const outcome: DomainMoveOutcome = { ok, domain: d.name, uuid: d.uuid, action: 'apply', memoryMoved, reason, before, after, elapsedMs: Date.now() - started };
    this.journal(outcome);
    return { outcome, memoryNodes: change.memoryNodes };
  }

  /**
   * Pin vCPUs, the emulator and IOThreads through libvirt, announcing each pin first (its TUNABLE event
   * is ours, not an administrator's). Pins an administrator made are left alone and named in the result.
   */
  private async pinAll(d: TrackedDomain, pins: { vcpus: number[][]; emulator: number[]; iothreads: { id: number; cpus: number[] }[] }): Promise<string[]> {
    const ref = this.ref(d);
    const skipped: string[] = [];
    for (const [v, cpus] of pins.vcpus.entries()) {
      if (d.adminPins.vcpus.includes(v)) {
        skipped.push(`vcpu ${v}`);
        continue;
      }
      this.announcer.expectTunable(d.uuid, `cputune.vcpupin${v}`);
      await this.client.pinVcpu(ref, v, cpus, PIN_FLAGS);
    }
    if (d.adminPins.emulator) skipped.push('emulator');
    else if (pins.emulator.length > 0) {
      this.announcer.expectTunable(d.uuid, 'cputune.emulatorpin');
      await this.client.pinEmulator(ref, pins.emulator, PIN_FLAGS);
    }
    for (const io of pins.iothreads) {
      if (d.adminPins.iothreads.includes(io.id)) {
        skipped.push(`iothread ${io.id}`);
        continue;
      }
      this.announcer.expectTunable(d.uuid, `cputune.iothreadpin${io.id}`);
      await this.client.pinIOThread(ref, io.id, io.cpus, PIN_FLAGS);
    }
    return skipped;
  }

  /** Every vCPU not pinned by an administrator has the CPUs we meant for it. */
  private pinsAre(d: TrackedDomain, placement: DomainPlacement, vcpuPins: number[][]): boolean {
    return placement.vcpuPins.every((cpus, v) => d.adminPins.vcpus.includes(v) || formatIdList(cpus) === formatIdList(vcpuPins[v] ?? []));
  }

  /** CPUs we gave other guests' vCPUs, read from the journal: a new move uses them last. */
  readOtherGuestsVcpuCpus(uuid: string): Set<number> {
    const busy = new Set<number>();
    for (const e of this.readHistory()) if (e.uuid !== uuid && e.action === 'apply') for (const pin of e.after.vcpuPins) for (const c of pin) busy.add(c);
    return busy;
  }

  /** Every move and rollback journaled so far, read from the journal file. */
  readHistory(): DomainMoveOutcome[] {
    let text = '';
    try {
      text = readFileSync(this.journalPath, 'utf8');
    } catch {
      return [];
    }
    const out: DomainMoveOutcome[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line) as DomainMoveOutcome);
      } catch {
        // a torn last line from a crash: skip it
      }
    }
    return out;
  }

  /** Restore what the last apply to this domain changed (nodeset and the pins we set; admin pins untouched). */
  async rollback(d: TrackedDomain): Promise<DomainMoveResult> {
    const started = Date.now();
    const last = [...this.readHistory()].reverse().find((e) => e.uuid === d.uuid);
    if (!last || last.action !== 'apply') throw nothingToRollBack(d.name);
    const ref = this.ref(d);
    const before = await this.placement(d);
    const want = last.before;
    let memoryMoved = false;
    if (last.memoryMoved && want.nodeset && before.nodeset !== want.nodeset) {
      await this.client.setNumaNodeset(ref, want.nodeset, VIR_DOMAIN_AFFECT_LIVE);
      memoryMoved = true;
    }
    await this.pinAll(d, { vcpus: want.vcpuPins.slice(0, d.spec.vcpus), emulator: want.emulatorPin, iothreads: want.iothreadPins });
    const after = await this.placement(d);
    const ok = (!memoryMoved || after.nodeset === want.nodeset) && this.pinsAre(d, after, want.vcpuPins);
    const outcome: DomainMoveOutcome = {
      ok,
      domain: d.name,
      uuid: d.uuid,
      action: 'rollback',
      memoryMoved,
      reason: `restored the placement from before the move of ${last.after.nodeset ? `nodeset ${last.after.nodeset}` : 'its CPUs'}`,
      before,
      after,
      elapsedMs: Date.now() - started,
    };
    this.journal(outcome);
    return { outcome, memoryNodes: memoryMoved ? parseIdList(want.nodeset) : undefined };
  }
}
