// The memory guard's rule (balance/memory-guard.ts), pure: numbers in, verdicts out. Short and ok around the
// threshold, the SLIT-nearest node with room, strict mode warned only, filtered and administrator-bound domains never
// changed, and narrowing back only with hysteresis.
import { describe, expect, it } from 'vitest';
import { evaluateMemoryGuard, nextGuardChange, NARROW_DWELL_MS, type GuardDomain, type GuardInput, type GuardNode, type Widening } from '../../src/balance/memory-guard.js';
import { D4 } from '../helpers/slit.js';

const NOW = 10_000_000;

/** D4: nodes 0 and 1 are a pair (12), 2 and 3 the other (17 across). */
function nodes(free: number[]): GuardNode[] {
  // 64 GiB nodes: an eighth of one is far above the thresholds used here, so the absolute figure applies.
  return free.map((memFreeMiB, id) => ({ id, hasMemory: true, memFreeMiB, memTotalMiB: 65_536, distances: D4[id] as number[] }));
}

function dom(o: Partial<GuardDomain> & { uuid: string }): GuardDomain {
  return {
    name: o.uuid,
    pid: 100,
    mode: 'restrictive',
    nodeset: [0],
    memoryMiB: 8192,
    touchedMiBByNode: new Map([[0, 2048]]),
    excluded: false,
    adminNodeset: false,
    ...o,
  };
}

function run(o: Partial<GuardInput> & { domains: GuardDomain[] }): ReturnType<typeof evaluateMemoryGuard> {
  return evaluateMemoryGuard({ nodes: nodes([4096, 4096, 16_384, 16_384]), thresholdMiB: 1024, mode: 'widen', widenings: new Map(), nowMs: NOW, ...o });
}

describe('memory guard: short or ok', () => {
  it('headroom is free on its nodes less its untouched memory; short below the threshold, ok at it', () => {
    // 8192 MiB guest, 2048 touched: 6144 untouched against 4096 free on node 0.
    const [v] = run({ domains: [dom({ uuid: 'a' })] });
    expect(v).toMatchObject({ state: 'short', untouchedMiB: 6144, freeMiB: 4096, othersUntouchedMiB: 0, headroomMiB: -2048, thresholdMiB: 1024 });
    expect(v?.reason).toMatch(/^short: 6144 MiB untouched, 4096 MiB free on nodes \(0\), headroom -2048 MiB < 1024 MiB/);
    // 3072 touched: 5120 untouched, headroom exactly... 7168 free − 5120 = 2048 ≥ 1024 → ok; at the threshold exactly → ok.
    const [ok] = run({ nodes: nodes([6144, 4096, 0, 0]), domains: [dom({ uuid: 'a', touchedMiBByNode: new Map([[0, 3072]]) })] });
    expect(ok).toMatchObject({ state: 'ok', headroomMiB: 1024, action: { kind: 'none' } });
    const [justShort] = run({ nodes: nodes([6143, 4096, 0, 0]), domains: [dom({ uuid: 'a', touchedMiBByNode: new Map([[0, 3072]]) })] });
    expect(justShort?.state).toBe('short');
  });

  it('pages already on other nodes count as touched; QEMU holding more than the guest size leaves nothing untouched', () => {
    const [v] = run({ domains: [dom({ uuid: 'a', touchedMiBByNode: new Map([[0, 2048], [2, 4096]]) })] });
    expect(v).toMatchObject({ untouchedMiB: 2048, headroomMiB: 2048, state: 'ok' });
    const [full] = run({ domains: [dom({ uuid: 'a', touchedMiBByNode: new Map([[0, 8300]]) })] });
    expect(full).toMatchObject({ untouchedMiB: 0, state: 'ok' });
  });

  it('a guest with nothing left to touch is never short, however little its nodes have free (the lab: every domain was widened)', () => {
    const [v] = run({ nodes: nodes([100, 4096, 0, 0]), domains: [dom({ uuid: 'a', memoryMiB: 400, touchedMiBByNode: new Map([[0, 400]]) })] });
    expect(v).toMatchObject({ state: 'ok', untouchedMiB: 0, headroomMiB: 100, action: { kind: 'none' } });
    expect(v?.reason).toMatch(/nothing left to touch$/);
  });

  it('on small nodes the headroom asked is at most an eighth of their memory', () => {
    // A 768 MiB lab node with 676 MiB free and a 400 MiB guest that has touched nothing: headroom 276 MiB, which is
    // above an eighth of the node (96 MiB) though far below 1 GiB.
    const small = [0, 1, 2, 3].map((id) => ({ id, hasMemory: true, memFreeMiB: 676, memTotalMiB: 768, distances: D4[id] as number[] }));
    const [v] = run({ nodes: small, domains: [dom({ uuid: 'a', memoryMiB: 400, touchedMiBByNode: new Map() })] });
    expect(v).toMatchObject({ state: 'ok', thresholdMiB: 96, headroomMiB: 276 });
    const [tight] = run({ nodes: small.map((n) => ({ ...n, memFreeMiB: n.id === 0 ? 450 : 676 })), domains: [dom({ uuid: 'a', memoryMiB: 400, touchedMiBByNode: new Map() })] });
    expect(tight).toMatchObject({ state: 'short', thresholdMiB: 96, headroomMiB: 50, action: { kind: 'widen', to: [0, 1] } });
  });

  it("other bound guests' untouched memory on the same nodes is counted against it (spread evenly over each guest's nodes)", () => {
    // b: 4096 untouched over nodes 0-1 → 2048 claimed on node 0. a alone would be ok (4096 free, 1024 untouched).
    const a = dom({ uuid: 'a', touchedMiBByNode: new Map([[0, 7168]]) });
    const b = dom({ uuid: 'b', nodeset: [0, 1], touchedMiBByNode: new Map([[0, 2048], [1, 2048]]) });
    const [va, vb] = run({ domains: [a, b] });
    expect(va).toMatchObject({ untouchedMiB: 1024, freeMiB: 4096, othersUntouchedMiB: 2048, headroomMiB: 1024, state: 'ok' });
    // b: 8192 free on 0-1, its own 4096 untouched, a's 1024 on node 0.
    expect(vb).toMatchObject({ untouchedMiB: 4096, freeMiB: 8192, othersUntouchedMiB: 1024, headroomMiB: 3072, state: 'ok' });
  });

  it('preferred and interleave domains, and domains without a nodeset or readable memory, are not evaluated', () => {
    const out = run({
      domains: [dom({ uuid: 'p', mode: 'preferred' }), dom({ uuid: 'i', mode: 'interleave' }), dom({ uuid: 'n', nodeset: [] }), dom({ uuid: 'g', touchedMiBByNode: undefined })],
    });
    expect(out.map((v) => v.state)).toEqual(['unbound', 'unbound', 'unbound', 'unbound']);
    expect(out[0]?.reason).toMatch(/^preferred mode: the kernel falls back/);
    expect(out.every((v) => v.action.kind === 'none')).toBe(true);
  });
});

describe('memory guard: widening', () => {
  it('widens to the SLIT-nearest node with room for the shortfall: the pair node when it has room, across when not', () => {
    // shortfall: 1024 − (−2048) = 3072. Node 1 (distance 12) has 4096.
    const [near] = run({ domains: [dom({ uuid: 'a' })] });
    expect(near?.action).toEqual({ kind: 'widen', to: [0, 1] });
    expect(near?.reason).toMatch(/; widen to nodes \(0-1\)$/);
    // Node 1 has only 2048: the nearest node with room is across, node 2 and 3 tie at 17 → the one with more room.
    const [across] = run({ nodes: nodes([4096, 2048, 8192, 16_384]), domains: [dom({ uuid: 'a' })] });
    expect(across?.action).toEqual({ kind: 'widen', to: [0, 3] });
  });

  it('when no single node has room, the nearest ones together; when all of them cannot, warned only', () => {
    const [several] = run({ nodes: nodes([4096, 2048, 1536, 0]), domains: [dom({ uuid: 'a' })] });
    expect(several?.action).toEqual({ kind: 'widen', to: [0, 1, 2] });
    const [none] = run({ nodes: nodes([4096, 512, 512, 512]), domains: [dom({ uuid: 'a' })] });
    expect(none).toMatchObject({ state: 'short', action: { kind: 'none' } });
    expect(none?.reason).toMatch(/; no other node has room$/);
  });

  it("a node's room is what other bound guests have not claimed of it", () => {
    // c, bound to node 1, has 3072 untouched: node 1 keeps 1024 of its 4096, not enough for the 3072 shortfall.
    const c = dom({ uuid: 'c', nodeset: [1], memoryMiB: 4096, touchedMiBByNode: new Map([[1, 1024]]) });
    const [a] = run({ domains: [dom({ uuid: 'a' }), c] });
    expect(a?.action).toEqual({ kind: 'widen', to: [0, 2] });
  });

  it('strict mode is warned only, with the reason: libvirt cannot change its nodeset live', () => {
    const [v] = run({ domains: [dom({ uuid: 'a', mode: 'strict' })] });
    expect(v).toMatchObject({ state: 'short', action: { kind: 'none' } });
    expect(v?.reason).toMatch(/strict mode: libvirt cannot change a running domain's nodeset \(only mode='restrictive' can\); warned only$/);
  });

  it('a domain excluded by the filter, or bound by an administrator, is warned only; warn mode never acts', () => {
    const [excluded] = run({ domains: [dom({ uuid: 'a', excluded: true })] });
    expect(excluded).toMatchObject({ state: 'short', action: { kind: 'none' } });
    expect(excluded?.reason).toMatch(/excluded by the domain filter: warned only$/);
    const [admin] = run({ domains: [dom({ uuid: 'a', adminNodeset: true })] });
    expect(admin?.reason).toMatch(/nodeset set by the administrator .*: warned only$/);
    const [warn] = run({ mode: 'warn', domains: [dom({ uuid: 'a' })] });
    expect(warn).toMatchObject({ state: 'short', action: { kind: 'none' } });
    expect(warn?.reason).toMatch(/warned only \(memory guard in warn mode\)$/);
  });

  it('the next change is the shortest domain\'s widening, before any narrowing; one per cycle', () => {
    const a = dom({ uuid: 'a' });
    const b = dom({ uuid: 'b', nodeset: [2], memoryMiB: 20_000, touchedMiBByNode: new Map([[2, 1000]]) });
    const out = run({ domains: [a, b] });
    expect(out.map((v) => v.headroomMiB)).toEqual([-2048, -2616]);
    expect(nextGuardChange(out)?.uuid).toBe('b');
    expect(nextGuardChange(run({ domains: [dom({ uuid: 'x', touchedMiBByNode: new Map([[0, 8192]]) })] }))).toBeUndefined();
  });
});

describe('memory guard: narrowing back, with hysteresis', () => {
  const widened = (atMs: number): Map<string, Widening> => new Map([['a', { from: [0], to: [0, 1], atMs }]]);
  // Widened to 0-1; the guest has 6144 touched on node 0 and 1024 on node 1: 1024 untouched.
  const a = (): GuardDomain => dom({ uuid: 'a', nodeset: [0, 1], touchedMiBByNode: new Map([[0, 6144], [1, 1024]]) });

  it('narrows back once the original nodes keep twice the threshold after taking back spilled and untouched memory', () => {
    // Back on node 0: 5120 free − 1024 spilled − 1024 untouched = 3072 ≥ 2048.
    const [v] = run({ nodes: nodes([5120, 4096, 0, 0]), domains: [a()], widenings: widened(NOW - NARROW_DWELL_MS) });
    expect(v).toMatchObject({ state: 'ok', action: { kind: 'narrow', to: [0] }, widened: { from: [0], to: [0, 1] } });
    expect(v?.reason).toMatch(/narrow back to nodes \(0\): headroom there 3072 MiB ≥ 2048 MiB$/);
  });

  it('not while the headroom back there would be under twice the threshold, although it is above it now and would be above 1×', () => {
    // Back on node 0: 3584 − 1024 − 1024 = 1536: above the threshold, below 2×: kept widened.
    const [v] = run({ nodes: nodes([3584, 4096, 0, 0]), domains: [a()], widenings: widened(NOW - NARROW_DWELL_MS) });
    expect(v).toMatchObject({ state: 'ok', action: { kind: 'none' } });
    expect(v?.reason).toMatch(/kept: back there the headroom would be 1536 MiB < 2048 MiB$/);
  });

  it('not before the widening has been held NARROW_DWELL_MS', () => {
    const [v] = run({ nodes: nodes([5120, 4096, 0, 0]), domains: [a()], widenings: widened(NOW - 60_000) });
    expect(v?.action).toEqual({ kind: 'none' });
    expect(v?.reason).toMatch(/widened from nodes \(0\) 60 s ago, held at least 300 s$/);
  });

  it('a widening whose nodeset someone else changed since is dropped; an excluded domain is not narrowed', () => {
    const [moved] = run({ nodes: nodes([5120, 4096, 8192, 0]), domains: [dom({ uuid: 'a', nodeset: [2], touchedMiBByNode: new Map([[2, 7168]]) })], widenings: widened(0) });
    expect(moved).toMatchObject({ state: 'ok', widened: undefined, action: { kind: 'none' } });
    const [excluded] = run({ nodes: nodes([5120, 4096, 0, 0]), domains: [{ ...a(), excluded: true }], widenings: widened(0) });
    expect(excluded).toMatchObject({ action: { kind: 'none' }, widened: { from: [0] } });
    expect(excluded?.reason).toMatch(/kept: excluded by the domain filter/);
  });
});
