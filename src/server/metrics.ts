// GET /metrics: the daemon's state in Prometheus's text format (prom-client), names in base units (bytes, seconds,
// cores, ratios) and every label value either a fixed word listed here, a node id, or a name libvirt gave a domain —
// never anything an HTTP client sent. One registry per daemon (not prom-client's global one: tests run several
// daemons in one process), shared by its unix socket and TCP listeners, so both report the same counters.
// The gauges are set from AdvisorApi.metrics() at each scrape; the counters are counted where things happen: advice
// by the advice routes (app.ts), rebalancer actions by the daemon through MoveEvents. docs/metrics.md lists them all.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
// prom-client's default process metrics, one module each, without its event-loop delay monitor: that one runs a
// 10 ms libuv timer for the process's whole life, and an idle daemon must wake once per rebalancer cycle, not 100
// times a second (docs/architecture.md, "No idle timers"). nodejs_eventloop_lag_seconds is measured at each scrape below.
import processCpuTotal from 'prom-client/lib/metrics/processCpuTotal.js';
import processStartTime from 'prom-client/lib/metrics/processStartTime.js';
import osMemoryHeap from 'prom-client/lib/metrics/osMemoryHeap.js';
import processOpenFileDescriptors from 'prom-client/lib/metrics/processOpenFileDescriptors.js';
import processMaxFileDescriptors from 'prom-client/lib/metrics/processMaxFileDescriptors.js';
import processHandles from 'prom-client/lib/metrics/processHandles.js';
import processRequests from 'prom-client/lib/metrics/processRequests.js';
import processResources from 'prom-client/lib/metrics/processResources.js';
import heapSizeAndUsed from 'prom-client/lib/metrics/heapSizeAndUsed.js';
import heapSpacesSizeAndUsed from 'prom-client/lib/metrics/heapSpacesSizeAndUsed.js';
import nodeVersion from 'prom-client/lib/metrics/version.js';
import gc from 'prom-client/lib/metrics/gc.js';
import { NumadvisorError } from '../errors.js';
import { NUMAD_VERSION, VERSION } from '../version.js';
import type { AdvisorApi, MetricsView, MoveEventKind, MoveEventResult, MoveEvents } from './advisor-api.js';

const MIB = 1024 * 1024;

/** numadvisor_advice_requests_total{result}: answered (fit, no_fit) or not (the rest). */
export const ADVICE_RESULTS = ['fit', 'no_fit', 'invalid', 'busy', 'gave_up', 'error'] as const;
export type AdviceResult = (typeof ADVICE_RESULTS)[number];

export const MOVE_KINDS: readonly MoveEventKind[] = ['advise', 'cpu_step', 'memory_step', 'revert', 'swap', 'domain_move', 'guard_widen', 'guard_narrow'];
export const MOVE_RESULTS: readonly MoveEventResult[] = ['ok', 'failed', 'advised'];

/**
 * Answers take ~0.2 ms (no reservation) to a few ms (a reservation's fdatasync); numad -w gives up after 1 s. The
 * buckets resolve both ends: 100 µs to 2.5 s.
 */
export const ADVICE_DURATION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** The result label of an advice request that failed, from the error's code (never from its message). */
export function adviceFailure(err: unknown): AdviceResult {
  if (!(err instanceof NumadvisorError)) return 'error';
  switch (err.code) {
    case 'NUMADVISOR_ERR_BAD_REQUEST':
    case 'NUMADVISOR_ERR_REQUEST_TOO_LARGE':
      return 'invalid';
    case 'NUMADVISOR_ERR_BUSY':
      return 'busy';
    case 'NUMADVISOR_ERR_DEADLINE':
      return 'gave_up';
    default:
      return 'error';
  }
}

export class DaemonMetrics implements MoveEvents {
  readonly registry = new Registry();
  private readonly nodeMemory: Record<'total' | 'free' | 'reserved' | 'available', Gauge<'numa_node'>>;
  private readonly nodeCpu: Record<'total' | 'idle' | 'reserved' | 'available', Gauge<'numa_node'>>;
  private readonly reservations: Gauge<'state'>;
  private readonly planMoves: Gauge;
  /** registered at the first scrape that finds libvirt in use: absent, not 0, on a host run with --libvirt none */
  private libvirtConnected: Gauge | undefined;
  private readonly domainMemory: Gauge<'domain' | 'numa_node'>;
  private readonly domainLocality: Gauge<'domain'>;
  private readonly adviceRequests: Counter<'result'>;
  private readonly adviceDuration: Histogram;
  private readonly moves: Counter<'kind' | 'result'>;
  /** one scrape at a time: a second one arriving meanwhile gets the same text */
  private rendering: Promise<string> | undefined;

  constructor(private readonly api: Pick<AdvisorApi, 'metrics'>) {
    const registers = [this.registry];
    const nodeGauge = (name: string, help: string): Gauge<'numa_node'> => new Gauge({ name, help, labelNames: ['numa_node'], registers });
    this.nodeMemory = {
      total: nodeGauge('numadvisor_numa_node_memory_total_bytes', 'Memory of the NUMA node (MemTotal).'),
      free: nodeGauge('numadvisor_numa_node_memory_free_bytes', 'Free memory of the NUMA node as placement counts it (MemFree, plus Inactive(file) unless numad -C 0).'),
      reserved: nodeGauge('numadvisor_numa_node_memory_reserved_bytes', 'Memory of the NUMA node held by reservations (answers given to VMs not yet using it).'),
      available: nodeGauge('numadvisor_numa_node_memory_available_bytes', 'Free memory of the NUMA node less reservations: what the next answer can use.'),
    };
    this.nodeCpu = {
      total: nodeGauge('numadvisor_numa_node_cpu_total_cores', 'CPU capacity of the NUMA node counted for placement, in cores (online CPUs not kept by numad -R, hyper-threads weighted by numad -t).'),
      idle: nodeGauge('numadvisor_numa_node_cpu_idle_cores', 'Idle CPU of the NUMA node, in cores, over the last /proc/stat sample window.'),
      reserved: nodeGauge('numadvisor_numa_node_cpu_reserved_cores', 'CPU of the NUMA node held by reservations, in cores: reserved vCPUs divided by --cpu-allocation-ratio.'),
      available: nodeGauge('numadvisor_numa_node_cpu_available_cores', 'Idle CPU of the NUMA node less reservations, in cores: what the next answer can use.'),
    };
    this.reservations = new Gauge({ name: 'numadvisor_reservations', help: 'Live reservations: unbound (held for a VM about to start) or bound (taken over by a running domain).', labelNames: ['state'], registers });
    this.planMoves = new Gauge({ name: 'numadvisor_plan_moves', help: "Moves in the rebalancer's last plan (GET /v1/plan plans anew).", registers });
    this.domainMemory = new Gauge({ name: 'numadvisor_domain_memory_bytes', help: "A running domain's guest memory on the NUMA node.", labelNames: ['domain', 'numa_node'], registers });
    this.domainLocality = new Gauge({
      name: 'numadvisor_domain_locality_ratio',
      help: "Share of a running domain's memory on its home nodes (those its vCPUs may run on, else its NUMA nodeset, else its largest node).",
      labelNames: ['domain'],
      registers,
    });
    const buildInfo = new Gauge({ name: 'numadvisor_build_info', help: 'numadvisor version and the numad release it is compatible with; always 1.', labelNames: ['version', 'numad_version'], registers });
    buildInfo.set({ version: VERSION, numad_version: NUMAD_VERSION }, 1);
    this.adviceRequests = new Counter({ name: 'numadvisor_advice_requests_total', help: 'Placement advice requests (GET/POST /v1/advice, numad -w) by result.', labelNames: ['result'], registers });
    for (const result of ADVICE_RESULTS) this.adviceRequests.inc({ result }, 0);
    this.adviceDuration = new Histogram({
      name: 'numadvisor_advice_duration_seconds',
      help: 'Time from an advice request\'s arrival to its answer being ready (its reservation on disk included, the write to the socket not).',
      buckets: ADVICE_DURATION_BUCKETS,
      registers,
    });
    this.moves = new Counter({ name: 'numadvisor_moves_total', help: 'Actions the rebalancer carried out, by kind and result (advised: logged only).', labelNames: ['kind', 'result'], registers });
    for (const kind of MOVE_KINDS) {
      if (kind === 'advise') this.moves.inc({ kind, result: 'advised' }, 0);
      else for (const result of ['ok', 'failed'] as const) this.moves.inc({ kind, result }, 0);
    }
    new Gauge({
      name: 'nodejs_eventloop_lag_seconds',
      help: 'Lag of event loop in seconds (measured at the scrape: the wait for setImmediate).',
      registers,
      async collect() {
        const start = process.hrtime.bigint();
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.set(Number(process.hrtime.bigint() - start) / 1e9);
      },
    });
    for (const collect of [processCpuTotal, processStartTime, osMemoryHeap, processOpenFileDescriptors, processMaxFileDescriptors, processHandles, processRequests, heapSizeAndUsed, heapSpacesSizeAndUsed, nodeVersion, gc]) {
      collect(this.registry, {});
    }
    // Node.js 17.3+ only (prom-client registers it only where the API exists).
    if (typeof process.getActiveResourcesInfo === 'function') processResources(this.registry, {});
    // Gauges named like counters, which `promtool check metrics` rejects; the per-type series beside them sum to the same.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** An advice request ended: `result` and the seconds since it arrived. */
  adviceAnswered(result: AdviceResult, seconds: number): void {
    this.adviceRequests.inc({ result });
    this.adviceDuration.observe(seconds);
  }

  moveCarriedOut(kind: MoveEventKind, result: MoveEventResult): void {
    this.moves.inc({ kind, result });
  }

  /** The text exposition of every metric, the gauges set from the daemon's state now. */
  render(): Promise<string> {
    this.rendering ??= this.renderNow().finally(() => {
      this.rendering = undefined;
    });
    return this.rendering;
  }

  private async renderNow(): Promise<string> {
    this.set(await this.api.metrics());
    return this.registry.metrics();
  }

  /** Every name this registry exports (what the Grafana dashboard may query; test/unit/metrics.test.ts). */
  names(): string[] {
    return this.registry.getMetricsAsArray().map((m) => m.name);
  }

  private set(v: MetricsView): void {
    for (const g of [...Object.values(this.nodeMemory), ...Object.values(this.nodeCpu), this.reservations, this.domainMemory, this.domainLocality]) g.reset();
    for (const n of v.nodes) {
      const numa_node = String(n.id);
      this.nodeMemory.total.set({ numa_node }, n.memTotalMiB * MIB);
      this.nodeMemory.free.set({ numa_node }, n.memFreeMiB * MIB);
      this.nodeMemory.reserved.set({ numa_node }, n.reservedMemMiB * MIB);
      this.nodeMemory.available.set({ numa_node }, n.availableMemMiB * MIB);
      this.nodeCpu.total.set({ numa_node }, n.cpuTotalHundredths / 100);
      this.nodeCpu.idle.set({ numa_node }, n.cpuFreeHundredths / 100);
      this.nodeCpu.reserved.set({ numa_node }, n.reservedCpuHundredths / v.cpuAllocationRatio / 100);
      this.nodeCpu.available.set({ numa_node }, n.availableCpuHundredths / 100);
    }
    this.reservations.set({ state: 'unbound' }, v.reservations.unbound);
    this.reservations.set({ state: 'bound' }, v.reservations.bound);
    this.planMoves.set(v.planMoves);
    if (v.libvirtConnected !== undefined) {
      this.libvirtConnected ??= new Gauge({ name: 'numadvisor_libvirt_connected', help: 'Whether the daemon is connected to libvirtd (1) or not (0); absent when it runs without libvirt.', registers: [this.registry] });
      this.libvirtConnected.set(v.libvirtConnected ? 1 : 0);
    }
    for (const d of v.domains) {
      for (const [node, mib] of d.memoryMiBByNode ?? []) this.domainMemory.set({ domain: d.name, numa_node: String(node) }, Math.round(mib * MIB));
      if (d.localityRatio !== undefined) this.domainLocality.set({ domain: d.name }, d.localityRatio);
    }
  }
}
