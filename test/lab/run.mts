// Run one command in a lab guest by hand:
//   npx tsx test/lab/run.ts [--topology 4node|8node] [--nodes N --cpus-per-node C --mem-per-node MIB] -- 'numactl -H'
//   npx tsx test/lab/run.mts --mem-per-node 768 --libvirt -- 'virsh -c qemu:///system capabilities | grep cell'
// --libvirt runs test/lab/libvirt-guest.ts's prelude first: cgroup2, libvirtd and virtlogd up, our numad at /usr/bin/numad.
// The project directory is mounted read-write at its own path and is the working directory; the rest of this
// machine's root is read-only, with tmpfs over /tmp /run /var/log /var/lib /var/tmp /root.
// While the guest runs (a boot is tens of seconds, a VM scenario minutes), stderr shows how long it has been: on a
// terminal by default (one line, rewritten), every 15 s with --progress elsewhere, never with --quiet. stdout gets
// the guest's stdout only.
import { parseArgs } from 'node:util';
import { progressMode, progressReporter } from '../../src/cli/progress.js';
import { LAB_4NODE, LAB_8NODE_DL980, runInGuest, type Topology } from './harness.js';
import { libvirtPrelude } from './libvirt-guest.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    topology: { type: 'string', default: '4node' },
    nodes: { type: 'string' },
    'cpus-per-node': { type: 'string' },
    'mem-per-node': { type: 'string' },
    timeout: { type: 'string', default: '600' },
    libvirt: { type: 'boolean', default: false },
    progress: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
  },
});
let topology: Topology = values.topology === '8node' ? LAB_8NODE_DL980 : LAB_4NODE;
if (values.nodes) {
  const n = Number(values.nodes);
  // Without a given SLIT: 10 local, 20 remote.
  topology = { name: `${n}-node`, cpusPerNode: 1, memMiBPerNode: 256, distances: Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 10 : 20))) };
}
topology = {
  ...topology,
  cpusPerNode: Number(values['cpus-per-node'] ?? topology.cpusPerNode),
  memMiBPerNode: Number(values['mem-per-node'] ?? topology.memMiBPerNode),
};
const command = positionals.join(' ') || 'numactl -H';
const script = values.libvirt ? `${libvirtPrelude()}\n${command}` : command;
const mode = progressMode(values, process.stderr.isTTY);
const progress = progressReporter({ stderr: (t) => process.stderr.write(t) }, mode, 'lab');
progress.step(`${topology.name} guest starting`);
const ticker = mode === 'off' ? undefined : setInterval(() => progress.step(`${topology.name} guest running`), mode === 'tty' ? 1000 : 15_000);
let r: Awaited<ReturnType<typeof runInGuest>>;
try {
  r = await runInGuest(topology, `${script}\n`, Number(values.timeout) * 1000);
} finally {
  clearInterval(ticker);
  progress.done();
}
process.stdout.write(r.stdout);
process.stderr.write(r.stderr);
process.stderr.write(`[lab: ${topology.name}, exit ${r.code}, ${(r.elapsedMs / 1000).toFixed(1)} s]\n`);
process.exitCode = r.code;
