// A guest NUMA layout (balance/guest-layout.ts) as libvirt domain XML: <cpu><numa><cell>, <numatune> with one
// <memnode> per cell, <cputune><vcpupin> per vCPU; and merged into an administrator's domain XML by editing the text,
// not by re-serialising a parsed tree, so everything we do not own (comments, attribute quotes, element order,
// devices, the admin's <emulatorpin>/<iothreadpin>) comes out byte-identical and the diff shows only our changes.
// Also reads what a layout needs from a domain XML (vCPUs, memory, hugepage size, threads per core).
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { domainXmlUnusable } from '../errors.js';
import { formatIdList } from '../topology/idlist.js';
import type { GuestLayout } from '../balance/guest-layout.js';

// --- reading -------------------------------------------------------------------------------------------------------

export interface DomainSize {
  name: string | undefined;
  /** <vcpu>'s value: every vCPU id 0..maxVcpus-1 must be in a guest cell */
  maxVcpus: number;
  /** <vcpu current>, else maxVcpus: what runs, so what the answer is asked for */
  vcpus: number;
  /** <memory>, else <currentMemory>, KiB */
  memKiB: number;
  /** undefined: not hugepage-backed; null: <hugepages/> without a <page> (the host's default size); else the largest page size, KiB */
  hugepageKiB: number | null | undefined;
  /** <cpu><topology threads>, when given */
  threadsPerCore: number | undefined;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  textNodeName: '#text',
  parseAttributeValue: false,
  parseTagValue: false,
  isArray: (name) => ['page', 'cell'].includes(name),
});

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof obj(v)?.['#text'] === 'string' ? (obj(v)?.['#text'] as string) : undefined);
const attr = (v: unknown, name: string): string | undefined => {
  const a = obj(v)?.[`@${name}`];
  return typeof a === 'string' ? a : undefined;
};

/** libvirt's memory units (formatdomain "Memory Allocation"): k/KiB are 1024, KB is 1000; the default is KiB. */
const UNIT_KIB: Record<string, number> = { b: 1 / 1024, bytes: 1 / 1024, k: 1, kib: 1, kb: 1000 / 1024, m: 1024, mib: 1024, mb: 1e6 / 1024, g: 1 << 20, gib: 1 << 20, gb: 1e9 / 1024, t: 1 << 30, tib: 1 << 30, tb: 1e12 / 1024 };

function kib(value: string | undefined, unit: string | undefined, what: string): number {
  const n = Number(value?.trim());
  const factor = UNIT_KIB[(unit ?? 'KiB').toLowerCase()];
  if (value === undefined || !Number.isFinite(n) || n <= 0 || factor === undefined) throw domainXmlUnusable(`cannot read ${what}: ${JSON.stringify(value ?? '')} ${unit ?? ''}`.trim());
  return Math.ceil(n * factor);
}

/** What a layout needs from a domain XML; throws domainXmlUnusable for anything else than a usable <domain>. */
export function readDomainSize(xml: string): DomainSize {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw domainXmlUnusable(`not XML: ${valid.err.msg} (line ${valid.err.line})`);
  const domain = obj(obj(parser.parse(xml))?.domain);
  if (!domain) throw domainXmlUnusable('not a libvirt domain XML (no <domain> element)');
  const vcpuText = text(domain.vcpu);
  const maxVcpus = Number(vcpuText?.trim());
  if (vcpuText === undefined || !Number.isInteger(maxVcpus) || maxVcpus < 1) throw domainXmlUnusable('no <vcpu> count (e.g. <vcpu>8</vcpu>)');
  const current = attr(domain.vcpu, 'current');
  const vcpus = current === undefined ? maxVcpus : Number(current);
  if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > maxVcpus) throw domainXmlUnusable(`<vcpu current='${current}'> is not between 1 and ${maxVcpus}`);
  const mem = domain.memory ?? domain.currentMemory;
  if (mem === undefined) throw domainXmlUnusable("no <memory> (e.g. <memory unit='GiB'>16</memory>)");
  const memKiB = kib(text(mem), attr(mem, 'unit'), domain.memory !== undefined ? '<memory>' : '<currentMemory>');
  const hugepages = obj(domain.memoryBacking)?.hugepages;
  let hugepageKiB: number | null | undefined;
  if (hugepages !== undefined) {
    const pages = (obj(hugepages)?.page as unknown[] | undefined) ?? [];
    // Pages of several sizes (per guest cell): cells aligned to the largest are whole pages of every size.
    hugepageKiB = pages.length === 0 ? null : Math.max(...pages.map((p) => kib(attr(p, 'size'), attr(p, 'unit'), '<hugepages><page size>')));
  }
  const threads = Number(attr(obj(obj(domain.cpu)?.topology), 'threads'));
  return { name: text(domain.name), maxVcpus, vcpus, memKiB, hugepageKiB, threadsPerCore: Number.isInteger(threads) && threads > 0 ? threads : undefined };
}

// --- rendering -----------------------------------------------------------------------------------------------------

/** Attributes an administrator may have set on the cells (vhost-user and virtiofs need memAccess='shared'): kept. */
export interface CellExtras {
  memAccess?: string;
  discard?: string;
}

const q = (v: string | number): string => `'${String(v).replace(/&/g, '&amp;').replace(/'/g, '&apos;').replace(/</g, '&lt;')}'`;

export function renderNuma(layout: GuestLayout, extras: CellExtras = {}, indent = '', unit = '  '): string {
  const extra = `${extras.memAccess ? ` memAccess=${q(extras.memAccess)}` : ''}${extras.discard ? ` discard=${q(extras.discard)}` : ''}`;
  // A cell without vCPUs (memory-only host node) has no cpus attribute: optional in libvirt's schema, and 9.0 defines it.
  const cells = layout.cells.map((c) => `${indent}${unit}<cell id=${q(c.id)}${c.vcpus.length > 0 ? ` cpus=${q(formatIdList(c.vcpus))}` : ''} memory=${q(c.memKiB)} unit='KiB'${extra}/>`);
  return [`<numa>`, ...cells, `${indent}</numa>`].join('\n');
}

export function renderNumatune(layout: GuestLayout, indent = '', unit = '  '): string {
  const all = formatIdList(layout.cells.map((c) => c.hostNode));
  return [
    `<numatune>`,
    `${indent}${unit}<memory mode='strict' nodeset=${q(all)}/>`,
    ...layout.cells.map((c) => `${indent}${unit}<memnode cellid=${q(c.id)} mode='strict' nodeset=${q(c.hostNode)}/>`),
    `${indent}</numatune>`,
  ].join('\n');
}

/** One <vcpupin> per vCPU that has CPUs, each line prefixed by `indent`. */
export function renderVcpupins(layout: GuestLayout, indent = ''): string[] {
  return layout.cells.flatMap((c) => c.vcpuPins.filter((p) => p.cpus.length > 0).map((p) => `${indent}<vcpupin vcpu=${q(p.vcpu)} cpuset=${q(formatIdList(p.cpus))}/>`));
}

/** The emulator thread on the CPUs the vCPUs are pinned to (so it stays near the memory), for a domain whose admin did not pin it. */
export function renderEmulatorpin(layout: GuestLayout, indent = ''): string {
  return `${indent}<emulatorpin cpuset=${q(formatIdList(layout.cells.flatMap((c) => c.vcpuPins.flatMap((p) => p.cpus))))}/>`;
}

/** The pieces to paste by hand (`numadvisor advise --fragment`). */
export function renderFragments(layout: GuestLayout): string {
  return [
    '<!-- inside <cpu> (replacing any <numa> there): -->',
    renderNuma(layout),
    '<!-- replacing <numatune>: -->',
    renderNumatune(layout),
    "<!-- inside <cputune> (replacing its <vcpupin>s; add an <emulatorpin> like this one if it has none); drop placement='auto' from <vcpu>: -->",
    ['<cputune>', ...renderVcpupins(layout, '  '), renderEmulatorpin(layout, '  '), '</cputune>'].join('\n'),
    '',
  ].join('\n');
}

// --- merging -------------------------------------------------------------------------------------------------------

interface Element {
  name: string;
  start: number;
  /** just past the start tag's '>' */
  openEnd: number;
  /** where the end tag starts (openEnd for a self-closing element) */
  closeStart: number;
  end: number;
  selfClosing: boolean;
  parent: number;
}

/** Every element's span, in document order, from a validated document: comments, CDATA, PIs and quotes skipped. */
function scanElements(xml: string): Element[] {
  const out: Element[] = [];
  const stack: number[] = [];
  let i = 0;
  const skipTo = (marker: string, from: number): number => {
    const k = xml.indexOf(marker, from);
    if (k < 0) throw domainXmlUnusable(`unterminated ${xml.slice(from, from + 9)}…`);
    return k + marker.length;
  };
  while ((i = xml.indexOf('<', i)) >= 0) {
    if (xml.startsWith('<!--', i)) i = skipTo('-->', i + 4);
    else if (xml.startsWith('<![CDATA[', i)) i = skipTo(']]>', i + 9);
    else if (xml.startsWith('<?', i)) i = skipTo('?>', i + 2);
    else if (xml.startsWith('<!', i)) i = skipTo('>', i + 2);
    else if (xml.startsWith('</', i)) {
      const j = skipTo('>', i);
      const open = stack.pop();
      if (open !== undefined) {
        const e = out[open] as Element;
        e.closeStart = i;
        e.end = j;
      }
      i = j;
    } else {
      let j = i + 1;
      let quote = '';
      for (; j < xml.length; j++) {
        const ch = xml[j] as string;
        if (quote) {
          if (ch === quote) quote = '';
        } else if (ch === '"' || ch === "'") quote = ch;
        else if (ch === '>') break;
      }
      const name = /^<([^\s/>]+)/.exec(xml.slice(i, j + 1))?.[1] ?? '';
      const selfClosing = xml[j - 1] === '/';
      const e: Element = { name, start: i, openEnd: j + 1, closeStart: j + 1, end: j + 1, selfClosing, parent: stack.at(-1) ?? -1 };
      out.push(e);
      if (!selfClosing) stack.push(out.length - 1);
      i = j + 1;
    }
  }
  return out;
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

function applyEdits(xml: string, edits: Edit[]): string {
  let out = xml;
  // From the end backwards so earlier offsets stay valid; insertions at one point keep the order they were given in.
  const ordered = edits.map((e, k) => ({ ...e, k })).sort((a, b) => b.start - a.start || b.k - a.k);
  for (const e of ordered) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

/** The whitespace a line starts with, for the line `pos` is on. */
function lineIndent(xml: string, pos: number): string {
  const lineStart = xml.lastIndexOf('\n', pos - 1) + 1;
  return /^[ \t]*/.exec(xml.slice(lineStart, pos))?.[0] ?? '';
}

/** Remove an element; when it is alone on its line, the whole line (so no blank line is left behind). */
function removal(xml: string, e: Element): Edit {
  const lineStart = xml.lastIndexOf('\n', e.start - 1) + 1;
  const lineEnd = xml.indexOf('\n', e.end);
  const alone = /^[ \t]*$/.test(xml.slice(lineStart, e.start)) && lineEnd >= 0 && /^[ \t]*$/.test(xml.slice(e.end, lineEnd));
  return alone ? { start: lineStart, end: lineEnd + 1, text: '' } : { start: e.start, end: e.end, text: '' };
}

interface DomainParts {
  elements: Element[];
  domain: Element;
  child: (name: string, parent?: Element) => Element | undefined;
  children: (parent: Element, name: string) => Element[];
  indent: string;
  unit: string;
}

function domainParts(xml: string): DomainParts {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw domainXmlUnusable(`not XML: ${valid.err.msg} (line ${valid.err.line})`);
  const elements = scanElements(xml);
  const domainIndex = elements.findIndex((e) => e.parent === -1 && e.name === 'domain');
  const domain = elements[domainIndex];
  if (!domain || domain.selfClosing) throw domainXmlUnusable('not a libvirt domain XML (no <domain> element)');
  const indexOf = (e: Element): number => elements.indexOf(e);
  const children = (parent: Element, name: string): Element[] => elements.filter((e) => e.parent === indexOf(parent) && e.name === name);
  const child = (name: string, parent: Element = domain): Element | undefined => children(parent, name)[0];
  const first = elements.find((e) => e.parent === domainIndex);
  const indent = first ? lineIndent(xml, first.start) : '  ';
  return { elements, domain, child, children, indent, unit: indent || '  ' };
}

/** <vcpu placement='auto'> → static: the answer is explicit now (numad is not to be asked again at start). */
function vcpuPlacementEdit(xml: string, vcpu: Element): Edit[] {
  const tag = xml.slice(vcpu.start, vcpu.openEnd);
  const stripped = tag.replace(/\s+placement\s*=\s*(['"])auto\1/, '');
  return stripped === tag ? [] : [{ start: vcpu.start, end: vcpu.openEnd, text: stripped }];
}

/**
 * `xml` with the layout merged in: <cpu><numa> and <numatune> replaced (or added), the <vcpupin>s of <cputune>
 * replaced and an <emulatorpin> added only where the admin has none, placement='auto' dropped from <vcpu>, and
 * <memory> set to the cells' sum when the layout rounded it up. Everything else is left as it was, byte for byte.
 */
export function mergeLayout(xml: string, layout: GuestLayout, comment?: string): string {
  const p = domainParts(xml);
  const { indent, unit } = p;
  const vcpu = p.child('vcpu');
  if (!vcpu) throw domainXmlUnusable('no <vcpu> count (e.g. <vcpu>8</vcpu>)');
  const edits: Edit[] = vcpuPlacementEdit(xml, vcpu);
  const afterVcpu: string[] = [];
  const note = comment ? `<!-- ${comment.replace(/--/g, '- -')} -->\n${indent}` : '';

  // <memory>: libvirt takes the sum of the cells as the guest's memory; say the same so the XML does not mislead.
  const memory = p.child('memory');
  if (memory && !memory.selfClosing) {
    const read = readDomainSize(xml).memKiB;
    if (read !== layout.memKiB) edits.push({ start: memory.start, end: memory.end, text: `<memory unit='KiB'>${layout.memKiB}</memory>` });
  }

  // <numatune>
  const numatune = p.child('numatune');
  if (numatune) edits.push({ start: numatune.start, end: numatune.end, text: `${note}${renderNumatune(layout, lineIndent(xml, numatune.start), unit)}` });
  else afterVcpu.push(`${note}${renderNumatune(layout, indent, unit)}`);

  // <cputune>: our vCPU pins replace any there; the admin's emulator and IOThread pins (and anything else) stay.
  const cputune = p.child('cputune');
  const pins = renderVcpupins(layout, indent + unit);
  if (!cputune) afterVcpu.push(['<cputune>', ...pins, renderEmulatorpin(layout, indent + unit), `${indent}</cputune>`].join('\n'));
  else if (cputune.selfClosing) edits.push({ start: cputune.start, end: cputune.end, text: ['<cputune>', ...pins, renderEmulatorpin(layout, indent + unit), `${indent}</cputune>`].join('\n') });
  else {
    for (const old of p.children(cputune, 'vcpupin')) edits.push(removal(xml, old));
    const inside = lineIndent(xml, cputune.start) + unit;
    const emulator = p.child('emulatorpin', cputune) ? [] : [renderEmulatorpin(layout, inside)];
    edits.push({ start: cputune.openEnd, end: cputune.openEnd, text: [...renderVcpupins(layout, inside), ...emulator].map((l) => `\n${l}`).join('') });
  }

  // <cpu><numa>: replaced, keeping memAccess/discard the admin set on the old cells.
  const cpu = p.child('cpu');
  const oldNuma = cpu && !cpu.selfClosing ? p.child('numa', cpu) : undefined;
  const extras: CellExtras = {};
  if (oldNuma) {
    for (const cell of p.children(oldNuma, 'cell')) {
      const tag = xml.slice(cell.start, cell.openEnd);
      extras.memAccess ??= /\smemAccess\s*=\s*(['"])(.*?)\1/.exec(tag)?.[2];
      extras.discard ??= /\sdiscard\s*=\s*(['"])(.*?)\1/.exec(tag)?.[2];
    }
  }
  const cpuIndent = cpu ? lineIndent(xml, cpu.start) : indent;
  const inner = cpuIndent + unit;
  const numa = renderNuma(layout, extras, inner, unit);
  if (!cpu) afterVcpu.push(`<cpu>\n${inner}${numa}\n${indent}</cpu>`);
  else if (cpu.selfClosing) {
    const open = xml.slice(cpu.start, cpu.openEnd).replace(/\s*\/>$/, '>');
    edits.push({ start: cpu.start, end: cpu.end, text: `${open}\n${inner}${numa}\n${cpuIndent}</cpu>` });
  } else if (oldNuma) edits.push({ start: oldNuma.start, end: oldNuma.end, text: renderNuma(layout, extras, lineIndent(xml, oldNuma.start), unit) });
  else edits.push({ start: cpu.closeStart, end: cpu.closeStart, text: `${unit}${numa}\n${cpuIndent}` });

  if (afterVcpu.length > 0) edits.push({ start: vcpu.end, end: vcpu.end, text: afterVcpu.map((t) => `\n${indent}${t}`).join('') });
  return applyEdits(xml, edits);
}

/**
 * A VM that fits one host node needs no guest cells: its memory strictly on that node (`nodeset`), said in a comment.
 * Existing <numatune> is replaced (its memnodes too: they would name nodes the guest no longer uses).
 */
export function mergeNodeset(xml: string, nodeset: string, comment: string): string {
  const p = domainParts(xml);
  const vcpu = p.child('vcpu');
  if (!vcpu) throw domainXmlUnusable('no <vcpu> count (e.g. <vcpu>8</vcpu>)');
  const { indent, unit } = p;
  const text = `<!-- ${comment.replace(/--/g, '- -')} -->\n${indent}<numatune>\n${indent}${unit}<memory mode='strict' nodeset=${q(nodeset)}/>\n${indent}</numatune>`;
  const numatune = p.child('numatune');
  const edits = vcpuPlacementEdit(xml, vcpu);
  edits.push(numatune ? { start: numatune.start, end: numatune.end, text } : { start: vcpu.end, end: vcpu.end, text: `\n${indent}${text}` });
  return applyEdits(xml, edits);
}
