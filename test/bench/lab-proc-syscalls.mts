// Per-process cost of reading /proc on the emulated 4-node guest (300 sleeping processes + the guest's own), by
// system call pattern: open/read/close of stat (numad's way), openat on the /proc fd, statm, pread of kept files.
// Run: npx tsx test/bench/lab-proc-syscalls.mts   (root; builds test/bench/proc-syscalls.c, boots a lab guest, ~1 minute)
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { REPO_DIR } from '../helpers/fixtures.js';
import { LAB_4NODE_1GIB, runInGuest } from '../lab/harness.js';

const bin = path.join(REPO_DIR, 'test/.tmp/proc-syscalls');
mkdirSync(path.dirname(bin), { recursive: true });
execFileSync('gcc', ['-O2', '-o', bin, path.join(REPO_DIR, 'test/bench/proc-syscalls.c')]);
const r = await runInGuest(LAB_4NODE_1GIB, `for i in $(seq 1 300); do sleep 100000 & done; sleep 5; ${bin}; ${bin}`, 300_000);
if (r.code !== 0) throw new Error(`guest exit ${r.code}: ${r.stderr}`);
console.log(r.stdout);
