// A node's free CPU from its CPUs' idle ticks: exact integer arithmetic, numad's number (observe/ takes the ticks).

/** A CPU's idle ticks over a window of its own ticks (USER_HZ, so hundredths of a second): whole numbers, no rounding. */
export interface IdleTicks {
  idleTicks: number;
  windowTicks: number;
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
