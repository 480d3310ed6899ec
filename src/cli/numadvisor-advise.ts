// `numadvisor advise`: an answer computed offline from a snapshot file, through the same policies as the daemon; with
// --domain-xml, the answer for a libvirt domain merged into its XML (a guest NUMA layout when it spans host nodes),
// offline from --snapshot or from the running daemon.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { capacityOptions, intOption } from '../config/option-values.js';
import { defaultPaths } from '../config/paths.js';
import { noHugepagePool, notWholeHugepages, usageError } from '../errors.js';
import { parsePolicy } from '../config/daemon-config.js';
import { deriveCapacity, hugepagePolicyNodes, hugepagePoolSizes, toPolicyNode } from '../model/capacity.js';
import { HostSnapshotSchema, type HostSnapshot } from '../model/snapshot.js';
import { advise } from '../policy/registry.js';
import { CPUS_TEXT, cpusTextToHundredths } from '../policy/request-units.js';
import type { Advice, PlacementRequest } from '../policy/types.js';
import { guestLayout } from '../balance/guest-layout.js';
import type { CoreCpu } from '../balance/vcpu-assignment.js';
import { mergeLayout, mergeNodeset, readDomainSize, renderFragments, type DomainSize } from '../libvirt/guest-layout-xml.js';
import { defaultFsRoot, FsRoot } from '../topology/fsroot.js';
import { readHostShape } from '../topology/sysfs.js';
import { requestDaemon } from './advice-client.js';
import type { Io } from './io.js';
import { ADVISE_OPTIONS, ADVISE_POLICY } from './command-options.js';

type AdviseValues = ReturnType<typeof parseArgs<{ args: string[]; strict: true; options: typeof ADVISE_OPTIONS }>>['values'];

function readSnapshot(file: string): HostSnapshot {
  const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw usageError(`${file}: not JSON (${(err as Error).message})`);
  }
  const snap = HostSnapshotSchema.safeParse(parsed);
  if (!snap.success) {
    throw usageError(`${file}: not a host snapshot: ${snap.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return snap.data;
}

/**
 * The answer from a snapshot, as the daemon would give it with no reservations; a hugepage-backed domain is placed by
 * the snapshot's pools of its page size when it has any (model/capacity.ts hugepagePolicyNodes).
 */
function adviseOffline(snap: HostSnapshot, values: AdviseValues, request: PlacementRequest, hugepageKiB?: number): Advice {
  const policy = parsePolicy(values.policy ?? ADVISE_POLICY);
  const caps = deriveCapacity(snap, capacityOptions(values));
  const none = (): { cpuHundredths: number; memMiB: number } => ({ cpuHundredths: 0, memMiB: 0 });
  if (hugepageKiB !== undefined && hugepagePoolSizes(snap).includes(hugepageKiB)) {
    const { nodes } = hugepagePolicyNodes(caps, snap, hugepageKiB, none, 1);
    const answer = advise(policy, nodes, { ...request, ...(hugepageKiB % 1024 === 0 ? { memUnitMiB: hugepageKiB / 1024 } : {}) });
    answer.reasons.unshift(`hugepages ${hugepageKiB} kB: placed by each node's free pages of that size in the snapshot`);
    return answer;
  }
  return advise(policy, caps.map((c) => toPolicyNode(c, none(), 1)), request);
}

export async function cmdAdvise(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: ADVISE_OPTIONS,
  });
  if (values['domain-xml'] !== undefined) return adviseDomainXml(values, values['domain-xml'], io);
  if (values.fragment) throw usageError('--fragment goes with --domain-xml');
  if (!values.snapshot) throw usageError('advise needs --snapshot FILE (or - for stdin)');
  if (values.cpus === undefined || !CPUS_TEXT.test(values.cpus)) {
    throw usageError('advise needs --cpus N with at most two decimals');
  }
  const memMiB = intOption('mem', values.mem, 0, 0, 1_073_741_824);
  const snap = readSnapshot(values.snapshot);
  let hugepageKiB: number | undefined;
  if (values.hugepages !== undefined) {
    hugepageKiB = intOption('hugepages', values.hugepages, 0, 1, 16 * 1024 * 1024);
    const sizes = hugepagePoolSizes(snap);
    if (!sizes.includes(hugepageKiB)) throw noHugepagePool(hugepageKiB, sizes);
    if ((memMiB * 1024) % hugepageKiB !== 0) throw notWholeHugepages(memMiB, hugepageKiB);
  }
  const request = { cpuHundredths: cpusTextToHundredths(values.cpus), memMiB, ...(values['slow-tier'] ? { allowSlowTier: true } : {}) };
  const advice = adviseOffline(snap, values, request, hugepageKiB);
  io.stdout(values['nodeset-only'] ? `${advice.nodeset}\n` : `${JSON.stringify(advice, null, 2)}\n`);
  return 0;
}

/**
 * `advise --domain-xml FILE`: the domain's running vCPUs and its memory are the request; the answer comes from
 * --snapshot, else from the daemon (reserving nothing: the VM is being defined, not started, and libvirt will not
 * ask numad for it once its nodeset is explicit). The layout itself is made here, for the XML's exact vCPU ids,
 * memory and hugepage size, from the answer's per-node takings and the host's cores.
 */
async function adviseDomainXml(values: AdviseValues, file: string, io: Io): Promise<number> {
  if (values.cpus !== undefined || values.mem !== undefined || values['nodeset-only']) {
    throw usageError('--domain-xml takes the vCPUs and memory from the XML: drop --cpus, --mem and --nodeset-only');
  }
  if (values.snapshot === '-' && file === '-') throw usageError('--snapshot - and --domain-xml - cannot both read stdin');
  let xml: string;
  try {
    xml = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (err) {
    throw usageError(`${file}: cannot read it (${(err as Error).message})`);
  }
  const size = readDomainSize(xml);
  const request = { cpuHundredths: size.vcpus * 100, memMiB: Math.ceil(size.memKiB / 1024) };
  let advice: Advice;
  let hostCpus: readonly CoreCpu[];
  let hugepageKiB: number | undefined;
  let isolated: number[];
  if (values.snapshot !== undefined) {
    const snap = readSnapshot(values.snapshot);
    // <hugepages/> without a <page>: the host's default size
    hugepageKiB = size.hugepageKiB === null ? snap.meminfo.hugepageSizeKiB : size.hugepageKiB;
    advice = adviseOffline(snap, values, request, hugepageKiB);
    // pins only on the CPUs the answer counted: not those -R keeps for the host (nor isolated ones, below)
    const counted = new Set(deriveCapacity(snap, capacityOptions(values)).flatMap((c) => c.cpus));
    hostCpus = snap.cpus.filter((c) => counted.has(c.id));
    isolated = [...(snap.isolatedCpus ?? []), ...(snap.nohzFullCpus ?? [])];
  } else {
    const shape = readHostShape(new FsRoot(defaultFsRoot()));
    hugepageKiB = size.hugepageKiB === null ? shape.hugepageSizeKiB : size.hugepageKiB;
    const socketPath = path.resolve(values.socket ?? defaultPaths().socket);
    const deadlines = { connectMs: 1000, replyMs: 5000 };
    // The daemon runs on this host: its cores are this host's, less the CPUs its -R keeps for the host.
    const { nodes } = JSON.parse(await requestDaemon(socketPath, 'GET', '/v1/nodes', undefined, deadlines)) as { nodes: { cpus: number[]; hugepages: { sizeKiB: number }[] }[] };
    // The page size goes with the request when the host has a pool of it and the memory is whole pages, as offline;
    // otherwise the answer counts ordinary memory (the daemon would refuse it with a 400).
    const pooled = hugepageKiB !== undefined && hugepageKiB > 0 && nodes.some((n) => n.hugepages.some((p) => p.sizeKiB === hugepageKiB)) && (request.memMiB * 1024) % hugepageKiB === 0;
    const body = { cpus: request.cpuHundredths / 100, mem: request.memMiB, reserve: false, client: 'numadvisor advise', ...(pooled ? { hugepagesKiB: hugepageKiB } : {}) };
    advice = JSON.parse(await requestDaemon(socketPath, 'POST', '/v1/advice', body, deadlines)) as Advice;
    const usable = new Set(nodes.flatMap((n) => n.cpus));
    hostCpus = shape.cpus.filter((c) => usable.has(c.id));
    isolated = [...(shape.isolatedCpus ?? []), ...(shape.nohzFullCpus ?? [])];
  }
  io.stdout(domainXmlAnswer(xml, size, advice, hostCpus, hugepageKiB, values.fragment === true, new Set(isolated)));
  return 0;
}

/** The XML (or with `fragment` the pieces) for an answer; exported for the tests. */
export function domainXmlAnswer(
  xml: string,
  size: DomainSize,
  advice: Pick<Advice, 'nodes' | 'nodeset' | 'perNode' | 'fits'>,
  hostCpus: readonly CoreCpu[],
  hugepageKiB: number | undefined,
  fragment: boolean,
  /** isolcpus= and nohz_full= CPUs: no vCPU pins there */
  isolatedCpus: ReadonlySet<number> = new Set(),
): string {
  const fits = advice.fits ? '' : ' (the answer does NOT fit: the host lacks the memory or idle CPU asked for)';
  const layout = guestLayout({ vcpus: size.maxVcpus, memKiB: size.memKiB, hugepageKiB, vcpuGranule: size.threadsPerCore }, advice, hostCpus, { isolatedCpus });
  if (!layout) {
    // One node (or nothing a layout can be made of): the memory goes there, strictly, and no guest cells are needed.
    const comment =
      advice.nodes.length === 1
        ? `numadvisor advise: fits on host node ${advice.nodeset}${fits}; no guest NUMA layout needed`
        : `numadvisor advise: nodes ${advice.nodeset}${fits}; no guest NUMA layout could be made`;
    if (fragment) return `<!-- ${comment} -->\n<numatune>\n  <memory mode='strict' nodeset='${advice.nodeset}'/>\n</numatune>\n`;
    return ensureNewline(mergeNodeset(xml, advice.nodeset, comment));
  }
  const comment = `numadvisor advise: ${layout.reasons.join('; ')}${fits}`;
  if (fragment) return `<!-- ${comment.replace(/--/g, '- -')} -->\n${renderFragments(layout)}`;
  return ensureNewline(mergeLayout(xml, layout, comment));
}

const ensureNewline = (s: string): string => (s.endsWith('\n') ? s : `${s}\n`);
