// The spool of local `numad -w` answers and the ledger store's edges found in review: a torn spool line must not
// swallow the next answer, two compactions must not share a temp file, a journal batch is all or nothing.
import { readFileSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalAnswerSpool, recordLocalAnswer, SPOOL_FILE_NAME } from '../../src/model/local-answers.js';
import { ReservationLedger, type Reservation } from '../../src/model/reservations.js';
import { ReservationStore, STATE_FILE_NAME } from '../../src/model/state-file.js';
import { adviseNumad } from '../../src/policy/numad.js';
import { tempDir } from '../helpers/fixtures.js';
import { TWO_POLICY_NODES } from '../helpers/synthetic.js';

const nodes = TWO_POLICY_NODES;
const accept = (): undefined => undefined;

let cleanup: () => void = () => {};
afterEach(() => cleanup());

function dir(): string {
  const t = tempDir();
  cleanup = t.cleanup;
  mkdirSync(path.join(t.dir, 'state'));
  return path.join(t.dir, 'state');
}

describe('local answers spool', () => {
  it('a torn last line (a client killed mid-write) is cut off, so the next answer is read whole', async () => {
    const d = dir();
    const first = await recordLocalAnswer(d, accept, (ledger) => ({ reservation: ledger.reserve(adviseNumad(nodes, { cpuHundredths: 100, memMiB: 4000 }), { nowMs: Date.now(), ttlMs: 60_000, client: 'a' }) }));
    expect(first.recorded).toBe(true);
    writeFileSync(path.join(d, SPOOL_FILE_NAME), `${readFileSync(path.join(d, SPOOL_FILE_NAME), 'utf8')}{"id":"torn`);
    const second = await recordLocalAnswer(d, accept, (ledger) => {
      // the first answer is counted: node 0 has 3000 MiB left, so 4000 more goes to node 1
      const advice = adviseNumad(nodes.map((n) => ({ ...n, memFreeMiB: n.memFreeMiB - ledger.reservedOn(n.id).memMiB })), { cpuHundredths: 100, memMiB: 4000 });
      return { reservation: ledger.reserve(advice, { nowMs: Date.now(), ttlMs: 60_000, client: 'b' }) };
    });
    expect(second.recorded).toBe(true);
    expect(second.decision.reservation?.nodes).toEqual([1]);
    const ledger = new ReservationLedger();
    expect(new LocalAnswerSpool(d, accept).ingest(ledger, Date.now())).toBe(2);
    expect(ledger.list().map((r) => r.client).sort()).toEqual(['a', 'b']);
  });

  it('without a daemon to empty it, a spool mostly of expired answers is pruned to the live ones', async () => {
    const d = dir();
    const ledger = new ReservationLedger();
    const mk = (expiresInMs: number): Reservation => ledger.reserve(adviseNumad(nodes, { cpuHundredths: 1, memMiB: 1 }), { nowMs: Date.now() - 600_000, ttlMs: 600_000 + expiresInMs, client: 'old' });
    const lines = [...Array.from({ length: 1200 }, () => mk(-1000)), mk(60_000), mk(60_000)].map((r) => JSON.stringify(r));
    writeFileSync(path.join(d, SPOOL_FILE_NAME), `${lines.join('\n')}\n`);
    const out = await recordLocalAnswer(d, accept, (l) => ({ reservation: l.reserve(adviseNumad(nodes, { cpuHundredths: 1, memMiB: 1 }), { nowMs: Date.now(), ttlMs: 60_000, client: 'new' }) }));
    expect(out.recorded).toBe(true);
    const kept = readFileSync(path.join(d, SPOOL_FILE_NAME), 'utf8').trim().split('\n');
    expect(kept).toHaveLength(3);
    expect(kept.map((l) => (JSON.parse(l) as Reservation).client)).toEqual(['old', 'old', 'new']);
  });

  it('the daemon empties the spool only of what it adopted, and never adopts a line twice', () => {
    const d = dir();
    const spool = new LocalAnswerSpool(d, accept);
    const ledger = new ReservationLedger();
    const r: Reservation = ledger.reserve(adviseNumad(nodes, { cpuHundredths: 100, memMiB: 10 }), { nowMs: Date.now(), ttlMs: 60_000, client: 'x' });
    ledger.release(r.id);
    writeFileSync(path.join(d, SPOOL_FILE_NAME), `${JSON.stringify(r)}\n`);
    expect(spool.ingest(ledger, Date.now())).toBe(1);
    ledger.release(r.id);
    // more arrives before the truncation: it is not emptied, and the released line is not adopted again
    writeFileSync(path.join(d, SPOOL_FILE_NAME), `${JSON.stringify(r)}\n${JSON.stringify({ ...r, id: '00000000-0000-4000-8000-000000000001' })}\n`);
    expect(spool.truncateConsumed()).toBe(false);
    expect(spool.ingest(ledger, Date.now())).toBe(1);
    expect(ledger.size).toBe(1);
    expect(spool.truncateConsumed()).toBe(true);
    expect(readFileSync(path.join(d, SPOOL_FILE_NAME), 'utf8')).toBe('');
    spool.close();
  });
});

describe('ledger store edges', () => {
  it('two compactions asked at once run one after the other and leave one snapshot, no temp file', async () => {
    const d = dir();
    const ledger = new ReservationLedger();
    const store = new ReservationStore(d, () => ledger.list());
    ledger.onChange((c) => (c.kind === 'put' ? store.put(c.reservation) : store.delete(c.reservation.id)));
    for (let i = 0; i < 50; i++) ledger.reserve(adviseNumad(nodes, { cpuHundredths: 1, memMiB: 1 }), { nowMs: Date.now(), ttlMs: 60_000, client: 't' });
    await Promise.all([store.compact(), store.compact(), store.durable()]);
    expect(readdirSync(d).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const saved = JSON.parse(readFileSync(path.join(d, STATE_FILE_NAME), 'utf8')) as { reservations: unknown[]; seq: number };
    expect(saved.reservations).toHaveLength(50);
    expect(saved.seq).toBe(50);
    await store.close();
  });
});
