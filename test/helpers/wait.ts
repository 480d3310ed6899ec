// Polling until something a test waits for has happened (a daemon's reply, a connection), with a deadline.
import { setTimeout as sleep } from 'node:timers/promises';

export async function waitFor(cond: () => boolean, ms = 5000, everyMs = 20): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(everyMs);
  }
}
