// numad's option semantics (numad.md §1.2–1.3) and the daemon's log lines for run-time changes (§3.2).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseIntervalArg } from '../../src/cli/numad-args.js';
import { optionOps, parseNumadArgs, startSettings } from '../../src/cli/numad-main.js';
import { applyNumadOp, NUMAD_DEFAULTS, type NumadOp } from '../../src/model/numad-settings.js';
import { NumadOpSchema, NumadSettingsSchema } from '../../src/model/numad-settings-schema.js';
import { ThpScanSleep, THP_SCAN_SLEEP_PATH } from '../../src/apply/thp.js';
import { FsRoot } from '../../src/topology/fsroot.js';
import { tempDir } from '../helpers/fixtures.js';

const quiet = { stdout: () => {}, stderr: () => {} };
const parse = (...args: string[]) => {
  let err = '';
  const r = parseNumadArgs('numad', args, {}, { stdout: () => {}, stderr: (t) => (err += t) });
  return { r, err };
};

describe('-i [MIN:]MAX', () => {
  it.each([
    ['15', { max: 15 }],
    ['5:8', { min: 5, max: 8 }],
    ['0', { max: 0 }],
    ['10:0', { min: 10, max: 0 }],
    ['1.9', { max: 1 }],
    [' +7', { max: 7 }],
    ['3:9junk', { min: 3, max: 9 }],
  ])('%j → %j', (arg, want) => expect(parseIntervalArg(arg)).toEqual(want));
  it.each(['x', '-1', '', ':5', '5:', '5:-1'])('%j is rejected', (arg) => expect(parseIntervalArg(arg)).toBeUndefined());
  it('`-i 3` fails against the client default min of 5; equal values pass; MAX 0 always passes', () => {
    expect(parse('-i', '3').err).toBe('Max interval (3) must be greater than min interval (5)\n');
    expect(parse('-i', '5:5').r.kind).toBe('run');
    expect(parse('-i', '10:0').r.kind).toBe('run');
    expect(parse('-i', 'x').err).toBe("Can't parse arg value(s): x\n");
  });
});

describe('option parsing', () => {
  it('-H accepts 0 and 10..1000000 only', () => {
    expect(parse('-H', '5').err).toBe('THP scan_sleep_ms must be > 9 and < 1000001\n');
    expect(parse('-H', '1000001').err).toBe('THP scan_sleep_ms must be > 9 and < 1000001\n');
    expect(parse('-H', '0').r.kind).toBe('run');
    expect(parse('-H', '10').r.kind).toBe('run');
  });
  it('-C/-K/-S are atoi != 0 (so -C foo means 0); several -d/-l/-v give the last level', () => {
    const { r } = parse('-C', 'foo', '-K', '2', '-S', '0', '-l', '5', '-d');
    if (r.kind !== 'run') throw new Error('expected run');
    expect(r.inv).toMatchObject({ C: false, K: true, S: false, logLevel: 7 });
  });
  it('out-of-range -m/-t/-u are ignored as numad does, but with a warning', () => {
    const { r } = parse('-m', '49', '-t', '101', '-u', '131', '-u', '100');
    if (r.kind !== 'run') throw new Error('expected run');
    expect(r.inv.m).toBeUndefined();
    expect(r.inv.t).toBeUndefined();
    expect(r.inv.u).toBe(100);
    expect(r.warnings).toEqual(['numad: ignoring -m 49: must be 50..100', 'numad: ignoring -t 101: must be 0..100', 'numad: ignoring -u 131: must be 10..130']);
  });
  it('every -p/-r/-x is sent, in order (numad sends only the last PID, twice for -p A -x B)', () => {
    const { r } = parse('-p', '111', '-x', '222', '-r', 'abc');
    if (r.kind !== 'run') throw new Error('expected run');
    expect(optionOps(r.inv)).toEqual([
      { opt: 'p', pid: 111 },
      { opt: 'x', pid: 222 },
      { opt: 'r', pid: 0 },
    ]);
  });
  it("messages go in numad's order whatever the order typed", () => {
    const { r } = parse('-u', '70', '-t', '30', '-S', '0', '-m', '80', '-l', '6', '-K', '1', '-i', '4:9', '-H', '100', '-C', '0');
    if (r.kind !== 'run') throw new Error('expected run');
    expect(optionOps(r.inv).map((o) => o.opt).join('')).toBe('CHiKlmStu');
  });
  it('-D takes an argument and is ignored; -V stops parsing at once', () => {
    expect(parse('-D', '/cgroup').r.kind).toBe('run');
    let out = '';
    const r = parseNumadArgs('./bin/numad', ['-V', '-Z'], {}, { stdout: (t) => (out += t), stderr: () => {} });
    expect(r).toEqual({ kind: 'exit', code: 0 });
    expect(out).toBe('./bin/numad version: 20150602: compiled by numadvisor\n');
  });
  it('start settings: defaults plus what was given', () => {
    const { r } = parse('-S', '0', '-p', '10', '-x', '10', '-R', '0-2', '-H', '0');
    if (r.kind !== 'run') throw new Error('expected run');
    expect(startSettings(r.inv)).toMatchObject({ scanAll: false, includePids: [], excludePids: [10], reservedCpus: [0, 1, 2], thpScanSleepMs: null });
    expect(parseNumadArgs('numad', [], {}, quiet)).toMatchObject({ kind: 'run' });
  });
});

describe('bounds on -i and -R (issue #12)', () => {
  it("F5: numad -i beyond numad's int (2147483647 s) fails with numad's parse message; 5:3000000 is accepted as numad accepts it", () => {
    for (const arg of ['5:2147483648', '99999999999', '5:9007199254740993']) {
      expect(parse('-i', arg)).toEqual({ r: { kind: 'exit', code: 1 }, err: `Can't parse arg value(s): ${arg}\n` });
    }
    expect(parseIntervalArg('2147483647')).toEqual({ max: 2147483647 });
    // numad sleeps 3,000,000 s; the rebalancer clamps its timer (test/unit/rebalancer-interval.test.ts).
    const { r } = parse('-i', '5:3000000');
    if (r.kind !== 'run') throw new Error('expected run');
    expect(r.inv.interval).toEqual({ min: 5, max: 3_000_000 });
  });
  it('F5: the options API and --numad-settings refuse intervals beyond 2147483647 s', () => {
    expect(NumadOpSchema.safeParse({ opt: 'i', min: 5, max: 3_000_000 }).success).toBe(true);
    expect(NumadOpSchema.safeParse({ opt: 'i', min: 5, max: 2 ** 31 }).success).toBe(false);
    expect(NumadOpSchema.safeParse({ opt: 'i', min: 2 ** 53, max: 5 }).success).toBe(false);
    expect(NumadSettingsSchema.safeParse({ ...NUMAD_DEFAULTS, intervalMaxS: 2 ** 31 }).success).toBe(false);
  });
  it.each(['9007199254740993', '0-300000000', '8192', '0-8192', '1e9'])('F12: numad -R %s fails fast with a clear message (numad has none for -R)', (arg) => {
    const started = performance.now();
    const { r, err } = parse('-R', arg);
    expect(performance.now() - started).toBeLessThan(50);
    if (arg === '1e9') {
      // numad's -R grammar: any non-digit separates, so this is CPUs 1 and 9.
      expect(r.kind === 'run' && r.inv.R).toEqual([1, 9]);
      return;
    }
    expect({ r, err }).toEqual({ r: { kind: 'exit', code: 1 }, err: `numad: -R ${arg}: CPU ids must be below 8192\n` });
  });
  it('F12: the options API and --numad-settings refuse CPU ids of 8192 and above, and lists longer than 8192', () => {
    expect(NumadOpSchema.safeParse({ opt: 'R', cpus: [0, 8191] }).success).toBe(true);
    expect(NumadOpSchema.safeParse({ opt: 'R', cpus: [8192] }).success).toBe(false);
    expect(NumadOpSchema.safeParse({ opt: 'R', cpus: Array.from({ length: 8193 }, () => 0) }).success).toBe(false);
    expect(NumadSettingsSchema.safeParse({ ...NUMAD_DEFAULTS, reservedCpus: [9007199254740993] }).success).toBe(false);
  });
});

describe("daemon log lines for run-time changes (numad's wording)", () => {
  it.each([
    [{ opt: 'C', value: true }, 'Counting inactive file cache as available'],
    [{ opt: 'C', value: false }, 'Counting inactive file cache as unavailable'],
    [{ opt: 'i', min: 5, max: 8 }, 'Changing interval to 5:8'],
    [{ opt: 'K', value: true }, 'Keeping interleaved memory spread across nodes'],
    [{ opt: 'K', value: false }, 'Merging interleaved memory to localized NUMA nodes'],
    [{ opt: 'l', value: 7 }, 'Changing log level to 7'],
    [{ opt: 'm', value: 80 }, 'Changing target memory locality to 80'],
    [{ opt: 'p', pid: 222 }, 'Adding PID 222 to inclusion PID list'],
    [{ opt: 'r', pid: 222 }, 'Removing PID 222 from explicit PID lists'],
    [{ opt: 'S', value: true }, 'Scanning all processes'],
    [{ opt: 'S', value: false }, 'Scanning only explicit PID list processes'],
    [{ opt: 't', value: 30 }, 'Changing logical CPU thread percent to 30'],
    [{ opt: 'u', value: 70 }, 'Changing target utilization to 70'],
    [{ opt: 'x', pid: 222 }, 'Adding PID 222 to exclusion PID list'],
    [{ opt: 'R', cpus: [0, 1, 2] }, 'Reserving 3 CPUs (0-2) for non-numad use'],
  ] as [NumadOp, string][])('%j → %s', (op, line) => {
    expect(applyNumadOp(NUMAD_DEFAULTS, op).lines).toEqual([{ level: 5, message: line }]);
  });
  it('-i with MAX 0 shuts down and logs nothing itself', () => {
    expect(applyNumadOp(NUMAD_DEFAULTS, { opt: 'i', min: 5, max: 0 })).toMatchObject({ shutdown: true, lines: [] });
  });
  it('-x moves a PID from the inclusion to the exclusion list, -r removes it from both', () => {
    let s = applyNumadOp(NUMAD_DEFAULTS, { opt: 'p', pid: 5 }).settings;
    s = applyNumadOp(s, { opt: 'x', pid: 5 }).settings;
    expect([s.includePids, s.excludePids]).toEqual([[], [5]]);
    s = applyNumadOp(s, { opt: 'r', pid: 5 }).settings;
    expect([s.includePids, s.excludePids]).toEqual([[], []]);
  });
});

describe('THP scan interval (-H)', () => {
  it('is changed only when asked, logged like numad, and restored', () => {
    const t = tempDir();
    try {
      const file = path.join(t.dir, THP_SCAN_SLEEP_PATH);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, '10000\n');
      const lines: string[] = [];
      const thp = new ThpScanSleep(new FsRoot(t.dir), (l) => lines.push(l));
      thp.set(10000);
      expect(lines).toEqual([]);
      thp.set(1000);
      expect(readFileSync(file, 'utf8')).toBe('1000\n');
      thp.restore();
      expect(readFileSync(file, 'utf8')).toBe('10000\n');
      expect(lines).toEqual([
        `Changing THP scan time in ${THP_SCAN_SLEEP_PATH} from 10000 to 1000 ms.`,
        `Changing THP scan time in ${THP_SCAN_SLEEP_PATH} from 1000 to 10000 ms.`,
      ]);
    } finally {
      t.cleanup();
    }
  });
});
