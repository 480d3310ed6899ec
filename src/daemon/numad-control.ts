// Applies numad option changes to the running daemon: settings, their log lines, and their effects
// (capacity model, log level, THP knob, shutdown).
import type { NumadLog } from '../log/numad-log.js';
import type { ThpScanSleep } from '../apply/thp.js';
import type { AdvisorService } from './advisor-service.js';
import { applyNumadOp, type NumadOp, type NumadSettings } from './numad-settings.js';
import type { CapacityOptions } from '../model/capacity.js';

export function capacityFromSettings(s: NumadSettings): CapacityOptions {
  return { inactiveFileIsFree: s.inactiveFileIsFree, htPercent: s.htPercent, reservedCpus: new Set(s.reservedCpus) };
}

export interface ControlResult {
  settings: NumadSettings;
  shutdown: boolean;
}

export class NumadControl {
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

  /** Apply options in order; a shutdown (-i with MAX 0) is carried out after the reply is sent. */
  apply(ops: NumadOp[]): ControlResult {
    let shutdown = false;
    for (const op of ops) {
      const r = applyNumadOp(this.current, op);
      for (const line of r.lines) this.numadLog.log(line.level, line.message);
      this.current = r.settings;
      this.numadLog.level = r.settings.logLevel;
      if (r.capacityChanged) this.service.setCapacityOptions(capacityFromSettings(r.settings));
      if (r.thpChanged && r.settings.thpScanSleepMs !== null) this.thp.set(r.settings.thpScanSleepMs);
      if (r.shutdown) shutdown = true;
    }
    if (shutdown) setImmediate(this.requestShutdown);
    return { settings: this.current, shutdown };
  }
}
