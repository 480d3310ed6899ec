// The lab: boot a stock Debian kernel under QEMU (TCG) with N emulated NUMA nodes and a SLIT, with this machine's
// own root filesystem shared read-only over virtio-9p and the project directory shared read-write at its own path,
// run one shell command inside, and hand back its stdout, stderr and exit code. Facts: ../shared/reference/lab.md.
//
// Assets (kernel unpacked from `apt-get download`, busybox initramfs) are built on first use and cached under
// test/.tmp/lab/; each run gets a directory of its own there, removed afterwards whatever happened.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_DIR } from '../helpers/fixtures.js';
import { D4, DL980 } from '../helpers/slit.js';

export const LAB_DIR = path.join(REPO_DIR, 'test/.tmp/lab');
export const LAB_PACKAGES = ['qemu-system-x86', 'busybox-static', 'kmod', 'cpio', 'numactl'];

export interface Topology {
  name: string;
  cpusPerNode: number;
  memMiBPerNode: number;
  /** SLIT, one row per node */
  distances: number[][];
  /** Memory of each node in MiB when the nodes differ (memMiBPerNode is then unused). */
  memMiB?: number[];
  /** Nodes (by id) with memory and no CPUs, as a CXL memory expander shows up; every other node gets cpusPerNode. */
  memoryOnlyNodes?: number[];
  /**
   * ACPI HMAT (`-machine hmat=on`): each node's initiator (the CPU node nearest its memory) and, for each CPU node
   * (row) and each node (column), the access latency in ns and bandwidth in MiB/s. QEMU wants an entry for every
   * initiator–target pair.
   */
  hmat?: { initiator: number[]; latencyNs: number[][]; bandwidthMiBps: number[][] };
}

export const LAB_4NODE: Topology = {
  name: '4-node 10/12/17',
  cpusPerNode: 1,
  memMiBPerNode: 512,
  distances: D4,
};

/** Room for a few 310 MiB processes per node, for the rebalancer test (one emulated CPU per node keeps TCG quick). */
export const LAB_4NODE_1GIB: Topology = {
  name: '4-node, 1 GiB each',
  cpusPerNode: 1,
  memMiBPerNode: 1024,
  distances: D4,
};

/**
 * For libvirt inside the guest (test/lab/libvirt-guest.ts): room on every node for libvirtd, the daemon, Node.js
 * clients and a small TCG domain each (the size issue #14's measurements of libvirt in the lab were made with).
 */
export const LAB_4NODE_768MIB: Topology = {
  name: '4-node, 768 MiB each',
  cpusPerNode: 1,
  memMiBPerNode: 768,
  distances: D4,
};

/**
 * A CXL-style host: two CPU nodes (0, 1) with DRAM and two CPU-less memory nodes (2 behind node 0, 3 behind node 1),
 * with an HMAT saying what SLIT cannot: the expanders are three times slower and a quarter of the bandwidth.
 */
export const LAB_CXL_HMAT: Topology = {
  name: '2 CPU nodes + 2 memory-only nodes, HMAT',
  cpusPerNode: 1,
  memMiBPerNode: 1024,
  // the CPU nodes: room for libvirtd, the daemon and a small TCG domain with ~1 GiB left for answers; 1 GiB expanders
  memMiB: [1536, 1536, 1024, 1024],
  distances: [
    [10, 21, 14, 24],
    [21, 10, 24, 14],
    [14, 24, 10, 26],
    [24, 14, 26, 10],
  ],
  memoryOnlyNodes: [2, 3],
  hmat: {
    initiator: [0, 1, 0, 1],
    latencyNs: [
      [80, 140, 250, 320],
      [140, 80, 320, 250],
    ],
    bandwidthMiBps: [
      [20480, 10240, 5120, 2560],
      [10240, 20480, 2560, 5120],
    ],
  },
};

export const LAB_8NODE_DL980: Topology = {
  name: '8-node HP DL980',
  cpusPerNode: 1,
  memMiBPerNode: 256,
  distances: DL980,
};

/** virtio needs virtio_ring's symbols first; 9p needs netfs and fscache (lab.md). */
const MODULES = ['virtio_ring', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'netfs', 'fscache', '9pnet', '9pnet_virtio', '9p'];

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in ${MODULES.join(' ')}; do insmod /modules/$m.ko || echo "lab: insmod $m failed"; done
arg() { sed -n "s/.*numadvisor\\.$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
PROJECT=$(arg project)
RUN=$(arg run)
mkdir -p /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /newroot || echo "lab: no root"
for d in tmp run var/log var/lib var/tmp root; do mount -t tmpfs tmpfs "/newroot/$d"; done
# After the tmpfs mounts: a project under /tmp (a CI clone) needs its mount point inside the new tmpfs.
mkdir -p "/newroot$PROJECT"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 project "/newroot$PROJECT" || echo "lab: no project"

mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
exec switch_root /newroot /bin/sh "$RUN/guest-runner.sh" "$PROJECT" "$RUN"
`;

const RUNNER = `#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
cd "$1"
echo NUMADVISOR-LAB-START
sh "$2/cmd.sh" > "$2/stdout" 2> "$2/stderr"
echo $? > "$2/rc"
sync
echo NUMADVISOR-LAB-END
echo o > /proc/sysrq-trigger
sleep 10
`;

function sh(cmd: string, args: string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

export function labUnavailable(): string | undefined {
  const missing = LAB_PACKAGES.filter((p) => spawnSync('dpkg', ['-s', p], { stdio: 'ignore' }).status !== 0);
  if (missing.length > 0) return `missing Debian packages: ${missing.join(' ')} (make lab-deps installs them)`;
  return undefined;
}

interface Assets {
  kernel: string;
  initramfs: string;
  kver: string;
}

let cachedAssets: Assets | undefined;

/** Kernel from `apt-get download`, unpacked with dpkg -x; initramfs from busybox-static and the 9p modules. */
export function labAssets(): Assets {
  if (cachedAssets) return cachedAssets;
  mkdirSync(LAB_DIR, { recursive: true });
  const kdir = path.join(LAB_DIR, 'kernel');
  if (!existsSync(path.join(kdir, 'boot'))) {
    const pkg = /Depends: (linux-image-[^\s]+)/.exec(sh('apt-cache', ['depends', 'linux-image-amd64']))?.[1];
    if (!pkg) throw new Error('cannot find the current linux-image package (apt-get update?)');
    const dl = path.join(LAB_DIR, 'download');
    rmSync(dl, { recursive: true, force: true });
    mkdirSync(dl, { recursive: true });
    sh('apt-get', ['download', pkg], dl);
    const deb = readdirSync(dl).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} produced no .deb`);
    rmSync(kdir, { recursive: true, force: true });
    sh('dpkg', ['-x', path.join(dl, deb), kdir]);
    rmSync(dl, { recursive: true, force: true });
  }
  const kver = readdirSync(path.join(kdir, 'lib/modules'))[0] as string;
  const kernel = path.join(kdir, 'boot', `vmlinuz-${kver}`);
  const hash = createHash('sha256').update(INIT).update(kver).digest('hex').slice(0, 12);
  const initramfs = path.join(LAB_DIR, `initramfs-${hash}.cpio.gz`);
  if (!existsSync(initramfs)) {
    sh('depmod', ['-b', kdir, kver]);
    const build = path.join(LAB_DIR, 'initramfs-build');
    rmSync(build, { recursive: true, force: true });
    for (const d of ['bin', 'proc', 'sys', 'dev', 'modules', 'newroot']) mkdirSync(path.join(build, d), { recursive: true });
    copyFileSync('/bin/busybox', path.join(build, 'bin/busybox'));
    chmodSync(path.join(build, 'bin/busybox'), 0o755);
    const modRoot = path.join(kdir, 'lib/modules', kver);
    const all = sh('find', [modRoot, '-name', '*.ko']).split('\n').filter(Boolean);
    for (const m of MODULES) {
      const src = all.find((f) => path.basename(f) === `${m}.ko`);
      if (!src) throw new Error(`module ${m}.ko not in ${pkgName(kver)}`);
      copyFileSync(src, path.join(build, 'modules', `${m}.ko`));
    }
    writeFileSync(path.join(build, 'init'), INIT, { mode: 0o755 });
    const tmp = `${initramfs}.tmp`;
    sh('sh', ['-c', `cd '${build}' && find . | cpio -o -H newc --quiet | gzip -1 > '${tmp}'`]);
    sh('mv', [tmp, initramfs]);
    rmSync(build, { recursive: true, force: true });
  }
  cachedAssets = { kernel, initramfs, kver };
  return cachedAssets;
}

const pkgName = (kver: string): string => `linux-image-${kver}`;

export interface GuestResult {
  stdout: string;
  stderr: string;
  code: number;
  console: string;
  elapsedMs: number;
}

export function qemuArgs(topology: Topology, assets: Assets, runDir: string): string[] {
  const n = topology.distances.length;
  const memoryOnly = new Set(topology.memoryOnlyNodes ?? []);
  const cpuNodes = Array.from({ length: n }, (_, i) => i).filter((i) => !memoryOnly.has(i));
  const cpus = cpuNodes.length * topology.cpusPerNode;
  const hmat = topology.hmat;
  const memOf = (i: number): number => topology.memMiB?.[i] ?? topology.memMiBPerNode;
  const totalMiB = Array.from({ length: n }, (_, i) => memOf(i)).reduce((a, b) => a + b, 0);
  const args = [
    '-accel', 'tcg,thread=multi',
    ...(hmat ? ['-machine', 'pc,hmat=on'] : []),
    '-m', `${totalMiB}M`,
    '-smp', `${cpus},sockets=${cpuNodes.length},cores=${topology.cpusPerNode},threads=1`,
    '-display', 'none', '-monitor', 'none', '-serial', `file:${path.join(runDir, 'console.log')}`,
    '-no-reboot', '-nic', 'none',
    '-kernel', assets.kernel,
    '-initrd', assets.initramfs,
    '-append', `console=ttyS0 quiet loglevel=0 panic=-1 numadvisor.project=${REPO_DIR} numadvisor.run=${runDir}`,
    '-fsdev', 'local,id=r,path=/,security_model=none,readonly=on,multidevs=remap',
    '-device', 'virtio-9p-pci,fsdev=r,mount_tag=hostroot',
    '-fsdev', `local,id=p,path=${REPO_DIR},security_model=none,multidevs=remap`,
    '-device', 'virtio-9p-pci,fsdev=p,mount_tag=project',
  ];
  for (let i = 0; i < n; i++) {
    args.push('-object', `memory-backend-ram,id=m${i},size=${memOf(i)}M`);
    const initiator = hmat ? `,initiator=${hmat.initiator[i] ?? i}` : '';
    const k = cpuNodes.indexOf(i);
    if (k < 0) {
      args.push('-numa', `node,nodeid=${i},memdev=m${i}${initiator}`);
      continue;
    }
    const first = k * topology.cpusPerNode;
    const last = first + topology.cpusPerNode - 1;
    args.push('-numa', `node,nodeid=${i},cpus=${first === last ? first : `${first}-${last}`},memdev=m${i}${initiator}`);
  }
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) args.push('-numa', `dist,src=${i},dst=${j},val=${(topology.distances[i] as number[])[j]}`);
  }
  if (hmat) {
    for (const [row, i] of cpuNodes.entries()) {
      for (let j = 0; j < n; j++) {
        const latency = (hmat.latencyNs[row] as number[])[j] as number;
        const bandwidth = (hmat.bandwidthMiBps[row] as number[])[j] as number;
        args.push('-numa', `hmat-lb,initiator=${i},target=${j},hierarchy=memory,data-type=access-latency,latency=${latency}`);
        args.push('-numa', `hmat-lb,initiator=${i},target=${j},hierarchy=memory,data-type=access-bandwidth,bandwidth=${bandwidth}M`);
      }
    }
  }
  return args;
}

/** Boot, run `script` with /bin/sh in the project directory, power off; never leaves a qemu or a run dir behind. */
export async function runInGuest(topology: Topology, script: string, timeoutMs = 240_000): Promise<GuestResult> {
  const assets = labAssets();
  const runDir = path.join(LAB_DIR, 'runs', randomUUID());
  mkdirSync(runDir, { recursive: true });
  writeFileSync(path.join(runDir, 'cmd.sh'), script);
  writeFileSync(path.join(runDir, 'guest-runner.sh'), RUNNER, { mode: 0o755 });
  const started = Date.now();
  const child = spawn('qemu-system-x86_64', qemuArgs(topology, assets, runDir), { stdio: ['ignore', 'ignore', 'pipe'] });
  let qemuErr = '';
  child.stderr.on('data', (c: Buffer) => (qemuErr += c.toString()));
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', kill);
  try {
    const timedOut = await new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => {
        kill();
        resolve(true);
      }, timeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    const read = (f: string): string => (existsSync(path.join(runDir, f)) ? readFileSync(path.join(runDir, f), 'utf8') : '');
    const consoleText = read('console.log');
    const rc = read('rc').trim();
    if (timedOut || rc === '') {
      throw new Error(
        `${timedOut ? `guest timed out after ${timeoutMs} ms` : 'guest ended without an exit code'}; qemu: ${qemuErr.slice(-500)}\n` +
          `console (last 2000 chars):\n${consoleText.slice(-2000)}\nstderr:\n${read('stderr').slice(-2000)}`,
      );
    }
    return { stdout: read('stdout'), stderr: read('stderr'), code: Number(rc), console: consoleText, elapsedMs: Date.now() - started };
  } finally {
    kill();
    process.off('exit', kill);
    rmSync(runDir, { recursive: true, force: true });
  }
}
