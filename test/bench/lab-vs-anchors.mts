// numadvisor side by side with what a user would run instead (issue #14), on real 4-node kernels in the lab: the same
// guest shape and the same three scenarios under four anchors, one lab guest per anchor:
//   ours      numadvisor's numad command as the daemon (`numad -u 130 -i 4:8`), and at /usr/bin/numad for libvirt
//   numad     the real numad 20150602 (Debian's /usr/bin/numad) as the daemon with the same options, and for libvirt
//   autonuma  no advisor, the kernel's automatic NUMA balancing on (/proc/sys/kernel/numa_balancing = 1)
//   none      no advisor, NUMA balancing off
// Scenarios (in this order in each guest; every scenario cleans up before the next):
//   storm      four idle 1-vCPU domains created at once (placement='auto' for ours/numad, unbound for the kernel)
//   misplaced  one busy 384 MiB domain whose guest RAM sits on a node 17 away from its vCPU (see MISPLACED below)
//   processes  three busy ~330 MiB processes whose memory was touched on node 0, then allowed every CPU
// Measured per VM / process from samples taken every 1–5 s (raw lines printed after the tables); the legend
// printed with the tables says exactly what each column means.
//
// Run (root; one guest per anchor, one after the other: 8–10 minutes each on this 2-core machine beside other work):
//   npx tsx test/bench/lab-vs-anchors.mts [--anchors ours,numad,autonuma,none] [--scenarios storm,misplaced,processes]
//        [--storm-s 40] [--misplaced-s 120] [--processes-s 120] [--verbose] [--print-script]
// --*-s: the observation window of each scenario in seconds (the real numad waits 300 s before it first evaluates a new
// candidate, so windows under ~320 s show it doing nothing in misplaced and processes; longer windows make each guest
// take longer than the ~8 minutes aimed at); --verbose prints every guest's whole output;
// --print-script prints the guest scripts and exits; --reparse FILE summarises the output of an earlier --verbose run
// (saved to FILE) instead of running guests.
import { parseArgs } from 'node:util';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LAB_4NODE_1GIB, LAB_DIR, labAssets, runInGuest, type Topology } from '../lab/harness.js';
import { labDomainXml, RAM_FN, libvirtLabUnavailable, libvirtPrelude, parseSections, section, spinKernel, startNumadDaemon, VCPU_BUSY_FN, writeFileInGuest } from '../lab/libvirt-guest.js';

type Anchor = 'ours' | 'numad' | 'autonuma' | 'none';
type Scenario = 'storm' | 'misplaced' | 'processes';
const ANCHORS: readonly Anchor[] = ['ours', 'numad', 'autonuma', 'none'];
const SCENARIOS: readonly Scenario[] = ['storm', 'misplaced', 'processes'];
const ANCHOR_LABEL: Record<Anchor, string> = {
  ours: 'numadvisor (numad -u 130 -i 4:8)',
  numad: 'real numad 20150602 (-u 130 -i 4:8)',
  autonuma: 'no advisor, numa_balancing = 1',
  none: 'no advisor, numa_balancing = 0',
};

const { values } = parseArgs({
  options: {
    anchors: { type: 'string', default: ANCHORS.join(',') },
    scenarios: { type: 'string', default: SCENARIOS.join(',') },
    'storm-s': { type: 'string', default: '40' },
    'misplaced-s': { type: 'string', default: '120' },
    'processes-s': { type: 'string', default: '120' },
    verbose: { type: 'boolean', default: false },
    'print-script': { type: 'boolean', default: false },
    reparse: { type: 'string' },
  },
});
const pick = <T extends string>(list: string, all: readonly T[], what: string): T[] => {
  const chosen = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const c of chosen) if (!all.includes(c as T)) throw new Error(`unknown ${what} '${c}' (one of ${all.join(', ')})`);
  return all.filter((a) => chosen.includes(a));
};
const anchors = pick(values.anchors, ANCHORS, 'anchor');
const scenarios = pick(values.scenarios, SCENARIOS, 'scenario');
const WINDOW_S: Record<Scenario, number> = {
  storm: Number(values['storm-s']),
  misplaced: Number(values['misplaced-s']),
  processes: Number(values['processes-s']),
};

/**
 * 4 nodes × 1 CPU × 1.25 GiB (the D4 SLIT of the other lab guests). 1.25 rather than 1 GiB: with libvirtd and our
 * daemon running, node 0 of a 1 GiB guest had ~880 MiB free (measured), less than the three ~330 MiB processes need to
 * start on it; at 1.25 GiB it has ~1.1–1.2 GiB free.
 */
const TOPOLOGY: Topology = { ...LAB_4NODE_1GIB, name: '4-node, 1.25 GiB each', memMiBPerNode: 1280 };
const NODES = TOPOLOGY.distances.length;
const ALL_CPUS = `0-${NODES * TOPOLOGY.cpusPerNode - 1}`;
const cpuNode = (cpu: number): number => Math.floor(cpu / TOPOLOGY.cpusPerNode);

/**
 * Storm domains: more than half of a node's free memory (~1.1 GiB), as vms.test.ts's 400 MiB on 768 MiB nodes, so a
 * placer that reserves what it answered must spread four answers given together over four nodes. Idle (no kernel:
 * SeaBIOS finds nothing to boot), so they touch little of it.
 */
const STORM_MIB = 640;
const STORM_DOMAINS = ['nv-storm-1', 'nv-storm-2', 'nv-storm-3', 'nv-storm-4'];
/** After this many seconds, `numad -w` clients libvirt is still waiting for are counted as hung and killed. */
const STORM_CREATE_DEADLINE_S = 150;
/** The busy domain: over numad's 300 MiB candidate size with QEMU's own memory on top (as vm-move.test.ts). */
const BUSY_MIB = 384;
const BUSY = 'nv-busy';
/** The processes: Buffer size; Node.js adds ~40 MiB, so RSS is ~330 MiB, over numad's 300 MiB candidate size. */
const PROC_MIB = 290;
const PROCS = ['p1', 'p2', 'p3'];
/** The kernel anchors' misplaced domain: vCPU pinned here during set-up, its RAM first touched on the farthest node. */
const STATIC_VCPU_NODE = 0;

const MISPLACED: Record<'advisor' | 'kernel', string> = {
  advisor:
    "placement='auto' restrictive domain placed by the advisor's answer on node X (vCPU pinned to X by libvirt), pid excluded (-x), " +
    'RAM moved with `virsh numatune --nodeset W --live` to W, the node farthest from X; then `numad -r PID` lets the daemon look',
  kernel:
    `domain with no numatune: vCPU pinned to node ${STATIC_VCPU_NODE}'s CPU, emulator (which preallocates the RAM) to the farthest node W, so the RAM ` +
    'is first-touched on W; with NUMA balancing off during set-up; then both pins are reset to every CPU (and numa_balancing set back to 1 for autonuma)',
};

/**
 * A multiboot kernel that keeps its vCPU busy *and* keeps using its memory: it writes one word in every 4 KiB page from
 * 2 MiB up to 32 MiB below the end of RAM, over and over, for ever. The lab's spinKernel() (`jmp $`) touches no guest
 * RAM, and libvirt-guest.ts's touchKernel() writes every page once and halts; with either, the kernel's NUMA balancing
 * would have no page faults to go by while the vCPU is busy. Same multiboot header as spinKernel(), other code after it
 * (entered in 32-bit protected mode, paging off).
 */
function busyTouchKernel(memMiB: number): Buffer {
  const b = spinKernel();
  const start = 0x200000;
  const end = start + (memMiB - 32) * 0x100000;
  const le = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  const code = [
    0xbf, ...le(start), // 0: mov edi, start
    0x89, 0x07, // 5: mov [edi], eax
    0x81, 0xc7, ...le(0x1000), // 7: add edi, 4096
    0x81, 0xff, ...le(end), // 13: cmp edi, end
    0x72, 0xf0, // 19: jb 5  (21 - 16)
    0x40, // 21: inc eax
    0xeb, 0xe8, // 22: jmp 0  (24 - 24)
  ];
  Buffer.from(code).copy(b, 32);
  return b;
}

/** A domain libvirt places without numad: `<vcpu placement='static'>`, no numatune; optional vCPU and emulator pins. */
function staticDomainXml(d: { name: string; memMiB: number; kernel?: string; immediate?: boolean; vcpuPin?: string; emulatorPin?: string }): string {
  const pins = d.vcpuPin !== undefined || d.emulatorPin !== undefined
    ? `  <cputune>${d.vcpuPin !== undefined ? `<vcpupin vcpu='0' cpuset='${d.vcpuPin}'/>` : ''}${d.emulatorPin !== undefined ? `<emulatorpin cpuset='${d.emulatorPin}'/>` : ''}</cputune>\n`
    : '';
  return `<domain type='qemu'>
  <name>${d.name}</name>
  <memory unit='MiB'>${d.memMiB}</memory>
  <vcpu placement='static'>1</vcpu>
${pins}${d.immediate ? "  <memoryBacking><allocation mode='immediate'/></memoryBacking>\n" : ''}  <os><type arch='x86_64' machine='pc'>hvm</type>${d.kernel ? `<kernel>${d.kernel}</kernel>` : ''}</os>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator><memballoon model='none'/></devices>
</domain>`;
}

/** For each node, the other nodes from the farthest to the nearest (ties: higher id first), as a shell `case`. */
function farFn(): string {
  const d = TOPOLOGY.distances;
  const arms = d.map((row, i) => {
    const order = row.map((dist, j) => ({ dist, j })).filter((x) => x.j !== i).sort((a, b) => b.dist - a.dist || b.j - a.j).map((x) => x.j);
    return `${i}) L="${order.join(' ')}";;`;
  });
  // far LIST: the node farthest from LIST's first node that is not in LIST.
  return `in_list() { echo "$2" | awk -v n="$1" -F, '{ for (i = 1; i <= NF; i++) { k = split($i, r, "-"); lo = r[1]; hi = (k > 1) ? r[2] : r[1]; if (n >= lo && n <= hi) f = 1 } } END { exit !f }'; }
far() { first=$(echo "$1" | sed 's/[-,].*//'); case $first in ${arms.join(' ')} *) L="";; esac; for c in $L; do in_list $c "$1" || { echo $c; return; }; done; }
`;
}

const VMSTAT_KEYS = ['pgmigrate_success', 'pgmigrate_fail', 'numa_pages_migrated', 'numa_hint_faults', 'numa_hint_faults_local', 'oom_kill'];

/**
 * Shell: `ram PID` (QEMU's or the process's largest mapping in numa_maps: "<pages> N<node>=<pages> …", as
 * vm-move.test.ts), `ram_on PID NODE SECONDS`, `smp NAME PID TID` (one sample line), the sampler and the scenario
 * begin/end helpers. A sample: `S <uptime> <name> <cpu> <Cpus_allowed_list of TID> <Mems_allowed_list> <pages> N<n>=<pages> …`,
 * cpu being field 39 (processor: the CPU TID last ran on) of /proc/PID/task/TID/stat.
 */
const SHELL_FNS = `
${RAM_FN}
ram_on() {
  end=$(( $(cut -d. -f1 /proc/uptime) + $3 ))
  while [ $(cut -d. -f1 /proc/uptime) -lt $end ]; do
    ram $1 | awk -v n="$2" '{ on = 0; for (i = 2; i <= NF; i++) { split(substr($i, 2), a, "="); if (a[1] == n) on += a[2] } exit !($1 > 0 && on >= 0.95 * $1) }' && return 0
    sleep 0.5
  done
  return 1
}
smp() {
  awk -v name="$1" '
    FILENAME == "/proc/uptime" { t = $1; next }
    FILENAME ~ /numa_maps$/ { tot = 0; delete s; for (i = 1; i <= NF; i++) if ($i ~ /^N[0-9]+=/) { split(substr($i, 2), a, "="); s[a[1]] = a[2]; tot += a[2] } if (tot > best) { best = tot; out = ""; for (n in s) out = out " N" n "=" s[n] } next }
    FILENAME ~ /task\\/[0-9]+\\/stat$/ { sub(/.*\\) /, ""); cpu = $37; next }
    FILENAME ~ /task\\/[0-9]+\\/status$/ { if ($1 == "Cpus_allowed_list:") cpus = $2; next }
    FILENAME ~ /status$/ { if ($1 == "Mems_allowed_list:") mems = $2; next }
    END { if (cpu != "") printf "S %s %s %s %s %s %d%s\\n", t, name, cpu, (cpus == "" ? "-" : cpus), (mems == "" ? "-" : mems), best, out }
  ' /proc/uptime /proc/$2/numa_maps /proc/$2/status /proc/$2/task/$3/stat /proc/$2/task/$3/status 2>/dev/null
}
vmstat_now() { grep -E '^(${VMSTAT_KEYS.join('|')}) ' /proc/vmstat; }
# sc_begin SCENARIO: the window starts (vmstat and numad.log marks, T0); sampler_start samples /tmp/ents.SCENARIO.
sc_begin() {
  SC=$1
  echo "@@@ $SC vmstat0"; vmstat_now; echo
  L0=$(cat /var/log/numad.log 2>/dev/null | wc -l)
  J0=$(cat /var/log/numadvisor.log 2>/dev/null | wc -l)
  echo "TIME t0.$SC $(up)"
}
sampler_start() {
  rm -f /tmp/stop.$SC
  ( while [ ! -e /tmp/stop.$SC ]; do
      while read n p t; do smp "$n" "$p" "$t"; done < /tmp/ents.$SC
      sleep 1
    done ) > /tmp/samples.$SC 2>/dev/null &
  SAMPLER=$!
}
sc_end() {
  touch /tmp/stop.$SC; wait $SAMPLER
  echo "TIME t1.$SC $(up)"
  echo "@@@ $SC vmstat1"; vmstat_now; echo
  echo "@@@ $SC numad.log"; tail -n +$((L0 + 1)) /var/log/numad.log 2>/dev/null; echo
  echo "@@@ $SC samples"; cat /tmp/samples.$SC; echo
  echo "@@@ $SC pids"; cat /tmp/ents.$SC; echo
  # our daemon's own account of its steps (printed with --verbose only)
  [ -f /var/log/numadvisor.log ] && { echo "@@@ $SC daemon"; tail -n +$((J0 + 1)) /var/log/numadvisor.log | grep -E 'probation|migrat|advised|failed|moved|revert|skip' | cut -c1-700 | tail -40; echo; }
}
`;

const V = 'virsh -c qemu:///system';

function advisorStart(a: Anchor): string {
  if (a === 'ours') return startNumadDaemon('-u 130 -i 4:8', { NUMADVISOR_MEMORY_GUARD: 'off' }, 180);
  if (a === 'numad') {
    return `D0=$(up)
/usr/bin/numad -u 130 -i 4:8 || exit 30
i=0; until [ -s /var/run/numad.pid ] && [ -d /proc/$(cat /var/run/numad.pid) ]; do i=$((i + 1)); [ $i -gt 60 ] && { echo "numad did not start" >&2; exit 31; }; sleep 0.5; done
echo "TIME daemon $(echo "$(up) $D0" | awk '{printf "%.1f", $1 - $2}')"
`;
  }
  return '';
}

/** Shell for one scenario in an anchor's guest. */
function scenarioScript(a: Anchor, s: Scenario, images: { touch: string }): string {
  const advisor = a === 'ours' || a === 'numad';
  const adv = a === 'ours' ? 'dist/numad' : '/usr/bin/numad';
  /** the advisor leaves PID alone / may look at it again (numad's -x / -r) */
  const exclude = (pid: string): string => (advisor ? `${adv} -x ${pid}` : ':');
  // Lets the advisor look at the pids again and prints, as `TIME released.<scenario>`, when that was done. Our numad
  // client is Node.js (seconds to start under TCG): ours are sent in parallel. The real numad's are sent one by one,
  // since each of its clients empties the shared message queue when it starts and could swallow another's message.
  const include = (pids: string[]): string =>
    advisor
      ? `${a === 'ours' ? `RS=; ${pids.map((pid) => `${adv} -r ${pid} & RS="$RS $!";`).join(' ')} wait $RS` : pids.map((pid) => `${adv} -r ${pid}`).join('; ')}\n` +
        `echo "TIME released.${s} $(up)"`
      : `echo "TIME released.${s} $(up)"`;
  // autonuma: NUMA balancing off during a set-up, as the advisors are kept off with -x, and on when the window opens.
  const kernelOff = a === 'autonuma' ? 'echo 0 > /proc/sys/kernel/numa_balancing' : ':';
  const kernelOn = a === 'autonuma' ? 'echo 1 > /proc/sys/kernel/numa_balancing' : ':';
  // Whatever the set-up commands print goes to a section of its own ("log <scenario>"), not into the previous one.
  const out: string[] = [`echo "${'@@@'} log ${s}"`, `: > /tmp/ents.${s}`];
  if (s === 'storm') {
    for (const name of STORM_DOMAINS) {
      const xml = advisor ? labDomainXml({ name, memMiB: STORM_MIB, vcpus: 1, mode: 'restrictive' }) : staticDomainXml({ name, memMiB: STORM_MIB });
      out.push(writeFileInGuest(`/tmp/${name}.xml`, xml));
    }
    out.push(
      'sc_begin storm',
      'sampler_start',
      ...STORM_DOMAINS.map((n) =>
        `( s=$(up); ${V} create /tmp/${n}.xml > /tmp/${n}.out 2>&1; rc=$?; echo "$rc $s $(up)" > /tmp/${n}.rc; ` +
          `if [ $rc = 0 ]; then P=$(cat /run/libvirt/qemu/${n}.pid); echo "${n} $P $(vcpu_tid $P)" >> /tmp/ents.storm; fi ) &`,
      ),
      `i=0; while [ "$(ls /tmp/nv-storm-*.rc 2>/dev/null | wc -l)" -lt ${STORM_DOMAINS.length} ] && [ $i -lt ${STORM_CREATE_DEADLINE_S} ]; do i=$((i + 1)); sleep 1; done`,
      // The real numad's clients can hang for ever (each drains the shared queue, numad.md §6.1), and libvirt waits
      // for them with no timeout: kill what is still waiting, so the starts fail instead of hanging the guest.
      `HUNG=0; if [ "$(ls /tmp/nv-storm-*.rc 2>/dev/null | wc -l)" -lt ${STORM_DOMAINS.length} ]; then D=$(cat /var/run/numad.pid 2>/dev/null); ` +
        'for p in $(pgrep -x numad); do [ "$p" = "$D" ] || { kill $p 2>/dev/null && HUNG=$((HUNG + 1)); }; done; fi',
      'echo "@@@ storm hung"; echo "$HUNG"; echo',
      `i=0; while [ "$(ls /tmp/nv-storm-*.rc 2>/dev/null | wc -l)" -lt ${STORM_DOMAINS.length} ] && [ $i -lt 60 ]; do i=$((i + 1)); sleep 1; done`,
      `sleep ${WINDOW_S.storm}`,
      'sc_end',
      ...STORM_DOMAINS.map((n) => section(`storm create ${n}`, `cat /tmp/${n}.rc; head -c 600 /tmp/${n}.out`)),
      ...STORM_DOMAINS.map((n) =>
        section(
          `storm placed ${n}`,
          `P=$(cat /run/libvirt/qemu/${n}.pid 2>/dev/null); [ -n "$P" ] && { grep -o "<numad [^>]*>" /run/libvirt/qemu/${n}.xml; grep Mems_allowed_list /proc/$P/status; ` +
            'grep Cpus_allowed_list /proc/$P/task/$(vcpu_tid $P)/status; echo "ram $(ram $P)"; }',
        ),
      ),
      ...STORM_DOMAINS.map((n) => `${V} destroy ${n} >/dev/null 2>&1`),
      'sleep 2',
    );
    return out.join('\n');
  }
  if (s === 'misplaced') {
    out.push(`cp ${images.touch} /var/lib/libvirt/images/touch.bin`);
    const kernel = '/var/lib/libvirt/images/touch.bin';
    if (advisor) {
      out.push(
        writeFileInGuest(`/tmp/${BUSY}.xml`, labDomainXml({ name: BUSY, memMiB: BUSY_MIB, vcpus: 1, mode: 'restrictive', kernel, immediate: true })),
        `if ${V} create /tmp/${BUSY}.xml; then`,
        `P=$(cat /run/libvirt/qemu/${BUSY}.pid); T=$(vcpu_tid $P)`,
        exclude('$P'),
        `X=$(grep -o "<numad nodeset='[^']*'" /run/libvirt/qemu/${BUSY}.xml | sed "s/.*='//; s/'$//")`,
        'W=$(far "$X")',
        `echo "@@@ misplaced setup"; echo "pid $P answer $X wrong $W"; ${V} numatune ${BUSY} --nodeset $W --live 2>&1`,
        'ram_on $P $W 180 && echo "ram on $W: $(ram $P)" || echo "MISPLACEMENT FAILED: $(ram $P)"; echo',
        'sc_begin misplaced',
        `echo "vm $P $T" > /tmp/ents.misplaced`,
        'sampler_start',
        include(['$P']),
      );
    } else {
      const wrong = '$(far ' + STATIC_VCPU_NODE + ')';
      out.push(
        `W=${wrong}`,
        `cat > /tmp/${BUSY}.xml <<NUMADVISOR_EOF\n${staticDomainXml({ name: BUSY, memMiB: BUSY_MIB, kernel, immediate: true, vcpuPin: String(STATIC_VCPU_NODE * TOPOLOGY.cpusPerNode), emulatorPin: '$(cat /sys/devices/system/node/node$W/cpulist)' })}\nNUMADVISOR_EOF`,
        kernelOff,
        `if ${V} create /tmp/${BUSY}.xml; then`,
        `P=$(cat /run/libvirt/qemu/${BUSY}.pid); T=$(vcpu_tid $P)`,
        `echo "@@@ misplaced setup"; echo "pid $P vcpu-node ${STATIC_VCPU_NODE} wrong $W"`,
        'ram_on $P $W 180 && echo "ram on $W: $(ram $P)" || echo "MISPLACEMENT FAILED: $(ram $P)"; echo',
        'sc_begin misplaced',
        `echo "vm $P $T" > /tmp/ents.misplaced`,
        'sampler_start',
        `${V} vcpupin ${BUSY} 0 ${ALL_CPUS} --live >/dev/null; ${V} emulatorpin ${BUSY} ${ALL_CPUS} --live >/dev/null`,
        kernelOn,
        include([]),
      );
    }
    out.push(
      `sleep ${WINDOW_S.misplaced}`,
      'sc_end',
      section('misplaced end', `${V} numatune ${BUSY} | grep -E 'mode|nodeset'; ${V} vcpupin ${BUSY}; echo "ram $(ram $P)"`),
      `${V} destroy ${BUSY} >/dev/null 2>&1`,
      'else echo "@@@ misplaced setup"; echo "CREATE FAILED"; echo; fi',
      'sleep 2',
    );
    return out.join('\n');
  }
  // processes: touched while pinned to node 0's CPU and waiting (not busy) until /tmp/go exists, so none competes
  // for CPU 0 while the others allocate; then every thread is allowed every CPU and all start writing one byte per
  // 4 KiB page of their buffer, over and over (a process that uses its memory, so NUMA balancing has faults).
  const js = `const fs=require('fs');const b=Buffer.alloc(${PROC_MIB}*1048576,1);console.log('ready');const w=new Int32Array(new SharedArrayBuffer(4));while(!fs.existsSync('/tmp/go'))Atomics.wait(w,0,0,200);for(;;)for(let i=0;i<b.length;i+=4096)b[i]++`;
  out.push(
    'rm -f /tmp/go',
    kernelOff,
    ...PROCS.map((p) => `taskset -c 0-${TOPOLOGY.cpusPerNode - 1} node -e "${js}" > /tmp/${p}.ready 2>&1 &\n${p.toUpperCase()}=$!\n${exclude(`$${p.toUpperCase()}`)}`),
    `i=0; until [ "$(cat ${PROCS.map((p) => `/tmp/${p}.ready`).join(' ')} 2>/dev/null | grep -c ready)" = ${PROCS.length} ] || [ $i -gt 240 ]; do i=$((i + 1)); sleep 1; done`,
    section('processes setup', PROCS.map((p) => `echo "${p} $${p.toUpperCase()} $(ram $${p.toUpperCase()})"`).join('; ')),
    'sc_begin processes',
    ...PROCS.map((p) => `echo "${p} $${p.toUpperCase()} $${p.toUpperCase()}" >> /tmp/ents.processes`),
    'sampler_start',
    ...PROCS.map((p) => `taskset -a -p -c 0-${NODES * TOPOLOGY.cpusPerNode - 1} $${p.toUpperCase()} >/dev/null`),
    kernelOn,
    'touch /tmp/go',
    include(PROCS.map((p) => `$${p.toUpperCase()}`)),
    `sleep ${WINDOW_S.processes}`,
    'sc_end',
    section('processes end', PROCS.map((p) => `echo "${p} $(ram $${p.toUpperCase()} 2>/dev/null)"; grep Cpus_allowed_list /proc/$${p.toUpperCase()}/status`).join('; ')),
    `kill ${PROCS.map((p) => `$${p.toUpperCase()}`).join(' ')} 2>/dev/null; wait ${PROCS.map((p) => `$${p.toUpperCase()}`).join(' ')} 2>/dev/null`,
    'rm -f /tmp/go',
    'sleep 2',
  );
  return out.join('\n');
}

function guestScript(a: Anchor, images: { touch: string }): string {
  return [
    `echo ${a === 'autonuma' ? 1 : 0} > /proc/sys/kernel/numa_balancing || exit 19`,
    libvirtPrelude({ numad: a === 'ours' ? 'ours' : a === 'numad' ? 'real' : 'none' }),
    VCPU_BUSY_FN,
    SHELL_FNS,
    farFn(),
    advisorStart(a),
    section('setup', `cat /proc/sys/kernel/numa_balancing; uname -r; ${a === 'none' || a === 'autonuma' ? 'echo no advisor' : '/usr/bin/numad -V'}; for n in $(seq 0 ${NODES - 1}); do grep MemFree /sys/devices/system/node/node$n/meminfo; done`),
    ...scenarios.map((s) => scenarioScript(a, s, images)),
    a === 'ours' ? 'dist/numad -i 0' : a === 'numad' ? '/usr/bin/numad -i 0' : ':',
    section('oom', "dmesg | grep -iE 'out of memory|killed process' | tail -20"),
    'echo "TIME total $(up)"',
  ].join('\n');
}

// --- host side: parse and summarise --------------------------------------------------------------------------------

interface Sample {
  t: number;
  cpu: number;
  cpus: string;
  mems: string;
  pages: number;
  byNode: Map<number, number>;
}

interface EntityResult {
  name: string;
  samples: Sample[];
  /** seconds from the window's start to the first sample where the CPU's node holds the most of its memory */
  firstShared?: number;
  /**
   * seconds from the window's start to the first sample of the final run of samples in which they share a node, when
   * that run reaches the last sample and has at least SETTLED_SAMPLES samples (or is every sample): "for good"
   */
  settled?: number;
  sharedShare: number;
  start?: Sample;
  end?: Sample;
  cpuNodeChanges: number;
  moves: number;
  advices: number;
  /** seconds into the window of its last sample, when that was long before the window's end (it exited or was killed) */
  goneAt?: number;
}

interface ScenarioResult {
  scenario: Scenario;
  ran: boolean;
  windowS: number;
  entities: EntityResult[];
  migratedMiB: number;
  balancingMiB: number;
  hintFaults: number;
  oomKills: number;
  moves: number;
  notes: string[];
}

const memNode = (s: Sample): number | undefined => {
  let best: number | undefined;
  let max = -1;
  for (const [n, p] of [...s.byNode].sort((x, y) => x[0] - y[0])) if (p > max) [best, max] = [n, p];
  return best;
};
const shareOn = (s: Sample, node: number | undefined): number => (node === undefined || s.pages === 0 ? 0 : (s.byNode.get(node) ?? 0) / s.pages);
const shared = (s: Sample): boolean => s.pages > 0 && (s.byNode.get(cpuNode(s.cpu)) ?? 0) >= Math.max(...s.byNode.values());

function parseSamples(text: string): Map<string, Sample[]> {
  const out = new Map<string, Sample[]>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] !== 'S' || f.length < 7) continue;
    const byNode = new Map<number, number>();
    for (const p of f.slice(7)) {
      const m = /^N(\d+)=(\d+)$/.exec(p);
      if (m) byNode.set(Number(m[1]), Number(m[2]));
    }
    const s: Sample = { t: Number(f[1]), cpu: Number(f[3]), cpus: f[4] as string, mems: f[5] as string, pages: Number(f[6]), byNode };
    const name = f[2] as string;
    if (!out.has(name)) out.set(name, []);
    out.get(name)?.push(s);
  }
  return out;
}

function vmstat(text: string | undefined): Map<string, number> {
  return new Map((text ?? '').split('\n').map((l) => l.trim().split(/\s+/)).filter((x) => x.length === 2).map(([k, v]) => [k as string, Number(v)]));
}

function summarise(stdout: string, a: Anchor): ScenarioResult[] {
  const { sections, times } = parseSections(stdout);
  return scenarios.map((s) => {
    const t0 = times.get(`t0.${s}`);
    const res: ScenarioResult = { scenario: s, ran: t0 !== undefined, windowS: 0, entities: [], migratedMiB: 0, balancingMiB: 0, hintFaults: 0, oomKills: 0, moves: 0, notes: [] };
    const setup = sections.get(`${s} setup`)?.trim();
    if (setup) res.notes.push(setup.split('\n').map((l) => l.trim()).filter(Boolean).join('; '));
    if (t0 === undefined) return res;
    res.windowS = (times.get(`t1.${s}`) ?? t0) - t0;
    const released = times.get(`released.${s}`);
    if (released !== undefined) res.notes.push(`pins reset / advisor allowed to look (-r) done at +${(released - t0).toFixed(1)} s`);
    const v0 = vmstat(sections.get(`${s} vmstat0`));
    const v1 = vmstat(sections.get(`${s} vmstat1`));
    const d = (k: string): number => (v1.get(k) ?? 0) - (v0.get(k) ?? 0);
    res.migratedMiB = (d('pgmigrate_success') * 4) / 1024;
    res.balancingMiB = (d('numa_pages_migrated') * 4) / 1024;
    res.hintFaults = d('numa_hint_faults');
    res.oomKills = d('oom_kill');
    const log = sections.get(`${s} numad.log`) ?? '';
    const movedPids = [...log.matchAll(/PID (\d+) moved to node\(s\) (\S+)/g)].map((m) => Number(m[1]));
    const advisedPids = [...log.matchAll(/Advising pid (\d+) /g)].map((m) => Number(m[1]));
    res.moves = movedPids.length;
    const samples = parseSamples(sections.get(`${s} samples`) ?? '');
    // "name pid tid" of every VM / process sampled (sc_end prints the sampler's list)
    const pidsText = sections.get(`${s} pids`) ?? '';
    const pids = new Map(pidsText.split('\n').map((l) => l.trim().split(' ')).filter((x) => x.length >= 2).map(([n, p]) => [n as string, Number(p)]));
    for (const [name, list] of [...samples].sort((x, y) => x[0].localeCompare(y[0]))) {
      list.sort((x, y) => x.t - y.t);
      const firstIdx = list.findIndex(shared);
      let changes = 0;
      for (let i = 1; i < list.length; i++) if (cpuNode((list[i] as Sample).cpu) !== cpuNode((list[i - 1] as Sample).cpu)) changes++;
      const pid = pids.get(name);
      res.entities.push({
        name,
        samples: list,
        firstShared: firstIdx >= 0 ? (list[firstIdx] as Sample).t - t0 : undefined,
        settled: settledAt(list, t0),
        sharedShare: list.length > 0 ? list.filter(shared).length / list.length : 0,
        start: list[0],
        end: list.at(-1),
        cpuNodeChanges: changes,
        moves: pid === undefined ? 0 : movedPids.filter((p) => p === pid).length,
        advices: pid === undefined ? 0 : advisedPids.filter((p) => p === pid).length,
        goneAt: list.length > 0 && t0 + res.windowS - (list.at(-1) as Sample).t > 20 ? (list.at(-1) as Sample).t - t0 : undefined,
      });
    }
    if (s === 'storm') {
      const hung = Number((sections.get('storm hung') ?? '0').trim());
      let ok = 0;
      const createTimes: number[] = [];
      for (const n of STORM_DOMAINS) {
        const [rc, from, to] = (sections.get(`storm create ${n}`) ?? '').trim().split('\n')[0]?.split(' ') ?? [];
        if (rc === '0') {
          ok++;
          createTimes.push(Number(to) - Number(from));
        }
      }
      res.notes.push(`${ok}/${STORM_DOMAINS.length} started${createTimes.length ? ` (${Math.min(...createTimes).toFixed(1)}–${Math.max(...createTimes).toFixed(1)} s each)` : ''}${hung > 0 ? `, ${hung} hung numad -w client(s) killed after ${STORM_CREATE_DEADLINE_S} s` : ''}`);
      const answers = STORM_DOMAINS.map((n) => /<numad nodeset='([^']*)'/.exec(sections.get(`storm placed ${n}`) ?? '')?.[1]).filter((x): x is string => x !== undefined);
      if (a === 'ours' || a === 'numad') res.notes.push(`answers ${answers.join(' ') || 'none'} (${new Set(answers).size} distinct)`);
    }
    return res;
  });
}

/** A final run of samples sharing a node shorter than this (a thread that just bounced there) does not count. */
const SETTLED_SAMPLES = 3;
function settledAt(list: Sample[], t0: number): number | undefined {
  let k = list.length;
  while (k > 0 && shared(list[k - 1] as Sample)) k--;
  const run = list.length - k;
  if (run === 0 || (run < SETTLED_SAMPLES && k > 0)) return undefined;
  return (list[k] as Sample).t - t0;
}
const fmtS = (x: number | undefined): string => (x === undefined ? 'never' : `${Math.max(0, x).toFixed(0)} s`);
const fmtMiB = (x: number): string => `${x.toFixed(0)}`;
const where = (s: Sample | undefined): string => {
  if (!s) return 'gone';
  const m = memNode(s);
  return `CPU n${cpuNode(s.cpu)}, mem n${m ?? '?'} ${(shareOn(s, m) * 100).toFixed(0)}%`;
};

function cell(r: ScenarioResult, a: Anchor): string {
  if (!r.ran) return r.notes.join('; ') || 'did not run';
  const n = r.entities.length;
  const endShared = r.entities.filter((e) => e.end && shared(e.end)).length;
  const firsts = r.entities.map((e) => fmtS(e.settled)).join('/');
  const shares = r.entities.map((e) => `${(e.sharedShare * 100).toFixed(0)}`).join('/');
  const parts: string[] = [];
  if (r.scenario === 'storm') {
    // What the storm is about: the node sets the domains got (QEMU's Mems_allowed_list: libvirt's binding of the
    // answer; 0-3 when unbound), and whether they differ.
    const sets = r.entities.map((e) => e.end?.mems ?? '?');
    parts.push(r.notes.find((x) => /started/.test(x))?.replace(/ \(.*?\)/, '') ?? '');
    parts.push(`node sets ${sets.join(' ')} (${new Set(sets).size} distinct)`);
  }
  parts.push(`${endShared}/${n} share a node at end`, `for good after ${firsts || '—'}`, `sharing in ${shares || '—'} % of samples`);
  parts.push(`${fmtMiB(r.migratedMiB)} MiB migrated${r.balancingMiB > 0 ? ` (${fmtMiB(r.balancingMiB)} by NUMA balancing)` : ''}`);
  parts.push(a === 'ours' || a === 'numad' ? `${r.moves} moves` : '— moves');
  parts.push(`${r.oomKills} OOM`);
  return parts.filter(Boolean).join(' · ');
}

// --- run ---------------------------------------------------------------------------------------------------------

const touchPath = path.join(LAB_DIR, `busy-touch-${BUSY_MIB}mib-multiboot.bin`);
if (values['print-script']) {
  for (const a of anchors) console.log(`##### ${a}\n${guestScript(a, { touch: touchPath })}`);
  process.exit(0);
}
/** An anchor's guest output from a saved `--verbose` run (elapsed time unknown: 0). */
function reparsed(file: string, a: Anchor): { stdout: string; stderr: string; code: number; elapsedMs: number } {
  const text = readFileSync(file, 'utf8');
  const m = new RegExp(`----- ${a} stdout -----\\n([\\s\\S]*?)\\n----- ${a} stderr -----\\n([\\s\\S]*?)(?=\\n----- |\\n\\nnumadvisor beside|$)`).exec(text);
  if (!m) throw new Error(`no output of anchor ${a} in ${file}`);
  return { stdout: m[1] as string, stderr: m[2] as string, code: 0, elapsedMs: 0 };
}
const skip = values.reparse ? undefined : libvirtLabUnavailable();
if (skip) {
  console.error(`cannot run: ${skip}`);
  process.exit(1);
}
if (!values.reparse) {
  labAssets();
  mkdirSync(LAB_DIR, { recursive: true });
  writeFileSync(touchPath, busyTouchKernel(BUSY_MIB));
}

const results = new Map<Anchor, ScenarioResult[]>();
const guestInfo = new Map<Anchor, string>();
for (const a of anchors) {
  const budgetS = 300 + scenarios.reduce((acc, s) => acc + WINDOW_S[s] + (s === 'storm' ? STORM_CREATE_DEADLINE_S + 90 : s === 'misplaced' ? 260 : 300), 0);
  const started = Date.now();
  console.error(`[${new Date().toISOString()}] anchor ${a}: guest starting (${scenarios.join(', ')}; deadline ${budgetS} s)`);
  try {
    const r = values.reparse ? reparsed(values.reparse, a) : await runInGuest(TOPOLOGY, `${guestScript(a, { touch: touchPath })}\n`, budgetS * 1000);
    if (values.verbose) console.log(`----- ${a} stdout -----\n${r.stdout}\n----- ${a} stderr -----\n${r.stderr}`);
    const { sections, times } = parseSections(r.stdout);
    guestInfo.set(
      a,
      `guest ${(r.elapsedMs / 1000).toFixed(0)} s, exit ${r.code}; ${[...times].filter(([k]) => !/^(t[01]|released)\./.test(k)).map(([k, v]) => `${k} ${v} s`).join(', ')}; ` +
        `setup: ${(sections.get('setup') ?? '').trim().replace(/\n/g, '; ')}`,
    );
    if (r.code !== 0) console.error(`anchor ${a}: guest exit ${r.code}\n${r.stderr.slice(-3000)}`);
    results.set(a, summarise(r.stdout, a));
    const oom = (sections.get('oom') ?? '').trim();
    if (oom) guestInfo.set(a, `${guestInfo.get(a)}; kernel OOM lines: ${oom.replace(/\n/g, ' | ')}`);
  } catch (e) {
    console.error(`anchor ${a}: ${(e as Error).message.slice(0, 4000)}`);
    guestInfo.set(a, `failed after ${((Date.now() - started) / 1000).toFixed(0)} s: ${(e as Error).message.split('\n')[0]}`);
  }
  console.error(`[${new Date().toISOString()}] anchor ${a}: done`);
}

console.log(`\nnumadvisor beside the alternatives on ${TOPOLOGY.name} (${NODES} nodes × ${TOPOLOGY.cpusPerNode} CPU, D4 SLIT 10/12/17), QEMU TCG; windows: ${scenarios.map((s) => `${s} ${WINDOW_S[s]} s`).join(', ')}\n`);
console.log(`| anchor | ${scenarios.join(' | ')} |`);
console.log(`|---|${scenarios.map(() => '---').join('|')}|`);
for (const a of anchors) {
  const rs = results.get(a);
  console.log(`| ${ANCHOR_LABEL[a]} | ${scenarios.map((s) => (rs ? cell(rs.find((r) => r.scenario === s) as ScenarioResult, a) : 'guest failed')).join(' | ')} |`);
}
for (const s of scenarios) {
  console.log(`\n### ${s}\n`);
  console.log('| anchor | where each ends (CPU node, node with most memory and its share) | time until CPU and memory share a node for good (% of samples sharing) | MiB migrated (NUMA balancing) | moves | OOM kills | notes |');
  console.log('|---|---|---|---|---|---|---|');
  for (const a of anchors) {
    const r = results.get(a)?.find((x) => x.scenario === s);
    if (!r) {
      console.log(`| ${ANCHOR_LABEL[a]} | guest failed | | | | | |`);
      continue;
    }
    const ends = r.entities.map((e) => `${e.name}: ${e.goneAt !== undefined ? `GONE after +${e.goneAt.toFixed(0)} s, last ` : ''}${where(e.end)}`).join('; ');
    const firsts = r.entities.map((e) => `${e.name} ${fmtS(e.settled)} (${(e.sharedShare * 100).toFixed(0)} %)`).join('; ');
    const moves = a === 'ours' || a === 'numad' ? String(r.moves) : '—';
    console.log(`| ${ANCHOR_LABEL[a]} | ${ends || '—'} | ${firsts || '—'} | ${fmtMiB(r.migratedMiB)} (${fmtMiB(r.balancingMiB)}) | ${moves} | ${r.oomKills} | ${r.notes.join('; ')} |`);
  }
}
console.log('\nRaw, per VM / process (t from the window start):');
for (const a of anchors) {
  console.log(`\n${a}: ${guestInfo.get(a) ?? ''}`);
  for (const r of results.get(a) ?? []) {
    console.log(`  ${r.scenario}: window ${r.windowS.toFixed(0)} s, pgmigrate_success ${fmtMiB(r.migratedMiB)} MiB, numa_pages_migrated ${fmtMiB(r.balancingMiB)} MiB, numa_hint_faults ${r.hintFaults}, oom_kill ${r.oomKills}, "moved" lines ${r.moves}`);
    for (const e of r.entities) {
      const byNode = (s: Sample | undefined): string => (s ? [...s.byNode].sort((x, y) => x[0] - y[0]).map(([n, p]) => `n${n}=${((p * 4) / 1024).toFixed(0)}`).join(' ') : '');
      console.log(
        `    ${e.name}${e.goneAt !== undefined ? ` (no samples after +${e.goneAt.toFixed(0)} s: exited or killed)` : ''}: start ${where(e.start)} [${byNode(e.start)} MiB] → end ${where(e.end)} [${byNode(e.end)} MiB], CPUs allowed ${e.end?.cpus ?? '?'}, mems allowed ${e.end?.mems ?? '?'}; ` +
          `sharing for good after ${fmtS(e.settled)}, first shared ${fmtS(e.firstShared)}, shared in ${(e.sharedShare * 100).toFixed(0)}% of ${e.samples.length} samples; CPU-node changes seen ${e.cpuNodeChanges}${a === 'ours' || a === 'numad' ? `; advised ${e.advices}, moved ${e.moves} (numad.log)` : ''}`,
      );
    }
  }
}
console.log(`
Legend. Each anchor is one guest running the scenarios in turn. Per VM / process, a sample every 1–5 s (a 1 s sleep
plus the reads themselves, slow under TCG with busy guests; the raw lines give the count): the
CPU its thread last ran on (field 39 of /proc/PID/task/TID/stat: a VM's "CPU 0/TCG" vCPU thread, a process's main
thread) and the pages per node of its largest mapping in numa_maps (a VM's guest RAM, a process's buffer).
- where it ends: the last sample; "mem nN x%": the node holding the most of those pages and its share.
- time until CPU and memory share a node for good: from the window's start to the first sample of the final run of
  samples in which the CPU's node holds the most of those pages, if that run lasts to the end of the window and has at
  least ${SETTLED_SAMPLES} samples; otherwise "never". In brackets (and "sharing in … %"): the share of all samples in which
  they shared a node. The raw lines add the first sample that did (a process whose memory starts on node 0 shares
  it while it still runs on CPU 0, so "first" alone says little).
- MiB migrated: /proc/vmstat pgmigrate_success delta × 4 KiB over the window, all migrations in the guest (advisor,
  NUMA balancing, compaction); in brackets numa_pages_migrated, the part NUMA balancing made.
- moves: "PID … moved to node(s)" lines in /var/log/numad.log during the window (both daemons write numad's lines); the
  kernel makes no such moves ('—'): its work is the NUMA-balancing MiB and the CPU-node changes in the raw lines.
- OOM kills: /proc/vmstat oom_kill delta over the window.
Scenarios. storm: ${STORM_DOMAINS.length} idle 1-vCPU ${STORM_MIB} MiB domains created at once (placement='auto' restrictive for the advisors,
unbound for the kernel anchors), window from the first create; the advisors' answers in notes. misplaced (busy guest that
writes every page of its RAM, ${BUSY_MIB} MiB preallocated): ${MISPLACED.advisor} [advisors]; ${MISPLACED.kernel} [kernel].
processes: ${PROCS.length} × node with a ${PROC_MIB} MiB buffer touched under taskset on node 0's CPU, then taskset -a to every CPU and a loop
writing one byte per 4 KiB page; excluded from the advisors (-x) during set-up, as with NUMA balancing off.
numa_balancing is 0 for the advisors' guests. The advisors run as numad -u 130 -i 4:8 (one CPU per node: a busy
thread fits a node only at -u 130); ours with NUMADVISOR_MEMORY_GUARD=off, as in the lab's VM tests.
numad 20150602 leaves a process alone for 300 s after it first becomes a candidate (its re-evaluation delay; with -d
its log says "Skipping evaluation of PID … because done too recently" every cycle, seen in the lab): in windows shorter
than ~320 s it cannot act in the misplaced and processes scenarios (--misplaced-s / --processes-s; keep them equal
across anchors).
Limits: TCG (QEMU in QEMU for the VMs) makes CPU time and idle noisy and everything slow; one CPU per node, so a node
with two busy threads is overloaded and "sharing a node" can cost CPU; the sampler itself uses guest CPU.`);
