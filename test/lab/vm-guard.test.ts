// The memory guard on a real kernel (issue #14): a guest bound to one node (libvirt's restrictive mode, numad's
// answer) that has not touched its memory yet, and a memory hog that fills that node. Without the guard's widening the
// guest then faults its memory in, the node runs out, and the kernel's OOM killer kills QEMU (the cgroup's cpuset.mems
// allows no other node); with it, the daemon sees the guest short before it touches anything, widens its nodeset live
// through libvirt to the nearest node with room, and the guest touches all of its memory and lives. One guest, the
// daemon started twice (NUMADVISOR_MEMORY_GUARD=warn, then widen).
//
// The guest is paused while the hog fills its node (`virsh create --paused`), and then resumed: a multiboot kernel
// (touchKernel) writes to every page of its RAM as fast as TCG runs, the way a guest booting a big workload faults
// its memory in, faster than any cycle of the daemon. So the warning or the widening must come before, from what the
// guest has not touched yet: that is what the guard is for.
//
// The node is chosen (`-R` leaves numad's answers one node's CPU, GUARD_NODE) and QEMU's files are read into the page
// cache of another node before libvirtd starts. Otherwise QEMU's own code is page cache on the guest's node: the
// kernel's reclaim there evicts it, QEMU faults it back in, and the node thrashes for minutes instead of reaching
// the OOM killer (seen: no progress and no kill in 7 minutes; reading QEMU's numa_maps then blocks too).
import { beforeAll, describe, expect, it } from 'vitest';
import { parseIdList } from '../../src/topology/idlist.js';
import { LAB_4NODE_1GIB, labAssets } from './harness.js';
import { labDomainXml, RAM_FN, libvirtLabUnavailable, libvirtPrelude, runVmScenario, section, startNumadDaemon, writeFileInGuest, writeTouchKernel } from './libvirt-guest.js';

const skip = libvirtLabUnavailable();
if (skip) console.warn(`lab memory guard skipped: ${skip}`);

/**
 * The guest's memory: more than what the hog leaves on its node (LEAVE_MIB), so touching it all cannot fit there,
 * and large next to the daemon and libvirtd, so QEMU is the OOM killer's pick by size (they are protected anyway).
 */
const MEM_MIB = 640;
/**
 * What the hog leaves free on the guest's node: enough that the hog (a Node.js process bound there, ~50 MiB of its own
 * besides its buffer) never runs the node out itself, little enough that the guest's memory cannot fit.
 */
const LEAVE_MIB = 220;
/** The node numad's answers must give (the others' CPUs are reserved with -R), and where QEMU's files are cached instead. */
const GUARD_NODE = 1;
const CACHE_NODE = 0;
/** -R: every CPU but GUARD_NODE's (one CPU per node, CPU N on node N). */
const RESERVED = [0, 1, 2, 3].filter((n) => n !== GUARD_NODE).join(',');
const WARN = 'nv-guard-warn';
const WIDEN = 'nv-guard';
const SOCK = '/run/numadvisor/numadvisor.sock';
/** Guest RAM pages the touching kernel writes: MEM_MIB less the first 2 MiB, in 4 KiB pages. */
const TOUCHED_PAGES = (MEM_MIB - 2) * 256;

/** One part: create the guest paused, fill its node, wait for the guard's line, resume, wait for the outcome. */
function part(name: string, waitFor: string): string[] {
  return [
    writeFileInGuest(`/tmp/${name}.xml`, labDomainXml({ name, memMiB: MEM_MIB, vcpus: 1, mode: 'restrictive', kernel: '/var/lib/libvirt/images/touch.bin' })),
    `virsh -c qemu:///system create --paused /tmp/${name}.xml || exit 40`,
    `PID=$(cat /run/libvirt/qemu/${name}.pid)`,
    `X=$(sed -n "s/.*<numad nodeset='\\([0-9]*\\)'.*/\\1/p" /run/libvirt/qemu/${name}.xml)`,
    `[ "$X" = ${GUARD_NODE} ] || { echo "not on node ${GUARD_NODE}: $(grep -o '<numad [^>]*>' /run/libvirt/qemu/${name}.xml)" >&2; tail -5 /var/log/numad.log >&2; exit 41; }`,
    // The node's page cache would be reclaimed before anyone is killed: drop it, so what is free is what there is
    // (and read the programs back in on CACHE_NODE).
    'cache',
    'hog $X $(( $(node_free $X) - ' + LEAVE_MIB + ' )) || exit 42',
    section(`${name} placed`, `echo "pid $PID node $X"; echo "free $(node_free $X)"; virsh -c qemu:///system numatune ${name}; ram $PID`),
    'G0=$(up)',
    `i=0; until grep -q "${waitFor}" /var/log/numad.log || [ $i -gt 240 ]; do i=$((i + 1)); sleep 0.5; done`,
    `echo "TIME ${name}-guard $(echo "$(up) $G0" | awk '{printf "%.1f", $1 - $2}')"`,
    section(`${name} guard`, `curl -s --unix-socket ${SOCK} http://localhost/v1/memory-guard`),
    section(`${name} numatune`, `virsh -c qemu:///system numatune ${name}`),
    'K0=$(grep oom_kill /proc/vmstat | cut -d" " -f2)',
    'R0=$(up)',
    `virsh -c qemu:///system resume ${name} || exit 43`,
    // Until the guest touched its memory, or QEMU is gone, for at most 150 s; numa_maps is read with a timeout, as a
    // QEMU stuck in reclaim would hold the reader.
    `end=$(( $(cut -d. -f1 /proc/uptime) + 150 )); while [ -e /proc/$PID ] && [ $(cut -d. -f1 /proc/uptime) -lt $end ]; do timeout 5 awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^N[0-9]+=/) { split(substr($i, 2), a, "="); t += a[2] } if (t > best) best = t; t = 0 } END { exit !(best >= ${TOUCHED_PAGES}) }' /proc/$PID/numa_maps 2>/dev/null && break; sleep 1; done`,
    `echo "TIME ${name}-touch $(echo "$(up) $R0" | awk '{printf "%.1f", $1 - $2}')"`,
    section(`${name} outcome`, `[ -e /proc/$PID ] && echo "qemu alive" || echo "qemu gone"; echo "oom_kill $(( $(grep oom_kill /proc/vmstat | cut -d" " -f2) - K0 ))"; timeout 10 virsh -c qemu:///system domstate ${name} 2>&1; [ -e /proc/$PID ] && ram $PID`),
    section(`${name} kernel`, `dmesg | grep -E "oom-kill:|Killed process" | tail -4`),
    'kill $HOG; wait $HOG 2>/dev/null',
    `virsh -c qemu:///system destroy ${name} >/dev/null 2>&1`,
  ];
}

/** The pages per node of QEMU's guest RAM, from a `ram` line ("<pages> N<node>=<pages> …"). */
function pagesByNode(line: string): Map<number, number> {
  return new Map([...line.matchAll(/N(\d+)=(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]));
}

describe.skipIf(skip !== undefined)('the lab: the memory guard against a strict-binding OOM kill', () => {
  let kernel = '';
  beforeAll(() => {
    labAssets();
    kernel = writeTouchKernel(MEM_MIB);
  });

  it('a hog fills a bound guest’s node: warned only, the guest is OOM-killed; widened in time, it lives', async () => {
    const r = await runVmScenario('lab memory guard', LAB_4NODE_1GIB, [
      'set -u',
      // QEMU's program and libraries (and the shell tools the script runs) into node CACHE_NODE's page cache, before
      // libvirtd first runs QEMU to probe it (see the header).
      `cache() { sync; echo 3 > /proc/sys/vm/drop_caches; for f in /usr/bin/qemu-system-x86_64 /usr/sbin/libvirtd /usr/bin/virsh /usr/bin/node $(command -v awk cut sleep grep timeout cat sed numactl); do echo $f; ldd $f 2>/dev/null | grep -o '/[^ ]*'; done | sort -u | xargs numactl --membind=${CACHE_NODE} cat > /dev/null; }`,
      'cache',
      libvirtPrelude(),
      `cp ${kernel} /var/lib/libvirt/images/touch.bin`,
      RAM_FN,
      `node_free() { awk '/MemFree/ { print int($4 / 1024) }' /sys/devices/system/node/node$1/meminfo; }`,
      // The hog: another tenant's memory on node $1, $2 MiB of it, that the OOM killer may not take (-1000), so the
      // kernel's choice shows what happens to the guest.
      `hog() {
  rm -f /tmp/hog.out
  sh -c "echo -1000 > /proc/self/oom_score_adj; exec numactl --membind=$1 node -e 'const b = Buffer.alloc($2 * 1048576, 1); console.log(\\"hog ready\\"); setInterval(() => {}, 1000)'" > /tmp/hog.out 2>&1 &
  HOG=$!
  j=0; until grep -q "hog ready" /tmp/hog.out; do j=$((j + 1)); [ $j -gt 240 ] && return 1; sleep 0.5; done
}`,
      // On a host QEMU's gigabytes dwarf the daemon; in a 1 GiB lab node Node.js is as large as the guest's first
      // faults, so the daemon is kept out of the OOM killer's way (as a unit's OOMScoreAdjust= may), and so is this
      // script (and what it runs). Not libvirtd: QEMU inherits its oom_score_adj, and a host's QEMU has 0.
      'echo -1000 > /proc/$$/oom_score_adj',
      'protect() { echo -900 > /proc/$(cat /var/run/numad.pid)/oom_score_adj; }',
      // Part 1: the guard warns only (what an operator gets with --memory-guard warn, and all numad gives): the OOM kill.
      startNumadDaemon(`-R ${RESERVED} -i 4:8`, { NUMADVISOR_MEMORY_GUARD: 'warn' }),
      'protect',
      ...part(WARN, `Memory guard: domain ${WARN} .* short of memory`),
      'D=$(cat /var/run/numad.pid); dist/numad -i 0; i=0; while [ -e /proc/$D ] && [ $i -lt 60 ]; do i=$((i + 1)); sleep 0.5; done',
      section('warn numad.log', 'cat /var/log/numad.log'),
      // Part 2: the same with widening (the default of a daemon numad starts).
      startNumadDaemon(`-R ${RESERVED} -i 4:8`, { NUMADVISOR_MEMORY_GUARD: 'widen' }),
      'protect',
      ...part(WIDEN, `Memory guard: widened domain ${WIDEN}`),
      section('numad.log', 'cat /var/log/numad.log'),
      section('journal', 'cat /var/lib/numadvisor/domain-moves.jsonl'),
    ], 900_000);
    const { sections } = r;
    console.log(`lab memory guard, numad.log:\n${sections.get('numad.log') ?? ''}`);
    expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);

    // Part 1: placed on one node and bound there, the hog leaves less than the guest's memory; the guard says so in
    // numad's log and on the API, changes nothing, and the kernel kills QEMU when the guest faults its memory in.
    const warnPlaced = sections.get(`${WARN} placed`) ?? '';
    const warnNode = Number(/node (\d+)/.exec(warnPlaced)?.[1]);
    expect(Number(/free (\d+)/.exec(warnPlaced)?.[1]), warnPlaced).toBeLessThan(MEM_MIB);
    expect(warnPlaced).toMatch(new RegExp(`numa_nodeset\\s*:\\s*${warnNode}\\n`));
    const warnLog = sections.get('warn numad.log') ?? '';
    expect(warnLog).toMatch(new RegExp(`Memory guard: domain ${WARN} \\(pid \\d+\\) short of memory on nodes \\(${warnNode}\\): headroom -?\\d+ MBs < \\d+ MBs`));
    expect(warnLog).not.toMatch(/Memory guard: widened/);
    const warnApi = JSON.parse(sections.get(`${WARN} guard`) ?? '{}') as { mode?: string; acts?: boolean; domains?: { name: string; state: string; action: string; nodeset: string }[] };
    expect(warnApi).toMatchObject({ mode: 'warn', acts: false });
    const warnVerdict = (warnApi.domains ?? []).find((v) => v.name === WARN);
    expect(warnVerdict, sections.get(`${WARN} guard`)).toMatchObject({ state: 'short', action: 'none', nodeset: String(warnNode) });
    expect(sections.get(`${WARN} numatune`)).toMatch(new RegExp(`numa_nodeset\\s*:\\s*${warnNode}\\n`));
    const warnOut = sections.get(`${WARN} outcome`) ?? '';
    console.log(`lab memory guard, warned only: ${warnOut.trim().replace(/\n/g, '; ')}; ${sections.get(`${WARN} kernel`)?.trim().replace(/\n/g, '; ')}`);
    expect(warnOut).toMatch(/qemu gone/);
    expect(Number(/oom_kill (\d+)/.exec(warnOut)?.[1])).toBeGreaterThanOrEqual(1);
    expect(sections.get(`${WARN} kernel`)).toMatch(/Killed process \d+ \(qemu-system-x86\)/);

    // Part 2: the guard widens the guest's nodeset before it touches anything (journalled, logged), the guest touches
    // all its memory, part of it on the node it was widened to, and QEMU lives; no OOM kill.
    const placed = sections.get(`${WIDEN} placed`) ?? '';
    const node = Number(/node (\d+)/.exec(placed)?.[1]);
    const log = sections.get('numad.log') ?? '';
    const widened = new RegExp(`Memory guard: widened domain ${WIDEN} \\(pid \\d+\\) from nodes \\(${node}\\) to nodes \\(([0-9,-]+)\\)`).exec(log);
    expect(widened, log).not.toBeNull();
    const to = parseIdList(widened?.[1] ?? '');
    expect(to).toContain(node);
    expect(to.length).toBeGreaterThan(1);
    expect(sections.get(`${WIDEN} numatune`)).toMatch(new RegExp(`numa_nodeset\\s*:\\s*${widened?.[1]}\\n`));
    const journal = (sections.get('journal') ?? '').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { domain: string; action: string; reason: string; after: { nodeset: string } });
    const entry = journal.find((j) => j.domain === WIDEN);
    expect(entry?.reason, sections.get('journal')).toMatch(/^memory guard: widened/);
    expect(entry?.after.nodeset).toBe(widened?.[1]);
    const out = sections.get(`${WIDEN} outcome`) ?? '';
    console.log(`lab memory guard, widened: ${out.trim().replace(/\n/g, '; ')}`);
    expect(out).toMatch(/qemu alive/);
    expect(out).toMatch(/oom_kill 0\n/);
    expect(out).toMatch(/running/);
    const ramLine = /^\d+( N\d+=\d+)+$/m.exec(out)?.[0] ?? '';
    expect(Number(ramLine.split(' ')[0]), out).toBeGreaterThanOrEqual(TOUCHED_PAGES);
    const byNode = pagesByNode(ramLine);
    const elsewhere = [...byNode].filter(([n]) => n !== node).reduce((a, [, p]) => a + p, 0);
    expect(elsewhere, ramLine).toBeGreaterThan(0);
    expect([...byNode.keys()].every((n) => to.includes(n)), ramLine).toBe(true);
  }, 960_000);
});
