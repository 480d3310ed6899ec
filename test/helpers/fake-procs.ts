// Process entries written into a copy of a fixture tree's /proc, shaped like the kernel's files.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { formatIdList } from '../../src/topology/idlist.js';

export interface FakeProc {
  pid: number;
  comm: string;
  threads?: number;
  rssMiB: number;
  cpuTicks: number;
  cpusAllowed: number[];
  memsAllowed?: number[];
  /** MiB per node, written as 4 KiB pages in numa_maps */
  memByNode: Record<number, number>;
  cgroup?: string;
  /** memory.numa_stat content for a cgroup of its own */
  numaStat?: string;
}

export function writeFakeProc(root: string, p: FakeProc): void {
  const dir = path.join(root, 'proc', String(p.pid));
  mkdirSync(dir, { recursive: true });
  const utime = Math.floor(p.cpuTicks * 0.8);
  const stime = p.cpuTicks - utime;
  const rssPages = p.rssMiB * 256;
  writeFileSync(
    path.join(dir, 'stat'),
    `${p.pid} (${p.comm}) S 1 ${p.pid} ${p.pid} 0 -1 4194560 1000 0 0 0 ${utime} ${stime} 0 0 20 0 ${p.threads ?? 4} 0 100 ${p.rssMiB * 2 * 1048576} ${rssPages} 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n`,
  );
  // statm: size resident shared text lib data dt, in pages
  writeFileSync(path.join(dir, 'statm'), `${p.rssMiB * 2 * 256} ${rssPages} 100 10 0 ${rssPages} 0\n`);
  writeFileSync(
    path.join(dir, 'status'),
    `Name:\t${p.comm.slice(0, 15)}\nPid:\t${p.pid}\nVmRSS:\t${p.rssMiB * 1024} kB\nCpus_allowed_list:\t${formatIdList(p.cpusAllowed)}\nMems_allowed_list:\t${formatIdList(p.memsAllowed ?? [0, 1, 2, 3])}\n`,
  );
  const nodes = Object.entries(p.memByNode).map(([n, mib]) => `N${n}=${mib * 256}`).join(' ');
  writeFileSync(path.join(dir, 'numa_maps'), `7f0000000000 default anon=${p.rssMiB * 256} dirty=${p.rssMiB * 256} ${nodes} kernelpagesize_kB=4\n`);
  writeFileSync(path.join(dir, 'cgroup'), `0::${p.cgroup ?? '/user.slice/session-1.scope'}\n`);
  if (p.cgroup && p.numaStat) {
    const cg = path.join(root, 'sys/fs/cgroup', p.cgroup);
    mkdirSync(cg, { recursive: true });
    writeFileSync(path.join(cg, 'cgroup.procs'), `${p.pid}\n`);
    writeFileSync(path.join(cg, 'memory.numa_stat'), p.numaStat);
  }
}
