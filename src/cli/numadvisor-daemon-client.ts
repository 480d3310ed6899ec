// `numadvisor status` and `numadvisor rollback`: clients of a running daemon.
import { parseArgs } from 'node:util';
import path from 'node:path';
import { defaultPaths } from '../config/paths.js';
import { usageError } from '../errors.js';
import type { Reservation } from '../model/reservations.js';
import { formatIdList } from '../topology/idlist.js';
import { requestDaemon } from './advice-client.js';
import type { Io } from './io.js';
import { ROLLBACK_OPTIONS, STATUS_OPTIONS } from './command-options.js';
import { statusText, type StatusDomain, type StatusHealth, type StatusNodes, type StatusProcess } from './status-format.js';

export async function cmdStatus(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args, strict: true, options: STATUS_OPTIONS });
  const socketPath = path.resolve(values.socket ?? defaultPaths().socket);
  const deadlines = { connectMs: 1000, replyMs: 5000 };
  const get = async <T>(route: string): Promise<T> => JSON.parse(await requestDaemon(socketPath, 'GET', route, undefined, deadlines)) as T;
  const health = await get<StatusHealth>('/healthz');
  const { reservations } = await get<{ reservations: Reservation[] }>('/v1/reservations');
  const domains = health.libvirt ? (await get<{ domains: StatusDomain[] }>('/v1/domains')).domains : [];
  if (values.json) {
    // The machine form scripts read: exactly these three answers, as they have always been printed.
    io.stdout(`${JSON.stringify({ health, reservations, domains }, null, 2)}\n`);
    return 0;
  }
  const nodes = await get<StatusNodes>('/v1/nodes');
  const processes = health.libvirt ? (await get<{ processes: StatusProcess[] }>('/v1/processes')).processes : [];
  io.stdout(statusText({ health, nodes, reservations, domains, processes, nowMs: Date.now() }));
  return 0;
}

export async function cmdRollback(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args, strict: true, allowPositionals: true, options: ROLLBACK_OPTIONS });
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
