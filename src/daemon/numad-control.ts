// Applies numad option changes to the running daemon: settings, their log lines, and their effects
// (capacity model, log level, THP knob, shutdown).
import type { NumadLog } from '../log/numad-log.js';
import type { ThpScanSleep } from '../apply/thp.js';
import type { AdvisorService } from './advisor-service.js';
import { applyNumadOp, capacityFromSettings, numadOpProblem, type LogLine, type NumadOp, type NumadSettings } from '../model/numad-settings.js';
import { badRequest } from '../errors.js';

export interface ControlResult {
  settings: NumadSettings;
  shutdown: boolean;
}

export class NumadControl {
  /** Called after a batch changed the settings (the daemon persists run-time changes). */
  onChange: ((settings: NumadSettings) => void) | undefined;

  constructor(
    private current: NumadSettings,
    private readonly service: AdvisorService,
    private readonly numadLog: NumadLog,
    private readonly thp: ThpScanSleep,
    private readonly requestShutdown: () => void,
  ) {}

  get settings(): NumadSettings {
    return this.current;
  }

  /**
   * Apply options in order, all or nothing (issue #12 F6): every op is checked against numad's ranges before any
   * takes effect, and the one effect that can fail (writing the THP knob) runs before anything is logged or
   * changed. A shutdown (-i with MAX 0) is carried out after the reply is sent.
   */
  apply(ops: NumadOp[]): ControlResult {
    const problems = ops.map(numadOpProblem).filter((p): p is string => p !== undefined);
    if (problems.length > 0) throw badRequest(`nothing applied: ${problems.join('; ')}`);
    let next = this.current;
    let shutdown = false;
    let capacityChanged = false;
    let thpChanged = false;
    // Each line with the log level in force when numad would log it: -l's own line is filtered by the old level.
    const lines: (LogLine & { levelInForce: number })[] = [];
    for (const op of ops) {
      const r = applyNumadOp(next, op);
      for (const line of r.lines) lines.push({ ...line, levelInForce: next.logLevel });
      next = r.settings;
      capacityChanged ||= r.capacityChanged;
      thpChanged ||= r.thpChanged;
      shutdown ||= r.shutdown;
    }
    // The batch's last -H wins; numad's own "Changing THP scan time" line comes from the write itself.
    if (thpChanged && next.thpScanSleepMs !== null) this.thp.set(next.thpScanSleepMs);
    for (const line of lines) {
      this.numadLog.level = line.levelInForce;
      this.numadLog.log(line.level, line.message);
    }
    const changed = JSON.stringify(next) !== JSON.stringify(this.current);
    this.current = next;
    this.numadLog.level = next.logLevel;
    if (changed) this.onChange?.(next);
    if (capacityChanged) this.service.setCapacityOptions(capacityFromSettings(next));
    if (shutdown) setImmediate(this.requestShutdown);
    return { settings: this.current, shutdown };
  }
}
