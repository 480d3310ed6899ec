// `numadvisor status` and `numadvisor rollback`: clients of a running daemon.
import { parseArgs } from 'node:util';
import path from 'node:path';
import { defaultPaths } from '../config/paths.js';
import { usageError } from '../errors.js';
import type { Reservation } from '../model/reservations.js';
import { formatIdList } from '../topology/idlist.js';
import { requestDaemon } from './advice-client.js';
import type { Io } from './io.js';

export async function cmdStatus(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args, strict: true, options: { socket: { type: 'string' }, json: { type: 'boolean' } } });
  const socketPath = path.resolve(values.socket ?? defaultPaths().socket);
  const deadlines = { connectMs: 1000, replyMs: 5000 };
  const health = JSON.parse(await requestDaemon(socketPath, 'GET', '/healthz', undefined, deadlines)) as { version: string; pid: number; uptimeSeconds: number; nodes: number; libvirt: { uri: string; connected: boolean } | null };
  const { reservations } = JSON.parse(await requestDaemon(socketPath, 'GET', '/v1/reservations', undefined, deadlines)) as { reservations: Reservation[] };
  const domains = health.libvirt
    ? (JSON.parse(await requestDaemon(socketPath, 'GET', '/v1/domains', undefined, deadlines)) as { domains: { name: string; uuid: string; vcpus: number; memoryMiB: number; numaMode: string | null; nodeset: string; excluded: boolean; memoryGuard?: { state: string; headroomMiB: number; widenedFrom: string | null } | null }[] }).domains
    : [];
  if (values.json) {
    io.stdout(`${JSON.stringify({ health, reservations, domains }, null, 2)}\n`);
    return 0;
  }
  const lines = [
    `numadvisor ${health.version}, pid ${health.pid}, up ${health.uptimeSeconds} s, ${health.nodes} NUMA nodes`,
    `libvirt: ${health.libvirt ? `${health.libvirt.uri} ${health.libvirt.connected ? 'connected' : 'NOT connected'}` : 'not used'}`,
    '',
    `reservations (${reservations.length}):`,
    ...reservations.map((r) => {
      const cpus = (r.request.cpuHundredths / 100).toFixed(2).replace(/\.00$/, '');
      const holder = r.domain ? `domain ${r.domain.name} (${r.domain.uuid})` : `unbound, from ${r.client}`;
      const held = r.perNode.map((p) => `node ${p.node}: ${(p.cpuHundredths / 100).toFixed(2)} CPU ${p.memMiB} MiB`).join('; ');
      return `  ${r.id}  nodes ${r.nodeset}  ${cpus} CPUs ${r.request.memMiB} MiB  ${holder}  holds ${held}  until ${r.expiresAt}`;
    }),
    '',
    `domains (${domains.length}):`,
    ...domains.map((d) => `  ${d.name} (${d.uuid})  ${d.vcpus} vCPUs ${d.memoryMiB} MiB  numatune ${d.numaMode ?? '-'} ${d.nodeset || '-'}${d.excluded ? '  excluded' : ''}${guardText(d.memoryGuard)}`),
  ];
  io.stdout(`${lines.join('\n')}\n`);
  return 0;
}

export async function cmdRollback(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args, strict: true, allowPositionals: true, options: { socket: { type: 'string' } } });
  if (positionals.length !== 1) throw usageError('rollback takes one domain name or UUID');
  const socketPath = path.resolve(values.socket ?? defaultPaths().socket);
  const out = JSON.parse(await requestDaemon(socketPath, 'POST', `/v1/domains/${encodeURIComponent(positionals[0] as string)}/rollback`, {}, { connectMs: 1000, replyMs: 120_000 })) as {
    ok: boolean;
    reason: string;
    after: { nodeset: string; vcpuPins: number[][] };
  };
  io.stdout(`${out.ok ? 'rolled back' : 'rollback NOT verified'}: ${out.reason}; nodeset ${out.after.nodeset || '-'}, vCPU pins ${out.after.vcpuPins.map((p) => formatIdList(p)).join(' ')}\n`);
  return out.ok ? 0 : 1;
}

/** The memory guard's verdict in a status line: only when it has something to say (short, or widened by it). */
function guardText(g: { state: string; headroomMiB: number; widenedFrom: string | null } | null | undefined): string {
  if (!g || (g.state !== 'short' && g.widenedFrom === null)) return '';
  return `  memory guard: ${g.state}, headroom ${g.headroomMiB} MiB${g.widenedFrom === null ? '' : `, widened from nodes ${g.widenedFrom}`}`;
}
