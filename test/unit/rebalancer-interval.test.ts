// The rebalancer's cadence with numad's largest intervals. setTimeout takes at most 2^31-1 ms (24.8 days) and fires
// after 1 ms when given more; numad itself accepts -i up to 2147483647 s (its int) and sleep(3)s that long.
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Rebalancer } from '../../src/daemon/rebalancer.js';
import { NUMAD_DEFAULTS, type NumadSettings } from '../../src/model/numad-settings.js';
import type { ProcessScanner } from '../../src/observe/process-scanner.js';
import type { AdvisorService } from '../../src/daemon/advisor-service.js';
import type { NumadLog } from '../../src/log/numad-log.js';
import { numadvisorPolicy } from '../../src/policy/numadvisor.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

/** A rebalancer whose cycle is a spy: only the timer logic is under test, so its collaborators are never called. */
function rebalancerWith(settings: NumadSettings, acted: boolean): { reb: Rebalancer; cycles: () => number } {
  const unused = {} as unknown;
  const reb = new Rebalancer({ scanner: unused as ProcessScanner, service: unused as AdvisorService, policy: numadvisorPolicy, settings: () => settings, numadLog: unused as NumadLog, logger: pino({ level: 'silent' }) });
  const spy = vi.spyOn(reb, 'cycle').mockResolvedValue(acted);
  return { reb, cycles: () => spy.mock.calls.length };
}

describe('rebalancer timer (issue #12 F5)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('F5: numad -i 5:3000000 does not make the rebalancer run every millisecond (setTimeout overflow)', async () => {
    vi.useFakeTimers();
    const { reb, cycles } = rebalancerWith({ ...NUMAD_DEFAULTS, intervalMinS: 5, intervalMaxS: 3_000_000 }, false);
    reb.start();
    await vi.advanceTimersByTimeAsync(2000); // numad's first cycle after min/2 s
    expect(cycles()).toBe(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(cycles()).toBe(1);
    // The longest sleep a timer can hold (24.8 days) is the next cycle: the interval is clamped, not wrapped.
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS - 60_000);
    expect(cycles()).toBe(2);
    await reb.stop();
  });

  it('F5: a huge min interval after a move, and a huge first delay, are clamped too', async () => {
    vi.useFakeTimers();
    const { reb, cycles } = rebalancerWith({ ...NUMAD_DEFAULTS, intervalMinS: 5_000_000, intervalMaxS: 5_000_000 }, true);
    reb.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(cycles()).toBe(0);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS - 60_000);
    expect(cycles()).toBe(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(cycles()).toBe(1);
    await reb.stop();
  });
});
