// /proc/stat per-CPU tick counters and the idle share between two samples.
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
 * Idle share per CPU in hundredths (0..100). Between two samples it is Δidle/Δtotal of the CPU's own counters,
 * which is numad's Δidle/elapsed without its dependence on sleep accuracy. Where a CPU shows no elapsed ticks
 * (only the first sample exists, or a frozen fixture tree), the average since boot is used: a real answer at once,
 * instead of numad's "0 CPUs free" before its second sample.
 */
export function idleHundredths(latest: ProcStatSample, previous: ProcStatSample | undefined): Map<number, number> {
  const out = new Map<number, number>();
  for (const [cpu, now] of latest.perCpu) {
    const before = previous?.perCpu.get(cpu);
    const dTotal = before ? now.total - before.total : 0;
    const dIdle = before ? now.idle - before.idle : 0;
    let share: number;
    if (before && dTotal > 0 && dIdle >= 0) share = dIdle / dTotal;
    else share = now.total > 0 ? now.idle / now.total : 1;
    out.set(cpu, Math.min(100, Math.max(0, share * 100)));
  }
  return out;
}
