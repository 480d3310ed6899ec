// Wiring of the long-running daemon: observer + ledger + state file + numad log + HTTP server on a unix socket.
import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { FsRoot } from '../topology/fsroot.js';
import { HostObserver } from '../observe/host-observer.js';
import { ReservationLedger } from '../model/reservations.js';
import { ReservationStore } from '../model/state-file.js';
import { LOG_NOTICE, NumadLog } from '../log/numad-log.js';
import { stdoutLogDestination } from '../log/journal-stream.js';
import { ThpScanSleep } from '../apply/thp.js';
import { formatIdList } from '../topology/idlist.js';
import { NumadControl } from './numad-control.js';
import { capacityFromSettings } from '../model/numad-settings.js';
import { removePidFile, writePidFile } from './pid-file.js';
import { Rebalancer, type DomainSide } from './rebalancer.js';
import { ProcessScanner } from '../observe/process-scanner.js';
import { defaultProcScan } from '../observe/proc-scan.js';
import { basePageKiB } from '../observe/processes.js';
import { checkMigratepages, ProcessMover } from '../apply/process-mover.js';
import { stateError } from '../errors.js';
import path from 'node:path';
import { buildApp } from '../server/app.js';
import { DaemonMetrics } from '../server/metrics.js';
import { buildAdvisorApi } from './advisor-api-impl.js';
import { API_TOKEN_FILE_NAME, writeApiToken } from './api-token.js';
import { AdvisorService } from './advisor-service.js';
import { NUMAD_VERSION } from '../version.js';
import { listenRestricted, prepareSocketPath, removeSocket, resolveGroup } from './socket.js';
import { lockStateDir } from '../model/file-lock.js';
import { loadRuntimeOverrides, saveRuntimeOverrides } from './runtime-options.js';
import { LocalAnswerSpool } from '../model/local-answers.js';
import { reservationCheck } from '../model/reservation-check.js';
import { LibvirtClient } from '../libvirt/client.js';
import { DomainTracker } from './domain-tracker.js';
import { DomainMover } from '../apply/domain-mover.js';
import { DomainMoves, hostPinning } from './domain-moves.js';
import { defaultMemoryGuard, type DaemonConfig } from '../config/daemon-config.js';

// The configuration's shape, defaults and parsing live in config/ (one module for both commands that start a daemon).
export type { DaemonConfig } from '../config/daemon-config.js';

export interface RunningDaemon {
  domains: DomainSide | undefined;
  app: FastifyInstance;
  /** the read-only TCP listener (--tcp-port), when there is one */
  tcpApp: FastifyInstance | undefined;
  /** GET /metrics of both listeners */
  metrics: DaemonMetrics;
  service: AdvisorService;
  control: NumadControl;
  rebalancer: Rebalancer;
  numadLog: NumadLog;
  stateFile: ReservationStore;
  logger: Logger;
  /** Resolves once the daemon has stopped, however it was asked to (close(), `numad -i 0`). */
  stopped: Promise<void>;
  close(): Promise<void>;
}

export async function startDaemon(config: DaemonConfig): Promise<RunningDaemon> {
  // On stdout; under systemd each line carries its syslog priority for journald (src/log/journal-stream.ts).
  const logger = config.logger ?? pino({ level: config.logLevel, base: { pid: process.pid, name: 'numadvisor' } }, stdoutLogDestination(pino.destination(1)));
  // Start whole or not at all: every step that can fail runs before the socket listens, and what was set up is
  // undone in reverse when a later step fails. A half-started daemon (answering and reserving without a
  // rebalancer, signal handlers or pid file) was what a failed pid file or TCP port used to leave behind.
  const undo: (() => void | Promise<void>)[] = [];
  try {
    return await startSteps(config, logger, undo);
  } catch (err) {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (cleanupErr) {
        logger.error({ err: cleanupErr }, 'while undoing a failed start');
      }
    }
    throw err;
  }
}

async function startSteps(config: DaemonConfig, logger: Logger, undo: (() => void | Promise<void>)[]): Promise<RunningDaemon> {
  // One daemon per state directory, held until this process ends however it ends.
  const stateLock = lockStateDir(config.stateDir);
  undo.push(() => stateLock.release());
  // Options changed at run time before a restart override the command line (src/daemon/runtime-options.ts).
  const runtime = loadRuntimeOverrides(config.stateDir, config.numad);
  if (runtime.problem) logger.warn(runtime.problem);
  if (runtime.restored.length > 0 || runtime.domainFilter) {
    logger.info({ settings: runtime.restored, domainFilter: runtime.domainFilter }, 'restored options changed at run time before the restart');
  }
  const numadSettings = runtime.settings;
  const socketGid = config.socketGroup !== undefined ? resolveGroup(config.socketGroup) : undefined;
  await prepareSocketPath(config.socketPath);

  const fs = new FsRoot(config.fsRoot);
  const observer = new HostObserver(fs);
  const ledger = new ReservationLedger();
  const nodeIds = new Set(observer.shape().nodes.map((n) => n.id));
  const check = reservationCheck(nodeIds);
  const stateFile = new ReservationStore(config.stateDir, () => ledger.list(), (err) => logger.error({ err }, 'cannot save reservations'), check);
  const loaded = stateFile.load();
  undo.push(() => stateFile.abandon());
  if (loaded.quarantinedTo) logger.warn({ movedTo: loaded.quarantinedTo }, 'reservation state file was unreadable; moved aside');
  if (loaded.skippedLines > 0) logger.warn({ lines: loaded.skippedLines }, 'ignored unreadable reservation journal lines');
  if (loaded.quarantined.length > 0) {
    logger.warn(
      { count: loaded.quarantined.length, file: stateFile.quarantinePath, reasons: [...new Set(loaded.quarantined.map((q) => q.reason))].slice(0, 5) },
      'reservations that failed validation were set aside; the others were kept',
    );
  }
  const restored = ledger.restore(loaded.reservations, Date.now());
  ledger.onChange((change) => {
    if (change.kind === 'put') stateFile.put(change.reservation);
    else stateFile.delete(change.reservation.id);
  });
  // Answers `numad -w` gave while no daemon answered: adopted now, and before every answer from here on.
  const spool = new LocalAnswerSpool(config.stateDir, check, (r, reason) => logger.warn({ reason, entry: r }, 'ignored a local numad -w answer that failed validation'));
  undo.push(() => spool.close());
  const adoptedAtStart = spool.ingest(ledger, Date.now()) ?? 0;
  // Start from a compact state: expired reservations and replayed lines are dropped now.
  await stateFile.compact();
  if (adoptedAtStart > 0) spool.truncateConsumed();

  const numadLog = new NumadLog({ path: config.numadLogPath, level: numadSettings.logLevel });
  undo.push(() => numadLog.close());
  const service = new AdvisorService(
    observer,
    ledger,
    {
      capacity: capacityFromSettings(numadSettings),
      cpuAllocationRatio: config.cpuAllocationRatio,
      reservationTtlMs: config.reservationTtlMs,
      policy: config.policy ?? 'numadvisor',
    },
    numadLog,
  );
  service.durability = stateFile;
  service.localAnswers = spool;
  // Fail on an unreadable host now, not on the first VM start.
  service.updateLedgerAndViewNodes();

  let closed = false;
  let close: () => Promise<void> = async () => {};
  let markStopped: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    markStopped = resolve;
  });
  const thp = new ThpScanSleep(fs, (message) => numadLog.log(LOG_NOTICE, message));
  const control = new NumadControl(numadSettings, service, numadLog, thp, () => {
    close().catch((err: unknown) => logger.error({ err }, 'error while stopping'));
  });
  const persistOverrides = (): void => {
    try {
      saveRuntimeOverrides(config.stateDir, config.numad, control.settings, { base: config.libvirt?.filter, current: domains?.tracker.filter });
    } catch (err) {
      logger.error({ err }, 'cannot save the options changed at run time; they will not survive a restart');
    }
  };
  control.onChange = persistOverrides;
  const procScan = defaultProcScan(fs);
  if (procScan.nativeError) logger.warn({ err: procScan.nativeError }, 'the C pass over /proc is not available; scanning in TypeScript');
  const scanner = new ProcessScanner(fs, basePageKiB(), observer.snapshot().meminfo.hugepageSizeKiB || 2048, procScan.scan);
  undo.push(() => scanner.close());
  if (config.apply.includes('processes')) {
    // Moving a process's memory runs migratepages: without it every move would fail one by one, later.
    const missing = checkMigratepages();
    if (missing !== undefined) throw stateError(missing);
  }
  const mover = config.apply.includes('processes') ? new ProcessMover(fs, path.join(config.stateDir, 'moves.jsonl')) : undefined;
  let libvirt: LibvirtClient | undefined;
  let domains: DomainSide | undefined;
  if (config.libvirt) {
    libvirt = new LibvirtClient({ uri: config.libvirt.uri, ...(config.libvirt.socketPath ? { socketPath: config.libvirt.socketPath } : {}), events: true });
    const tracker = new DomainTracker(libvirt, ledger, fs, logger, config.libvirt.filter, config.reservationTtlMs);
    const domainMover = new DomainMoves(new DomainMover(libvirt, tracker, path.join(config.stateDir, 'domain-moves.jsonl')), () => hostPinning(observer.snapshot(), config.pinWholeCores));
    domains = { tracker, mover: domainMover, apply: config.apply.includes('domains') };
    if (runtime.domainFilter) tracker.setFilter(runtime.domainFilter);
    tracker.onFilterChange = persistOverrides;
    service.startingDomains = (vcpus, memMiB) => tracker.startingCandidates(vcpus, memMiB);
  }
  // The planner rebalances by the policy the answers use (--policy).
  const memoryGuard = config.memoryGuard ?? defaultMemoryGuard(config.apply);
  const rebalancer = new Rebalancer({ scanner, service, policy: service.policy, settings: () => control.settings, numadLog, logger, processMover: mover, domains, memoryGuard });

  // numad's pid file before the socket: init scripts and `numad` take a listening socket as "started".
  if (config.pidFile) {
    writePidFile(config.pidFile, (message) => numadLog.log(LOG_NOTICE, message));
    const pidFile = config.pidFile;
    undo.push(() => removePidFile(pidFile));
  }

  // One API and one set of metrics for both listeners: a scrape of either counts the advice both answered.
  const api = buildAdvisorApi({ service, control, rebalancer, domains });
  const metrics = new DaemonMetrics(api);
  rebalancer.moveEvents = metrics;
  let tcpApp: FastifyInstance | undefined;
  if (config.tcpPort !== undefined) {
    // A new token each start, readable by the socket's audience: over TCP it unlocks what the socket's mode guards.
    const token = writeApiToken(config.apiTokenFile ?? path.join(config.stateDir, API_TOKEN_FILE_NAME), socketGid ?? process.getgid?.() ?? 0);
    tcpApp = buildApp({ api, logger, tcp: { token }, requestDeadlines: config.requestDeadlines, metrics });
    const t = tcpApp;
    undo.push(() => t.close());
    await tcpApp.listen({ host: '127.0.0.1', port: config.tcpPort });
  }
  // The unix socket last: once it answers, everything behind it runs.
  const app = buildApp({ api, logger, requestDeadlines: config.requestDeadlines, metrics });
  undo.push(async () => {
    await app.close();
    removeSocket(config.socketPath);
  });
  await listenRestricted(() => app.listen({ path: config.socketPath }), config.socketPath, config.socketMode, socketGid);

  // Nothing below can fail: the daemon is whole.
  if (numadSettings.reservedCpus.length > 0) {
    numadLog.log(LOG_NOTICE, `Reserving ${numadSettings.reservedCpus.length} CPUs (${formatIdList(numadSettings.reservedCpus)}) for non-numad use`);
  }
  if (numadSettings.thpScanSleepMs !== null) thp.set(numadSettings.thpScanSleepMs);
  if (libvirt) {
    libvirt.on('connected', () => logger.info({ uri: config.libvirt?.uri }, 'libvirt connected'));
    libvirt.on('disconnected', (err) => logger.warn({ err }, 'libvirt connection lost; reconnecting'));
    libvirt.start();
  }

  // Readings are taken when an answer or the rebalancer cycle needs them (AdvisorService.freshen); the only work
  // left for the background is a memory re-read an answer asked for, one at a time so a slow sysfs never stacks them.
  let refreshing = false;
  service.onStaleMemory = () => {
    if (refreshing || closed) return;
    refreshing = true;
    // After the answers being saved now are on disk and sent: a trace showed the re-read's thread-pool reads running
    // beside their fdatasync, before the reply. durable() settles once the batch is written; the replies go out in
    // that same turn's promise jobs, and the timer runs after them.
    const reread = (): void => {
      setTimeout(() => observer
        .refreshMemoryAsync()
        .catch((err: unknown) => logger.error({ err }, 'cannot read node memory'))
        .finally(() => {
          refreshing = false;
        }), 0);
    };
    stateFile.durable().then(reread, reread);
  };
  service.onReadError = (err, what) => logger.error({ err }, `cannot read ${what}; answering from the previous reading`);

  numadLog.log(LOG_NOTICE, `Registering numad version ${NUMAD_VERSION} PID ${process.pid}`);
  rebalancer.start();
  logger.info(
    {
      socket: config.socketPath,
      tcpPort: config.tcpPort,
      fsRoot: config.fsRoot,
      stateDir: config.stateDir,
      restored,
      adoptedLocalAnswers: adoptedAtStart,
      nodes: service.freshCapacity().length,
      procScan: procScan.scan.kind,
    },
    'numadvisor daemon listening',
  );

  close = async () => {
    if (closed) return stopped;
    closed = true;
    // Each step on its own: a final snapshot that fails (a full disk) must not leave khugepaged's setting changed,
    // the pid file behind or the lock held.
    const step = async (what: string, fn: () => unknown): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        logger.error({ err }, `while stopping: ${what}`);
      }
    };
    await step('rebalancer', () => rebalancer.stop());
    await step('process scan', () => scanner.close());
    await step('libvirt', () => libvirt?.close());
    await step('API', () => app.close());
    await step('TCP API', () => tcpApp?.close());
    await step('socket', () => removeSocket(config.socketPath));
    await step('final snapshot', () => stateFile.close());
    await step('spool', () => spool.close());
    await step('THP setting', () => thp.restore());
    if (config.pidFile) removePidFile(config.pidFile);
    numadLog.log(LOG_NOTICE, 'Shutting down numad');
    numadLog.close();
    stateLock.release();
    markStopped();
  };
  return { app, tcpApp, metrics, service, control, rebalancer, numadLog, stateFile, logger, stopped, domains, close: () => close() };
}
