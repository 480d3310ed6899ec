// What numadvisor needs from a domain's XML (virDomainGetXMLDesc, or the status XML libvirt keeps under
// /run/libvirt/qemu): size, NUMA tuning, explicit pins an administrator wrote, IOThreads, and from the status XML the
// QEMU pid, vCPU thread ids and numad's auto placement (libvirt.md §1.7, §3).
import { XMLParser } from 'fast-xml-parser';
import { libvirtProtocolError } from '../errors.js';
import { parseIdList } from '../topology/idlist.js';

export interface DomainSpec {
  name: string;
  uuid: string;
  /** online vCPUs at start: what libvirt passes to numad -w */
  vcpus: number;
  maxVcpus: number;
  /** ceil(<memory> KiB / 1024): numad -w's MiB */
  memoryMiB: number;
  numatune: { mode: string; placement: 'auto' | 'static'; nodeset: number[] | undefined } | undefined;
  vcpuPlacement: 'auto' | 'static';
  /** <cputune><vcpupin>: vCPU → CPUs */
  vcpuPins: Map<number, number[]>;
  emulatorPin: number[] | undefined;
  iothreadPins: Map<number, number[]>;
  iothreadIds: number[];
  /**
   * <memoryBacking><hugepages>: the sizes (KiB) of its <page> elements, [] for the host's default size (no <page>);
   * undefined when the guest's memory is not hugepages
   */
  hugepageSizesKiB?: number[] | undefined;
}

export interface DomainStatus {
  pid: number | undefined;
  /** vCPU → thread id, online vCPUs only */
  vcpuTids: Map<number, number>;
  /** numad's answer as libvirt recorded it */
  numad: { nodeset: number[]; cpuset: number[] } | undefined;
  spec: DomainSpec;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  textNodeName: '#text',
  parseAttributeValue: false,
  parseTagValue: false,
  isArray: (name) => ['vcpupin', 'iothreadpin', 'iothread', 'vcpu'].includes(name),
});

type Node = Record<string, unknown>;
const obj = (v: unknown): Node | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Node) : undefined);
const list = (v: unknown): Node[] => (Array.isArray(v) ? (v.map(obj).filter(Boolean) as Node[]) : obj(v) ? [obj(v) as Node] : []);
const text = (v: unknown): string | undefined => {
  if (typeof v === 'string') return v;
  const o = obj(v);
  return o && typeof o['#text'] === 'string' ? o['#text'] : undefined;
};
const attr = (v: unknown, name: string): string | undefined => {
  const o = obj(v);
  const a = o?.[`@${name}`];
  return typeof a === 'string' ? a : undefined;
};

const UNIT_KIB: Record<string, number> = { b: 1 / 1024, bytes: 1 / 1024, k: 1, kib: 1, kb: 1000 / 1024, m: 1024, mib: 1024, mb: 1e6 / 1024, g: 1 << 20, gib: 1 << 20, gb: 1e9 / 1024, t: 1 << 30, tib: 1 << 30, tb: 1e12 / 1024 };

function memoryKiB(v: unknown): number {
  const n = Number(text(v));
  const unit = (attr(v, 'unit') ?? 'KiB').toLowerCase();
  const factor = UNIT_KIB[unit];
  if (!Number.isFinite(n) || factor === undefined) throw libvirtProtocolError(`cannot read <memory> ${String(text(v))} ${unit}`);
  return n * factor;
}

function pinsOf(entries: Node[], key: string): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const e of entries) {
    const id = Number(attr(e, key));
    const set = attr(e, 'cpuset');
    if (Number.isInteger(id) && set) out.set(id, parseIdList(set));
  }
  return out;
}

/** <memoryBacking><hugepages><page size unit/>: sizes in KiB; a page this cannot read is left out. */
function hugepageSizesOf(domain: Node): number[] | undefined {
  const backing = obj(domain.memoryBacking);
  if (backing?.hugepages === undefined) return undefined;
  return list(obj(backing.hugepages)?.page)
    .map((p) => Number(attr(p, 'size')) * (UNIT_KIB[(attr(p, 'unit') ?? 'KiB').toLowerCase()] ?? Number.NaN))
    .filter((k) => Number.isSafeInteger(k) && k > 0);
}

function specOf(domain: Node): DomainSpec {
  const vcpu = list(domain.vcpu)[0];
  const maxVcpus = Number(text(vcpu) ?? 1);
  const current = attr(vcpu, 'current');
  const memory = obj(domain.numatune)?.memory;
  const cputune = obj(domain.cputune);
  const mode = attr(memory, 'mode');
  const nodeset = attr(memory, 'nodeset');
  const iothreadIds = list(obj(domain.iothreadids)?.iothread).map((t) => Number(attr(t, 'id')));
  const iothreadCount = Number(text(domain.iothreads) ?? 0);
  return {
    name: String(text(domain.name) ?? ''),
    uuid: String(text(domain.uuid) ?? ''),
    vcpus: current ? Number(current) : maxVcpus,
    maxVcpus,
    memoryMiB: Math.ceil(memoryKiB(domain.memory) / 1024),
    vcpuPlacement: attr(vcpu, 'placement') === 'auto' ? 'auto' : 'static',
    numatune: memory || domain.numatune !== undefined
      ? { mode: mode ?? 'strict', placement: attr(memory, 'placement') === 'auto' ? 'auto' : 'static', nodeset: nodeset ? parseIdList(nodeset) : undefined }
      : undefined,
    vcpuPins: pinsOf(list(cputune?.vcpupin), 'vcpu'),
    emulatorPin: attr(cputune?.emulatorpin, 'cpuset') ? parseIdList(attr(cputune?.emulatorpin, 'cpuset') as string) : undefined,
    iothreadPins: pinsOf(list(cputune?.iothreadpin), 'iothread'),
    iothreadIds: iothreadIds.length > 0 ? iothreadIds : Array.from({ length: iothreadCount }, (_, i) => i + 1),
    hugepageSizesKiB: hugepageSizesOf(domain),
  };
}

export function parseDomainXml(xml: string): DomainSpec {
  const domain = obj(parser.parse(xml).domain);
  if (!domain) throw libvirtProtocolError('not a libvirt domain XML');
  return specOf(domain);
}

/** /run/libvirt/qemu/<name>.xml: <domstatus pid=…> with <vcpus>, <numad> and the live <domain>. */
export function parseStatusXml(xml: string): DomainStatus {
  const status = obj(parser.parse(xml).domstatus);
  const domain = obj(status?.domain);
  if (!status || !domain) throw libvirtProtocolError('not a libvirt status XML');
  const pid = Number(attr(status, 'pid'));
  const vcpuTids = new Map<number, number>();
  for (const v of list(obj(status.vcpus)?.vcpu)) {
    const id = Number(attr(v, 'id'));
    const tid = Number(attr(v, 'pid'));
    if (Number.isInteger(id) && Number.isInteger(tid)) vcpuTids.set(id, tid);
  }
  const numad = obj(status.numad);
  return {
    pid: Number.isInteger(pid) && pid > 0 ? pid : undefined,
    vcpuTids,
    numad: numad ? { nodeset: parseIdList(attr(numad, 'nodeset') ?? ''), cpuset: parseIdList(attr(numad, 'cpuset') ?? '') } : undefined,
    spec: specOf(domain),
  };
}
