// Daemon CPU time over the same period on the same emulated 4-node guest: the real numad (-S 1, scanning every
// process) against ours (numad command defaults), with 300 small processes and 2 large idle ones to scan.
// Run: npx tsx test/bench/lab-daemon-cpu.ts [--seconds 60]   (root; boots a lab guest, ~3–4 minutes)
import { LAB_4NODE_1GIB, runInGuest } from '../lab/harness.js';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 60;
const ticks = 'awk \'{ print $14 + $15 }\' /proc/$D/stat';
const script = `
for i in $(seq 1 300); do sleep 100000 & done
node -e "const b = Buffer.alloc(310 * 1048576, 1); setInterval(() => {}, 1000)" &
node -e "const b = Buffer.alloc(310 * 1048576, 1); setInterval(() => {}, 1000)" &
sleep 20
REAL=$( [ -x /usr/bin/numad.distrib ] && echo /usr/bin/numad.distrib || echo /usr/bin/numad )
$REAL -S 1 -H 0 -i 5:15; sleep 2; D=$(cat /var/run/numad.pid)
a=$(${ticks}); sleep ${seconds}; b=$(${ticks})
echo "real-numad $((b - a))"
kill $D; sleep 2; rm -f /var/run/numad.pid
dist/numad -i 5:15 || exit 10; sleep 2; D=$(cat /var/run/numad.pid)
a=$(${ticks}); sleep ${seconds}; b=$(${ticks})
echo "numadvisor $((b - a))"
dist/numad -i 0
`;
const r = await runInGuest(LAB_4NODE_1GIB, script, (4 * seconds + 300) * 1000);
if (r.code !== 0) throw new Error(`guest exit ${r.code}: ${r.stderr}`);
const got = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
const real = got['real-numad'] as number;
const ours = got.numadvisor as number;
console.log(`\nDaemon CPU over ${seconds} s on the emulated 4-node guest (302 processes to scan), clock ticks (1/100 s):\n`);
console.log('| daemon | CPU ticks | % of one CPU |');
console.log('|---|---|---|');
console.log(`| real numad 20150602 (-S 1 -i 5:15) | ${real} | ${(real / seconds).toFixed(2)} |`);
console.log(`| numadvisor (numad -i 5:15) | ${ours} | ${(ours / seconds).toFixed(2)} |`);
console.log(`\nratio ours / numad: ${(ours / Math.max(1, real)).toFixed(2)}`);
