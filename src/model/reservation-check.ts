// What a stored reservation must be to be restored: one that names a node this host lacks, expires absurdly far
// away, or has no proper id would be restored silently, strand capacity, and could not even be deleted by id.
import { MAX_RESERVATION_TTL_MS, type Reservation } from './reservations.js';
import type { ReservationCheck } from './state-file.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Clocks move (NTP steps, a VM host resumed): an expiry this far past the longest TTL is still believed. */
const EXPIRY_SLACK_MS = 3_600_000;

/** Beyond any host Linux runs on: 1 PiB of MiB and a million CPUs (the API's own limits). */
const MAX_MEM_MIB = 1_073_741_824;
const MAX_CPU_HUNDREDTHS = 100_000_000;

export function reservationCheck(nodeIds: ReadonlySet<number>, nowMs: () => number = Date.now): ReservationCheck {
  return (r: Reservation): string | undefined => {
    if (!UUID.test(r.id)) return `id ${JSON.stringify(r.id.slice(0, 64))} is not a UUID`;
    const created = Date.parse(r.createdAt);
    const expires = Date.parse(r.expiresAt);
    if (!Number.isFinite(created) || !Number.isFinite(expires)) return 'createdAt or expiresAt is not a date';
    const limit = nowMs() + MAX_RESERVATION_TTL_MS + EXPIRY_SLACK_MS;
    if (expires > limit) return `expiresAt ${r.expiresAt} is further away than the longest TTL (${MAX_RESERVATION_TTL_MS / 3_600_000} h)`;
    if (r.request.memMiB > MAX_MEM_MIB || r.request.cpuHundredths > MAX_CPU_HUNDREDTHS) return 'the request is larger than any host';
    for (const n of [...r.nodes, ...r.perNode.map((p) => p.node)]) {
      if (!nodeIds.has(n)) return `node ${n} does not exist on this host`;
    }
    for (const p of r.perNode) {
      if (p.memMiB > MAX_MEM_MIB || p.cpuHundredths > MAX_CPU_HUNDREDTHS) return `node ${p.node}: amounts larger than any host`;
    }
    return undefined;
  };
}
