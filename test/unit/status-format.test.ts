// What `numadvisor status`, `processes`, `<command> --help` and the progress line print for a person, from fixture
// answers (the shapes GET /healthz, /v1/nodes, /v1/reservations, /v1/domains and /v1/processes send).
import { describe, expect, it } from 'vitest';
import { COMMAND_OPTIONS, commandHelp } from '../../src/cli/command-options.js';
import { COMMANDS, type CommandName } from '../../src/cli/commands.js';
import { numadvisorMain } from '../../src/cli/numadvisor-main.js';
import { optionHelpLines, optionSyntax } from '../../src/cli/option-help.js';
import { progressMode, progressReporter } from '../../src/cli/progress.js';
import {
  domainMemoryLines,
  localityPercent,
  nodeCapacityLines,
  numastatTable,
  processesText,
  relativeDuration,
  reservationLines,
  statusText,
  type StatusDomain,
  type StatusNodes,
  type StatusProcess,
  type StatusReservation,
} from '../../src/cli/status-format.js';

const NOW = Date.parse('2026-11-27T12:00:00.000Z');

const node = (id: number, over: Partial<StatusNodes['nodes'][number]> = {}): StatusNodes['nodes'][number] => ({
  id,
  cpus: [2 * id, 2 * id + 1],
  cpuTotalHundredths: 1000,
  cpuFreeHundredths: 800,
  memTotalMiB: 16_000,
  memFreeMiB: 12_000,
  reservedCpuHundredths: 0,
  reservedMemMiB: 0,
  availableCpuHundredths: 800,
  availableMemMiB: 12_000,
  ...over,
});

const NODES: StatusNodes = {
  options: { cpuAllocationRatio: 4, htPercent: 20, reservedCpus: '' },
  // Out of order on purpose: columns are in numeric node order.
  nodes: [node(1, { reservedCpuHundredths: 400, reservedMemMiB: 4096, availableCpuHundredths: 700, availableMemMiB: 7904 }), node(0)],
};

const RESERVATIONS: StatusReservation[] = [
  {
    id: 'b7a1c0de-0000-4000-8000-000000000002',
    expiresAt: new Date(NOW + 3_600_000 + 120_000).toISOString(),
    client: 'numad -w',
    request: { cpuHundredths: 200, memMiB: 2048 },
    nodeset: '1',
    perNode: [{ node: 1, cpuHundredths: 200, memMiB: 2048 }],
  },
  {
    id: 'b7a1c0de-0000-4000-8000-000000000001',
    expiresAt: new Date(NOW + 252_000).toISOString(),
    client: 'numad -w',
    request: { cpuHundredths: 200, memMiB: 2048 },
    nodeset: '1',
    perNode: [{ node: 1, cpuHundredths: 200, memMiB: 2048 }],
    domain: { name: 'web1', uuid: '5a1f0000-0000-4000-8000-0000000000aa' },
  },
];

const DOMAINS: StatusDomain[] = [
  { name: 'web1', uuid: '5a1f0000-0000-4000-8000-0000000000aa', vcpus: 2, memoryMiB: 2048, numaMode: 'strict', nodeset: '1', pid: 4242, excluded: false, memoryGuard: null },
  { name: 'db', uuid: '5a1f0000-0000-4000-8000-0000000000bb', vcpus: 4, memoryMiB: 8192, numaMode: null, nodeset: '', pid: 4343, excluded: false, memoryGuard: { state: 'short', headroomMiB: 100, widenedFrom: null } },
  { name: 'idle', uuid: '5a1f0000-0000-4000-8000-0000000000cc', vcpus: 1, memoryMiB: 512, numaMode: null, nodeset: '', pid: 4444, excluded: true, memoryGuard: null },
];

const PROCESSES: StatusProcess[] = [
  { pid: 4242, comm: 'qemu-system-x86', rssMiB: 1900, memoryMiBByNode: { '0': 100, '1': 1800 }, memorySource: 'cgroup' },
  { pid: 4343, comm: 'qemu-system-x86', rssMiB: 6000, memoryMiBByNode: { '0': 4500, '1': 1500 }, memorySource: 'cgroup' },
  // Not a candidate yet: no memory per node measured.
  { pid: 4444, comm: 'qemu-system-x86', rssMiB: 300 },
];

describe('numastat-style tables', () => {
  it('right-aligns numbers in 15-wide columns under dashes, labels left in a 16-wide column (numastat -m)', () => {
    expect(numastatTable(['Node 0', 'Total'], [{ label: 'MemTotal', cells: ['8282', '8282'] }])).toEqual([
      '                          Node 0           Total',
      '                 --------------- ---------------',
      'MemTotal                    8282            8282',
    ]);
  });

  it('widens a column for a longer cell or label, and draws a separator row where asked', () => {
    const lines = numastatTable(['Node 0'], [{ label: 'a', cells: ['1'] }, { label: 'a-very-long-domain-name', cells: ['12345678901234567'] }], [1]);
    expect(lines.map((l) => l.length)).toEqual([41, 41, 41, 41, 41]);
    expect(lines[3]).toBe(`${'-'.repeat(23)} ${'-'.repeat(17)}`);
  });

  it('prints capacity per node in numeric order with a Total column, and explains reserved CPU', () => {
    const lines = nodeCapacityLines(NODES);
    expect(lines[1]).toBe('                          Node 0          Node 1           Total');
    expect(lines).toContain('MemReserved                    0            4096            4096');
    expect(lines).toContain('MemAvailable               12000            7904           19904');
    expect(lines).toContain('CPUTotal                   10.00           10.00           20.00');
    expect(lines).toContain('CPUReserved*                0.00            4.00            4.00');
    expect(lines).toContain('CPUAvailable                8.00            7.00           15.00');
    expect(lines.join('\n')).toMatch(/^\* vCPUs held by reservations; each counts as 1\/4 of a core \(--cpu-allocation-ratio 4\), so CPUAvailable = CPUFree \(measured idle\) - CPUReserved\/4\.$/m);
  });

  it('today\'s hardware rows only where a node shows it: tier, HMAT latency, hugepage pools, isolated CPUs', () => {
    expect(nodeCapacityLines(NODES).join('\n')).not.toMatch(/MemTier|HugeFree|IsolatedCPUs/);
    const cxl: StatusNodes = {
      options: NODES.options,
      nodes: [
        node(0, { memoryTier: 4, hmat: { access0: { readLatencyNs: 80 } }, hugepages: [{ sizeKiB: 2048, total: 512, free: 256, reservedMiB: 128 }, { sizeKiB: 1048576, total: 0, free: 0 }], isolatedCpus: [1] }),
        node(2, { cpus: [], memoryTier: 5, hmat: { access0: { readLatencyNs: 250 } }, hugepages: [] }),
      ],
    };
    const lines = nodeCapacityLines(cxl);
    expect(lines).toContain('MemTier                        4               5');
    expect(lines).toContain('LatencyNs                     80             250');
    expect(lines).toContain('HugeFree 2M                  512               -             512');
    expect(lines).toContain('HugeRsvd 2M                  128               -             128');
    expect(lines).toContain('IsolatedCPUs                   1               0               1');
    expect(lines.join('\n')).not.toMatch(/HugeFree 1G/);
  });
});

describe('domains × nodes', () => {
  it('locality: the share on the nodeset, or on the largest node without one', () => {
    expect(localityPercent(new Map([[0, 100], [1, 1800]]), [1])).toBe(94);
    expect(localityPercent(new Map([[0, 4500], [1, 1500]]), [])).toBe(75);
    expect(localityPercent(new Map([[0, 0]]), [0])).toBeUndefined();
  });

  it('one row per domain by name: MiB per node of its QEMU process, Total, Local %, nodeset; "-" when not measured', () => {
    const lines = domainMemoryLines(DOMAINS, PROCESSES, [0, 1]);
    expect(lines[0]).toBe('Per-domain memory (in MiBs):');
    expect(lines[1]).toBe('                          Node 0          Node 1           Total           Local         Nodeset');
    expect(lines[3]).toBe('db                          4500            1500            6000             75%               -');
    expect(lines[4]).toBe('idle                           -               -             300               -               -');
    expect(lines[5]).toBe('web1                         100            1800            1900             94%               1');
    expect(lines[6]).toMatch(/^Local: .*; read from cgroup\.$/);
    expect(lines[7]).toMatch(/^-: not measured yet/);
  });

  it("the daemon's own reading of a domain (GET /v1/domains: memoryMiBByNode, localityPercent) comes first, measured or not by the rebalancer", () => {
    const idle = { ...(DOMAINS[2] as StatusDomain), memoryMiBByNode: { '0': 12, '1': 288 }, localityPercent: 96 };
    const lines = domainMemoryLines([idle], PROCESSES, [0, 1]);
    expect(lines[3]).toBe('idle                          12             288             300             96%               -');
    expect(lines.join('\n')).not.toMatch(/not measured yet/);
    expect(lines.at(-1)).toMatch(/read from the domain's cgroup \(memory\.numa_stat\) or numa_maps\.$/);
  });

  it('prints nothing without domains', () => {
    expect(domainMemoryLines([], PROCESSES, [0, 1])).toEqual([]);
  });
});

describe('reservations', () => {
  it.each([
    [0, '0s'],
    [-5000, '0s'],
    [38_400, '38s'],
    [252_000, '4m12s'],
    [3_720_000, '1h02m'],
    [3 * 86_400_000 + 3_600_000, '3d01h'],
  ])('relativeDuration(%d) is %s', (ms, text) => {
    expect(relativeDuration(ms)).toBe(text);
  });

  it('soonest first, with the bound domain and the expiry relative to now', () => {
    const lines = reservationLines(RESERVATIONS, NOW);
    expect(lines[0]).toBe('Reservations (2):');
    expect(lines[1]).toMatch(/^ {2}b7a1c0de-0000-4000-8000-000000000001 {2}nodes 1 {2}2 CPUs 2048 MiB {2}domain web1 \(5a1f0000-0000-4000-8000-0000000000aa\) {2}holds node 1: 2\.00 CPU 2048 MiB {2}expires in 4m12s$/);
    expect(lines[2]).toMatch(/unbound, from numad -w .* expires in 1h02m$/);
  });
});

describe('statusText', () => {
  const view = { health: { version: '0.1.0', pid: 77, uptimeSeconds: 3725, nodes: 2, libvirt: { uri: 'qemu:///system', connected: true } }, nodes: NODES, reservations: RESERVATIONS, domains: DOMAINS, processes: PROCESSES, nowMs: NOW };

  it('begins with the capacity table, then domains × nodes, reservations, domains, and the daemon line', () => {
    const text = statusText(view);
    const heads = ['Per-node capacity', 'Per-domain memory', 'Reservations (2):', 'Domains (3):', 'numadvisor 0.1.0, pid 77, up 1h02m, 2 NUMA nodes; libvirt: qemu:///system connected'];
    expect(text.startsWith(heads[0] as string)).toBe(true);
    const at = heads.map((h) => text.indexOf(h));
    expect(at.every((x) => x >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(text).toMatch(/^ {2}db \(5a1f0000-0000-4000-8000-0000000000bb\) {2}4 vCPUs 8192 MiB {2}numatune - - {2}memory guard: short, headroom 100 MiB$/m);
    expect(text).toMatch(/^ {2}idle \(.*\) {2}1 vCPUs 512 MiB {2}numatune - - {2}excluded$/m);
    expect(text.endsWith('\n')).toBe(true);
  });

  it('without libvirt: no domain sections', () => {
    const text = statusText({ ...view, health: { ...view.health, libvirt: null }, domains: [], processes: [] });
    expect(text).not.toMatch(/Per-domain|Domains \(/);
    expect(text).toMatch(/libvirt: not used\n$/);
  });
});

describe('numadvisor processes', () => {
  it('one row per process as numastat -p prints it, with a Total row', () => {
    const text = processesText(
      [
        { pid: 1286, comm: 'npm ci', rssMiB: 367, memsAllowed: [0, 1], memoryMiBByNode: { '0': 300, '1': 67 } },
        { pid: 99, comm: 'qemu', rssMiB: 1024, memsAllowed: [0, 1], memoryMiBByNode: { '1': 1000 } },
      ],
      [0, 1],
    );
    expect(text.split('\n')).toEqual([
      'Per-node process memory usage (in MiBs, from numa_maps):',
      '                          Node 0          Node 1           Total             RSS',
      '                 --------------- --------------- --------------- ---------------',
      '1286 (npm ci)                300              67             367             367',
      '99 (qemu)                      0            1000            1000            1024',
      '---------------- --------------- --------------- --------------- ---------------',
      'Total                        300            1067            1367            1391',
      '',
    ]);
  });
});

describe('--help', () => {
  it.each(Object.keys(COMMANDS) as CommandName[])('numadvisor %s --help: every option of its parse table, one line each, with its default', async (name) => {
    const out: string[] = [];
    const err: string[] = [];
    expect(await numadvisorMain([name, '--help'], { stdout: (t) => out.push(t), stderr: (t) => err.push(t) })).toBe(0);
    expect(err).toEqual([]);
    const text = out.join('');
    expect(text).toBe(commandHelp(name));
    expect(text.startsWith(`Usage: numadvisor ${name} [options]`)).toBe(true);
    for (const [option, o] of Object.entries(COMMAND_OPTIONS[name] ?? {})) {
      const line = text.split('\n').find((l) => l.startsWith(`  ${optionSyntax(option, o)} `));
      expect(line, option).toBeDefined();
      if (o.defaultText !== undefined) expect(line).toContain(`[default: ${o.defaultText}]`);
    }
    expect(text).toMatch(/^ {2}-h, --help +print this help and exit$/m);
  });

  it('numadvisor daemon --help works (it failed before) and -h after other options too; `help CMD` is the same', async () => {
    const run = async (args: string[]): Promise<[number, string]> => {
      const out: string[] = [];
      const code = await numadvisorMain(args, { stdout: (t) => out.push(t), stderr: (t) => out.push(t) });
      return [code, out.join('')];
    };
    const [code, text] = await run(['daemon', '--help']);
    expect(code).toBe(0);
    expect(text).toMatch(/^ {2}--cpu-allocation-ratio RATIO +a reserved vCPU counts as 1\/RATIO of a CPU \(1 to 64\) \[default: 4\]$/m);
    expect(text).toMatch(/^ {2}--apply none\|processes\|domains\|processes,domains {2}what the rebalancer may change .*\[default: none\]$/m);
    expect(await run(['status', '--socket', '/nowhere', '-h'])).toEqual([0, commandHelp('status')]);
    expect(await run(['help', 'simulate'])).toEqual([0, commandHelp('simulate')]);
    // After `--` it is an operand, not a request for help.
    expect((await run(['rollback', '--socket', '/nonexistent/sock', '--', '--help']))[0]).toBe(1);
  });

  it('a usage error prints the command\'s help, exit 2', async () => {
    const err: string[] = [];
    expect(await numadvisorMain(['status', '--bogus'], { stdout: () => undefined, stderr: (t) => err.push(t) })).toBe(2);
    expect(err.join('')).toContain(commandHelp('status'));
  });

  it('pads the syntax column to at most 30 characters; repeatable options say so', () => {
    const lines = optionHelpLines({ pid: { type: 'string', multiple: true, arg: 'N', help: 'list it' }, 'a-rather-long-option-name': { type: 'string', arg: 'SOMETHING', help: 'x', defaultText: '1' } });
    expect(lines).toEqual([
      '  --pid N                         list it (repeatable)',
      '  --a-rather-long-option-name SOMETHING  x [default: 1]',
      '  -h, --help                      print this help and exit',
    ]);
  });
});

describe('progress on stderr', () => {
  it('on a terminal by default; --progress elsewhere; --quiet never', () => {
    expect(progressMode({}, true)).toBe('tty');
    expect(progressMode({}, false)).toBe('off');
    expect(progressMode({ progress: true }, false)).toBe('lines');
    expect(progressMode({ progress: true, quiet: true }, true)).toBe('off');
  });

  it('a terminal gets one line rewritten in place and cleared at the end; a log gets one line per step', () => {
    let t = 0;
    const now = (): number => t;
    const tty: string[] = [];
    const p = progressReporter({ stderr: (x) => tty.push(x) }, 'tty', 'numadvisor simulate', now);
    p.step('1/5 dbench: none');
    t = 12_400;
    p.step('1/5 dbench: optimum');
    p.done();
    expect(tty).toEqual(['\r\u001b[Knumadvisor simulate: 1/5 dbench: none (0 s)', '\r\u001b[Knumadvisor simulate: 1/5 dbench: optimum (12 s)', '\r\u001b[K']);
    const log: string[] = [];
    const q = progressReporter({ stderr: (x) => log.push(x) }, 'lines', 'lab', () => 0);
    q.step('booting');
    q.done();
    expect(log).toEqual(['lab: booting (0 s)\n']);
    const off: string[] = [];
    const o = progressReporter({ stderr: (x) => off.push(x) }, 'off', 'x');
    o.step('a');
    o.done();
    expect(off).toEqual([]);
  });
});
