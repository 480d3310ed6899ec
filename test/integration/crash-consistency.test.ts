// Crash consistency of the reservation ledger: the daemon is killed with SIGKILL — at random moments under load, and
// (with strace's fault injection) exactly before or after each step of the journal's compaction — and restarted on
// the same state dir. What it then holds must be exactly what clients were told: every acknowledged reservation not
// released with an acknowledgement, and no acknowledged release. Requests in flight at the kill may go either way.
//
// Random choices come from one seed, printed; replay with CRASH_SEED=<seed>.
//
// The compaction steps (src/model/state-file.ts compact()): serialise, open the temp file, write it, fsync, rename it
// over reservations.json, fsync the directory, ftruncate the journal, fdatasync. strace's -P limits an injection to
// the syscalls that touch one path, and `when=1` fires on the first such call, so each kill lands on one step:
//   before/after the temp-file write   write(tmp) / fsync(tmp)
//   before/after the rename            rename(tmp) / fsync(state dir)
//   before/after the journal truncate  ftruncate(journal) / a delay after it, during which the test kills the daemon
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixtures.js';
import { getJson, procState, spawnDaemon, waitHealthy, type DaemonProcess } from '../helpers/daemon-process.js';
import { waitFor } from '../helpers/wait.js';
// mulberry32, the simulator's: small, seedable, good enough to pick kill moments and operations
import { prng } from '../../src/sim/engine.js';

const SEED = process.env.CRASH_SEED !== undefined ? Number(process.env.CRASH_SEED) : (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0;
const FIXTURE = '4node-westmere-ex';
const STRACE = spawnSync('strace', ['-V'], { stdio: 'ignore' }).status === 0;

const roots: (() => void)[] = [];
afterAll(() => {
  for (const cleanup of roots) cleanup();
});

interface Paths {
  dir: string;
  socket: string;
  stateDir: string;
  logFile: string;
  json: string;
  journal: string;
}

function paths(dir: string): Paths {
  const stateDir = path.join(dir, 'state');
  return {
    dir,
    socket: path.join(dir, 'numadvisor.sock'),
    stateDir,
    logFile: path.join(dir, 'numad.log'),
    json: path.join(stateDir, 'reservations.json'),
    journal: path.join(stateDir, 'reservations.journal'),
  };
}

function freshPaths(prefix: string): Paths {
  const t = tempDir(`numadvisor-crash-${prefix}-`);
  roots.push(t.cleanup);
  return paths(t.dir);
}

function start(p: Paths, startStopped = false): DaemonProcess {
  return spawnDaemon({ fixture: FIXTURE, socket: p.socket, stateDir: p.stateDir, logFile: p.logFile, args: ['--libvirt', 'none'], startStopped });
}

async function startHealthy(p: Paths): Promise<DaemonProcess> {
  const d = start(p);
  await waitHealthy(d);
  return d;
}

// ---------------------------------------------------------------------------------------------------------------
// What clients were told

interface HeldReservation {
  id: string;
  client: string;
  expiresAt: string;
}

/** Every request's outcome as a client saw it. */
class Acknowledged {
  /** acknowledged reservations (HTTP 200 with an id), by id → the label of the request that made it */
  readonly put = new Map<string, string>();
  /** releases acknowledged with HTTP 200 */
  readonly released = new Set<string>();
  /** releases sent but not answered (the kill came first): either outcome is right */
  readonly releaseUnknown = new Set<string>();
  /** labels of reservation requests sent */
  readonly sent = new Set<string>();
  /** labels of reservation requests answered with something other than 200: they must have left nothing */
  readonly refused = new Map<string, string>();

  /** What the restarted daemon holds compared with what was acknowledged; empty when consistent. */
  compare(held: HeldReservation[], ours: (label: string) => boolean): string[] {
    const heldIds = new Set(held.map((r) => r.id));
    const out: string[] = [];
    for (const [id, label] of this.put) {
      if (!this.released.has(id) && !this.releaseUnknown.has(id) && !heldIds.has(id)) out.push(`lost: reservation ${id} (request ${label}) was acknowledged and never released, but is gone`);
    }
    for (const id of this.released) if (heldIds.has(id)) out.push(`resurrected: reservation ${id} (request ${this.labelOf(id)}) was released with an acknowledgement, but is back`);
    for (const r of held) {
      if (this.put.has(r.id)) continue;
      if (!ours(r.client)) out.push(`foreign: reservation ${r.id} with client ${JSON.stringify(r.client)} that no request of this test made`);
      else if (!this.sent.has(r.client)) out.push(`unexplained: reservation ${r.id} labelled ${r.client}, a request never sent`);
      else if (this.refused.has(r.client)) out.push(`refused-but-kept: reservation ${r.id} from request ${r.client}, which was answered ${this.refused.get(r.client)}`);
    }
    return out;
  }

  private labelOf(id: string): string {
    return this.put.get(id) ?? '?';
  }

  /** After a check: the daemon's view becomes the truth the next round builds on. */
  adopt(held: HeldReservation[]): void {
    this.put.clear();
    this.released.clear();
    this.releaseUnknown.clear();
    this.refused.clear();
    for (const r of held) this.put.set(r.id, r.client);
  }
}

type Outcome = { status: number; body: unknown } | { error: string };

function call(agent: http.Agent, socketPath: string, method: string, urlPath: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath, agent, method, path: urlPath, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => resolve({ error: e.message }));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // kept as text
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e.message }));
    req.end();
  });
}

/** Reserve one (1 CPU, 64 MiB) under `label`, recording the outcome. */
async function reserve(ack: Acknowledged, agent: http.Agent, p: Paths, label: string): Promise<string | undefined> {
  ack.sent.add(label);
  const r = await call(agent, p.socket, 'GET', `/v1/advice?cpus=1&mem=64&reserve=true&client=${label}`);
  if ('error' in r) return undefined; // in flight at the kill: unknown
  const id = (r.body as { reservation?: { id?: unknown } | null }).reservation?.id;
  if (r.status === 200 && typeof id === 'string') {
    ack.put.set(id, label);
    return id;
  }
  ack.refused.set(label, `HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
  return undefined;
}

/** Release `id`, recording the outcome; false when the daemon is gone. */
async function release(ack: Acknowledged, agent: http.Agent, p: Paths, id: string): Promise<boolean> {
  ack.releaseUnknown.add(id);
  const r = await call(agent, p.socket, 'DELETE', `/v1/reservations/${id}`);
  if ('error' in r) return false;
  ack.releaseUnknown.delete(id);
  if (r.status === 200) ack.released.add(id);
  // 404: the daemon does not know it (a loss that compare() reports); anything else changed nothing
  return true;
}

async function held(p: Paths): Promise<HeldReservation[]> {
  const r = await getJson(p.socket, '/v1/reservations', 10_000);
  if (r?.status !== 200) throw new Error(`GET /v1/reservations failed: ${JSON.stringify(r)}`);
  return (r.body as { reservations: HeldReservation[] }).reservations;
}

/** What the files looked like when the daemon died. */
interface FilesAtKill {
  snapshot: { seq?: number; savedAt?: string; count?: number; raw?: string } | undefined;
  journalBytes: number;
  journalLines: number;
  temps: { name: string; bytes: number }[];
}

function filesNow(p: Paths): FilesAtKill {
  let snapshot: FilesAtKill['snapshot'];
  if (existsSync(p.json)) {
    const text = readFileSync(p.json, 'utf8');
    try {
      const j = JSON.parse(text) as { seq?: number; savedAt?: string; reservations?: unknown[] };
      snapshot = { ...(j.seq !== undefined ? { seq: j.seq } : {}), ...(j.savedAt !== undefined ? { savedAt: j.savedAt } : {}), count: j.reservations?.length ?? -1 };
    } catch {
      snapshot = { raw: text.slice(0, 100) };
    }
  }
  const journal = existsSync(p.journal) ? readFileSync(p.journal, 'utf8') : '';
  const temps = readdirSync(p.stateDir)
    .filter((f) => f.includes('.tmp'))
    .map((f) => ({ name: f, bytes: statSync(path.join(p.stateDir, f)).size }));
  return { snapshot, journalBytes: Buffer.byteLength(journal), journalLines: journal.split('\n').filter((l) => l.trim() !== '').length, temps };
}

const describeFiles = (f: FilesAtKill): string =>
  `snapshot ${JSON.stringify(f.snapshot)}, journal ${f.journalLines} lines (${f.journalBytes} bytes), temp files ${JSON.stringify(f.temps)}`;

// ---------------------------------------------------------------------------------------------------------------

console.log(`crash-consistency: seed ${SEED} (replay with CRASH_SEED=${SEED})${STRACE ? '' : '; strace is not installed: the compaction steps are skipped'}`);

describe('crash consistency: kill -9 at random moments under load', () => {
  it(
    'F1: every acknowledged reservation and release survives a SIGKILL under load (5 kills), nothing else appears',
    async () => {
      const rand = prng(SEED);
      const p = freshPaths('f1');
      const ack = new Acknowledged();
      const ours = (label: string): boolean => /^f1-r\d+-w\d+-\d+$/.test(label);
      const problems: string[] = [];
      const log: string[] = [];
      const WORKERS = 8;
      const ROUNDS = 5;
      let mine: string[][] = Array.from({ length: WORKERS }, () => []);
      for (let round = 0; round <= ROUNDS; round++) {
        const d = await startHealthy(p);
        try {
          // What survived the previous kill must be exactly what was acknowledged.
          const now = await held(p);
          if (round > 0) {
            const found = ack.compare(now, ours);
            log.push(`round ${round - 1}: after restart the daemon holds ${now.length} reservation(s); ${found.length} problem(s)`);
            for (const f of found) problems.push(`round ${round - 1}: ${f}`);
          }
          ack.adopt(now);
          mine = Array.from({ length: WORKERS }, () => []);
          now.forEach((r, i) => mine[i % WORKERS]?.push(r.id));
          if (round === ROUNDS) {
            // Finally a clean stop and start on the same state dir: identical.
            const before = JSON.stringify(now.map((r) => r.id).sort());
            expect(await d.kill('SIGTERM')).toEqual({ code: 0, signal: null });
            const d2 = await startHealthy(p);
            try {
              expect(JSON.stringify((await held(p)).map((r) => r.id).sort())).toBe(before);
            } finally {
              await d2.kill('SIGTERM');
            }
            break;
          }
          const agent = new http.Agent({ keepAlive: true, maxSockets: WORKERS });
          let stop = false;
          let seq = 0;
          const worker = async (w: number): Promise<void> => {
            const ids = mine[w] as string[];
            while (!stop) {
              if (ids.length > 0 && rand() < 0.45) {
                const id = ids.splice(Math.floor(rand() * ids.length), 1)[0] as string;
                if (!(await release(ack, agent, p, id))) return;
              } else {
                const id = await reserve(ack, agent, p, `f1-r${round}-w${w}-${seq++}`);
                if (id) ids.push(id);
                else if (!d.alive()) return;
              }
            }
          };
          const killAfterMs = 300 + Math.floor(rand() * 1200);
          const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
          await sleep(killAfterMs);
          const acksBefore = ack.put.size;
          await d.kill('SIGKILL');
          stop = true;
          await Promise.all(workers);
          agent.destroy();
          log.push(`round ${round}: SIGKILL after ${killAfterMs} ms of load (${seq} reservation requests, ${acksBefore} acknowledged reservations live at the kill); files: ${describeFiles(filesNow(p))}`);
        } finally {
          await d.kill('SIGKILL');
        }
      }
      expect(problems, `seed ${SEED} (replay: CRASH_SEED=${SEED})\n${log.join('\n')}\n${problems.slice(0, 20).join('\n')}`).toEqual([]);
    },
    90_000,
  );
});

// ---------------------------------------------------------------------------------------------------------------
// strace fault injection

interface Tracer {
  proc: ChildProcess;
  stderr(): string;
  exited: Promise<void>;
}

/** Attach strace to every thread of `pid` (-f: and to those it starts) and wait until it has. */
async function attachStrace(pid: number, args: string[]): Promise<Tracer> {
  const proc = spawn('strace', ['-f', '-o', '/dev/null', ...args, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  // strace 6 says "Process N attached with M threads" once it holds them all (older ones: a line per thread).
  const attached = (): boolean => new RegExp(`Process ${pid} attached`).test(err);
  try {
    await waitFor(() => attached() || proc.exitCode !== null, 10_000);
  } catch {
    // reported below
  }
  if (proc.exitCode !== null || !attached()) {
    proc.kill('SIGKILL');
    throw new Error(`strace could not attach to ${pid}: ${err}`);
  }
  // The older per-thread form: let the remaining threads' lines arrive.
  if (!/attached with \d+ threads/.test(err)) await sleep(200);
  return { proc, stderr: () => err, exited };
}

const WRITES = 'write,pwrite64,writev,pwritev,pwritev2';
const RENAMES = 'rename,renameat,renameat2';
/** kill on entering the first matching syscall, which is not executed (error= replaces it); `traced`: the -e trace set */
const killBefore = (syscalls: string, traced = syscalls): string[] => ['-e', `trace=${traced}`, '-e', `inject=${syscalls}:error=EIO:signal=KILL:when=1`];
/** journal fdatasyncs take 20 ms longer: answers and releases pile up while a batch is on its way to disk */
const slowJournal = ['-e', 'inject=fdatasync:delay_enter=20000'];

interface Step {
  name: string;
  /** strace arguments for this step; `tmp` is the daemon's temp snapshot path (it carries its pid) */
  strace(p: Paths, tmp: string): string[];
  /** set for a kill after a syscall: strace only holds the daemon there, the test kills it once this holds */
  killWhen?: (p: Paths) => boolean;
  /** undefined when the files show the kill happened at this step */
  where(at: FilesAtKill, before: FilesAtKill): string | undefined;
}

const snapshotChanged = (at: FilesAtKill, before: FilesAtKill): boolean => JSON.stringify(at.snapshot) !== JSON.stringify(before.snapshot);
const expectFiles = (ok: boolean, what: string): string | undefined => (ok ? undefined : `expected ${what}`);

const STEPS: Step[] = [
  {
    name: 'before the temp-file write',
    strace: (_p, tmp) => ['-P', tmp, ...killBefore(WRITES)],
    where: (at, before) => expectFiles(at.temps.length === 1 && at.temps[0]?.bytes === 0 && !snapshotChanged(at, before), 'an empty temp file and the old snapshot'),
  },
  {
    name: 'after the temp-file write (before its fsync)',
    strace: (_p, tmp) => ['-P', tmp, ...killBefore('fsync,fdatasync')],
    where: (at, before) => expectFiles(at.temps.length === 1 && (at.temps[0]?.bytes ?? 0) > 0 && !snapshotChanged(at, before), 'a written temp file and the old snapshot'),
  },
  {
    name: 'before the rename',
    strace: (_p, tmp) => ['-P', tmp, ...killBefore(RENAMES)],
    where: (at, before) => expectFiles(at.temps.length === 1 && (at.temps[0]?.bytes ?? 0) > 0 && !snapshotChanged(at, before), 'a written temp file and the old snapshot'),
  },
  {
    name: 'F2: after the rename, before the journal truncate (at the state dir\'s fsync)',
    // fsync touches the directory only there (the journal is fdatasync'd, the temp file is not in -P).
    strace: (p) => ['-P', p.stateDir, '-P', p.journal, ...killBefore('fsync', 'fsync,fdatasync'), ...slowJournal],
    where: (at, before) => expectFiles(at.temps.length === 0 && snapshotChanged(at, before) && at.journalBytes > 0, 'the new snapshot in place and the journal not yet truncated'),
  },
  {
    name: 'F2: before the journal truncate (after the directory fsync)',
    strace: (p) => ['-P', p.journal, ...killBefore('ftruncate', 'ftruncate,fdatasync'), ...slowJournal],
    where: (at, before) => expectFiles(at.temps.length === 0 && snapshotChanged(at, before) && at.journalBytes > 0, 'the new snapshot in place and the journal not yet truncated'),
  },
  {
    name: 'after the journal truncate',
    strace: (p) => ['-P', p.journal, '-e', 'trace=ftruncate', '-e', 'inject=ftruncate:delay_exit=1000000:when=1'],
    killWhen: (p) => existsSync(p.journal) && statSync(p.journal).size === 0,
    where: (at, before) => expectFiles(snapshotChanged(at, before) && at.journalBytes === 0 && at.temps.length === 0, 'the new snapshot and an empty journal'),
  },
];

/** Run `step` on a daemon `d` that is stopped or running, wait for its death there, and say what the files showed. */
async function killAt(step: Step, d: DaemonProcess, p: Paths, before: FilesAtKill, drive: () => Promise<void>, stopped = false): Promise<{ at: FilesAtKill; tracer: Tracer }> {
  const tmp = `${p.json}.tmp-${d.pid}`;
  const tracer = await attachStrace(d.pid, step.strace(p, tmp));
  try {
    if (stopped) d.resume();
    const driving = drive();
    const deadline = Date.now() + 30_000;
    while (d.alive() && Date.now() < deadline) {
      if (step.killWhen?.(p)) {
        await d.kill('SIGKILL');
        break;
      }
      await sleep(5);
    }
    if (d.alive()) {
      await d.kill('SIGKILL');
      await driving;
      throw new Error(`the daemon never reached "${step.name}" in 30 s (did compaction's syscalls change?): ${describeFiles(filesNow(p))}\nstrace: ${tracer.stderr().slice(-1000)}`);
    }
    const how = await d.exited;
    const at = filesNow(p);
    await driving;
    expect(how.signal, `the daemon should have been killed at "${step.name}", it exited with ${JSON.stringify(how)}: ${d.stderr().slice(-2000)}`).toBe('SIGKILL');
    const wrong = step.where(at, before);
    if (wrong) throw new Error(`the kill did not land at "${step.name}": ${wrong}; found ${describeFiles(at)} (before: ${describeFiles(before)})`);
    return { at, tracer };
  } finally {
    tracer.proc.kill('SIGKILL');
    await tracer.exited;
  }
}

describe.skipIf(!STRACE)('crash consistency: kill -9 at each step of compaction (strace fault injection)', () => {
  /** temp snapshots of a killed daemon found after the restart, by step */
  const leftovers: string[] = [];
  describe('a compaction under load (the journal passed its threshold)', () => {
    it.each(STEPS.map((s) => [s.name, s] as const))(
      '%s: every acknowledged reservation and release is what the restarted daemon holds',
      async (_name, step) => {
        const rand = prng(SEED ^ 0x5bd1e995);
        const p = freshPaths('step');
        const ack = new Acknowledged();
        const ours = (label: string): boolean => /^c-(pre|w\d+)-\d+$/.test(label);
        const d = await startHealthy(p);
        const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
        try {
          // 600 live reservations: the journal stays below both thresholds (1000 lines, twice the live set).
          const PRE = 600;
          const ids: string[] = [];
          for (let i = 0; i < PRE; i += 8) {
            const got = await Promise.all(Array.from({ length: Math.min(8, PRE - i) }, (_, k) => reserve(ack, agent, p, `c-pre-${i + k}`)));
            for (const id of got) if (id) ids.push(id);
          }
          expect(ids).toHaveLength(PRE);
          // Acknowledged means on disk; with an older daemon, give its flush a moment so the next step starts clean.
          await waitFor(() => filesNow(p).journalLines >= PRE, 5000).catch(() => undefined);
          const before = filesNow(p);
          // Releasing most of them (and reserving a few) makes the journal outgrow twice the live set: compaction.
          const drive = async (): Promise<void> => {
            let n = 0;
            const queue = ids.sort(() => rand() - 0.5);
            await Promise.all(
              Array.from({ length: 8 }, async (_, w) => {
                while (d.alive() && queue.length > 0) {
                  const id = queue.pop() as string;
                  if (!(await release(ack, agent, p, id))) return;
                  if (n++ % 4 === 0 && !(await reserve(ack, agent, p, `c-w${w}-${n}`)) && !d.alive()) return;
                }
              }),
            );
          };
          const { at } = await killAt(step, d, p, before, drive);
          agent.destroy();
          const d2 = await startHealthy(p);
          try {
            const left = filesNow(p).temps.filter((f) => f.name.endsWith(`.tmp-${d.pid}`));
            if (left.length > 0) leftovers.push(`${step.name}: ${JSON.stringify(left)} still there after the restart (and its compaction)`);
            const found = ack.compare(await held(p), ours);
            expect(found, `seed ${SEED}: killed ${step.name}; files at the kill: ${describeFiles(at)}\n${found.slice(0, 20).join('\n')}`).toEqual([]);
          } finally {
            await d2.kill('SIGTERM');
          }
        } finally {
          agent.destroy();
          await d.kill('SIGKILL');
        }
      },
      60_000,
    );
  });

  it('a restart cleans up the temp snapshot a killed daemon left behind', () => {
    // Each kill before the rename leaves reservations.json.tmp-<pid> (the size of the ledger); the next daemon writes
    // its own tmp-<its pid>, so without a clean-up every crash-restart adds one for good.
    expect(leftovers).toEqual([]);
  });

  describe('the compaction at start (a state dir left by a killed daemon)', () => {
    // One state dir with a snapshot and a journal of 450 lines (300 reservations, 150 released), every change
    // acknowledged before the SIGKILL; each step starts a daemon on a copy of it.
    let prepared: Paths | undefined;
    const model = new Acknowledged();
    const prepare = async (): Promise<Paths> => {
      if (prepared) return prepared;
      const p = freshPaths('prep');
      const d = await startHealthy(p);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
      try {
        const ids: string[] = [];
        for (let i = 0; i < 300; i += 10) {
          for (const id of await Promise.all(Array.from({ length: 10 }, (_, k) => reserve(model, agent, p, `s-${i + k}`)))) if (id) ids.push(id);
        }
        for (let i = 0; i < 150; i += 10) await Promise.all(ids.slice(i, i + 10).map((id) => release(model, agent, p, id)));
        expect({ put: model.put.size, released: model.released.size }).toEqual({ put: 300, released: 150 });
        await waitFor(() => filesNow(p).journalLines >= 450, 5000).catch(() => undefined);
      } finally {
        agent.destroy();
        await d.kill('SIGKILL');
      }
      expect(filesNow(p).journalLines).toBeGreaterThanOrEqual(450);
      prepared = p;
      return p;
    };

    it.each(STEPS.map((s) => [s.name, s] as const))(
      '%s: the restarted daemon holds exactly the acknowledged state',
      async (_name, step) => {
        const src = await prepare();
        const p = freshPaths('start');
        cpSync(src.stateDir, p.stateDir, { recursive: true });
        const before = filesNow(p);
        // Stopped before its first instruction, so strace is attached before the start-up compaction.
        const d = start(p, true);
        try {
          await waitFor(() => procState(d.pid) === 'T', 5000);
          const { at } = await killAt(step, d, p, before, async () => {}, true);
          const d2 = await startHealthy(p);
          try {
            const found = model.compare(await held(p), (label) => /^s-\d+$/.test(label));
            expect(found, `killed ${step.name} during the start-up compaction; files at the kill: ${describeFiles(at)}\n${found.slice(0, 20).join('\n')}`).toEqual([]);
          } finally {
            await d2.kill('SIGTERM');
          }
        } finally {
          await d.kill('SIGKILL');
        }
      },
      60_000,
    );
  });
});
