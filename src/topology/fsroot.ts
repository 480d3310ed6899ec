// One root prefix for everything read from /sys and /proc (like hwloc's HWLOC_FSROOT), so tests, demos and the
// lab can point the same readers at a fixture tree.
import { closeSync, openSync, readFileSync, readSync, readdirSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';

export const FSROOT_ENV = 'NUMADVISOR_FSROOT';

export function defaultFsRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env[FSROOT_ENV] && env[FSROOT_ENV] !== '' ? env[FSROOT_ENV] : '/';
}

export class FsRoot {
  private readonly prefix: string;

  constructor(readonly root: string) {
    this.prefix = path.resolve(root) === '/' ? '' : path.resolve(root);
  }

  resolve(absPath: string): string {
    // A plain concatenation: the scan resolves thousands of /proc paths per cycle (path.join cost showed in profiles).
    return this.prefix === '' ? absPath : this.prefix + absPath;
  }

  /**
   * Read a small file (a /proc/<pid>/stat) into `buf` without making a string: the bytes read, or undefined when it
   * cannot be read. The rebalancer's scan reads every process's stat this way and makes text only for big ones.
   */
  readInto(absPath: string, buf: Buffer): number | undefined {
    let fd: number;
    try {
      fd = openSync(this.resolve(absPath), 'r');
    } catch {
      return undefined;
    }
    try {
      let n = 0;
      for (;;) {
        const got = readSync(fd, buf, n, buf.length - n, null);
        if (got <= 0 || n + got >= buf.length) return n + Math.max(0, got);
        n += got;
      }
    } catch {
      return undefined;
    } finally {
      closeSync(fd);
    }
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
