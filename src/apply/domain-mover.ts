// Moving a libvirt domain, only through libvirt (libvirt.md §2, §6.4). restrictive mode: the nodeset changes live
// (virDomainSetNumaParameters; cgroup cpuset.mems migrates the pages), then vCPUs, emulator and IOThreads are re-pinned
// to the new nodes' CPUs, which libvirt does not do. strict / preferred / interleave: memory cannot move live, so the
// CPUs follow the memory instead and the outcome says what would allow a memory move. Pins an administrator made are
// never changed. Every change is journaled before → after, verified by reading it back, and can be rolled back.
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { NumadvisorError } from '../errors.js';
import { formatIdList, parseIdList } from '../topology/idlist.js';
import { assignVcpus, coresOf, type CoreCpu } from '../balance/vcpu-assignment.js';
import { VIR_DOMAIN_AFFECT_LIVE, type Domain, type LibvirtClient } from '../libvirt/client.js';
import type { DomainTracker, TrackedDomain } from '../libvirt/domain-tracker.js';

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

export class DomainMover {
  constructor(
    private readonly client: LibvirtClient,
    private readonly tracker: DomainTracker,
    private readonly journalPath: string,
    private readonly hostCpus: () => CoreCpu[],
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

  /** Move domain `d` towards `targetNodes`. */
  async apply(d: TrackedDomain, targetNodes: number[]): Promise<DomainMoveOutcome> {
    const started = Date.now();
    const ref = this.ref(d);
    const before = await this.placement(d);
    const target = formatIdList(targetNodes);
    let memoryMoved = false;
    let cpuNodes = targetNodes;
    let reason: string;
    if (before.mode === 'restrictive') {
      if (before.nodeset !== target) {
        await this.client.setNumaNodeset(ref, target, VIR_DOMAIN_AFFECT_LIVE);
        memoryMoved = true;
      }
      reason = `restrictive mode: memory nodeset ${before.nodeset || '(none)'} → ${target}, CPUs re-pinned to nodes ${target}`;
    } else {
      // The memory stays where it is; the CPUs come to it.
      const memoryNodes = before.nodeset ? parseIdList(before.nodeset) : targetNodes;
      cpuNodes = memoryNodes;
      reason =
        `${before.mode ?? 'strict'} mode: memory cannot move live (libvirt allows a live nodeset change only for ` +
        `<memory mode='restrictive'>); CPUs pinned to nodes ${formatIdList(memoryNodes)}, which hold it`;
    }
    const cores = coresOf(this.hostCpus(), cpuNodes);
    const nodeCpus = cores.flat().sort((a, b) => a - b);
    if (nodeCpus.length === 0) throw new NumadvisorError('NUMADVISOR_ERR_BAD_REQUEST', `nodes ${formatIdList(cpuNodes)} have no CPUs to pin to`);
    const perVcpu = assignVcpus(d.spec.vcpus, cores, this.cpusOfOtherGuests(d));
    const skipped = await this.pinAll(d, {
      vcpus: perVcpu,
      emulator: nodeCpus,
      iothreads: before.iothreadPins.map((io) => ({ id: io.id, cpus: nodeCpus })),
    });
    if (skipped.length) reason += `; left as an administrator pinned them: ${skipped.join(', ')}`;
    const after = await this.placement(d);
    const ok = this.pinsAre(d, after, perVcpu) && (!memoryMoved || after.nodeset === target);
    const outcome: DomainMoveOutcome = { ok, domain: d.name, uuid: d.uuid, action: 'apply', memoryMoved, reason, before, after, elapsedMs: Date.now() - started };
    this.journal(outcome);
    if (memoryMoved) d.nodeset = targetNodes;
    return outcome;
  }

  /**
   * Pin vCPUs, the emulator and IOThreads through libvirt, announcing each pin to the tracker first (its TUNABLE event
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
      this.tracker.expectTunable(d.uuid, `cputune.vcpupin${v}`);
      await this.client.pinVcpu(ref, v, cpus, PIN_FLAGS);
    }
    if (d.adminPins.emulator) skipped.push('emulator');
    else if (pins.emulator.length > 0) {
      this.tracker.expectTunable(d.uuid, 'cputune.emulatorpin');
      await this.client.pinEmulator(ref, pins.emulator, PIN_FLAGS);
    }
    for (const io of pins.iothreads) {
      if (d.adminPins.iothreads.includes(io.id)) {
        skipped.push(`iothread ${io.id}`);
        continue;
      }
      this.tracker.expectTunable(d.uuid, `cputune.iothreadpin${io.id}`);
      await this.client.pinIOThread(ref, io.id, io.cpus, PIN_FLAGS);
    }
    return skipped;
  }

  /** Every vCPU not pinned by an administrator has the CPUs we meant for it. */
  private pinsAre(d: TrackedDomain, placement: DomainPlacement, vcpuPins: number[][]): boolean {
    return placement.vcpuPins.every((cpus, v) => d.adminPins.vcpus.includes(v) || formatIdList(cpus) === formatIdList(vcpuPins[v] ?? []));
  }

  /** CPUs already given to other guests' vCPUs by us (their current pins narrower than a whole node set). */
  private cpusOfOtherGuests(d: TrackedDomain): Set<number> {
    const busy = new Set<number>();
    for (const e of this.history()) if (e.uuid !== d.uuid && e.action === 'apply') for (const pin of e.after.vcpuPins) for (const c of pin) busy.add(c);
    return busy;
  }

  history(): DomainMoveOutcome[] {
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
  async rollback(d: TrackedDomain): Promise<DomainMoveOutcome> {
    const started = Date.now();
    const last = [...this.history()].reverse().find((e) => e.uuid === d.uuid);
    if (!last || last.action !== 'apply') throw new NumadvisorError('NUMADVISOR_ERR_NOT_FOUND', `nothing to roll back for domain ${d.name}`);
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
    if (memoryMoved) d.nodeset = parseIdList(want.nodeset);
    return outcome;
  }
}
