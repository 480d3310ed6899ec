// libvirt inside a lab guest: what a guest script needs to run Debian's libvirtd (from this machine's root, shared
// read-only) with our numad command at /usr/bin/numad, QEMU domains in it (TCG inside the TCG guest), a tiny
// multiboot kernel that keeps a vCPU busy, and the machine-readable sections a guest script prints for its test.
// Measured (docs/lab.md): libvirtd answers 8–11 s after it is started, our daemon is up and connected to it after
// ~25 s (Node.js under TCG), a domain with no disk starts in 5–6 s alone and in 9–15 s when four start together; so
// scenario files budget minutes and share one guest between their assertions.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_DIR } from '../helpers/fixtures.js';
import { LAB_DIR, labUnavailable, runInGuest, type Topology } from './harness.js';

/**
 * What the guest runs from this machine's root besides the lab's own packages (the Makefile's APT_LAB_PACKAGES):
 * libvirtd and virtlogd (libvirt-daemon, pulled in with its QEMU driver), qemu.conf, libvirtd.conf and the
 * libvirt-qemu user QEMU runs as (libvirt-daemon-system), virsh (libvirt-clients).
 */
export const LAB_LIBVIRT_PACKAGES = ['libvirt-daemon-system', 'libvirt-clients'];

/** Why a VM scenario cannot run here, or undefined. */
export function libvirtLabUnavailable(): string | undefined {
  const lab = labUnavailable();
  if (lab) return lab;
  const missing = LAB_LIBVIRT_PACKAGES.filter((p) => spawnSync('dpkg', ['-s', p], { stdio: 'ignore' }).status !== 0);
  return missing.length > 0 ? `missing Debian packages: ${missing.join(' ')} (make lab-deps installs them)` : undefined;
}

/** A line the guest script prints before each section of its output: `@@@ <name>`. */
export const SECTION = '@@@';

/** `now` in the guest, in seconds since its kernel booted: the stamps of the TIME lines. */
const UPTIME_FN = `up() { cut -d' ' -f1 /proc/uptime; }`;

export interface PreludeOptions {
  /** seconds to wait for `virsh version` to answer */
  libvirtdDeadlineS?: number;
  /**
   * The program bound over /usr/bin/numad, where libvirt runs it for placement='auto': ours (the default), the real
   * numad (`/usr/bin/numad` itself: this machine's Debian package, left as it is), or nothing at all ('none', for
   * domains that use no placement='auto').
   */
  numad?: 'ours' | 'real' | 'none';
}

/**
 * Shell run first by a VM scenario's guest script. The guest's root is this machine's `/` read-only with tmpfs over
 * /tmp /run /var/log /var/lib /var/tmp /root (harness.ts), which is not enough for libvirtd:
 * - cgroup2 at /sys/fs/cgroup: libvirt puts each QEMU in machine/qemu-N-NAME.libvirt-qemu and writes its cpuset
 *   there; without a cgroup mount every numatune call fails with "cgroup cpuset controller is not mounted";
 * - a tmpfs on /var/cache: libvirt writes its cache of QEMU's capabilities under /var/cache/libvirt, read-only here;
 * - the directories the Debian package would have created under the tmpfs mounts (logs, domain state, sockets);
 * - our numad command over /usr/bin/numad, the path libvirt has compiled in (docs/libvirt.md; `make install` puts
 *   it there with dpkg-divert, here a bind mount on the read-only root does the same for this guest only).
 * Then virtlogd (QEMU's console and log go through it) and libvirtd, and a wait until `virsh version` answers.
 * Prints `TIME libvirtd <s>` (from starting libvirtd to its first answer) and defines `up` (uptime in seconds).
 * Exits 20 when libvirtd does not answer in time, with its log on stderr.
 */
export function libvirtPrelude(o: PreludeOptions = {}): string {
  const deadline = o.libvirtdDeadlineS ?? 90;
  const numad = o.numad ?? 'ours';
  return `${UPTIME_FN}
echo "TIME userspace $(up)"
mount -t cgroup2 none /sys/fs/cgroup || exit 21
mount -t tmpfs tmpfs /var/cache || exit 22
mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/qemu /var/lib/libvirt/images /run/libvirt /var/cache/libvirt
${numad === 'ours' ? `mount --bind ${REPO_DIR}/dist/numad /usr/bin/numad || exit 23` : numad === 'none' ? 'mount --bind /bin/false /usr/bin/numad || exit 23' : ': the real numad stays at /usr/bin/numad'}
LV0=$(up)
virtlogd -d || exit 24
libvirtd -d || exit 25
i=0
until virsh -c qemu:///system version >/dev/null 2>&1; do
  i=$((i + 1))
  if [ $i -gt ${deadline * 2} ]; then echo "libvirtd did not answer in ${deadline} s" >&2; tail -50 /var/log/libvirt/libvirtd.log >&2; exit 20; fi
  sleep 0.5
done
echo "TIME libvirtd $(echo "$(up) $LV0" | awk '{printf "%.1f", $1 - $2}')"
`;
}

/**
 * Shell: start our daemon the way numad is started (`numad` with options, daemonised; libvirt `auto` finds the
 * guest's libvirtd), with `env` added to its environment (the NUMADVISOR_* variables the numad command reads), then
 * wait until its libvirt client is connected (GET /v1/domains), so the STARTED events of the domains the script
 * creates next are seen. Prints `TIME daemon <s>`. Exits 31 when it is not connected within the deadline.
 */
export function startNumadDaemon(numadOptions: string, env: Record<string, string> = {}, deadlineS = 120): string {
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${v} `).join('');
  // numad gives up waiting for its daemon after 60 s; under TCG on a loaded machine Node.js can take longer to start
  // (seen: 60+ s with other guests running), and the daemon goes on starting: keep waiting for it here.
  return `D0=$(up)
${assignments}${REPO_DIR}/dist/numad ${numadOptions} || echo "numad returned $?; waiting for its daemon" >&2
i=0
until curl -s --unix-socket /run/numadvisor/numadvisor.sock http://localhost/v1/domains | grep -q '"connected":true'; do
  i=$((i + 1))
  if [ $i -gt ${deadlineS * 2} ]; then echo "the daemon did not connect to libvirt in ${deadlineS} s" >&2; tail -20 /var/log/numadvisor.log >&2; exit 31; fi
  sleep 0.5
done
echo "TIME daemon $(echo "$(up) $D0" | awk '{printf "%.1f", $1 - $2}')"
`;
}

/**
 * Shell: print `@@@ name` and then what `cmd` prints (its stderr too), then a newline: curl's JSON has none, and the
 * next section's marker must start a line.
 */
export const section = (name: string, cmd: string): string => `echo '${SECTION} ${name}'\n{ ${cmd} ; } 2>&1\necho\n`;

/** The sections of a guest script's stdout, by name (text before the first section is under ''), and its TIME lines. */
export function parseSections(stdout: string): { sections: Map<string, string>; times: Map<string, number> } {
  const sections = new Map<string, string>();
  const times = new Map<string, number>();
  let name = '';
  let lines: string[] = [];
  const flush = (): void => {
    sections.set(name, (sections.get(name) ?? '') + lines.map((l) => `${l}\n`).join(''));
    lines = [];
  };
  for (const line of stdout.split('\n')) {
    if (line.startsWith(`${SECTION} `)) {
      flush();
      name = line.slice(SECTION.length + 1).trim();
      continue;
    }
    const t = /^TIME (\S+) ([\d.]+)$/.exec(line);
    if (t) {
      times.set(t[1] as string, Number(t[2]));
      continue;
    }
    lines.push(line);
  }
  flush();
  return { sections, times };
}

export interface LabDomain {
  name: string;
  memMiB: number;
  vcpus: number;
  mode: 'strict' | 'restrictive';
  /** a kernel QEMU boots directly (`<os><kernel>`); without one SeaBIOS finds nothing to boot and idles */
  kernel?: string;
  /** `<memoryBacking><allocation mode='immediate'/>`: QEMU preallocates all guest RAM, so it exists (and has a node) from the start */
  immediate?: boolean;
  /**
   * An administrator's memory nodeset (`<numatune>` placement='static'); the vCPUs are then not placed at all
   * (`<vcpu placement='static'>` without a cpuset: they may run on every CPU). Without it both are placement='auto'.
   */
  nodeset?: string;
  /** `<iothreads>N</iothreads>`: IOThreads 1..N (QEMU starts them without any device using them) */
  iothreads?: number;
}

/** A transient TCG domain with no disk and no network, vCPUs and memory placed by numad (placement='auto') unless `nodeset` is given. */
export function labDomainXml(d: LabDomain): string {
  return `<domain type='qemu'>
  <name>${d.name}</name>
  <memory unit='MiB'>${d.memMiB}</memory>
  <vcpu placement='${d.nodeset === undefined ? 'auto' : 'static'}'>${d.vcpus}</vcpu>
${d.iothreads ? `  <iothreads>${d.iothreads}</iothreads>\n` : ''}  <numatune><memory mode='${d.mode}' ${d.nodeset === undefined ? "placement='auto'" : `nodeset='${d.nodeset}'`}/></numatune>
${d.immediate ? "  <memoryBacking><allocation mode='immediate'/></memoryBacking>\n" : ''}  <os><type arch='x86_64' machine='pc'>hvm</type>${d.kernel ? `<kernel>${d.kernel}</kernel>` : ''}</os>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator><memballoon model='none'/></devices>
</domain>`;
}

/**
 * Shell: `ram PID` prints the guest RAM's pages per node — QEMU's largest mapping in numa_maps — as
 * "<pages> N<node>=<pages> …". With a timeout: a QEMU stuck in reclaim holds whoever reads its numa_maps.
 */
export const RAM_FN = `ram() { timeout 10 awk '{t=0; delete s; for (i = 1; i <= NF; i++) if ($i ~ /^N[0-9]+=/) { split(substr($i, 2), a, "="); s[a[1]] = a[2]; t += a[2] } if (t > best) { best = t; out = ""; for (n in s) out = out " N" n "=" s[n] } } END { print best out }' /proc/$1/numa_maps; }`;

/** Shell: write `text` to `file` in the guest (a quoted here-document: nothing in it is expanded). */
export const writeFileInGuest = (file: string, text: string): string => `cat > '${file}' <<'NUMADVISOR_EOF'\n${text}\nNUMADVISOR_EOF\n`;

/** Where the load address of the spinning kernel is: 1 MiB, above the BIOS area, where multiboot kernels load. */
const SPIN_LOAD_ADDR = 0x100000;
const MULTIBOOT_MAGIC = 0x1badb002;
/** bit 16, the "a.out kludge": the header gives the load and entry addresses, so the file needs no ELF headers */
const MULTIBOOT_AOUT_KLUDGE = 0x00010000;
/** the header's 8 words */
const HEADER_BYTES = 32;
/** `jmp $` (EB FE): a jump to itself. Multiboot enters with interrupts off, so nothing ever leaves the loop. */
const SPIN = [0xeb, 0xfe];
/**
 * QEMU reads the first 8 KiB of a -kernel file to look for a Linux or multiboot header, whatever the file's size;
 * padding the file to that size makes sure every byte it looks at is ours.
 */
const SPIN_FILE_BYTES = 8192;
/** Where the touching kernel starts writing: above itself (loaded at 1 MiB) and below nothing QEMU put there. */
const TOUCH_FROM = 0x200000;
const PAGE = 4096;

/** A multiboot (v1) kernel file whose code, right after the header, is `code`. */
function multibootKernel(code: readonly number[]): Buffer {
  const b = Buffer.alloc(SPIN_FILE_BYTES);
  const entry = SPIN_LOAD_ADDR + HEADER_BYTES;
  const words = [
    MULTIBOOT_MAGIC,
    MULTIBOOT_AOUT_KLUDGE,
    // checksum: magic + flags + checksum must be 0 modulo 2^32
    (0x1_0000_0000 - ((MULTIBOOT_MAGIC + MULTIBOOT_AOUT_KLUDGE) % 0x1_0000_0000)) % 0x1_0000_0000,
    SPIN_LOAD_ADDR, // header_addr: the header is the file's first bytes
    SPIN_LOAD_ADDR, // load_addr
    SPIN_LOAD_ADDR + SPIN_FILE_BYTES, // load_end_addr: the whole file
    0, // bss_end_addr: no bss
    entry, // entry_addr: right after the header
  ];
  words.forEach((w, i) => b.writeUInt32LE(w, i * 4));
  Buffer.from(code).copy(b, HEADER_BYTES);
  return b;
}

/**
 * A multiboot (v1) kernel of 34 meaningful bytes that spins forever on its one vCPU: QEMU (`-kernel`, libvirt's
 * `<os><kernel>`) loads it at 1 MiB and jumps to the loop in 32-bit protected mode. A busy guest without a disk
 * image or a toolchain: what the rebalancer needs to see a VM use CPU.
 */
export function spinKernel(): Buffer {
  return multibootKernel(SPIN);
}

/** `imm32` as the 4 little-endian bytes an instruction carries. */
const le32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

/**
 * A multiboot kernel that writes one word into every 4 KiB page of guest RAM from 2 MiB up to `memMiB` (paging is off:
 * these are physical addresses), then halts with interrupts off. QEMU allocates guest RAM when the guest first
 * touches it, so the guest's memory grows by `memMiB` − 2 MiB as fast as TCG runs the loop: a guest faulting its
 * memory in all at once, what the memory guard is for. Halted, the guest then uses no CPU.
 */
export function touchKernel(memMiB: number): Buffer {
  const end = memMiB * 1024 * 1024;
  const code = [
    0xbf, ...le32(TOUCH_FROM), // mov edi, TOUCH_FROM
    0x89, 0x07, // loop: mov [edi], eax
    0x81, 0xc7, ...le32(PAGE), // add edi, PAGE
    0x81, 0xff, ...le32(end), // cmp edi, end
    0x72, 0xf0, // jb loop (-16: back over these 16 bytes)
    0xfa, // cli
    0xf4, // halt: hlt
    0xeb, 0xfd, // jmp halt
  ];
  return multibootKernel(code);
}

/** Writes the spinning kernel under the lab's cache (the project directory, which the guest shares) and returns its path. */
export function writeSpinKernel(): string {
  return writeLabFile('spin-multiboot.bin', spinKernel());
}

/** Writes the touching kernel for a guest of `memMiB` under the lab's cache and returns its path. */
export function writeTouchKernel(memMiB: number): string {
  return writeLabFile(`touch-${memMiB}mib-multiboot.bin`, touchKernel(memMiB));
}

function writeLabFile(name: string, data: Buffer): string {
  mkdirSync(LAB_DIR, { recursive: true });
  const file = path.join(LAB_DIR, name);
  writeFileSync(file, data);
  return file;
}

/**
 * Shell functions: `vcpu_tid PID` (the QEMU thread named `CPU 0/TCG`: libvirt runs QEMU with debug-threads=on) and
 * `vcpu_busy PID SECONDS`, its CPU time (utime + stime) over about that many seconds, printed as
 * `<ticks> <ticks per second> <seconds measured>` (the reads themselves take a while under TCG, so the seconds are
 * measured from the guest's uptime, not assumed). The thread's name has a space, so stat's fields are counted
 * after `) `. Needs `up` (libvirtPrelude).
 */
export const VCPU_BUSY_FN = `vcpu_tid() { for t in /proc/$1/task/*; do case "$(cat $t/comm)" in "CPU 0/"*) basename $t;; esac; done; }
vcpu_ticks() { sed 's/.*) //' /proc/$1/task/$2/stat | awk '{print $12 + $13}'; }
vcpu_busy() { tid=$(vcpu_tid $1); t0=$(up); a=$(vcpu_ticks $1 $tid); sleep $2; b=$(vcpu_ticks $1 $tid); echo "$((b - a)) $(getconf CLK_TCK) $(echo "$(up) $t0" | awk '{printf "%.2f", $1 - $2}')"; }
`;

export interface VmScenarioRun {
  code: number;
  stdout: string;
  stderr: string;
  sections: Map<string, string>;
  times: Map<string, number>;
}

/**
 * Run a VM scenario's guest script, then stop our daemon and time the whole guest run; print the TIME lines (the lab's
 * figures in docs/lab.md come from these) and, with NUMADVISOR_LAB_VERBOSE, everything the guest printed.
 */
export async function runVmScenario(label: string, topology: Topology, lines: readonly string[], deadlineMs: number): Promise<VmScenarioRun> {
  const started = Date.now();
  const script = [...lines, 'dist/numad -i 0', 'echo "TIME total $(up)"'].join('\n');
  const r = await runInGuest(topology, script, deadlineMs);
  const { sections, times } = parseSections(r.stdout);
  console.log(`${label}: ${[...times].map(([k, v]) => `${k} ${v} s`).join(', ')}; guest run ${(r.elapsedMs / 1000).toFixed(0)} s, test ${((Date.now() - started) / 1000).toFixed(0)} s`);
  if (process.env.NUMADVISOR_LAB_VERBOSE) console.log(r.stdout);
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, sections, times };
}
