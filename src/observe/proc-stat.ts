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

/** A CPU's idle ticks over a window of its own ticks (USER_HZ, so hundredths of a second): whole numbers, no rounding. */
export interface IdleTicks {
  idleTicks: number;
  windowTicks: number;
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

/**
 * More distinct windows than this are summed in floating point: the exact sum's denominator is the windows' least
 * common multiple, which grows with each one (8192 different since-boot totals took 2 s; 64 take half a millisecond).
 */
const EXACT_WINDOWS_MAX = 64;

const gcd = (a: bigint, b: bigint): bigint => {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
};

/**
 * Free CPU of a set of CPUs (a node) in hundredths, as numad computes it (numad.md §4.3): floor(Σ idle ticks × 100 /
 * elapsed), one integer division over the node. Each of our CPUs has its own window, so this is floor(100 × Σ idle_i
 * / window_i) computed exactly: numad's number whenever the windows agree. Summing per-CPU shares in floating point
 * and flooring the sum was not: 0.29 × 100 is 28.999…, so 4 CPUs at 29 % gave 115 where numad has 116, and
 * `-w 1.16:100` took two nodes where numad takes one. BigInt because since-boot counters times 100 outgrow 2^53.
 */
export function nodeIdleHundredths(cpus: Iterable<IdleTicks>): number {
  // Usually one window for all (or a few): sum the idle ticks per window, then bring the sums to one denominator.
  const byWindow = new Map<number, number>();
  for (const c of cpus) byWindow.set(c.windowTicks, (byWindow.get(c.windowTicks) ?? 0) + c.idleTicks);
  if (byWindow.size > EXACT_WINDOWS_MAX) {
    // Only since-boot counters (the first sample) differ this much, and numad has no number for them (it says 0
    // before its second sample): one division per window, and a tolerance far below a hundredth for the sum.
    let sum = 0;
    for (const [window, idle] of byWindow) sum += (idle * 100) / window;
    return Math.floor(sum + 1e-9);
  }
  let num = 0n;
  let den = 1n;
  for (const [window, idle] of byWindow) {
    const w = BigInt(window);
    const lcm = (den / gcd(den, w)) * w;
    num = num * (lcm / den) + BigInt(idle) * (lcm / w);
    den = lcm;
  }
  return Number((num * 100n) / den);
}
