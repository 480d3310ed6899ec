// Reading a guest's QEMU process from a fixture root: its pid file, threads by the names QEMU gives them, their
// cgroups, its start time, and its memory per node. A process that is gone reads as nothing, not as an error.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { QEMU_RUN_DIR, readMemoryMiBByNode, readProcessStartMs, readQemuPid, readQemuStatusXml, readQemuThreads } from '../../src/observe/qemu-processes.js';
import { FsRoot } from '../../src/topology/fsroot.js';
import { tempDir } from '../helpers/fixtures.js';

describe('observe/qemu-processes', () => {
  const t = tempDir('numadvisor-qemu-');
  afterAll(() => t.cleanup());
  const root = t.dir;
  const write = (rel: string, text: string): void => {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  };
  const fs = new FsRoot(root);
  const PID = 4242;
  const thread = (tid: number, comm: string, cgroup: string): void => {
    write(`proc/${PID}/task/${tid}/comm`, `${comm}\n`);
    write(`proc/${PID}/task/${tid}/cgroup`, cgroup);
  };
  thread(PID, 'qemu-system-x86', '0::/machine.slice/machine-qemu-web.scope/libvirt/emulator\n');
  thread(4250, 'CPU 0/KVM', '0::/machine.slice/machine-qemu-web.scope/libvirt/vcpu0\n');
  thread(4251, 'CPU 1/TCG', '0::/machine.slice/machine-qemu-web.scope/libvirt/vcpu1\n');
  thread(4260, 'IO iothread1', '12:cpuset:/machine/web/iothread1\n0::/machine.slice/x\n');
  thread(4270, 'worker', '0::/machine.slice/worker\n');
  write(`${QEMU_RUN_DIR.slice(1)}/web.pid`, `${PID}\n`);
  write(`${QEMU_RUN_DIR.slice(1)}/junk.pid`, 'not a pid\n');
  write(`${QEMU_RUN_DIR.slice(1)}/web.xml`, '<domstatus/>');

  it('pid file and status XML by domain name; a missing or bad one reads as undefined', () => {
    expect(readQemuPid(fs, 'web')).toBe(PID);
    expect(readQemuPid(fs, 'junk')).toBeUndefined();
    expect(readQemuPid(fs, 'gone')).toBeUndefined();
    expect(readQemuStatusXml(fs, 'web')).toBe('<domstatus/>');
    expect(readQemuStatusXml(fs, 'gone')).toBeUndefined();
  });

  it('vCPU and IOThread threads by name with their cgroups (v1 cpuset before v2); the status XML wins for vCPUs', () => {
    const threads = readQemuThreads(fs, PID, new Map([[1, 4299]]));
    expect(threads.vcpuTids).toEqual({ '0': 4250, '1': 4299 });
    expect(threads.iothreadTids).toEqual({ '1': 4260 });
    expect(threads.cgroups).toEqual({
      [PID]: '/machine.slice/machine-qemu-web.scope/libvirt/emulator',
      '4250': '/machine.slice/machine-qemu-web.scope/libvirt/vcpu0',
      '4251': '/machine.slice/machine-qemu-web.scope/libvirt/vcpu1',
      '4260': '/machine/web/iothread1',
    });
    expect(readQemuThreads(fs, undefined, undefined)).toEqual({ vcpuTids: {}, iothreadTids: {}, cgroups: {} });
    expect(readQemuThreads(fs, 999_999, undefined)).toEqual({ vcpuTids: {}, iothreadTids: {}, cgroups: {} });
  });

  it('start time from stat starttime (10 ms ticks) and uptime; memory per node in MiB from numa_maps', () => {
    const fields = ['S', ...Array.from({ length: 18 }, () => '0'), '150000', '0', '0'];
    write(`proc/${PID}/stat`, `${PID} (qemu-system-x86) ${fields.join(' ')}\n`);
    write('proc/uptime', '2000.00 0.00\n');
    expect(readProcessStartMs(fs, PID, 10_000_000)).toBe(10_000_000 - 500_000);
    expect(readProcessStartMs(fs, 999_999, 10_000_000)).toBeUndefined();
    write(`proc/${PID}/numa_maps`, '7f00 default anon=300 N0=256 N1=44 kernelpagesize_kB=4\n7f10 default huge anon=1 N1=1 kernelpagesize_kB=2048\n');
    expect(readMemoryMiBByNode(fs, PID)).toEqual(new Map([
      [0, 1],
      [1, (44 * 4 + 2048) / 1024],
    ]));
    expect(readMemoryMiBByNode(fs, 999_999)).toBeUndefined();
  });
});
