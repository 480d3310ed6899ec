// `--apply processes` moves memory with numactl's migratepages; the daemon checks at start that it can.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkMigratepages } from '../../src/apply/process-mover.js';
import { tempDir } from '../helpers/fixtures.js';

describe('checkMigratepages', () => {
  const t = tempDir();
  afterAll(t.cleanup);

  it('migratepages: a PATH without it gives a message naming the binary and the Debian package', () => {
    const empty = path.join(t.dir, 'empty');
    mkdirSync(empty);
    expect(checkMigratepages(`${empty}:${path.join(t.dir, 'missing')}`)).toMatch(/^migratepages .*not found on PATH .*numactl/);
    expect(checkMigratepages('')).toMatch(/numactl/);
  });

  it('migratepages: an executable on PATH passes; a non-executable file or a directory of that name does not', () => {
    const bin = path.join(t.dir, 'bin');
    const notExec = path.join(t.dir, 'not-exec');
    const dir = path.join(t.dir, 'dir');
    mkdirSync(bin);
    mkdirSync(notExec);
    mkdirSync(path.join(dir, 'migratepages'), { recursive: true });
    writeFileSync(path.join(bin, 'migratepages'), '#!/bin/sh\n');
    chmodSync(path.join(bin, 'migratepages'), 0o755);
    writeFileSync(path.join(notExec, 'migratepages'), '#!/bin/sh\n');
    chmodSync(path.join(notExec, 'migratepages'), 0o644);
    expect(checkMigratepages(`${notExec}:${dir}`)).toMatch(/numactl/);
    expect(checkMigratepages(`${notExec}:${dir}:${bin}`)).toBeUndefined();
  });
});
