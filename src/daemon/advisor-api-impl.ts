// The daemon's side of the HTTP API: server/advisor-api.ts's interface served from the daemon's parts. What a route
// needs from AdvisorService, NumadControl, the Rebalancer and libvirt's tracker and mover is gathered here, so the
// server knows none of them.
import type { NodeShape } from '../topology/sysfs.js';
import { readOwnCgroupNumaAsync } from '../observe/cgroup-numa.js';
import type { AdvisorApi, DomainMetricsView, DomainsApi, DomainView, MetricsView, NodesView } from '../server/advisor-api.js';
import type { AdvisorService } from './advisor-service.js';
import type { NumadControl } from './numad-control.js';
import type { DomainSide, Rebalancer } from './rebalancer.js';

export interface AdvisorApiParts {
  service: AdvisorService;
  control: NumadControl;
  rebalancer: Rebalancer;
  /** the libvirt side, when the daemon talks to libvirt */
  domains: DomainSide | undefined;
}

function domainsApi(side: DomainSide, service: AdvisorService, rebalancer: Rebalancer): DomainsApi {
  const { tracker, mover } = side;
  return {
    connection: () => {
      const client = tracker.client;
      return { uri: client.options.uri, connected: client.connected, connects: client.connects, lastError: client.lastError?.message ?? null };
    },
    movesDomains: () => side.apply,
    filter: () => tracker.filter,
    setFilter: (filter) => tracker.setFilter(filter),
    list: () =>
      [...tracker.domains.values()].map(
        (x): DomainView => ({
          name: x.name,
          uuid: x.uuid,
          id: x.id,
          vcpus: x.spec.vcpus,
          memoryMiB: x.spec.memoryMiB,
          numaMode: x.numaMode ?? null,
          nodeset: x.nodeset,
          pid: x.pid ?? null,
          vcpuTids: x.vcpuTids,
          iothreadTids: x.iothreadTids,
          cgroups: x.cgroups,
          adminPins: x.adminPins,
          excluded: x.excluded,
          reservation: x.reservationId ? (service.ledger.get(x.reservationId) ?? null) : null,
          memoryGuard: rebalancer.lastGuard.verdicts.find((v) => v.uuid === x.uuid) ?? null,
        }),
      ),
    memory: () => domainMetrics(side, service, rebalancer),
    count: () => tracker.domains.size,
    rollback: async (key) => {
      const dom = tracker.byNameOrUuid(key);
      return dom ? mover.rollback(dom) : undefined;
    },
    memoryGuard: () => {
      const g = rebalancer.lastGuard;
      return { settings: g.settings, acts: g.settings.mode === 'widen' && side.apply, evaluatedAtMs: g.atMs, verdicts: g.verdicts };
    },
  };
}

/**
 * The share (0 to 1) of a guest's memory on its home nodes: the nodes its vCPUs may run on (`cpusAllowed`, the QEMU
 * process's affinity) when that is narrower than the host's CPU nodes; else its NUMA nodeset when narrower than the
 * memory nodes; else the one node holding most of its memory (an unpinned guest: how local it could be). Undefined
 * when it has no memory.
 */
export function domainLocality(memoryMiBByNode: ReadonlyMap<number, number>, home: { cpusAllowed?: readonly number[] | undefined; nodeset: readonly number[] }, shape: readonly NodeShape[]): number | undefined {
  const total = [...memoryMiBByNode.values()].reduce((a, b) => a + b, 0);
  if (total <= 0) return undefined;
  const onNodes = (ids: ReadonlySet<number>): number => [...memoryMiBByNode].reduce((a, [n, mib]) => a + (ids.has(n) ? mib : 0), 0);
  const cpuNodes = shape.filter((n) => n.hasCpu && n.cpus.length > 0);
  if (home.cpusAllowed !== undefined) {
    const allowed = new Set(home.cpusAllowed);
    const runsOn = new Set(cpuNodes.filter((n) => n.cpus.some((c) => allowed.has(c))).map((n) => n.id));
    if (runsOn.size > 0 && runsOn.size < cpuNodes.length) return onNodes(runsOn) / total;
  }
  const memoryNodes = shape.filter((n) => n.hasMemory).length;
  if (home.nodeset.length > 0 && home.nodeset.length < memoryNodes) return onNodes(new Set(home.nodeset)) / total;
  return Math.max(...memoryMiBByNode.values()) / total;
}

/**
 * Each running domain's memory per node for GET /metrics: its own cgroup's memory.numa_stat, read asynchronously now
 * (cheap: counters the kernel keeps), else what the rebalancer last read of it (numa_maps, bound guests), else what
 * the process scan measured (candidates).
 */
async function domainMetrics(side: DomainSide, service: AdvisorService, rebalancer: Rebalancer): Promise<DomainMetricsView[]> {
  const tracked = new Map(rebalancer.scanner.tracked.map((p) => [p.pid, p]));
  const shape = service.observer.shape().nodes;
  return Promise.all(
    [...side.tracker.domains.values()].map(async (d): Promise<DomainMetricsView> => {
      const proc = d.pid === undefined ? undefined : tracked.get(d.pid);
      const cgroupKiB = d.pid === undefined ? undefined : await readOwnCgroupNumaAsync(service.observer.fs, d.pid);
      const scanned = proc?.memoryMiBByNode ? new Map(Object.entries(proc.memoryMiBByNode).map(([n, mib]) => [Number(n), mib])) : undefined;
      const memory: ReadonlyMap<number, number> | undefined =
        cgroupKiB && cgroupKiB.size > 0 ? new Map([...cgroupKiB].map(([n, kib]) => [n, kib / 1024])) : (rebalancer.guestMemory.get(d.uuid) ?? scanned);
      return {
        name: d.name,
        memoryMiBByNode: memory,
        localityRatio: memory ? domainLocality(memory, { cpusAllowed: proc?.cpusAllowed, nodeset: d.nodeset }, shape) : undefined,
      };
    }),
  );
}

export function buildAdvisorApi({ service, control, rebalancer, domains }: AdvisorApiParts): AdvisorApi {
  return {
    // libvirt asks before it starts a VM: if libvirtd has just come up, connect now so the STARTED event is seen.
    beforeAdvice: () => domains?.tracker.client.poke(),
    advise: (request, options) => service.adviseDurably(request, options),
    release: (id) => service.releaseDurably(id),
    nodes: () => {
      // The node views first: they adopt local answers and may take fresh readings, which the snapshot then reflects.
      const nodes = service.updateLedgerAndViewNodes();
      const snap = service.freshSnapshot();
      const o = service.options;
      const view: NodesView = { takenAt: snap.takenAt, cpuSampleWindowMs: snap.cpuSampleWindowMs, capacity: o.capacity, cpuAllocationRatio: o.cpuAllocationRatio, reservationTtlMs: o.reservationTtlMs, nodes };
      // Today's hardware, host-wide: only where the host exports it.
      if (snap.memoryTiers !== undefined) view.memoryTiers = snap.memoryTiers;
      if (snap.numaBalancing !== undefined) view.numaBalancing = snap.numaBalancing;
      if (snap.demotionEnabled !== undefined) view.demotionEnabled = snap.demotionEnabled;
      if (snap.hugepageReserved !== undefined) view.hugepageReserved = snap.hugepageReserved;
      return view;
    },
    reservations: () => service.updateLedgerAndListReservations(),
    numadSettings: () => control.settings,
    applyNumadOps: (ops) => control.apply(ops),
    processes: () => rebalancer.scanner.tracked,
    plan: async () => ({ apply: rebalancer.mode, plan: await rebalancer.planNow() }),
    health: () => ({ startedAtMs: service.startedAtMs, nodeCount: service.nodeCount, reservationCount: service.ledger.size }),
    metrics: async (): Promise<MetricsView> => {
      const nodes = await service.viewNodesForMetrics();
      const live = service.ledger.list();
      const bound = live.filter((r) => r.domain !== undefined).length;
      return {
        nodes,
        cpuAllocationRatio: service.options.cpuAllocationRatio,
        reservations: { unbound: live.length - bound, bound },
        planMoves: rebalancer.lastPlan?.moves.length ?? 0,
        libvirtConnected: domains ? domains.tracker.client.connected : undefined,
        domains: domains ? await domainMetrics(domains, service, rebalancer) : [],
      };
    },
    domains: domains ? domainsApi(domains, service, rebalancer) : undefined,
  };
}
