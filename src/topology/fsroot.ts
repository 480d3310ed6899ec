// One root prefix for everything read from /sys and /proc (like hwloc's HWLOC_FSROOT), so tests, demos and the
// lab can point the same readers at a fixture tree.
import { readFileSync, readdirSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';

export const FSROOT_ENV = 'NUMADVISOR_FSROOT';

export function defaultFsRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env[FSROOT_ENV] && env[FSROOT_ENV] !== '' ? env[FSROOT_ENV] : '/';
}

export class FsRoot {
  constructor(readonly root: string) {}

  resolve(absPath: string): string {
    return path.join(this.root, absPath);
  }

  readText(absPath: string): string {
    return readFileSync(this.resolve(absPath), 'utf8');
  }

  /** The file's text, or undefined when it cannot be read (a process that just exited, a missing file). */
  readTextMaybe(absPath: string): string | undefined {
    try {
      return this.readText(absPath);
    } catch {
      return undefined;
    }
  }

  readTextOr(absPath: string, fallback: string): string {
    return this.readTextMaybe(absPath) ?? fallback;
  }

  readTextAsync(absPath: string): Promise<string> {
    return readFile(this.resolve(absPath), 'utf8');
  }

  async readTextOrAsync(absPath: string, fallback: string): Promise<string> {
    try {
      return await this.readTextAsync(absPath);
    } catch {
      return fallback;
    }
  }

  async listOrAsync(absPath: string): Promise<string[]> {
    try {
      return await readdir(this.resolve(absPath));
    } catch {
      return [];
    }
  }

  list(absPath: string): string[] {
    return readdirSync(this.resolve(absPath));
  }

  listOr(absPath: string): string[] {
    try {
      return this.list(absPath);
    } catch {
      return [];
    }
  }
}
