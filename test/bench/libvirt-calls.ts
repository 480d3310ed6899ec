// Calls per second of our libvirt client against a real libvirtd, beside the same query through virsh.
// GetNumaParameters(LIVE) on a running QEMU domain: our client one call at a time and 16 in flight, virsh as a new
// process per query (what a script or a shelling-out daemon pays), and virsh running 200 queries in one session.
// Run: npx tsx test/bench/libvirt-calls.ts   (root; starts libvirtd like the tests, ~30 s)   — or make bench-libvirt
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { LIBVIRT_SOCK, libvirtAvailable, qemuDomainXml, startLibvirtd, stopLibvirtd, virsh } from '../helpers/libvirtd.js';

if (!libvirtAvailable()) throw new Error('needs root, libvirtd, both numads built/installed, and no running QEMU domain');
await startLibvirtd();
const file = '/tmp/nv-bench.xml';
writeFileSync(file, qemuDomainXml('nv-bench', { mode: 'restrictive' }));
virsh('create', file);
const client = new LibvirtClient({ uri: 'qemu:///system', socketPath: LIBVIRT_SOCK });
try {
  const dom = await client.lookupByName('nv-bench');
  for (let i = 0; i < 200; i++) await client.numaParameters(dom); // warm-up
  const N = 3000;
  let t0 = performance.now();
  for (let i = 0; i < N; i++) await client.numaParameters(dom);
  const seqMs = performance.now() - t0;
  t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next++ < N) await client.numaParameters(dom);
    }),
  );
  const parMs = performance.now() - t0;
  const V = 30;
  t0 = performance.now();
  for (let i = 0; i < V; i++) execFileSync('virsh', ['-c', 'qemu:///system', 'numatune', 'nv-bench'], { encoding: 'utf8' });
  const virshMs = (performance.now() - t0) / V;
  const S = 200;
  t0 = performance.now();
  execFileSync('virsh', ['-c', 'qemu:///system', Array.from({ length: S }, () => 'numatune nv-bench').join(' ; ')], { encoding: 'utf8' });
  const sessionMs = (performance.now() - t0) / S;
  const perCall = seqMs / N;
  console.log('| how | per query | queries/s | vs our client (sequential) |');
  console.log('|---|---|---|---|');
  console.log(`| numadvisor client, one at a time | ${(perCall * 1000).toFixed(0)} µs | ${Math.round(N / (seqMs / 1000))} | 1.00× |`);
  console.log(`| numadvisor client, 16 in flight | ${(((parMs / N) * 1000)).toFixed(0)} µs | ${Math.round(N / (parMs / 1000))} | ${(parMs / seqMs).toFixed(2)}× |`);
  console.log(`| \`virsh numatune\`, a process per query | ${virshMs.toFixed(1)} ms | ${Math.round(1000 / virshMs)} | ${(virshMs / perCall).toFixed(0)}× |`);
  console.log(`| \`virsh\`, ${S} queries in one session | ${(sessionMs * 1000).toFixed(0)} µs | ${Math.round(1000 / sessionMs)} | ${(sessionMs / perCall).toFixed(2)}× |`);
} finally {
  await client.close();
  virsh('destroy', 'nv-bench');
  await stopLibvirtd(true);
}
