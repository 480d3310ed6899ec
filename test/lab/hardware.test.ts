// Today's NUMA hardware on a real kernel: a guest whose firmware (QEMU, `-machine hmat=on`) describes two CPU nodes
// with DRAM, two CPU-less memory nodes behind them (what a CXL memory expander looks like to Linux) and an HMAT with
// their latencies and bandwidths. What the fixture trees cannot prove: that the kernel's own files read as we expect,
// that no answer is ever made only of memory-only nodes, that per-node hugepage pools drive a hugepage-backed request,
// and that a guest NUMA layout we generate is accepted by libvirt and lands each guest cell on its host node.
import { describe, expect, it } from 'vitest';
import { parseIdList } from '../../src/topology/idlist.js';
import { LAB_CXL_HMAT } from './harness.js';
import { labDomainXml, libvirtLabUnavailable, libvirtPrelude, runVmScenario, section, startNumadDaemon, writeFileInGuest, writeSpinKernel } from './libvirt-guest.js';

const skip = libvirtLabUnavailable();
const SOCK = '/run/numadvisor/numadvisor.sock';
const CPU_NODES = [0, 1];
const NV = 'node dist/cli/numadvisor-entry.js';

interface HmatAccess {
  initiators: number[];
  readLatencyNs?: number;
  writeLatencyNs?: number;
  readBandwidthMiBps?: number;
  writeBandwidthMiBps?: number;
}
interface SnapNode {
  id: number;
  cpus: number[];
  hasCpu: boolean;
  hasMemory: boolean;
  memoryTier?: number;
  hmat?: { access0?: HmatAccess; access1?: HmatAccess };
  hugepages: { sizeKiB: number; total: number; free: number }[];
}
interface Snapshot {
  nodes: SnapNode[];
  cpus: { id: number; l3Id?: number; l3Cpus?: number[] }[];
  memoryTiers?: { tier: number; nodes: number[] }[];
  numaBalancing?: number;
}

/** A nodeset line as `numad -w` prints it, as node ids. */
const nodesOf = (line: string): number[] => parseIdList(line.trim());

describe.skipIf(skip !== undefined)('the lab: CPU-less memory nodes, HMAT, hugepage pools and guest NUMA layouts on a real kernel', () => {
  it('readers, answers that always include a CPU node, a hugepage-backed answer, and a two-cell guest on two host nodes', async () => {
    const hw = LAB_CXL_HMAT.hmat as NonNullable<typeof LAB_CXL_HMAT.hmat>;
    const domain = labDomainXml({ name: 'nv-cells', memMiB: 96, vcpus: 2, mode: 'strict', kernel: '/var/lib/libvirt/images/spin.bin', immediate: true });
    const hugeDomain = labDomainXml({ name: 'nv-huge', memMiB: 64, vcpus: 1, mode: 'strict', kernel: '/var/lib/libvirt/images/spin.bin' }).replace(
      '</numatune>',
      "</numatune>\n  <memoryBacking><hugepages><page size='2048' unit='KiB'/></hugepages></memoryBacking>",
    );
    const lines = [
      // 40 × 2 MiB pages on node 1 only: node 0 has more free memory, but no pool.
      'echo 40 > /sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages',
      section('l3', 'for c in /sys/devices/system/cpu/cpu[0-9]*; do [ -f $c/cache/index3/level ] && echo "$(basename $c) $(cat $c/cache/index3/level) $(cat $c/cache/index3/id 2>/dev/null || echo -) $(cat $c/cache/index3/shared_cpu_list)"; done'),
      section('snapshot', `${NV} snapshot --sample-ms 0`),
      // No daemon yet: the command's own local answers, with a state directory of their own so that the daemon does
      // not adopt them as reservations (each answer is asked on the same free memory).
      ...['1:100', '2:100', '1:1400', '1:3500'].map((r) => section(`local ${r}`, `NUMADVISOR_STATE_DIR=/tmp/local-$$ dist/numad -w ${r}`)),
      // Persistent domains (virsh define) need a writable /etc/libvirt/qemu (the guest's root is read-only), and
      // hugepage-backed ones a hugetlbfs, which libvirt finds in /proc/mounts when it starts.
      'mount -t tmpfs tmpfs /etc/libvirt/qemu || exit 40',
      'mkdir -p /dev/hugepages && mount -t hugetlbfs hugetlbfs /dev/hugepages || exit 41',
      libvirtPrelude({ numad: 'ours' }),
      startNumadDaemon('-i 15'),
      section('nodes', `curl -s --unix-socket ${SOCK} http://localhost/v1/nodes`),
      // Through the daemon: numad -w once (it reserves what it took), then unreserved questions on the same memory.
      section('daemon 1:100', 'dist/numad -w 1:100'),
      section('daemon 1:1400', `curl -s --unix-socket ${SOCK} 'http://localhost/v1/advice?cpus=1&mem=1400&reserve=false&format=nodeset'`),
      section('daemon 1:3500', `curl -s --unix-socket ${SOCK} 'http://localhost/v1/advice?cpus=1&mem=3500&reserve=false'`),
      section('hugepages', `curl -s --unix-socket ${SOCK} 'http://localhost/v1/advice?cpus=1&mem=64&hugepages=2048&reserve=false'`),
      `cp ${writeSpinKernel()} /var/lib/libvirt/images/spin.bin`,
      writeFileInGuest('/tmp/cells.xml', domain),
      section('layout', `${NV} advise --domain-xml /tmp/cells.xml > /tmp/cells-layout.xml && cat /tmp/cells-layout.xml`),
      section('define', 'virsh -c qemu:///system define /tmp/cells-layout.xml && virsh -c qemu:///system start nv-cells'),
      'sleep 3',
      section('dumpxml', 'virsh -c qemu:///system dumpxml nv-cells'),
      section('vcpupin', 'virsh -c qemu:///system vcpupin nv-cells'),
      section('qemu numa_maps', `pid=$(cat /run/libvirt/qemu/nv-cells.pid); awk '{for (i = 1; i <= NF; i++) if ($i ~ /^N[0-9]+=/) { split(substr($i, 2), a, "="); pages[a[1]] += a[2] } } END { for (n in pages) print n, int(pages[n] * 4 / 1024) }' /proc/$pid/numa_maps | sort -n`),
      'virsh -c qemu:///system destroy nv-cells >/dev/null; virsh -c qemu:///system undefine nv-cells >/dev/null',
      // A hugepage-backed domain started by libvirt: `numad -w 1:64` carries no page size; the daemon finds the
      // defined domain it belongs to and places it by the pools (node 1 has the only one).
      writeFileInGuest('/tmp/huge.xml', hugeDomain),
      section('huge define', 'virsh -c qemu:///system define /tmp/huge.xml && sleep 2 && virsh -c qemu:///system start nv-huge'),
      'sleep 2',
      section('huge numatune', 'virsh -c qemu:///system numatune nv-huge'),
      section('huge pools', 'for n in 0 1; do echo "$n $(cat /sys/devices/system/node/node$n/hugepages/hugepages-2048kB/free_hugepages)"; done'),
      // The ledger's journal, not GET /v1/reservations: once QEMU has faulted its pages in, the bound reservation
      // shrinks by them (they show in the pool's free count) and may be gone by the time we ask.
      section('huge journal', 'grep hugepageSizeKiB /var/lib/numadvisor/reservations.journal'),
      'virsh -c qemu:///system destroy nv-huge >/dev/null; virsh -c qemu:///system undefine nv-huge >/dev/null',
      // The real numad beside ours, on the same kernel: its answers are a documented difference (docs/policy.md).
      'dist/numad -i 0; sleep 2',
      // libvirtPrelude bound our command over /usr/bin/numad; under it is Debian's numad.
      'umount /usr/bin/numad; REAL=/usr/bin/numad',
      section('real', '$REAL -S 0 -H 0 -i 15 && sleep 3 && for r in 1:100 2:100 1:1400 1:3500; do echo "$r $(timeout 20 $REAL -w $r)"; done; $REAL -i 0'),
    ];
    const r = await runVmScenario('hardware lab', LAB_CXL_HMAT, lines, 600_000);
    expect(r.code, `${r.stderr}\n${r.stdout.slice(-4000)}`).toBe(0);
    const s = (name: string): string => r.sections.get(name) ?? '';
    const spill = JSON.parse(s('daemon 1:3500')) as { nodeset: string; reasons: string[] };
    const line = (k: string): string => `${k}→${s(k).trim()}`;
    console.log(
      `hardware lab answers: ${['local 1:100', 'local 2:100', 'local 1:1400', 'local 1:3500', 'daemon 1:100', 'daemon 1:1400'].map(line).join(' ')} daemon 1:3500→${spill.nodeset}; ` +
        `real numad: ${s('real').trim().replace(/\n/g, '; ')}`,
    );

    // Readers against the kernel's own files.
    const snap = JSON.parse(s('snapshot')) as Snapshot;
    expect(snap.nodes.map((n) => [n.id, n.hasCpu, n.hasMemory])).toEqual([[0, true, true], [1, true, true], [2, false, true], [3, false, true]]);
    for (const n of snap.nodes) {
      const row = CPU_NODES.indexOf(hw.initiator[n.id] as number);
      const access0 = n.hmat?.access0;
      expect(access0?.initiators, `node ${n.id}`).toEqual([hw.initiator[n.id]]);
      expect(access0?.readLatencyNs).toBe((hw.latencyNs[row] as number[])[n.id]);
      expect(access0?.writeLatencyNs).toBe((hw.latencyNs[row] as number[])[n.id]);
      expect(access0?.readBandwidthMiBps).toBe((hw.bandwidthMiBps[row] as number[])[n.id]);
      expect(n.hmat?.access1?.initiators).toEqual([hw.initiator[n.id]]);
    }
    // Linux 6.1 puts every node in the default DRAM tier (HMAT-derived tiers came in 6.7): read as it is.
    expect(snap.memoryTiers?.flatMap((t) => t.nodes).sort()).toEqual([0, 1, 2, 3]);
    expect(typeof snap.numaBalancing).toBe('number');
    expect(snap.nodes[1]?.hugepages.find((p) => p.sizeKiB === 2048)?.total).toBe(40);
    const l3 = s('l3').trim().split('\n').filter(Boolean).map((l) => l.split(' '));
    for (const [cpu, , id, list] of l3) {
      const c = snap.cpus.find((x) => `cpu${x.id}` === cpu);
      expect(c?.l3Cpus, cpu).toEqual(parseIdList(list as string));
      if (id !== '-') expect(c?.l3Id, cpu).toBe(Number(id));
    }

    // Answers: never only memory-only nodes; the CPU nodes' own memory while it holds the request, then the memory
    // attached to them. (The local answers are numad's policy over the CPU nodes first: cli/local-advice.ts.)
    const cpuOnly = (k: string): boolean => nodesOf(s(k)).every((n) => CPU_NODES.includes(n));
    for (const k of ['local 1:100', 'local 2:100', 'local 1:1400', 'local 1:3500', 'daemon 1:100', 'daemon 1:1400']) {
      expect(nodesOf(s(k)).some((n) => CPU_NODES.includes(n)), `${k}: ${s(k)}`).toBe(true);
    }
    for (const k of ['local 1:100', 'local 2:100', 'local 1:1400', 'daemon 1:100', 'daemon 1:1400']) expect(cpuOnly(k), `${k}: ${s(k)}`).toBe(true);
    expect(nodesOf(s('local 2:100'))).toEqual([0, 1]);
    expect(nodesOf(s('daemon 1:100')), s('daemon 1:100')).toHaveLength(1);
    expect(nodesOf(s('daemon 1:1400')), s('daemon 1:1400')).toEqual([0, 1]);
    // 3500 MiB is more than both CPU nodes' DRAM: the rest goes to the CPU-less nodes, and the reasons say how much.
    expect(nodesOf(spill.nodeset).some((n) => CPU_NODES.includes(n)), spill.nodeset).toBe(true);
    expect(nodesOf(spill.nodeset).some((n) => !CPU_NODES.includes(n)), spill.nodeset).toBe(true);
    expect(spill.reasons[0], spill.reasons.join('\n')).toMatch(/^memory tiers: the CPU nodes' own memory is \d+ MiB short of it; .* MiB on node [23]/);

    const nodesView = JSON.parse(s('nodes')) as { nodes: { id: number; hmat?: { access0?: HmatAccess } }[] };
    expect(nodesView.nodes.find((n) => n.id === 2)?.hmat?.access0?.readLatencyNs).toBe(250);

    // The hugepage-backed request goes where the pool is, though node 0 has more free memory.
    const huge = JSON.parse(s('hugepages')) as { nodeset: string; reasons: string[] };
    expect(huge.nodeset, s('hugepages')).toBe('1');

    // The two-cell layout: libvirt took it, each cell on its own host node, each vCPU pinned there, and QEMU's memory
    // split between the two nodes.
    const xml = s('dumpxml');
    expect(s('define'), s('layout')).toMatch(/Domain 'nv-cells' started/);
    const cells = [...xml.matchAll(/<cell id='(\d+)' cpus='(\d+)' memory='(\d+)' unit='KiB'/g)].map((m) => m.slice(1).map(Number));
    expect(cells.map(([id, cpus]) => [id, cpus])).toEqual([[0, 0], [1, 1]]);
    expect(cells.reduce((a, c) => a + (c[2] as number), 0)).toBe(96 * 1024);
    expect(xml).toMatch(/<memnode cellid='0' mode='strict' nodeset='0'\/>/);
    expect(xml).toMatch(/<memnode cellid='1' mode='strict' nodeset='1'\/>/);
    expect(s('vcpupin')).toMatch(/\b0\s+0\s*\n/);
    expect(s('vcpupin')).toMatch(/\b1\s+1\s*\n/);
    // The hugepage-backed domain: placed on node 1 by its pool, and QEMU took its 32 pages there.
    expect(s('huge define'), s('huge define')).toMatch(/Domain 'nv-huge' started/);
    expect(s('huge numatune')).toMatch(/numa_nodeset\s*:\s*1\s*$/m);
    expect(s('huge pools').trim().split('\n')).toEqual(['0 0', '1 8']);
    const puts = s('huge journal').trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { r: { hugepageSizeKiB?: number; nodeset: string; client: string; domain?: { name: string } } }).r);
    expect(puts.find((r) => r.domain?.name === 'nv-huge'), s('huge journal')).toMatchObject({ hugepageSizeKiB: 2048, nodeset: '1', client: 'numad -w' });

    const perNode = new Map(s('qemu numa_maps').trim().split('\n').map((l) => l.split(' ').map(Number) as [number, number]));
    for (const [id, , kib] of cells) expect(perNode.get(id as number) ?? 0, s('qemu numa_maps')).toBeGreaterThanOrEqual(Math.floor((kib as number) / 1024) - 2);
  });
});
