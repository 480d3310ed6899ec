// A real libvirtd for the tests, started as root the way the guide asks: Debian's libvirt-daemon, in a private mount
// namespace where /usr/bin/numad is our numad command (libvirt runs that fixed path for placement='auto') and
// /dev/kvm is hidden (nested KVM hangs here; with it visible libvirt re-probes QEMU for ~36 s on every start because
// the probe and the start disagree about KVM). virtlogd is started too; both are stopped by stopLibvirtd.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { REPO_DIR } from './fixtures.js';

export const LIBVIRT_SOCK = '/run/libvirt/libvirt-sock';
const PID_FILE = '/run/libvirtd.pid';
const OUR_NUMAD = path.join(REPO_DIR, 'dist', 'numad');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const pidOf = (file: string): number | undefined => {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return n > 0 && alive(n) ? n : undefined;
  } catch {
    return undefined;
  }
};

async function accepts(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path: socketPath });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Root, libvirtd and both numads installed, and no running QEMU domain: the tests restart libvirtd, which must never
 * happen on a hypervisor someone uses.
 */
export function libvirtAvailable(): boolean {
  if (process.getuid?.() !== 0 || !existsSync('/usr/sbin/libvirtd') || !existsSync(OUR_NUMAD) || !existsSync('/usr/bin/numad')) return false;
  const running = spawnSync('sh', ['-c', 'ls /run/libvirt/qemu/*.pid 2>/dev/null'], { encoding: 'utf8' }).stdout.trim();
  // driver.pid is the QEMU driver's own lock file, present whenever libvirtd runs (a leftover of a killed test run).
  return running === '' || running.split('\n').every((f) => /\/nv-[^/]+\.pid$/.test(f) || f.endsWith('/driver.pid'));
}

async function stopDaemon(pidFile: string, name: string): Promise<void> {
  const pid = pidOf(pidFile) ?? Number(spawnSync('pgrep', ['-x', name], { encoding: 'utf8' }).stdout.trim().split('\n')[0] || 0);
  if (!pid) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/** Stop libvirtd; with `all`, virtlogd too (the end of a test run). */
export async function stopLibvirtd(all = false): Promise<void> {
  await stopDaemon(PID_FILE, 'libvirtd');
  if (all) await stopDaemon('/run/virtlogd.pid', 'virtlogd');
}

/** (Re)start libvirtd with `env` added to its environment (the numad it runs inherits it: libvirt.md §1.2). */
export async function startLibvirtd(env: Record<string, string> = {}): Promise<void> {
  await stopLibvirtd();
  if (!pidOf('/run/virtlogd.pid')) execFileSync('virtlogd', ['-d']);
  const hideKvm = existsSync('/dev/kvm') ? 'mount --bind /dev/null /dev/kvm && ' : '';
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  execFileSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `${hideKvm}mount --bind "$1" /usr/bin/numad && shift && exec env "$@" libvirtd -d`, 'sh', OUR_NUMAD, ...envArgs]);
  for (let i = 0; i < 200; i++) {
    if (pidOf(PID_FILE) && (await accepts(LIBVIRT_SOCK))) return;
    await sleep(100);
  }
  throw new Error('libvirtd did not start in 20 s');
}

/** A transient QEMU domain with no disk: 128 MiB, TCG (libvirt.md §2.8). */
export function qemuDomainXml(name: string, o: { vcpus?: number; mode?: 'strict' | 'restrictive'; placement?: 'auto' | 'static'; cputune?: string } = {}): string {
  const placement = o.placement ?? 'auto';
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu placement='${placement}'>${o.vcpus ?? 2}</vcpu>
  ${o.cputune ? `<cputune>${o.cputune}</cputune>` : ''}
  <numatune><memory mode='${o.mode ?? 'strict'}' placement='${placement}'${placement === 'static' ? " nodeset='0'" : ''}/></numatune>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator><memballoon model='none'/></devices>
</domain>`;
}

export function virsh(...args: string[]): string {
  return execFileSync('virsh', ['-c', 'qemu:///system', ...args], { encoding: 'utf8' });
}

/**
 * virsh without blocking this process: `virsh create` waits for libvirt, which waits for the `numad -w` it runs, which
 * asks the daemon under test — running in this process. Called synchronously, the daemon cannot answer until virsh
 * returns: numad falls back to a local answer after its deadlines and the daemon answers the abandoned requests
 * afterwards, leaving reservations that no domain took, made after the domain's QEMU started.
 */
export async function virshAsync(...args: string[]): Promise<string> {
  return (await promisify(execFile)('virsh', ['-c', 'qemu:///system', ...args], { encoding: 'utf8' })).stdout;
}
