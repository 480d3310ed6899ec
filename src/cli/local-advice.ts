// The answer `numad -w` gives when no daemon can: read the host, measure CPU idle over a short window, run the
// same policy the daemon runs, log numad's line pair. No reservation is made (only the daemon keeps a ledger).
import { setTimeout as sleep } from 'node:timers/promises';
import { FsRoot } from '../topology/fsroot.js';
import { HostObserver } from '../observe/host-observer.js';
import { deriveCapacity, memoryNodeset, toPolicyNode, type CapacityOptions } from '../model/capacity.js';
import { adviseNumad } from '../policy/numad.js';
import type { Advice, PlacementRequest } from '../policy/types.js';
import { LOG_NOTICE, preplacementLines, type NumadLog } from '../log/numad-log.js';

/**
 * numad sleeps 2 s between its two samples, but its daemon accepts any window over 70 ms. 80 ms gives 8 ticks per
 * CPU at USER_HZ=100 (a 10-CPU node is measured to 1.25 %), and keeps a whole answer under 200 ms.
 */
export const LOCAL_SAMPLE_WINDOW_MS = 80;

export async function adviseLocally(
  fsRoot: string,
  request: PlacementRequest,
  capacity: CapacityOptions,
  numadLog: NumadLog | undefined,
  windowMs = LOCAL_SAMPLE_WINDOW_MS,
): Promise<Advice> {
  const observer = new HostObserver(new FsRoot(fsRoot));
  if (windowMs > 0) {
    await sleep(windowMs);
    observer.sampleCpu();
    observer.refreshMemory();
  }
  const caps = deriveCapacity(observer.snapshot(), capacity);
  const advice = adviseNumad(caps.map((c) => toPolicyNode(c, { cpuHundredths: 0, memMiB: 0 }, 1)), request);
  numadLog?.log(LOG_NOTICE, ...preplacementLines(request.cpuHundredths, request.memMiB, memoryNodeset(caps), advice.nodeset));
  return advice;
}
