// /proc/stat per-CPU tick counters and the idle share between two samples.
import type { IdleTicks } from '../model/cpu-idle.js';
import type { FsRoot } from '../topology/fsroot.js';

export interface CpuTicks {
  idle: number;
  total: number;
}

export interface ProcStatSample {
  atMs: number;
  perCpu: Map<number, CpuTicks>;
}

export function parseProcStat(text: string): Map<number, CpuTicks> {
  const out = new Map<number, CpuTicks>();
  for (const line of text.split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const fields = (m[2] as string).trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is already inside user/nice,
    // so only the first eight columns make up the CPU's elapsed ticks. iowait and steal count as busy (as numad).
    const total = fields.slice(0, 8).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    out.set(Number(m[1]), { idle: fields[3] ?? 0, total });
  }
  return out;
}

export function readProcStat(fs: FsRoot, nowMs: number): ProcStatSample {
  return { atMs: nowMs, perCpu: parseProcStat(fs.readText('/proc/stat')) };
}

/**
 * Idle ticks per CPU. Between two samples they are Δidle over Δtotal of the CPU's own counters, which is numad's
 * Δidle over elapsed time without its dependence on sleep accuracy. Where a CPU shows no elapsed ticks (only the
 * first sample exists, or a frozen fixture tree), its counters since boot are used: a real answer at once, instead of
 * numad's "0 CPUs free" before its second sample.
 */
export function idleTicks(latest: ProcStatSample, previous: ProcStatSample | undefined): Map<number, IdleTicks> {
  const out = new Map<number, IdleTicks>();
  for (const [cpu, now] of latest.perCpu) {
    const before = previous?.perCpu.get(cpu);
    const dTotal = before ? now.total - before.total : 0;
    const dIdle = before ? now.idle - before.idle : 0;
    let ticks: IdleTicks;
    if (before && dTotal > 0 && dIdle >= 0) ticks = { idleTicks: dIdle, windowTicks: dTotal };
    else if (now.total > 0) ticks = { idleTicks: Math.max(0, now.idle), windowTicks: now.total };
    else ticks = { idleTicks: 1, windowTicks: 1 }; // no ticks at all yet: taken as idle, as before
    // iowait may run backwards (NO_HZ accounting), making Δtotal smaller than Δidle: never more than a whole CPU.
    out.set(cpu, { idleTicks: Math.min(ticks.idleTicks, ticks.windowTicks), windowTicks: ticks.windowTicks });
  }
  return out;
}

/** Idle share per CPU in hundredths (0..100), for display: one division of whole numbers, so 29 of 100 ticks is 29. */
export function idleHundredths(latest: ProcStatSample, previous: ProcStatSample | undefined): Map<number, number> {
  const out = new Map<number, number>();
  for (const [cpu, t] of idleTicks(latest, previous)) out.set(cpu, (t.idleTicks * 100) / t.windowTicks);
  return out;
}
