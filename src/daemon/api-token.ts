// The bearer token that unlocks the TCP listener's mutating routes (issue #12 F7). A fresh one each start, so a token
// that leaked dies with the daemon; in a file readable by root and the socket's group, the same people the unix
// socket's 0660 mode lets in, so TCP gives nobody more than the socket already does.
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fchownSync, fsyncSync, mkdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { openFreshTemp } from '../safe-open.js';

/** 32 random bytes: beyond guessing, over any number of attempts a local user could make. */
const TOKEN_BYTES = 32;
/** Owner writes, group reads, nobody else: the socket's own audience. */
export const API_TOKEN_MODE = 0o640;
export const API_TOKEN_FILE_NAME = 'api-token';

/**
 * Write a new token to `file` (root-owned, group `gid`, mode 0640) and return it. Written beside the file and
 * renamed over it, so a reader sees the old token or the new one, never half of one; the temporary file is created
 * exclusively and without following links, with its final mode from the start.
 */
export function writeApiToken(file: string, gid: number): string {
  const token = randomBytes(TOKEN_BYTES).toString('hex');
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  const { tmp, fd } = openFreshTemp(file, API_TOKEN_MODE);
  try {
    // The umask may have taken group read away; the group is who the file is for.
    fchmodSync(fd, API_TOKEN_MODE);
    fchownSync(fd, process.getuid?.() ?? 0, gid);
    writeSync(fd, `${token}\n`);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, file);
  return token;
}
