// The answer `numad -w` gives when the daemon cannot: read the host, measure CPU idle over a short window, run
// numad's policy (policy/numad.ts, always: the daemon's --policy is not known here, and numad's answer is what a
// `numad` command without numad's daemon should give; docs/numad-compatibility.md) — on a host with CPU-less memory
// nodes first over the nodes with CPUs (policy/numadvisor.ts adviseWithTiers) — and log numad's line pair. With the daemon's state directory at hand the answer counts
// every reservation the daemon and earlier local answers made, and is recorded in the spool, which the daemon
// adopts (src/model/local-answers.ts); libvirt starting VMs in a burst while the daemon is stopped must not be told
// "node 0" a thousand times.
import { setTimeout as sleep } from 'node:timers/promises';
import { FsRoot } from '../topology/fsroot.js';
import { HostObserver } from '../observe/host-observer.js';
import { deriveCapacity, memoryNodeset, toPolicyNode, type CapacityOptions } from '../model/capacity.js';
import { recordLocalAnswer } from '../model/local-answers.js';
import { reservationCheck } from '../model/reservation-check.js';
import { ReservationLedger, RESERVATION_TTL_MS, type Reservation } from '../model/reservations.js';
import { adviseNumad } from '../policy/numad.js';
import { adviseWithTiers } from '../policy/numadvisor.js';
import type { Advice, PlacementRequest } from '../policy/types.js';
import { LOG_NOTICE, preplacementLines, type NumadLog } from '../log/numad-log.js';
// The daemon's default, so a local answer counts reservations as the daemon would.
import { CPU_ALLOCATION_RATIO } from '../config/daemon-config.js';

/**
 * numad sleeps 2 s between its two samples, but its daemon accepts any window over 70 ms. 80 ms gives 8 ticks per
 * CPU at USER_HZ=100 (a 10-CPU node is measured to 1.25 %), and keeps a whole answer under 200 ms.
 */
export const LOCAL_SAMPLE_WINDOW_MS = 80;


/** "<unix ms> <text of /proc/stat>", as src/cli/numad-fast.c hands it over; undefined when absent, odd or stale. */
function seededSample(env: string | undefined): { atMs: number; text: string } | undefined {
  const m = env === undefined ? null : /^(\d{1,15}) /.exec(env);
  if (!m || env === undefined) return undefined;
  const atMs = Number(m[1]);
  const age = Date.now() - atMs;
  // From this invocation: not in the future, not from a parent that ran long ago.
  if (age < 0 || age > 10_000) return undefined;
  return { atMs, text: env.slice(m[0].length) };
}

export interface LocalAdvice {
  advice: Advice;
  reservation: Reservation | undefined;
  /** whether the daemon will count this answer (it is in the spool) */
  recorded: boolean;
  /** what the answer could not take into account, for stderr */
  note?: string;
}

export async function adviseLocally(
  fsRoot: string,
  request: PlacementRequest,
  capacity: CapacityOptions,
  numadLog: NumadLog | undefined,
  windowMs = LOCAL_SAMPLE_WINDOW_MS,
  /** the daemon's state directory: count its reservations and record this answer; undefined for neither */
  stateDir?: string,
): Promise<LocalAdvice> {
  const observer = new HostObserver(new FsRoot(fsRoot));
  if (windowMs > 0) {
    // The C front end's sample, taken before Node.js started: the window has mostly passed already.
    const seed = seededSample(process.env.NUMADVISOR_CPU_SAMPLE);
    if (seed) observer.seedCpuSample(seed.text, seed.atMs);
    const waited = seed ? Date.now() - seed.atMs : 0;
    if (waited < windowMs) await sleep(windowMs - waited);
    observer.sampleCpu();
    observer.refreshMemory();
  }
  const caps = deriveCapacity(observer.snapshot(), capacity);
  const decide = (ledger: ReservationLedger): { advice: Advice; reservation: Reservation | undefined } => {
    const nodes = caps.map((c) => toPolicyNode(c, ledger.reservedOn(c.id), CPU_ALLOCATION_RATIO));
    const advice = adviseWithTiers(nodes, request, adviseNumad);
    const reservation = ledger.reserve(advice, { nowMs: Date.now(), ttlMs: RESERVATION_TTL_MS, client: 'numad -w (local)' });
    return { advice, reservation };
  };
  let result: LocalAdvice;
  if (stateDir === undefined) {
    result = { advice: decide(new ReservationLedger()).advice, reservation: undefined, recorded: false };
  } else {
    const check = reservationCheck(new Set(caps.map((c) => c.id)));
    const outcome = await recordLocalAnswer(stateDir, check, decide);
    result = {
      advice: outcome.decision.advice,
      reservation: outcome.recorded ? outcome.decision.reservation : undefined,
      recorded: outcome.recorded,
      ...(outcome.note !== undefined ? { note: outcome.note } : {}),
    };
  }
  numadLog?.log(LOG_NOTICE, ...preplacementLines(request.cpuHundredths, request.memMiB, memoryNodeset(caps), result.advice.nodeset));
  return result;
}
