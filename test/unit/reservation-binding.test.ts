// The rules the daemon's DomainTracker and the simulator share: which answer a domain takes, and what a bound
// reservation still holds as the guest's memory materialises and its CPU use becomes measurable. The tracker's use of
// them against a fake libvirt: domain-tracker.test.ts; against a real libvirtd: test/integration/libvirt.test.ts.
import { describe, expect, it } from 'vitest';
import {
  askedNumad,
  pickAnswer,
  PROCESS_START_SLACK_MS,
  RESERVED_CPU_UNTIL_MEASURED_MS,
  sameHolding,
  shrinkBoundReservation,
  type BindingDomain,
} from '../../src/model/reservation-binding.js';
import type { Reservation } from '../../src/model/reservations.js';

const START = Date.parse('2026-01-01T01:00:00Z');

let serial = 0;
function answer(atMs: number, o: { vcpus?: number; memMiB?: number; nodeset?: string; domain?: string } = {}): Reservation {
  serial++;
  const nodeset = o.nodeset ?? '0';
  const r: Reservation = {
    id: `00000000-0000-4000-8000-${String(serial).padStart(12, '0')}`,
    createdAt: new Date(atMs).toISOString(),
    expiresAt: new Date(atMs + 300_000).toISOString(),
    client: 'numad -w',
    request: { cpuHundredths: (o.vcpus ?? 2) * 100, memMiB: o.memMiB ?? 1024 },
    nodeset,
    nodes: nodeset.split(',').map(Number),
    perNode: nodeset.split(',').map((n) => ({ node: Number(n), cpuHundredths: 50, memMiB: o.memMiB ?? 1024 })),
  };
  if (o.domain) r.domain = { name: o.domain, uuid: '00000000-0000-4000-8000-999999999999', boundAt: new Date(atMs).toISOString() };
  return r;
}

const domain = (o: Partial<BindingDomain['spec']> & { nodeset?: number[]; numadNodeset?: number[] } = {}): BindingDomain => ({
  spec: { vcpus: o.vcpus ?? 2, memoryMiB: o.memoryMiB ?? 1024, vcpuPlacement: o.vcpuPlacement ?? 'auto', numatune: o.numatune },
  nodeset: o.nodeset ?? [0],
  numadNodeset: o.numadNodeset,
});

describe('askedNumad: libvirt runs numad -w only for placement=auto', () => {
  it('auto vCPU placement or auto memory placement asked; static both did not', () => {
    expect(askedNumad({ vcpuPlacement: 'auto', numatune: undefined })).toBe(true);
    expect(askedNumad({ vcpuPlacement: 'static', numatune: { placement: 'auto' } })).toBe(true);
    expect(askedNumad({ vcpuPlacement: 'static', numatune: { placement: 'static' } })).toBe(false);
    expect(askedNumad({ vcpuPlacement: 'static', numatune: undefined })).toBe(false);
  });
});

describe('pickAnswer: a domain takes its own numad answer', () => {
  it('of its size and recorded nodeset, the closest before its start; none when it never asked', () => {
    const older = answer(START - 5_000);
    const own = answer(START - 800);
    const bigger = answer(START - 100, { vcpus: 4 });
    const elsewhere = answer(START - 100, { nodeset: '1' });
    const taken = answer(START - 50, { domain: 'other' });
    const all = [older, own, bigger, elsewhere, taken];
    expect(pickAnswer(all, domain({ numadNodeset: [0] }), START)?.id).toBe(own.id);
    expect(pickAnswer(all, domain({ numadNodeset: [1] }), START)?.id).toBe(elsewhere.id);
    expect(pickAnswer(all, domain({ vcpuPlacement: 'static', numatune: { placement: 'static' } }), START)).toBeUndefined();
  });

  it('without a recorded nodeset the live one is preferred over a closer answer elsewhere', () => {
    const elsewhere = answer(START - 100, { nodeset: '1' });
    const live = answer(START - 2_000, { nodeset: '0' });
    expect(pickAnswer([elsewhere, live], domain({ nodeset: [0] }), START)?.id).toBe(live.id);
  });

  it('an answer within the start-time slack counts as before; later ones only on STARTED, after all earlier ones', () => {
    const slack = answer(START + PROCESS_START_SLACK_MS);
    const later = answer(START + 1_000);
    expect(pickAnswer([later, slack], domain(), START)?.id).toBe(slack.id);
    expect(pickAnswer([later], domain(), START)?.id).toBe(later.id);
    expect(pickAnswer([later], domain(), START, 60_000)).toBeUndefined();
  });

  it('withinMs: nothing older than the window', () => {
    const stale = answer(START - 61_000);
    const fresh = answer(START - 59_000);
    expect(pickAnswer([stale], domain(), START, 60_000)).toBeUndefined();
    expect(pickAnswer([stale, fresh], domain(), START, 60_000)?.id).toBe(fresh.id);
  });
});

describe('shrinkBoundReservation: the daemon and the simulator shrink by the same rule', () => {
  const promised: Reservation['perNode'] = [
    { node: 0, cpuHundredths: 50, memMiB: 1000 },
    { node: 2, cpuHundredths: 25, memMiB: 500 },
  ];

  it('memory shrinks by whole MiB materialised on each node, never below zero; other nodes do not count', () => {
    const used = new Map([
      [0, 300.9],
      [2, 800],
      [1, 4096],
    ]);
    expect(shrinkBoundReservation(promised, used, 0)).toEqual([
      { node: 0, cpuHundredths: 50, memMiB: 700 },
      { node: 2, cpuHundredths: 25, memMiB: 0 },
    ]);
  });

  it('a node with nothing materialised keeps its promise', () => {
    expect(shrinkBoundReservation(promised, new Map(), 0)).toEqual(promised);
  });

  it('the CPU part goes once the guest has run one sample window; unknown running time keeps it', () => {
    const before = shrinkBoundReservation(promised, new Map(), RESERVED_CPU_UNTIL_MEASURED_MS - 1);
    const at = shrinkBoundReservation(promised, new Map(), RESERVED_CPU_UNTIL_MEASURED_MS);
    const unknown = shrinkBoundReservation(promised, new Map(), undefined);
    expect(before.map((p) => p.cpuHundredths)).toEqual([50, 25]);
    expect(at.map((p) => p.cpuHundredths)).toEqual([0, 0]);
    expect(at.map((p) => p.memMiB)).toEqual([1000, 500]);
    expect(unknown.map((p) => p.cpuHundredths)).toEqual([50, 25]);
  });

  it('is relative to the promise, so shrinking twice by the same use is the same holding', () => {
    const used = new Map([[0, 400]]);
    const once = shrinkBoundReservation(promised, used, 0);
    expect(sameHolding(shrinkBoundReservation(promised, used, 0), once)).toBe(true);
    expect(sameHolding(shrinkBoundReservation(promised, new Map([[0, 401]]), 0), once)).toBe(false);
  });
});
