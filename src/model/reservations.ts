// The reservation ledger: capacity promised by an answer but not yet used by the VM that asked. numad reserves
// nothing, so VMs started together all get the same node until their memory materialises, and strict binding then
// OOM-kills. Every answer reserves what the chain walk took from each node; the next answer sees less.
import { randomUUID } from 'node:crypto';
import type { Advice } from '../policy/types.js';

/**
 * libvirt starts a guest seconds after numad answers, but its RAM materialises only as the guest touches it; a
 * boot storm started by a script (libvirt serialises nothing across domains) lasts minutes. 300 s covers that
 * and equals numad's own re-evaluation delay. Reservations that a VM takes over are bound and shrunk by the
 * libvirt integration, so this TTL only limits how long an unused answer (a start that failed) holds capacity.
 */
export const RESERVATION_TTL_MS = 300_000;

/** A reservation may be asked to live longer, but never more than a day: forgotten ones must not strand a node. */
export const MAX_RESERVATION_TTL_MS = 86_400_000;

/**
 * A promise of capacity. Hand-written rather than inferred from a zod schema: `numad -w`'s local fallback reads the
 * ledger, and loading zod costs ~100 ms there (the API's schema is src/model/reservation-schema.ts, checked against
 * this type; the state files are checked by parseReservation).
 */
export interface Reservation {
  id: string;
  createdAt: string;
  expiresAt: string;
  client: string;
  request: { cpuHundredths: number; memMiB: number };
  nodeset: string;
  nodes: number[];
  perNode: { node: number; cpuHundredths: number; memMiB: number }[];
  /**
   * Set when the memory is hugepages of this size (KiB): perNode's memMiB is then held against that pool of each node,
   * not against MemFree (hugepages are outside MemFree). Absent in ordinary reservations and in ledgers written before.
   */
  hugepageSizeKiB?: number;
  /** the libvirt domain that took this answer over (bound on its STARTED event) */
  domain?: { name: string; uuid: string; boundAt: string };
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** A stored reservation's shape, checked field by field: the reservation, or what is wrong with it. */
export function parseReservation(x: unknown): Reservation | string {
  if (!isObject(x)) return 'not an object';
  for (const k of ['id', 'createdAt', 'expiresAt', 'client', 'nodeset'] as const) {
    if (typeof x[k] !== 'string') return `${k}: not a string`;
  }
  const req = x.request;
  if (!isObject(req) || !isCount(req.cpuHundredths) || !isCount(req.memMiB)) return 'request: not {cpuHundredths, memMiB} counts';
  if (!Array.isArray(x.nodes) || !x.nodes.every(isCount)) return 'nodes: not a list of node ids';
  if (!Array.isArray(x.perNode)) return 'perNode: not a list';
  const perNode: Reservation['perNode'] = [];
  for (const p of x.perNode as unknown[]) {
    if (!isObject(p) || !isCount(p.node) || !isCount(p.cpuHundredths) || !isCount(p.memMiB)) return 'perNode: an entry is not {node, cpuHundredths, memMiB}';
    perNode.push({ node: p.node, cpuHundredths: p.cpuHundredths, memMiB: p.memMiB });
  }
  const r: Reservation = {
    id: x.id as string,
    createdAt: x.createdAt as string,
    expiresAt: x.expiresAt as string,
    client: x.client as string,
    request: { cpuHundredths: req.cpuHundredths, memMiB: req.memMiB },
    nodeset: x.nodeset as string,
    nodes: [...(x.nodes as number[])],
    perNode,
  };
  if (x.hugepageSizeKiB !== undefined) {
    if (!isCount(x.hugepageSizeKiB) || x.hugepageSizeKiB === 0) return 'hugepageSizeKiB: not a page size in KiB';
    r.hugepageSizeKiB = x.hugepageSizeKiB;
  }
  if (x.domain !== undefined) {
    const d = x.domain;
    if (!isObject(d) || typeof d.name !== 'string' || typeof d.uuid !== 'string' || typeof d.boundAt !== 'string') return 'domain: not {name, uuid, boundAt}';
    r.domain = { name: d.name, uuid: d.uuid, boundAt: d.boundAt };
  }
  return r;
}

export type LedgerChange = { kind: 'put' | 'del'; reservation: Reservation };

/** What reservations hold on one node: CPU, and ordinary memory (held against MemFree; hugepages are apart). */
export interface NodeReservedTotals {
  cpuHundredths: number;
  memMiB: number;
}

/** Binary min-heap of (expiry, id): expiring costs O(log n) per reservation, not a scan per answer. */
class ExpiryHeap {
  private readonly at: number[] = [];
  private readonly ids: string[] = [];

  get size(): number {
    return this.at.length;
  }

  peekAt(): number {
    return this.at[0] ?? Number.POSITIVE_INFINITY;
  }

  push(at: number, id: string): void {
    this.at.push(at);
    this.ids.push(id);
    let i = this.at.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.at[parent] as number) <= at) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): string | undefined {
    if (this.at.length === 0) return undefined;
    const id = this.ids[0];
    const lastAt = this.at.pop() as number;
    const lastId = this.ids.pop() as string;
    if (this.at.length > 0) {
      this.at[0] = lastAt;
      this.ids[0] = lastId;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.at.length && (this.at[l] as number) < (this.at[m] as number)) m = l;
        if (r < this.at.length && (this.at[r] as number) < (this.at[m] as number)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return id;
  }

  private swap(a: number, b: number): void {
    [this.at[a], this.at[b]] = [this.at[b] as number, this.at[a] as number];
    [this.ids[a], this.ids[b]] = [this.ids[b] as string, this.ids[a] as string];
  }
}

export class ReservationLedger {
  private readonly byId = new Map<string, Reservation>();
  private readonly expiresAtMs = new Map<string, number>();
  private readonly totals = new Map<number, NodeReservedTotals>();
  /** hugepage memory held, by node then page size (KiB), in MiB: kept apart from `totals`, which MemFree is reduced by */
  private readonly hugeTotals = new Map<number, Map<number, number>>();
  /** May hold ids already released; they are skipped when popped. */
  private readonly expiry = new ExpiryHeap();
  private readonly listeners: ((change: LedgerChange) => void)[] = [];

  /** Called for every reservation added or released (not for expiry, which any reader recomputes from expiresAt). */
  onChange(listener: (change: LedgerChange) => void): void {
    this.listeners.push(listener);
  }

  private changed(change: LedgerChange): void {
    for (const l of this.listeners) l(change);
  }

  private account(r: Reservation, sign: 1 | -1): void {
    const size = r.hugepageSizeKiB;
    for (const p of r.perNode) {
      const t = this.totals.get(p.node) ?? { cpuHundredths: 0, memMiB: 0 };
      t.cpuHundredths += sign * p.cpuHundredths;
      // Hugepage memory comes out of its pool, not MemFree: counting it in memMiB would take it from both.
      if (size === undefined) t.memMiB += sign * p.memMiB;
      else if (p.memMiB !== 0) {
        const pools = this.hugeTotals.get(p.node) ?? new Map<number, number>();
        const held = (pools.get(size) ?? 0) + sign * p.memMiB;
        if (held === 0) pools.delete(size);
        else pools.set(size, held);
        if (pools.size === 0) this.hugeTotals.delete(p.node);
        else this.hugeTotals.set(p.node, pools);
      }
      if (t.cpuHundredths === 0 && t.memMiB === 0) this.totals.delete(p.node);
      else this.totals.set(p.node, t);
    }
  }

  private insert(r: Reservation, expiresAtMs: number): void {
    this.byId.set(r.id, r);
    this.expiresAtMs.set(r.id, expiresAtMs);
    this.account(r, 1);
    this.expiry.push(expiresAtMs, r.id);
  }

  /** `hugepageSizeKiB`: the answer placed hugepage memory of this size (its memory is held against that pool). */
  reserve(advice: Advice, opts: { nowMs: number; ttlMs: number; client: string; hugepageSizeKiB?: number | undefined }): Reservation {
    // Hold at most what the request needs (issue #12 F4). An answer that could not cover a dimension took every
    // node's free amount of it down to the margin, and holding that for the TTL sent every later VM to every node.
    // Such a VM is not confined (the answer is every memory node) and what it really uses shows in the next
    // reading, so a dimension left unmet is not held at all; a covered one is held as taken, never beyond the request.
    let cpuLeft = advice.fits || advice.unmet.cpuHundredths <= 0 ? advice.request.cpuHundredths : 0;
    let memLeft = advice.fits || advice.unmet.memMiB <= 0 ? advice.request.memMiB : 0;
    const perNode: Reservation['perNode'] = [];
    for (const p of advice.perNode) {
      if (!p.chosen) continue;
      const cpuHundredths = Math.min(p.takenCpuHundredths, cpuLeft);
      const memMiB = Math.min(p.takenMemMiB, memLeft);
      cpuLeft -= cpuHundredths;
      memLeft -= memMiB;
      if (cpuHundredths > 0 || memMiB > 0) perNode.push({ node: p.node, cpuHundredths, memMiB });
    }
    const expiresAtMs = opts.nowMs + opts.ttlMs;
    const r: Reservation = {
      id: randomUUID(),
      createdAt: new Date(opts.nowMs).toISOString(),
      expiresAt: new Date(expiresAtMs).toISOString(),
      client: opts.client,
      // the request's size only: its options (allowSlowTier, memUnitMiB, …) are the policy's business, not the ledger's
      request: { cpuHundredths: advice.request.cpuHundredths, memMiB: advice.request.memMiB },
      nodeset: advice.nodeset,
      nodes: [...advice.nodes],
      perNode,
      ...(opts.hugepageSizeKiB !== undefined ? { hugepageSizeKiB: opts.hugepageSizeKiB } : {}),
    };
    this.insert(r, expiresAtMs);
    this.changed({ kind: 'put', reservation: r });
    return r;
  }

  release(id: string): Reservation | undefined {
    const r = this.byId.get(id);
    if (!r) return undefined;
    this.remove(r);
    this.changed({ kind: 'del', reservation: r });
    return r;
  }

  /**
   * Take over a reservation made elsewhere (a `numad -w` answered locally while the daemon could not answer, found
   * in the spool): kept with its own id and expiry, journaled like any other. False when it is already here or has
   * expired.
   */
  adopt(r: Reservation, nowMs: number): boolean {
    const at = Date.parse(r.expiresAt);
    if (!Number.isFinite(at) || at <= nowMs || this.byId.has(r.id)) return false;
    this.insert(r, at);
    this.changed({ kind: 'put', reservation: r });
    return true;
  }

  /**
   * Replace a reservation's domain binding, per-node amounts or expiry (binding to a VM, shrinking as its memory
   * materialises). Releases it when nothing is left on any node.
   */
  update(id: string, change: { domain?: Reservation['domain']; perNode?: Reservation['perNode']; expiresAtMs?: number }): Reservation | undefined {
    const old = this.byId.get(id);
    if (!old) return undefined;
    const perNode = (change.perNode ?? old.perNode).filter((p) => p.cpuHundredths > 0 || p.memMiB > 0);
    if (perNode.length === 0) {
      this.release(id);
      return undefined;
    }
    const expiresAtMs = change.expiresAtMs ?? (this.expiresAtMs.get(id) as number);
    const next: Reservation = { ...old, perNode, expiresAt: new Date(expiresAtMs).toISOString(), ...(change.domain ? { domain: change.domain } : {}) };
    this.remove(old);
    this.insert(next, expiresAtMs);
    this.changed({ kind: 'put', reservation: next });
    return next;
  }

  private remove(r: Reservation): void {
    this.byId.delete(r.id);
    this.expiresAtMs.delete(r.id);
    this.account(r, -1);
  }

  /** Drop what has expired; O(1) when nothing is due, so it runs before every answer. */
  expire(nowMs: number): Reservation[] {
    const gone: Reservation[] = [];
    while (this.expiry.peekAt() <= nowMs) {
      const id = this.expiry.pop() as string;
      const r = this.byId.get(id);
      // Skip ids released earlier (or re-inserted with a later expiry by restore).
      if (r && (this.expiresAtMs.get(id) as number) <= nowMs) {
        this.remove(r);
        gone.push(r);
      }
    }
    // Released reservations leave stale heap entries; rebuild when they dominate so memory stays bounded.
    if (this.expiry.size > 2 * this.byId.size + 1024) this.rebuildExpiry();
    return gone;
  }

  private rebuildExpiry(): void {
    while (this.expiry.size > 0) this.expiry.pop();
    for (const [id, at] of this.expiresAtMs) this.expiry.push(at, id);
  }

  get size(): number {
    return this.byId.size;
  }

  list(): Reservation[] {
    return [...this.byId.values()];
  }

  get(id: string): Reservation | undefined {
    return this.byId.get(id);
  }

  /** CPU and ordinary memory held on a node; hugepage memory is in reservedHugepagesOn. */
  reservedOn(node: number): NodeReservedTotals {
    return this.totals.get(node) ?? { cpuHundredths: 0, memMiB: 0 };
  }

  /** MiB of hugepages of this size (KiB) held on a node. */
  reservedHugepagesOn(node: number, sizeKiB: number): number {
    return this.hugeTotals.get(node)?.get(sizeKiB) ?? 0;
  }

  /** Load persisted reservations, dropping those already expired. */
  restore(reservations: Reservation[], nowMs: number): number {
    let kept = 0;
    for (const r of reservations) {
      const at = Date.parse(r.expiresAt);
      if (!Number.isFinite(at) || at <= nowMs || this.byId.has(r.id)) continue;
      this.insert(r, at);
      kept++;
    }
    return kept;
  }
}
