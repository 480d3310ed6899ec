// The structured log under systemd (issue #15): when stdout is the journal stream (JOURNAL_STREAM names its device
// and inode) each pino line starts with its syslog priority, `<3>{"level":50,…}`, which journald strips and files
// the line under (`journalctl -p warning`); anywhere else (a file, a pipe, JOURNAL_STREAM inherited but naming
// another stream) lines stay plain JSON. A temporary file stands in for the journal's socket: fstat gives it a
// device and an inode like any descriptor.
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isJournalStream, JournalPriorityStream, stdoutLogDestination, syslogPriority } from '../../src/log/journal-stream.js';

let dir: string;
let file: string;
let fd: number;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'numadvisor-journal-'));
  file = path.join(dir, 'stdout');
  fd = openSync(file, 'a');
});

afterEach(() => {
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
});

/** JOURNAL_STREAM as systemd writes it for this descriptor. */
function journalStreamOf(target: number): string {
  const st = fstatSync(target, { bigint: true });
  return `${st.dev}:${st.ino}`;
}

/** Every level through a logger as the daemon builds it (level trace so that all of them are written), child included. */
function logEveryLevel(env: NodeJS.ProcessEnv): string[] {
  const dest = stdoutLogDestination(pino.destination({ dest: fd, sync: true }), env, fd);
  const logger = pino({ level: 'trace', base: { pid: process.pid, name: 'numadvisor' } }, dest);
  logger.trace('t');
  logger.debug('d');
  logger.info('i');
  logger.warn({ node: 1 }, 'w');
  logger.error(new Error('boom'), 'e');
  logger.fatal('f');
  logger.child({ domain: 'web1' }).warn('child w');
  return readFileSync(file, 'utf8').split('\n').slice(0, -1);
}

describe('syslog priority of a pino level', () => {
  it('fatal crit, error err, warn warning, info info, debug and trace debug; custom levels fall to the level below', () => {
    expect([60, 50, 40, 30, 20, 10].map(syslogPriority)).toEqual([2, 3, 4, 6, 7, 7]);
    expect([70, 55, 45, 35, 25, 0].map(syslogPriority)).toEqual([2, 3, 4, 6, 7, 7]);
  });
});

describe('JOURNAL_STREAM', () => {
  it('counts only when it names this descriptor', () => {
    const mine = journalStreamOf(fd);
    expect(isJournalStream(fd, { JOURNAL_STREAM: mine })).toBe(true);
    const [dev, ino] = mine.split(':');
    expect(isJournalStream(fd, { JOURNAL_STREAM: `${dev}:${BigInt(ino ?? '0') + 1n}` })).toBe(false);
    expect(isJournalStream(fd, { JOURNAL_STREAM: `${BigInt(dev ?? '0') + 1n}:${ino}` })).toBe(false);
    expect(isJournalStream(fd, {})).toBe(false);
    for (const bad of ['', ':', `${mine}:1`, ` ${mine}`, `${dev}`, 'x:y']) expect(isJournalStream(fd, { JOURNAL_STREAM: bad })).toBe(false);
    // Another open file (stdout redirected to a file by the unit, JOURNAL_STREAM inherited from a parent)
    const other = openSync(path.join(dir, 'other'), 'a');
    try {
      expect(isJournalStream(other, { JOURNAL_STREAM: mine })).toBe(false);
    } finally {
      closeSync(other);
    }
    // A closed descriptor is not the journal either
    expect(isJournalStream(1 << 20, { JOURNAL_STREAM: mine })).toBe(false);
  });
});

describe('the daemon log on stdout', () => {
  it('under the journal, each line starts with its priority and is the same JSON after it', () => {
    const lines = logEveryLevel({ JOURNAL_STREAM: journalStreamOf(fd) });
    expect(lines.map((l) => /^<(\d)>/.exec(l)?.[1])).toEqual(['7', '7', '6', '4', '3', '2', '4']);
    const records = lines.map((l) => JSON.parse(l.replace(/^<\d>/, '')) as { level: number; msg: string; domain?: string });
    expect(records.map((r) => [r.level, r.msg])).toEqual([
      [10, 't'],
      [20, 'd'],
      [30, 'i'],
      [40, 'w'],
      [50, 'e'],
      [60, 'f'],
      [40, 'child w'],
    ]);
    expect(records[6]?.domain).toBe('web1');
    // One line per entry: the error's stack is escaped inside the JSON, so journald sees no line without a prefix.
    expect(lines.every((l) => /^<\d>\{/.test(l))).toBe(true);
  });

  it('elsewhere, lines are plain JSON (a file tools parse, a pipe, an inherited JOURNAL_STREAM of another stream)', () => {
    for (const env of [{}, { JOURNAL_STREAM: '0:0' }]) {
      closeSync(openSync(file, 'w'));
      const lines = logEveryLevel(env);
      expect(lines).toHaveLength(7);
      for (const l of lines) expect(l.startsWith('{"level":')).toBe(true);
      expect(lines.map((l) => (JSON.parse(l) as { level: number }).level)).toEqual([10, 20, 30, 40, 50, 60, 40]);
    }
  });

  it('hands back the destination itself when not under the journal, and flushes through the wrapper', () => {
    const dest = pino.destination({ dest: fd, sync: true });
    expect(stdoutLogDestination(dest, {}, fd)).toBe(dest);
    const wrapped = stdoutLogDestination(dest, { JOURNAL_STREAM: journalStreamOf(fd) }, fd);
    expect(wrapped).toBeInstanceOf(JournalPriorityStream);
    let flushed = false;
    (wrapped as JournalPriorityStream).flush(() => {
      flushed = true;
    });
    return new Promise<void>((resolve) => setImmediate(resolve)).then(() => expect(flushed).toBe(true));
  });
});
