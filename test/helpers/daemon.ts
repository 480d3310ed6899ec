import path from 'node:path';
import pino from 'pino';
import { startDaemon, type DaemonConfig, type RunningDaemon } from '../../src/daemon/daemon.js';
import { NUMAD_DEFAULTS } from '../../src/model/numad-settings.js';
import { fixture } from './fixtures.js';

export function daemonConfig(dir: string, fixtureName: string, overrides: Partial<DaemonConfig> = {}): DaemonConfig {
  return {
    fsRoot: fixture(fixtureName),
    socketPath: path.join(dir, 'numadvisor.sock'),
    socketMode: 0o660,
    stateDir: path.join(dir, 'state'),
    numadLogPath: path.join(dir, 'numad.log'),
    numad: { ...NUMAD_DEFAULTS },
    cpuAllocationRatio: 4,
    reservationTtlMs: 300_000,
    apply: 'none',
    logLevel: 'silent',
    logger: pino({ level: 'silent' }),
    ...overrides,
  };
}

export async function startTestDaemon(dir: string, fixtureName: string, overrides: Partial<DaemonConfig> = {}): Promise<RunningDaemon> {
  return startDaemon(daemonConfig(dir, fixtureName, overrides));
}
