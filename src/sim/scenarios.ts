// The scenarios the NUMA literature uses, as simulator inputs. Hosts are synthetic but shaped like the machines the
// scenarios come from: the NUMA talk's 4 nodes × 10 cores (Westmere-EX SLIT) and the 8-node HP DL980 G7.
import type { Scenario, SimHost, VmSpec } from './model.js';
import { D4, DL980 } from './slit-tables.js';

const GiB = 1024;

function host(name: string, slit: number[][], cores: number, memMiB: number): SimHost {
  return { name, nodes: slit.map((row, id) => ({ id, cores, memMiB, distances: row })) };
}

const FOUR_BY_TEN = host('4 nodes × 10 cores × 32 GiB (Westmere-EX SLIT)', D4, 10, 32 * GiB);
const DL980_HOST = host('8 nodes × 8 cores × 64 GiB (HP DL980 G7 SLIT)', DL980, 8, 64 * GiB);

const vms = (n: number, f: (i: number) => Omit<VmSpec, 'name'>, prefix = 'vm'): VmSpec[] => Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i + 1}`, ...f(i) }));

export const SCENARIOS: Record<string, Scenario> = {
  dbench: {
    name: 'dbench',
    title: '40 VMs × 4 vCPUs × 2 GiB started one by one on 4 nodes × 10 cores (the NUMA talk\'s dbench test)',
    host: FOUR_BY_TEN,
    vms: vms(40, (i) => ({ vcpus: 4, memMiB: 2 * GiB, load: 0.25, startS: i * 10 })),
    durationS: 1200,
    touchMiBPerS: 256,
    reference: { vcpus: 4, memMiB: 2 * GiB },
  },
  'two-node-start': {
    name: 'two-node-start',
    title: '20 of those VMs (busier: 0.5 per vCPU) started on the first two nodes only, then left to be rebalanced',
    host: FOUR_BY_TEN,
    vms: vms(20, (i) => ({ vcpus: 4, memMiB: 2 * GiB, load: 0.5, startS: 0, startOn: [i % 2] })),
    durationS: 1800,
    touchMiBPerS: 256,
    reference: { vcpus: 4, memMiB: 2 * GiB },
  },
  'boot-storm': {
    name: 'boot-storm',
    title: 'Boot storm: the 40 dbench VMs started at the same moment (every answer before any guest memory exists)',
    host: FOUR_BY_TEN,
    vms: vms(40, () => ({ vcpus: 4, memMiB: 2 * GiB, load: 0.25, startS: 0 })),
    durationS: 600,
    touchMiBPerS: 256,
    reference: { vcpus: 4, memMiB: 2 * GiB },
  },
  'dl980-mixed': {
    name: 'dl980-mixed',
    title: 'Mixed sizes on the 8-node DL980, three VMs larger than a node (80 GiB), started one by one (78 % of memory)',
    host: DL980_HOST,
    vms: [
      ...vms(3, (i) => ({ vcpus: 16, memMiB: 80 * GiB, load: 0.25, startS: i * 90 }), 'big'),
      ...vms(12, (i) => ({ vcpus: 4, memMiB: 8 * GiB, load: 0.3, startS: 200 + i * 10 }), 'mid'),
      ...vms(16, (i) => ({ vcpus: 2, memMiB: 4 * GiB, load: 0.3, startS: 330 + i * 10 }), 'small'),
    ],
    durationS: 1500,
    touchMiBPerS: 1024,
    reference: { vcpus: 4, memMiB: 8 * GiB },
  },
  'big-vms': {
    name: 'big-vms',
    title:
      'VMs larger than a node on the DL980: four of 16 vCPUs and 96 GiB (each needs two nodes by memory and, at a whole CPU ' +
      'per vCPU, by CPU), started one by one, then 12 small VMs (84 % of memory)',
    host: DL980_HOST,
    vms: [
      ...vms(4, (i) => ({ vcpus: 16, memMiB: 96 * GiB, load: 0.3, startS: i * 100 }), 'big'),
      ...vms(12, (i) => ({ vcpus: 2, memMiB: 4 * GiB, load: 0.3, startS: 420 + i * 10 }), 'small'),
    ],
    durationS: 1200,
    touchMiBPerS: 1024,
    reference: { vcpus: 2, memMiB: 4 * GiB },
  },
  'memory-pressure': {
    name: 'memory-pressure',
    title: 'Memory pressure: 12 VMs × 10 GiB on 4 × 32 GiB (94 % of the host), started 2 s apart',
    host: FOUR_BY_TEN,
    vms: vms(12, (i) => ({ vcpus: 4, memMiB: 10 * GiB, load: 0.2, startS: i * 2 })),
    durationS: 900,
    touchMiBPerS: 256,
    reference: { vcpus: 2, memMiB: 1 * GiB },
  },
};
