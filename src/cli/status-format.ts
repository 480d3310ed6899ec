// What `numadvisor status` and `numadvisor processes` print for a person: numastat-style tables (a label column,
// one right-aligned column per NUMA node and a Total, dashes under the header). Pure: the commands fetch the
// daemon's answers (or read /proc) and pass them here, so tests feed fixture answers. The shapes below are the
// JSON the daemon's routes send (src/server/app.ts), only the fields printed here.
import { parseIdList } from '../topology/idlist.js';

export interface StatusHealth {
  version: string;
  pid: number;
  uptimeSeconds: number;
  nodes: number;
  libvirt: { uri: string; connected: boolean } | null;
}

/** GET /v1/nodes (NodeView in src/server/advisor-api.ts): CPU in hundredths of a CPU, memory in MiB. */
export interface StatusNodes {
  options: { cpuAllocationRatio: number; htPercent: number; reservedCpus: string };
  nodes: {
    id: number;
    cpus: number[];
    cpuTotalHundredths: number;
    cpuFreeHundredths: number;
    memTotalMiB: number;
    memFreeMiB: number;
    reservedCpuHundredths: number;
    reservedMemMiB: number;
    availableCpuHundredths: number;
    availableMemMiB: number;
    /** today's hardware, where the host shows it (GET /v1/nodes) */
    memoryTier?: number;
    hmat?: { access0?: { readLatencyNs?: number } };
    hugepages?: { sizeKiB: number; total: number; free: number; reservedMiB?: number }[];
    isolatedCpus?: number[];
  }[];
}

export interface StatusReservation {
  id: string;
  expiresAt: string;
  client: string;
  request: { cpuHundredths: number; memMiB: number };
  nodeset: string;
  perNode: { node: number; cpuHundredths: number; memMiB: number }[];
  domain?: { name: string; uuid: string };
}

export interface StatusDomain {
  name: string;
  uuid: string;
  vcpus: number;
  memoryMiB: number;
  numaMode: string | null;
  /** as text, e.g. "0-1" ("" for none) */
  nodeset: string;
  pid?: number | null;
  excluded: boolean;
  memoryGuard?: { state: string; headroomMiB: number; widenedFrom: string | null } | null;
  /** the daemon's reading of the guest's memory per node (cgroup memory.numa_stat, or numa_maps), MiB */
  memoryMiBByNode?: Record<string, number> | null;
  /** its share on the domain's home nodes (where its vCPUs may run, else its nodeset, else its largest node) */
  localityPercent?: number | null;
}

/** GET /v1/processes: memory per node only for processes the rebalancer measured (its candidates). */
export interface StatusProcess {
  pid: number;
  comm: string;
  rssMiB: number;
  memoryMiBByNode?: Record<string, number>;
  memorySource?: 'cgroup' | 'numa_maps';
}

/** The column width numastat uses for its numbers ("%16s"-like, 15 wide plus the separating blank). */
const NUMBER_WIDTH = 15;
const LABEL_WIDTH = 16;

/**
 * A numastat-style table: `header` names the number columns; each row is a label and its cells (already text). The
 * label column is left-aligned, numbers right-aligned; a row of dashes under the header, as numastat draws it.
 */
export function numastatTable(header: readonly string[], rows: readonly { label: string; cells: readonly string[] }[], separatorBefore: readonly number[] = []): string[] {
  const labelWidth = Math.max(LABEL_WIDTH, ...rows.map((r) => r.label.length));
  const widths = header.map((h, i) => Math.max(NUMBER_WIDTH, h.length, ...rows.map((r) => (r.cells[i] ?? '').length)));
  const line = (label: string, cells: readonly string[]): string => `${label.padEnd(labelWidth)} ${cells.map((c, i) => c.padStart(widths[i] ?? NUMBER_WIDTH)).join(' ')}`.trimEnd();
  const dashes = widths.map((w) => '-'.repeat(w));
  const out = [line('', header), line('', dashes)];
  rows.forEach((r, i) => {
    if (separatorBefore.includes(i)) out.push(line('-'.repeat(labelWidth), dashes));
    out.push(line(r.label, r.cells));
  });
  return out;
}

/** Hundredths of a CPU as cores with two decimals, e.g. 1250 → "12.50". */
export const cores = (hundredths: number): string => (hundredths / 100).toFixed(2);

/** A duration from now, as "4m12s", "1h02m", "38s"; negative durations are "0s" (due now). */
export function relativeDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

/** A hugepage size as people write it: 2M, 1G, 64k. */
function pageSize(kib: number): string {
  if (kib % 1048576 === 0) return `${kib / 1048576}G`;
  if (kib % 1024 === 0) return `${kib / 1024}M`;
  return `${kib}k`;
}

/** Per-node capacity: memory in MiB, CPU in cores, with a Total column; the last line explains reserved CPU. */
export function nodeCapacityLines(v: StatusNodes): string[] {
  const nodes = [...v.nodes].sort((a, b) => a.id - b.id);
  const sum = (f: (n: StatusNodes['nodes'][number]) => number): number => nodes.reduce((a, n) => a + f(n), 0);
  const mem = (label: string, f: (n: StatusNodes['nodes'][number]) => number) => ({ label, cells: [...nodes.map((n) => String(f(n))), String(sum(f))] });
  const cpu = (label: string, f: (n: StatusNodes['nodes'][number]) => number) => ({ label, cells: [...nodes.map((n) => cores(f(n))), cores(sum(f))] });
  const ratio = v.options.cpuAllocationRatio;
  // Rows for today's hardware, each only where some node shows it (a plain host's table is unchanged).
  const hardware: { label: string; cells: string[] }[] = [];
  const perNode = (label: string, f: (n: StatusNodes['nodes'][number]) => number | undefined, total: boolean): void => {
    if (!nodes.some((n) => f(n) !== undefined)) return;
    const cells = nodes.map((n) => (f(n) === undefined ? '-' : String(f(n))));
    hardware.push({ label, cells: [...cells, total ? String(nodes.reduce((a, n) => a + (f(n) ?? 0), 0)) : ''] });
  };
  perNode('MemTier', (n) => n.memoryTier, false);
  perNode('LatencyNs', (n) => n.hmat?.access0?.readLatencyNs, false);
  const sizes = [...new Set(nodes.flatMap((n) => (n.hugepages ?? []).filter((p) => p.total > 0).map((p) => p.sizeKiB)))].sort((a, b) => a - b);
  for (const size of sizes) {
    const pool = (n: StatusNodes['nodes'][number]) => n.hugepages?.find((p) => p.sizeKiB === size);
    perNode(`HugeFree ${pageSize(size)}`, (n) => { const p = pool(n); return p === undefined ? undefined : Math.floor((p.free * size) / 1024); }, true);
    if (nodes.some((n) => (pool(n)?.reservedMiB ?? 0) > 0)) perNode(`HugeRsvd ${pageSize(size)}`, (n) => pool(n)?.reservedMiB, true);
  }
  if (nodes.some((n) => (n.isolatedCpus ?? []).length > 0)) perNode('IsolatedCPUs', (n) => n.isolatedCpus?.length ?? 0, true);
  return [
    'Per-node capacity (memory in MiBs, CPU in cores):',
    ...numastatTable(
      [...nodes.map((n) => `Node ${n.id}`), 'Total'],
      [
        mem('MemTotal', (n) => n.memTotalMiB),
        mem('MemFree', (n) => n.memFreeMiB),
        mem('MemReserved', (n) => n.reservedMemMiB),
        mem('MemAvailable', (n) => n.availableMemMiB),
        cpu('CPUTotal', (n) => n.cpuTotalHundredths),
        cpu('CPUFree', (n) => n.cpuFreeHundredths),
        cpu('CPUReserved*', (n) => n.reservedCpuHundredths),
        cpu('CPUAvailable', (n) => n.availableCpuHundredths),
        ...hardware,
      ],
      hardware.length > 0 ? [4, 8] : [4],
    ),
    ...(hardware.length > 0
      ? ['  MemTier: the kernel\'s memory tier (smaller is faster); LatencyNs: HMAT read latency from the nearest CPUs; HugeFree/HugeRsvd: MiB of free hugepages per page size, and what answers hold of them; IsolatedCPUs: isolcpus/nohz_full CPUs, never handed out.']
      : []),
    `* vCPUs held by reservations; each counts as 1/${ratio} of a core (--cpu-allocation-ratio ${ratio}), so CPUAvailable = CPUFree (measured idle) - CPUReserved/${ratio}.`,
    `  CPUTotal counts hyperthread siblings at ${v.options.htPercent}% of a core (-t)${v.options.reservedCpus ? ` and leaves out CPUs ${v.options.reservedCpus} (-R)` : ''}.`,
  ];
}

/**
 * Share of `byNode` on `nodes` (the domain's nodeset), or on its largest node when it has no nodeset; undefined when
 * there is no memory to measure.
 */
export function localityPercent(byNode: ReadonlyMap<number, number>, nodes: readonly number[]): number | undefined {
  const total = [...byNode.values()].reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const local = nodes.length > 0 ? nodes.reduce((a, n) => a + (byNode.get(n) ?? 0), 0) : Math.max(...byNode.values());
  return Math.floor((local * 100) / total);
}

const byNodeMap = (m: Record<string, number>): Map<number, number> => new Map(Object.entries(m).map(([k, v]) => [Number(k), v]));

/** One row per domain: MiB per node of its QEMU process (from what the daemon measured), Total and Local %. */
export function domainMemoryLines(domains: readonly StatusDomain[], processes: readonly StatusProcess[], nodeIds: readonly number[]): string[] {
  if (domains.length === 0) return [];
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const sources = new Set<string>();
  let unmeasured = 0;
  const rows = [...domains]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((d) => {
      const p = d.pid === null || d.pid === undefined ? undefined : byPid.get(d.pid);
      if (d.memoryMiBByNode) {
        // The daemon's own reading of the domain (GET /v1/domains): its cgroup's counters, read on request.
        sources.add('the domain\'s cgroup (memory.numa_stat) or numa_maps');
        const m = byNodeMap(d.memoryMiBByNode);
        const total = [...m.values()].reduce((a, b) => a + b, 0);
        const local = d.localityPercent ?? localityPercent(m, d.nodeset ? parseIdList(d.nodeset) : []);
        return { label: d.name, cells: [...nodeIds.map((n) => String(m.get(n) ?? 0)), String(total), local === undefined ? '-' : `${local}%`, d.nodeset || '-'] };
      }
      if (!p?.memoryMiBByNode) {
        unmeasured++;
        return { label: d.name, cells: [...nodeIds.map(() => '-'), p ? `${p.rssMiB}` : '-', '-', '-'] };
      }
      if (p.memorySource) sources.add(p.memorySource);
      const m = byNodeMap(p.memoryMiBByNode);
      const total = [...m.values()].reduce((a, b) => a + b, 0);
      const local = localityPercent(m, d.nodeset ? parseIdList(d.nodeset) : []);
      return { label: d.name, cells: [...nodeIds.map((n) => String(m.get(n) ?? 0)), String(total), local === undefined ? '-' : `${local}%`, d.nodeset || '-'] };
    });
  const notes = [
    `Local: the share on the domain's home nodes (those its vCPUs may run on, else its nodeset, else its largest node)${sources.size > 0 ? `; read from ${[...sources].sort().join(' and ')}` : ''}.`,
  ];
  if (unmeasured > 0) notes.push(`-: not measured yet (the rebalancer measures a VM's memory per node when it is busy enough to be a candidate; Total then shows its RSS).`);
  return ['Per-domain memory (in MiBs):', ...numastatTable([...nodeIds.map((n) => `Node ${n}`), 'Total', 'Local', 'Nodeset'], rows), ...notes];
}

/** Reservations, soonest to expire first, with their expiry relative to `nowMs`. */
export function reservationLines(reservations: readonly StatusReservation[], nowMs: number): string[] {
  const sorted = [...reservations].sort((a, b) => Date.parse(a.expiresAt) - Date.parse(b.expiresAt));
  return [
    `Reservations (${reservations.length}):`,
    ...sorted.map((r) => {
      const cpus = (r.request.cpuHundredths / 100).toFixed(2).replace(/\.00$/, '');
      const holder = r.domain ? `domain ${r.domain.name} (${r.domain.uuid})` : `unbound, from ${r.client}`;
      const held = r.perNode.map((p) => `node ${p.node}: ${cores(p.cpuHundredths)} CPU ${p.memMiB} MiB`).join('; ');
      return `  ${r.id}  nodes ${r.nodeset}  ${cpus} CPUs ${r.request.memMiB} MiB  ${holder}  holds ${held}  expires in ${relativeDuration(Date.parse(r.expiresAt) - nowMs)}`;
    }),
  ];
}

/** The memory guard's verdict in a domain line: only when it has something to say (short, or widened by it). */
function guardText(g: StatusDomain['memoryGuard']): string {
  if (!g || (g.state !== 'short' && g.widenedFrom === null)) return '';
  return `  memory guard: ${g.state}, headroom ${g.headroomMiB} MiB${g.widenedFrom === null ? '' : `, widened from nodes ${g.widenedFrom}`}`;
}

export interface StatusView {
  health: StatusHealth;
  nodes: StatusNodes;
  reservations: readonly StatusReservation[];
  domains: readonly StatusDomain[];
  processes: readonly StatusProcess[];
  nowMs: number;
}

/** `numadvisor status` for a person: capacity per node, domains' memory per node, reservations, domains. */
export function statusText(v: StatusView): string {
  const { health } = v;
  const nodeIds = [...v.nodes.nodes].map((n) => n.id).sort((a, b) => a - b);
  const lines = [
    ...nodeCapacityLines(v.nodes),
    '',
    ...(health.libvirt ? [...domainMemoryLines(v.domains, v.processes, nodeIds), ''] : []),
    ...reservationLines(v.reservations, v.nowMs),
    '',
    ...(health.libvirt
      ? [
          `Domains (${v.domains.length}):`,
          ...v.domains.map((d) => `  ${d.name} (${d.uuid})  ${d.vcpus} vCPUs ${d.memoryMiB} MiB  numatune ${d.numaMode ?? '-'} ${d.nodeset || '-'}${d.excluded ? '  excluded' : ''}${guardText(d.memoryGuard)}`),
          '',
        ]
      : []),
    `numadvisor ${health.version}, pid ${health.pid}, up ${relativeDuration(health.uptimeSeconds * 1000)}, ${health.nodes} NUMA nodes; libvirt: ${health.libvirt ? `${health.libvirt.uri} ${health.libvirt.connected ? 'connected' : 'NOT connected'}` : 'not used'}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** `numadvisor processes`: what readProcess found, as numastat -p prints it (one row per process). */
export interface ProcessRow {
  pid: number;
  comm: string;
  rssMiB: number;
  memsAllowed: number[];
  memoryMiBByNode?: Record<string, number>;
}

export function processesText(processes: readonly ProcessRow[], nodeIds: readonly number[]): string {
  const seen = new Set(nodeIds);
  for (const p of processes) for (const k of Object.keys(p.memoryMiBByNode ?? {})) seen.add(Number(k));
  const ids = [...seen].sort((a, b) => a - b);
  const rows = processes.map((p) => {
    const m = byNodeMap(p.memoryMiBByNode ?? {});
    const total = [...m.values()].reduce((a, b) => a + b, 0);
    return { label: `${p.pid} (${p.comm})`, cells: [...ids.map((n) => String(m.get(n) ?? 0)), String(total), String(p.rssMiB)] };
  });
  const totals = { label: 'Total', cells: [...ids.map((n) => String(processes.reduce((a, p) => a + (p.memoryMiBByNode?.[String(n)] ?? 0), 0))), String(processes.reduce((a, p) => a + Object.values(p.memoryMiBByNode ?? {}).reduce((x, y) => x + y, 0), 0)), String(processes.reduce((a, p) => a + p.rssMiB, 0))] };
  return `${['Per-node process memory usage (in MiBs, from numa_maps):', ...numastatTable([...ids.map((n) => `Node ${n}`), 'Total', 'RSS'], processes.length > 0 ? [...rows, totals] : [], processes.length > 0 ? [rows.length] : [])].join('\n')}\n`;
}
