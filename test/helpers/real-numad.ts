// Runs the real numad (Debian package `numad`) against a fixture tree: a private mount and IPC namespace
// (`unshare -m -i`) with the fixture bind-mounted over /sys/devices/system/{node,cpu} and /proc/stat, private /run
// and /var/log so the host's pid file, log and 0xdeadbeef queue are untouched. numad measures idle CPU between two
// /proc/stat reads 2 s apart, so the harness advances the fixture's counters in place (same inode) halfway through,
// by exactly the fixture's own idle share: numad's delta then equals the since-boot share numadvisor reads.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fixture } from './fixtures.js';

/** Debian's numad; after `make install` diverts it, dpkg keeps the real binary at numad.distrib. */
export const REAL_NUMAD = existsSync('/usr/bin/numad.distrib') ? '/usr/bin/numad.distrib' : '/usr/bin/numad';

export function realNumadUnavailable(): string | undefined {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'needs root (unshare -m, bind mounts)';
  if (!existsSync(REAL_NUMAD)) return `${REAL_NUMAD} is not installed (Debian package numad)`;
  if (!existsSync('/usr/bin/unshare')) return 'unshare (util-linux) is not installed';
  return undefined;
}

/** /proc/stat after `ticks` more ticks per CPU, split idle/busy in each CPU's since-boot proportion. */
export function advanceProcStat(text: string, ticks: number): string {
  return text
    .split('\n')
    .map((line) => {
      const m = /^(cpu\d+)\s+(.*)$/.exec(line);
      if (!m) return line;
      const f = (m[2] as string).split(/\s+/).map(Number);
      const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
      const idle = Math.round((ticks * (f[3] as number)) / total);
      f[3] = (f[3] as number) + idle;
      f[0] = (f[0] as number) + (ticks - idle);
      return `${m[1]} ${f.join(' ')}`;
    })
    .join('\n');
}

export interface RealNumadRun {
  stdout: string;
  stderr: string;
  code: number | null;
  log: string;
}

export async function runRealNumad(fixtureName: string, args: string[], workDir: string): Promise<RealNumadRun> {
  const root = path.join(workDir, fixtureName);
  cpSync(fixture(fixtureName), root, { recursive: true });
  const stat = path.join(root, 'proc/stat');
  const next = path.join(workDir, `${fixtureName}.stat.next`);
  writeFileSync(next, advanceProcStat(readFileSync(stat, 'utf8'), 200));
  const logDir = path.join(workDir, `${fixtureName}.log`);
  const script = [
    'set -e',
    'mount -t tmpfs none /run',
    `mkdir -p ${logDir} && mount --bind ${logDir} /var/log`,
    `mount --bind ${root}/sys/devices/system/node /sys/devices/system/node`,
    `mount --bind ${root}/sys/devices/system/cpu /sys/devices/system/cpu`,
    `mount --bind ${stat} /proc/stat`,
    `${REAL_NUMAD} "$@" > ${workDir}/${fixtureName}.out 2> ${workDir}/${fixtureName}.err & pid=$!`,
    // numad reads /proc/stat at once and again 2 s later; rewrite it in place in between.
    'sleep 1',
    `cat ${next} > ${stat}`,
    'set +e',
    'wait $pid; echo $? > ' + `${workDir}/${fixtureName}.rc`,
  ].join('\n');
  await new Promise<void>((resolve, reject) => {
    const child = spawn('unshare', ['-m', '-i', '--propagation', 'private', 'sh', '-c', script, 'sh', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`harness failed (${code}): ${err}`))));
  });
  const read = (f: string): string => (existsSync(f) ? readFileSync(f, 'utf8') : '');
  return {
    stdout: read(`${workDir}/${fixtureName}.out`),
    stderr: read(`${workDir}/${fixtureName}.err`),
    code: Number.parseInt(read(`${workDir}/${fixtureName}.rc`), 10),
    log: read(path.join(logDir, 'numad.log')),
  };
}
