// Moving a plain process: CPU affinity of every thread (util-linux `taskset -a`), then its pages (numactl's
// `migratepages`), each verified from /proc afterwards and journaled old → new. Argument arrays only, no shell.
// libvirt domains never come here: changing a VM behind libvirt's back is undone by libvirt and confuses it.
import { execFile } from 'node:child_process';
import { accessSync, appendFileSync, constants, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { FsRoot } from '../topology/fsroot.js';
import { formatIdList } from '../topology/idlist.js';
import { parseNumaMaps, parsePidStatus } from '../observe/processes.js';

const run = promisify(execFile);

/**
 * Why `--apply processes` cannot move memory here, or undefined when it can: page migration runs numactl's
 * `migratepages`, which a host may lack (the daemon otherwise only finds out at the first move, as a failed command
 * in the journal, with the CPUs already moved). Searched like execFile searches: every PATH entry, an executable
 * regular file. `pathEnv` is the PATH to search (tests pass their own).
 */
export function checkMigratepages(pathEnv: string | undefined = process.env.PATH): string | undefined {
  for (const dir of (pathEnv ?? '').split(':')) {
    if (dir === '') continue;
    const file = path.join(dir, 'migratepages');
    try {
      if (statSync(file).isFile()) {
        accessSync(file, constants.X_OK);
        return undefined;
      }
    } catch {
      // not here (or not executable): the next PATH entry
    }
  }
  return 'migratepages not found on PATH (Debian package numactl): --apply processes cannot move a process\'s memory; install numactl';
}
/** A migration of a large process can take seconds; a hung one must not stall the daemon forever. */
const COMMAND_TIMEOUT_MS = 120_000;

export interface MoveOutcome {
  ok: boolean;
  cpusAllowedBefore: number[];
  cpusAllowedAfter: number[];
  memoryMiBBefore: Record<string, number>;
  memoryMiBAfter: Record<string, number>;
  elapsedMs: number;
  error?: string;
}

function memoryByNode(fs: FsRoot, pid: number): Record<string, number> {
  const maps = parseNumaMaps(fs.readText(`/proc/${pid}/numa_maps`));
  return Object.fromEntries([...maps.perNodeKiB].map(([n, kib]) => [String(n), Math.floor(kib / 1024)]));
}

export class ProcessMover {
  constructor(
    private readonly fs: FsRoot,
    private readonly journalPath: string,
  ) {}

  private journal(entry: object): void {
    try {
      mkdirSync(path.dirname(this.journalPath), { recursive: true });
      appendFileSync(this.journalPath, `${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`);
    } catch {
      // the move itself is what matters; a full disk must not turn it into a failure
    }
  }

  /**
   * Set every thread's affinity to `cpus`, and when `migrate` is given, move pages from the other memory nodes to
   * `toNodes`. ok only when /proc shows the new affinity and (if migrating) most memory on the target nodes.
   */
  async move(pid: number, cpus: number[], migrate?: { fromNodes: number[]; toNodes: number[] }): Promise<MoveOutcome> {
    const started = Date.now();
    const status = (): number[] => parsePidStatus(this.fs.readText(`/proc/${pid}/status`)).cpusAllowed;
    let before: number[] = [];
    let memBefore: Record<string, number> = {};
    try {
      before = status();
      memBefore = memoryByNode(this.fs, pid);
      await run('taskset', ['-a', '-p', '-c', formatIdList(cpus), String(pid)], { timeout: COMMAND_TIMEOUT_MS });
      let migrateError: string | undefined;
      if (migrate && migrate.fromNodes.length > 0) {
        // migratepages exits non-zero when some pages could not move (shared, pinned, or under I/O) even though the
        // rest moved; what counts is where the memory is afterwards, read from numa_maps below.
        await run('migratepages', [String(pid), formatIdList(migrate.fromNodes), formatIdList(migrate.toNodes)], { timeout: COMMAND_TIMEOUT_MS }).catch(
          (err: unknown) => {
            migrateError = (err as Error).message.trim();
          },
        );
      }
      const after = status();
      const memAfter = memoryByNode(this.fs, pid);
      const total = Object.values(memAfter).reduce((a, b) => a + b, 0);
      const onTarget = migrate ? migrate.toNodes.reduce((a, n) => a + (memAfter[String(n)] ?? 0), 0) : total;
      // Pages shared with other processes or pinned by the kernel may stay; numad tolerates 2 pages, we 5 %.
      const ok = formatIdList(after) === formatIdList(cpus) && (total === 0 || onTarget >= 0.95 * total);
      const outcome: MoveOutcome = {
        ok,
        cpusAllowedBefore: before,
        cpusAllowedAfter: after,
        memoryMiBBefore: memBefore,
        memoryMiBAfter: memAfter,
        elapsedMs: Date.now() - started,
        ...(migrateError ? { error: migrateError } : {}),
      };
      this.journal({ pid, action: migrate ? 'affinity+migrate' : 'affinity', ...outcome });
      return outcome;
    } catch (err) {
      const outcome: MoveOutcome = {
        ok: false,
        cpusAllowedBefore: before,
        cpusAllowedAfter: [],
        memoryMiBBefore: memBefore,
        memoryMiBAfter: {},
        elapsedMs: Date.now() - started,
        error: (err as Error).message,
      };
      this.journal({ pid, action: migrate ? 'affinity+migrate' : 'affinity', ...outcome });
      return outcome;
    }
  }

  /** Exchange two processes' nodes (see SWAP_MAX_ROUNDS); one outcome per side, each verified like move(). */
  async swap(a: SwapSide, b: SwapSide): Promise<[MoveOutcome, MoveOutcome]> {
    const started = Date.now();
    const onTarget = (side: SwapSide, mem: Record<string, number>): number => side.toNodes.reduce((sum, n) => sum + (mem[String(n)] ?? 0), 0);
    const migrate = (side: SwapSide): Promise<MoveOutcome> => {
      const mem = memoryByNode(this.fs, side.pid);
      const fromNodes = Object.keys(mem).map(Number).filter((n) => !side.toNodes.includes(n) && (mem[String(n)] ?? 0) > 0);
      return this.move(side.pid, side.cpus, { fromNodes, toNodes: side.toNodes });
    };
    // Each outcome already carries numa_maps from before and after its round: a round that moved nothing ends it.
    const moved = (side: SwapSide, o: MoveOutcome): boolean => onTarget(side, o.memoryMiBAfter) !== onTarget(side, o.memoryMiBBefore);
    let outcomes: [MoveOutcome, MoveOutcome] = [await migrate(a), await migrate(b)];
    for (let round = 1; round < SWAP_MAX_ROUNDS && !(outcomes[0].ok && outcomes[1].ok); round++) {
      if (!moved(a, outcomes[0]) && !moved(b, outcomes[1])) break;
      outcomes = [await migrate(a), await migrate(b)];
    }
    const elapsedMs = Date.now() - started;
    return [
      { ...outcomes[0], elapsedMs },
      { ...outcomes[1], elapsedMs },
    ];
  }
}

export interface SwapSide {
  pid: number;
  cpus: number[];
  toNodes: number[];
}

/**
 * A swap fills each target node with pages the other process is still holding there, so neither migration can finish
 * first: migratepages moves what fits and leaves the rest. Alternating the two frees room for the other each round;
 * it stops when both are verified, or when a round moved nothing.
 */
export const SWAP_MAX_ROUNDS = 8;

/** numad's "PID %d moved to node(s) %s in %d.%d seconds": hundredths without zero padding (5 → "0.5"). */
export function movedLine(pid: number, nodeset: string, elapsedMs: number): string {
  const hundredths = Math.round(elapsedMs / 10);
  return `PID ${pid} moved to node(s) ${nodeset} in ${Math.floor(hundredths / 100)}.${hundredths % 100} seconds`;
}
