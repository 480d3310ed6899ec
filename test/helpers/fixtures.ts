import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
export const REPO_DIR = path.resolve(FIXTURES_DIR, '..', '..');
export const fixture = (name: string): string => path.join(FIXTURES_DIR, name);

/** A private temp dir under the OS temp root; removed by the returned cleanup. */
export function tempDir(prefix = 'numadvisor-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A writable copy of a fixture tree (for tests that change /proc/stat or meminfo). */
export function copyFixture(name: string, into: string): string {
  const dest = path.join(into, name);
  cpSync(fixture(name), dest, { recursive: true });
  return dest;
}
