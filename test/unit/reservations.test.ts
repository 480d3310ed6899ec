import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseReservation, ReservationLedger, type Reservation } from '../../src/model/reservations.js';
import { ReservationSchema } from '../../src/model/reservation-schema.js';
import { JOURNAL_FILE_NAME, ReservationStore, STATE_FILE_NAME } from '../../src/model/state-file.js';
import { adviseNumad } from '../../src/policy/numad.js';
import type { PolicyNode } from '../../src/policy/types.js';
import { toPolicyNode } from '../../src/model/capacity.js';
import { deriveCapacity, NUMAD_DEFAULT_CAPACITY_OPTIONS } from '../../src/model/capacity.js';
import { D4, synthSnapshot, TWO_POLICY_NODES } from '../helpers/synthetic.js';
import { tempDir } from '../helpers/fixtures.js';

const nodes = TWO_POLICY_NODES;

describe('reservation ledger', () => {
  it('reserves what the walk took, per node, and releases it', () => {
    const ledger = new ReservationLedger();
    const advice = adviseNumad(nodes, { cpuHundredths: 200, memMiB: 2048 });
    const r = ledger.reserve(advice, { nowMs: 1000, ttlMs: 5000, client: 'test' });
    expect(r.perNode).toEqual([{ node: 0, cpuHundredths: 200, memMiB: 2048 }]);
    expect(ledger.reservedOn(0)).toEqual({ cpuHundredths: 200, memMiB: 2048 });
    expect(ledger.release(r.id)?.id).toBe(r.id);
    expect(ledger.reservedOn(0)).toEqual({ cpuHundredths: 0, memMiB: 0 });
    expect(ledger.release(r.id)).toBeUndefined();
  });

  it('a split answer reserves on each node what that node covers (with the 100 MiB margin)', () => {
    const ledger = new ReservationLedger();
    const r = ledger.reserve(adviseNumad(nodes, { cpuHundredths: 100, memMiB: 9000 }), { nowMs: 0, ttlMs: 1000, client: 't' });
    expect(r.perNode.reduce((a, p) => a + p.memMiB, 0)).toBe(9000);
    expect(r.perNode.map((p) => p.memMiB)).toEqual([6900, 2100]);
  });

  it('expires after the TTL, and only then', () => {
    const ledger = new ReservationLedger();
    const r = ledger.reserve(adviseNumad(nodes, { cpuHundredths: 100, memMiB: 100 }), { nowMs: 0, ttlMs: 1000, client: 't' });
    expect(ledger.expire(999)).toEqual([]);
    expect(ledger.expire(1000).map((x) => x.id)).toEqual([r.id]);
    expect(ledger.size).toBe(0);
  });

  it('concurrent-looking requests spread instead of piling onto one node', () => {
    const ledger = new ReservationLedger();
    const caps = deriveCapacity(synthSnapshot([0, 1, 2, 3].map(() => ({ cpus: 10, freeMB: 30000, totalMB: 32768 })), D4), NUMAD_DEFAULT_CAPACITY_OPTIONS);
    const seen: string[] = [];
    for (let i = 0; i < 8; i++) {
      const a = adviseNumad(caps.map((c) => toPolicyNode(c, ledger.reservedOn(c.id), 4)), { cpuHundredths: 100, memMiB: 1024 });
      ledger.reserve(a, { nowMs: 0, ttlMs: 1000, client: 't' });
      seen.push(a.nodeset);
    }
    expect(seen).toEqual(['0', '1', '2', '3', '0', '1', '2', '3']);
  });
});

describe('reservation store (snapshot + journal)', () => {
  let cleanup: () => void = () => {};
  afterEach(() => cleanup());

  const wire = (dir: string): { ledger: ReservationLedger; store: ReservationStore } => {
    const ledger = new ReservationLedger();
    const store = new ReservationStore(dir, () => ledger.list());
    ledger.onChange((c) => (c.kind === 'put' ? store.put(c.reservation) : store.delete(c.reservation.id)));
    return { ledger, store };
  };
  const small = () => adviseNumad(nodes, { cpuHundredths: 100, memMiB: 100 });

  it('survives a crash: the journal alone restores puts and releases; expired ones are dropped', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const { ledger, store } = wire(t.dir);
    const keep = ledger.reserve(small(), { nowMs: Date.now(), ttlMs: 60_000, client: 't' });
    const released = ledger.reserve(small(), { nowMs: Date.now(), ttlMs: 60_000, client: 't' });
    ledger.reserve(small(), { nowMs: Date.now() - 10_000, ttlMs: 1000, client: 't' });
    ledger.release(released.id);
    await store.idle();
    // No close(): as if the daemon was SIGKILLed.
    expect(readFileSync(path.join(t.dir, JOURNAL_FILE_NAME), 'utf8').trim().split('\n')).toHaveLength(4);
    const again = new ReservationLedger();
    const loaded = new ReservationStore(t.dir, () => again.list()).load();
    expect(again.restore(loaded.reservations, Date.now())).toBe(1);
    expect(again.list().map((r) => r.id)).toEqual([keep.id]);
    expect(again.reservedOn(0)).toEqual({ cpuHundredths: 100, memMiB: 100 });
    await store.close();
  });

  it('a burst of changes is batched, compacted past the threshold, and restores exactly', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const { ledger, store } = wire(t.dir);
    for (let i = 0; i < 2500; i++) ledger.reserve(small(), { nowMs: Date.now(), ttlMs: 60_000, client: 't' });
    for (const r of ledger.list().slice(0, 500)) ledger.release(r.id);
    await store.idle();
    const again = new ReservationLedger();
    again.restore(new ReservationStore(t.dir, () => again.list()).load().reservations, Date.now());
    expect(again.size).toBe(2000);
    await store.close();
    expect(readFileSync(path.join(t.dir, JOURNAL_FILE_NAME), 'utf8')).toBe('');
    const saved = JSON.parse(readFileSync(path.join(t.dir, STATE_FILE_NAME), 'utf8')) as { reservations: unknown[] };
    expect(saved.reservations).toHaveLength(2000);
  });

  it('a torn last journal line (crash mid-write) is skipped, the rest restored', () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const ledger = new ReservationLedger();
    const r = ledger.reserve(small(), { nowMs: Date.now(), ttlMs: 60_000, client: 't' });
    writeFileSync(path.join(t.dir, JOURNAL_FILE_NAME), `${JSON.stringify({ op: 'put', r })}\n{"op":"put","r":{"id":"x`);
    const loaded = new ReservationStore(t.dir, () => []).load();
    expect(loaded.reservations.map((x) => x.id)).toEqual([r.id]);
    expect(loaded.skippedLines).toBe(1);
  });

  it('a corrupt snapshot is moved aside, never overwritten unseen', () => {
    const t = tempDir();
    cleanup = t.cleanup;
    writeFileSync(path.join(t.dir, STATE_FILE_NAME), '{"schemaVersion":1,"reserv');
    const r = new ReservationStore(t.dir, () => []).load();
    expect(r.reservations).toEqual([]);
    expect(r.quarantinedTo).toMatch(/corrupt-/);
    expect(readdirSync(t.dir).some((f) => f.startsWith(`${STATE_FILE_NAME}.corrupt-`))).toBe(true);
  });

  it('a write error (here: the state dir is a file) is reported, not thrown, and answers go on', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const blocked = path.join(t.dir, 'not-a-dir');
    writeFileSync(blocked, '');
    const errors: unknown[] = [];
    const ledger = new ReservationLedger();
    const store = new ReservationStore(blocked, () => ledger.list(), (e) => errors.push(e));
    ledger.onChange((c) => store.put(c.reservation));
    ledger.reserve(small(), { nowMs: Date.now(), ttlMs: 60_000, client: 't' });
    await store.idle();
    expect(errors.length).toBeGreaterThan(0);
    expect(ledger.size).toBe(1);
  });
});

describe('ledger expiry order', () => {
  it('expires exactly the due reservations for mixed TTLs, skipping released ones', () => {
    const ledger = new ReservationLedger();
    const a = (ttlMs: number) => ledger.reserve(adviseNumad(nodes, { cpuHundredths: 1, memMiB: 1 }), { nowMs: 0, ttlMs, client: 't' });
    const ttls = [50, 10, 40, 20, 30, 10, 60];
    const rs = ttls.map(a);
    ledger.release(rs[2]!.id);
    expect(ledger.expire(9)).toEqual([]);
    expect(ledger.expire(10).map((r) => r.id).sort()).toEqual([rs[1]!.id, rs[5]!.id].sort());
    expect(ledger.expire(45).map((r) => r.id).sort()).toEqual([rs[3]!.id, rs[4]!.id].sort());
    expect(ledger.list().map((r) => r.id).sort()).toEqual([rs[0]!.id, rs[6]!.id].sort());
    expect(ledger.reservedOn(0)).toEqual({ cpuHundredths: 2, memMiB: 2 });
  });
});

describe('hugepage reservations', () => {
  const small = () => adviseNumad(nodes, { cpuHundredths: 100, memMiB: 1024 });

  it('the per-node sums keep ordinary memory apart from each page size', () => {
    const ledger = new ReservationLedger();
    const plain = ledger.reserve(small(), { nowMs: 0, ttlMs: 1000, client: 't' });
    const huge = ledger.reserve(small(), { nowMs: 0, ttlMs: 1000, client: 't', hugepageSizeKiB: 2048 });
    const gig = ledger.reserve(small(), { nowMs: 0, ttlMs: 1000, client: 't', hugepageSizeKiB: 1_048_576 });
    expect(plain.hugepageSizeKiB).toBeUndefined();
    expect(huge.hugepageSizeKiB).toBe(2048);
    // CPU is CPU whatever backs the memory; MemFree is reduced by the ordinary reservation only
    expect(ledger.reservedOn(0)).toEqual({ cpuHundredths: 300, memMiB: 1024 });
    expect(ledger.reservedHugepagesOn(0, 2048)).toBe(1024);
    expect(ledger.reservedHugepagesOn(0, 1_048_576)).toBe(1024);
    expect(ledger.reservedHugepagesOn(0, 64)).toBe(0);
    // shrinking and releasing follow the same split; an update keeps the page size
    const shrunk = ledger.update(huge.id, { perNode: [{ node: 0, cpuHundredths: 0, memMiB: 256 }] });
    expect(shrunk?.hugepageSizeKiB).toBe(2048);
    expect(ledger.reservedHugepagesOn(0, 2048)).toBe(256);
    expect(ledger.reservedOn(0)).toEqual({ cpuHundredths: 200, memMiB: 1024 });
    ledger.release(huge.id);
    ledger.release(gig.id);
    expect([ledger.reservedHugepagesOn(0, 2048), ledger.reservedHugepagesOn(0, 1_048_576)]).toEqual([0, 0]);
    expect(ledger.expire(1000).map((r) => r.id)).toEqual([plain.id]);
    expect(ledger.reservedOn(0)).toEqual({ cpuHundredths: 0, memMiB: 0 });
  });

  it('an old reservation (no hugepageSizeKiB) parses unchanged, a new one keeps its size, a bad size is refused', () => {
    const old = { id: 'x', createdAt: 'a', expiresAt: 'b', client: 'c', request: { cpuHundredths: 100, memMiB: 10 }, nodeset: '0', nodes: [0], perNode: [{ node: 0, cpuHundredths: 100, memMiB: 10 }] };
    const parsed = parseReservation(old) as Reservation;
    expect(parsed).toEqual(old);
    expect('hugepageSizeKiB' in parsed).toBe(false);
    expect((parseReservation({ ...old, hugepageSizeKiB: 2048 }) as Reservation).hugepageSizeKiB).toBe(2048);
    expect(parseReservation({ ...old, hugepageSizeKiB: 0 })).toMatch(/hugepageSizeKiB/);
    expect(parseReservation({ ...old, hugepageSizeKiB: '2048' })).toMatch(/hugepageSizeKiB/);
    expect(ReservationSchema.safeParse({ ...old, hugepageSizeKiB: 2048 }).success).toBe(true);
    expect(ReservationSchema.safeParse(old).success).toBe(true);
  });

  it('the journal keeps the page size, and a journal written before it restores as ordinary memory', async () => {
    const t = tempDir();
    try {
      const ledger = new ReservationLedger();
      const store = new ReservationStore(t.dir, () => ledger.list());
      ledger.onChange((c) => (c.kind === 'put' ? store.put(c.reservation) : store.delete(c.reservation.id)));
      const huge = ledger.reserve(small(), { nowMs: Date.now(), ttlMs: 60_000, client: 't', hugepageSizeKiB: 2048 });
      await store.idle();
      // a line as an older daemon wrote it: no hugepageSizeKiB
      const plainLine = JSON.stringify({ op: 'put', r: { ...huge, id: '00000000-0000-4000-8000-000000000001', hugepageSizeKiB: undefined } });
      writeFileSync(path.join(t.dir, JOURNAL_FILE_NAME), `${readFileSync(path.join(t.dir, JOURNAL_FILE_NAME), 'utf8')}${plainLine}\n`);
      const again = new ReservationLedger();
      expect(again.restore(new ReservationStore(t.dir, () => again.list()).load().reservations, Date.now())).toBe(2);
      expect(again.get(huge.id)?.hugepageSizeKiB).toBe(2048);
      expect(again.reservedHugepagesOn(0, 2048)).toBe(1024);
      expect(again.reservedOn(0)).toEqual({ cpuHundredths: 200, memMiB: 1024 });
      await store.close();
    } finally {
      t.cleanup();
    }
  });
});
