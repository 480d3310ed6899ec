// The sd_notify addon (src/native/sd-notify.c): systemd's readiness datagram, which Node.js cannot send itself (no
// unix datagram sockets). A receiver stands in for systemd: Python binds the datagram socket (a path, and an
// abstract name written with '@' as $NOTIFY_SOCKET spells it) and prints what arrives.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getJson, spawnDaemon } from '../helpers/daemon-process.js';
import { REPO_DIR, tempDir } from '../helpers/fixtures.js';

const ADDON = path.join(REPO_DIR, 'dist/native/sd-notify.node');
const hasPython = spawnSync('python3', ['-c', 'pass']).status === 0;

interface SdNotifyAddon {
  notify(socketPath: string, state: string): void;
}

/** Binds `address` (a path, or '@name' for the abstract namespace), prints the first datagram, exits. */
function receiver(address: string): { ready: Promise<void>; received: Promise<string> } {
  const script = [
    'import socket, sys',
    'a = sys.argv[1]',
    "a = '\\0' + a[1:] if a.startswith('@') else a",
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    's.bind(a)',
    "print('bound', flush=True)",
    's.settimeout(10)',
    "print(s.recv(4096).decode(), flush=True)",
  ].join('\n');
  const child = spawn('python3', ['-c', script, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let onBound: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (onBound = resolve));
  const received = new Promise<string>((resolve) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.startsWith('bound\n')) onBound();
    });
    child.on('close', () => resolve(out.replace(/^bound\n/, '').trimEnd()));
  });
  return { ready, received };
}

describe.skipIf(!existsSync(ADDON) || !hasPython)('sd_notify addon', () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const addon = createRequire(import.meta.url)(ADDON) as SdNotifyAddon;

  it('sends READY=1 to a socket path', async () => {
    const sock = path.join(t.dir, 'notify');
    const r = receiver(sock);
    await r.ready;
    addon.notify(sock, 'READY=1\nSTATUS=listening');
    expect(await r.received).toBe('READY=1\nSTATUS=listening');
  });

  it('sends to an abstract socket written with @', async () => {
    const name = `@numadvisor-test-${process.pid}`;
    const r = receiver(name);
    await r.ready;
    addon.notify(name, 'READY=1');
    expect(await r.received).toBe('READY=1');
  });

  it('throws a coded error when nobody listens, and on a name that cannot be a socket address', () => {
    expect(() => addon.notify(path.join(t.dir, 'absent'), 'READY=1')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => addon.notify('x'.repeat(200), 'READY=1')).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
    expect(() => addon.notify('', 'READY=1')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('`numadvisor daemon` sends READY=1 once its socket answers (the unit is Type=notify)', async () => {
    const sock = path.join(t.dir, 'notify-daemon');
    const r = receiver(sock);
    await r.ready;
    const d = spawnDaemon({ fixture: '2node-2s12c24t', socket: path.join(t.dir, 'api.sock'), stateDir: path.join(t.dir, 'state'), logFile: path.join(t.dir, 'daemon.log'), env: { NOTIFY_SOCKET: sock } });
    try {
      expect(await r.received, d.stderr()).toBe('READY=1');
      // Ready means answering: the first request after the notification is served.
      expect((await getJson(path.join(t.dir, 'api.sock'), '/healthz'))?.status).toBe(200);
    } finally {
      await d.kill('SIGTERM');
    }
  }, 30_000);
});
