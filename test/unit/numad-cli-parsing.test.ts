import { describe, expect, it } from 'vitest';
import { parsePreplacementArg } from '../../src/cli/numad-args.js';
import { getopt } from '../../src/cli/getopt.js';
import { ctime, preplacementLines } from '../../src/log/numad-log.js';

describe('-w CPUs[:MB] grammar (numad.md §2.1 table)', () => {
  it.each([
    ['2:512', 200, 512],
    ['1.5:100', 150, 100],
    ['0', 0, 0],
    ['0:0', 0, 0],
    ['2x', 200, 0],
    ['1.257:64', 125, 64],
    ['0.5:10', 50, 10],
    ['2:512:7', 200, 512],
    ['100000:10000000', 10_000_000, 10_000_000],
  ])('%s → %i CPU hundredths, %i MB', (arg, cpu, mem) => {
    expect(parsePreplacementArg(arg)).toEqual({ cpuHundredths: cpu, memMiB: mem });
  });
  it.each(['2:', ':512', '-1', 'abc', '2:-5', '2:abc', '.5', ''])('%j is rejected', (arg) => {
    expect(parsePreplacementArg(arg)).toBeUndefined();
  });
});

describe('getopt', () => {
  const spec = { short: 'C:dD:hH:i:K:l:m:p:r:R:S:t:u:vVw:x:', long: { socket: true, foreground: false } };
  it('clusters, attached and separate arguments, permutation', () => {
    const r = getopt('numad', ['-dw2:512', 'extra', '-C', '0', '--socket=/x'], spec);
    expect(r.items).toEqual([
      { kind: 'option', name: 'd' },
      { kind: 'option', name: 'w', value: '2:512' },
      { kind: 'option', name: 'C', value: '0' },
      { kind: 'option', name: '--socket', value: '/x' },
    ]);
    expect(r.operands).toEqual(['extra']);
  });
  it("glibc's messages", () => {
    expect(getopt('numad', ['-Z'], spec).items.at(-1)).toEqual({ kind: 'error', message: "numad: invalid option -- 'Z'" });
    expect(getopt('numad', ['-w'], spec).items.at(-1)).toEqual({ kind: 'error', message: "numad: option requires an argument -- 'w'" });
  });
});

describe('numad log format', () => {
  it('ctime: local time, space-padded day', () => {
    expect(ctime(new Date(2026, 10, 22, 2, 8, 36))).toBe('Sun Nov 22 02:08:36 2026');
    expect(ctime(new Date(2026, 10, 2, 23, 0, 5))).toBe('Mon Nov  2 23:00:05 2026');
  });
  it('pre-placement pair', () => {
    expect(preplacementLines(200, 512, '0-3', '2-3')).toEqual([
      'Getting NUMA pre-placement advice for 200 CPUs and 512 MBs',
      'Advising pid -1 (unknown) move from nodes (0-3) to nodes (2-3)',
    ]);
  });
});
