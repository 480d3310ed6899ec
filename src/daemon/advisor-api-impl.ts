// The daemon's side of the HTTP API: server/advisor-api.ts's interface served from the daemon's parts. What a route
// needs from AdvisorService, NumadControl, the Rebalancer and libvirt's tracker and mover is gathered here, so the
// server knows none of them.
import type { AdvisorApi, DomainsApi, DomainView } from '../server/advisor-api.js';
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
      return { takenAt: snap.takenAt, cpuSampleWindowMs: snap.cpuSampleWindowMs, capacity: o.capacity, cpuAllocationRatio: o.cpuAllocationRatio, reservationTtlMs: o.reservationTtlMs, nodes };
    },
    reservations: () => service.updateLedgerAndListReservations(),
    numadSettings: () => control.settings,
    applyNumadOps: (ops) => control.apply(ops),
    processes: () => rebalancer.scanner.tracked,
    plan: () => ({ apply: rebalancer.mode, plan: rebalancer.planNow() }),
    health: () => ({ startedAtMs: service.startedAtMs, nodeCount: service.nodeCount, reservationCount: service.ledger.size }),
    domains: domains ? domainsApi(domains, service, rebalancer) : undefined,
  };
}
