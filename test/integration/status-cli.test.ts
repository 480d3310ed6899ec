// `numadvisor status` against a real daemon on the 4-node fixture: the numastat-style table for a person, and the
// --json form scripts read, unchanged (health, reservations, domains: the daemon's answers as they are).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningDaemon } from '../../src/daemon/daemon.js';
import { numadvisorMain } from '../../src/cli/numadvisor-main.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { REPO_DIR, tempDir } from '../helpers/fixtures.js';
import { request } from '../helpers/http.js';

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await numadvisorMain(args, { stdout: (t) => out.push(t), stderr: (t) => err.push(t) });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

describe('numadvisor status against a daemon on the 4-node fixture', () => {
  const t = tempDir();
  let d: RunningDaemon;
  let sock: string;
  let reservationId: string;
  beforeAll(async () => {
    d = await startTestDaemon(t.dir, '4node-westmere-ex');
    sock = d.app.server.address() as string;
    const r = await request(sock, 'GET', '/v1/advice?cpus=4&mem=2048');
    reservationId = (r.body as { reservation: { id: string } }).reservation.id;
  });
  afterAll(async () => {
    await d.close();
    t.cleanup();
  });

  it('begins with capacity per node (a column per node and a Total), then the reservation with its relative expiry', async () => {
    const r = await cli(['status', '--socket', sock]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('Per-node capacity (memory in MiBs, CPU in cores):');
    expect(lines[1]).toMatch(/^ +Node 0 +Node 1 +Node 2 +Node 3 +Total$/);
    const nodes = (await request(sock, 'GET', '/v1/nodes')).body as { nodes: { memTotalMiB: number; reservedMemMiB: number }[] };
    const total = nodes.nodes.reduce((a, n) => a + n.memTotalMiB, 0);
    expect(lines.find((l) => l.startsWith('MemTotal'))).toMatch(new RegExp(`^MemTotal( +\\d+){4} +${total}$`));
    expect(lines.find((l) => l.startsWith('MemReserved'))).toMatch(/ 2048$/);
    expect(lines.find((l) => l.startsWith('CPUReserved*'))).toMatch(/ 4\.00$/);
    expect(r.stdout).toMatch(new RegExp(`^ {2}${reservationId} {2}nodes \\d+ {2}4 CPUs 2048 MiB {2}unbound, from api .* expires in (4m\\d\\ds|5m00s)$`, 'm'));
    // No libvirt in this daemon: no domain sections.
    expect(r.stdout).not.toContain('Per-domain');
    expect(r.stdout).toMatch(/, 4 NUMA nodes; libvirt: not used\n$/);
  });

  it('--json is the daemon\'s answers as they were printed before: health, reservations, domains', async () => {
    const r = await cli(['status', '--socket', sock, '--json']);
    expect(r.code).toBe(0);
    const parsed = JSON.parse(r.stdout) as { health: Record<string, unknown>; reservations: unknown[]; domains: unknown[] };
    expect(Object.keys(parsed)).toEqual(['health', 'reservations', 'domains']);
    expect(Object.keys(parsed.health)).toEqual(['status', 'version', 'pid', 'uptimeSeconds', 'nodes', 'reservations', 'libvirt']);
    expect(parsed.reservations).toEqual(((await request(sock, 'GET', '/v1/reservations')).body as { reservations: unknown[] }).reservations);
    expect(parsed.domains).toEqual([]);
    expect(r.stdout).toBe(`${JSON.stringify(parsed, null, 2)}\n`);
  });

  it('the real command (entry point, child process) prints the same table, nothing on stderr', async () => {
    // Asynchronously: the daemon answers from this process's event loop.
    const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(REPO_DIR, 'src/cli/numadvisor-entry.ts'), 'status', '--socket', sock], { cwd: REPO_DIR, encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Per-node capacity \(memory in MiBs, CPU in cores\):\n +Node 0 +Node 1 +Node 2 +Node 3 +Total\n/);
  });
});
