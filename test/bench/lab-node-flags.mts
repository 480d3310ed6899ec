// Which V8 flags make the idle daemon cheapest on an emulated guest: the daemon (numad defaults: -S 1, -i 5:15,
// --apply processes) started directly with each set of flags, 300 small and 2 large processes to scan; CPU ticks of
// its threads over the same window after a warm-up. Run: npx tsx test/bench/lab-node-flags.mts [--seconds 60]
import { LAB_4NODE_1GIB, runInGuest } from '../lab/harness.js';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 60;
const warmup = 45;
const variants = (process.env.VARIANTS ?? "|--single-threaded|--single-threaded --no-flush-bytecode|--jitless").split('|');
const run = variants
  .map(
    (flags, i) => `
mkdir -p /var/lib/nv${i}
node ${flags} dist/cli/numadvisor-entry.js daemon --socket /run/nv${i}.sock --state-dir /var/lib/nv${i} --log-file /var/log/nv${i}.log --apply processes > /dev/null 2>&1 &
D=$!; sleep ${warmup}
a=$(awk '{ print $14 + $15 }' /proc/$D/stat); sleep ${seconds}; b=$(awk '{ print $14 + $15 }' /proc/$D/stat)
echo "variant ${i} $((b - a)) $(awk '{ print $24 }' /proc/$D/stat)"
kill $D; sleep 2`,
  )
  .join('\n');
const script = `
for i in $(seq 1 300); do sleep 100000 & done
node -e "const b = Buffer.alloc(310 * 1048576, 1); setInterval(() => {}, 1000)" &
node -e "const b = Buffer.alloc(310 * 1048576, 1); setInterval(() => {}, 1000)" &
sleep 10
${run}
`;
const r = await runInGuest(LAB_4NODE_1GIB, script, (variants.length * (seconds + warmup + 10) + 200) * 1000);
if (r.code !== 0) throw new Error(`guest exit ${r.code}: ${r.stderr}`);
console.log(`| node flags | CPU ticks over ${seconds} s | % of one CPU | RSS pages |`);
console.log('|---|---|---|---|');
for (const line of r.stdout.trim().split('\n').filter((l) => l.startsWith('variant '))) {
  const [, i, ticks, rss] = line.split(' ');
  console.log(`| \`${variants[Number(i)] || '(none)'}\` | ${ticks} | ${(Number(ticks) / seconds).toFixed(2)} | ${rss} |`);
}
