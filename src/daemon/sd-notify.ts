// systemd's readiness protocol (Type=notify): READY=1 to $NOTIFY_SOCKET through src/native/sd-notify.c (Node.js
// cannot send a unix datagram). Without NOTIFY_SOCKET (not started by systemd, or not Type=notify) it does nothing.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { addonLoadFailed, addonNotBuilt } from '../errors.js';

interface SdNotifyAddon {
  notify(socketPath: string, state: string): void;
}

/** Beside the compiled module (dist/daemon → dist/native), or the build's when run from the sources. */
const ADDON_CANDIDATES = ['../native/sd-notify.node', '../../dist/native/sd-notify.node'];

function loadAddon(): SdNotifyAddon | Error {
  const require = createRequire(import.meta.url);
  for (const rel of ADDON_CANDIDATES) {
    const file = fileURLToPath(new URL(rel, import.meta.url));
    if (!existsSync(file)) continue;
    try {
      return require(file) as SdNotifyAddon;
    } catch (err) {
      return addonLoadFailed(err);
    }
  }
  return addonNotBuilt('sd-notify');
}

/** Sends `state` (e.g. READY=1) to systemd; the reason it could not, or undefined (sent, or not under systemd). */
export function sdNotify(state: string, env: NodeJS.ProcessEnv = process.env): Error | undefined {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return undefined;
  const addon = loadAddon();
  if (addon instanceof Error) return addon;
  try {
    addon.notify(socket, state);
    return undefined;
  } catch (err) {
    return addonLoadFailed(err);
  }
}
