// Daemon CPU time over the same period on the same emulated 4-node guest: the real numad (-S 1, scanning every
// process) against ours (numad command defaults), with 300 small processes and 2 large idle ones to scan.
// Run: npx tsx test/bench/lab-daemon-cpu.mts [--seconds 60] [--warmup 30]   (root; boots a lab guest, ~3–4 minutes)
import { LAB_4NODE_1GIB, runInGuest } from '../lab/harness.js';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 60;
/** Measure steady state: both daemons first run this long (Node compiles its code lazily in the first cycles). */
const warmup = Number(process.argv[process.argv.indexOf('--warmup') + 1]) || 30;
const ticks = 'awk \'{ print $14 + $15 }\' /proc/$D/stat';
const script = `
for i in $(seq 1 300); do sleep 100000 & done
node -e "const b = Buffer.alloc(310 * 1048576, 1); setInterval(() => {}, 1000)" &
node -e "const b = Buffer.alloc(310 * 1048576, 1); setInterval(() => {}, 1000)" &
sleep 20
REAL=$( [ -x /usr/bin/numad.distrib ] && echo /usr/bin/numad.distrib || echo /usr/bin/numad )
$REAL -S 1 -H 0 -i 5:15; sleep ${warmup}; D=$(cat /var/run/numad.pid)
a=$(${ticks}); sleep ${seconds}; b=$(${ticks})
echo "real-numad $((b - a))"
kill $D; sleep 2; rm -f /var/run/numad.pid
S=$(date +%s); dist/numad -i 5:15 || exit 10; D=$(cat /var/run/numad.pid)
echo "numadvisor-start-seconds $(( $(date +%s) - S ))"
echo "numadvisor-start-ticks $(${ticks})"
sleep ${warmup}
for t in /proc/$D/task/*; do echo "$(cat $t/comm) $(awk '{ print $14 + $15 }' $t/stat)"; done > /tmp/threads.a
a=$(${ticks}); sleep ${seconds}; b=$(${ticks})
for t in /proc/$D/task/*; do echo "$(cat $t/comm) $(awk '{ print $14 + $15 }' $t/stat)"; done > /tmp/threads.b
echo "numadvisor $((b - a))"
echo "threads $(paste -d' ' /tmp/threads.a /tmp/threads.b | awk '{ printf "%s:%d ", $1, $4 - $2 }')"
dist/numad -i 0
`;
const r = await runInGuest(LAB_4NODE_1GIB, script, (2 * seconds + 2 * warmup + 400) * 1000);
if (r.code !== 0) throw new Error(`guest exit ${r.code}: ${r.stderr}`);
const lines = r.stdout.trim().split('\n');
const got = Object.fromEntries(lines.map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
const threads = lines.find((l) => l.startsWith('threads '))?.slice('threads '.length) ?? '';
const real = got['real-numad'] as number;
const ours = got.numadvisor as number;
console.log(`\nDaemon CPU over ${seconds} s on the emulated 4-node guest (302 processes to scan), clock ticks (1/100 s):\n`);
console.log('| daemon | CPU ticks | % of one CPU |');
console.log('|---|---|---|');
console.log(`| real numad 20150602 (-S 1 -i 5:15) | ${real} | ${(real / seconds).toFixed(2)} |`);
console.log(`| numadvisor (numad -i 5:15) | ${ours} | ${(ours / seconds).toFixed(2)} |`);
console.log(`\nratio ours / numad: ${(ours / Math.max(1, real)).toFixed(2)}`);
console.log(`numadvisor start: ${got['numadvisor-start-seconds']} s until it answered, ${got['numadvisor-start-ticks']} ticks; then ${warmup} s before measuring`);
console.log(`numadvisor per thread over the ${seconds} s (comm:ticks): ${threads}`);
