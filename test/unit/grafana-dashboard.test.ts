// The Grafana dashboard shipped in contrib/grafana/numadvisor.json (issue #15): a dashboard JSON model Grafana can
// import (its datasource an input, ${DS_PROMETHEUS}), whose every PromQL query names only metrics the daemon exports
// — the list is the daemon's own registry, not a copy — and parses (`promtool check rules`, when promtool exists).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { AdvisorApi, MetricsView } from '../../src/server/advisor-api.js';
import { DaemonMetrics } from '../../src/server/metrics.js';
import { REPO_DIR, tempDir } from '../helpers/fixtures.js';

const execFileP = promisify(execFile);
const PROMTOOL = '/usr/bin/promtool';
const DASHBOARD = path.join(REPO_DIR, 'contrib', 'grafana', 'numadvisor.json');
const DS = '${DS_PROMETHEUS}';

interface Target {
  refId?: unknown;
  expr?: unknown;
  datasource?: { type?: unknown; uid?: unknown };
}
interface Panel {
  id?: unknown;
  type?: unknown;
  title?: unknown;
  gridPos?: { h?: unknown; w?: unknown; x?: unknown; y?: unknown };
  datasource?: { type?: unknown; uid?: unknown };
  targets?: Target[];
  panels?: Panel[];
  fieldConfig?: { defaults?: { unit?: unknown } };
}
interface Variable {
  name?: unknown;
  type?: unknown;
  query?: unknown;
  datasource?: { type?: unknown; uid?: unknown };
}
interface Dashboard {
  __inputs?: { name?: unknown; type?: unknown; pluginId?: unknown }[];
  title?: unknown;
  uid?: unknown;
  schemaVersion?: unknown;
  panels?: Panel[];
  templating?: { list?: Variable[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const allPanels = (ps: Panel[] = []): Panel[] => ps.flatMap((p) => [p, ...allPanels(p.panels)]);
const panels = allPanels(dashboard.panels);
const queryPanels = panels.filter((p) => p.type !== 'row');
const exprs = queryPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: String(p.title), expr: String(t.expr) })));
const variableQuery = (v: Variable): string => (typeof v.query === 'string' ? v.query : String((v.query as { query?: unknown } | undefined)?.query));

/** Grafana's own variables in a query, replaced by what Prometheus would be sent. */
const substitute = (expr: string): string =>
  expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\{?(\w+)\}?/g, '.*');

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'inf', 'nan']);

/** The metric names a PromQL expression selects: what is left once strings, matchers, ranges, groupings and calls are gone. */
export function metricNames(promql: string): string[] {
  const bare = substitute(promql)
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (call !== undefined || KEYWORDS.has((name as string).toLowerCase())) continue;
    names.add(name as string);
  }
  return [...names];
}

/** label_values(metric{…}, label): the metric. */
function variableMetric(query: string): string | undefined {
  return /^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(query)?.[1];
}

/** The names the daemon exports: its registry, with libvirt and a domain in view so every lazily made gauge exists. */
async function exportedNames(): Promise<Set<string>> {
  const view: MetricsView = {
    nodes: [],
    cpuAllocationRatio: 4,
    reservations: { unbound: 0, bound: 0 },
    planMoves: 0,
    libvirtConnected: true,
    domains: [{ name: 'vm', memoryMiBByNode: new Map([[0, 1]]), localityRatio: 1 }],
  };
  const metrics = new DaemonMetrics({ metrics: async (): Promise<MetricsView> => view } satisfies Pick<AdvisorApi, 'metrics'>);
  const text = await metrics.render();
  const names = new Set<string>();
  // A histogram is exported as its _bucket, _sum and _count series: those are what queries name.
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${name}${s}`);
  }
  expect([...names].sort()).toEqual(expect.arrayContaining(metrics.names()));
  return names;
}

describe('contrib/grafana/numadvisor.json', () => {
  it('is a dashboard model Grafana imports: title, uid, schema version, a Prometheus datasource input used by every panel and variable', () => {
    expect(dashboard.title).toBe('numadvisor');
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(typeof dashboard.schemaVersion).toBe('number');
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })]);
    for (const p of queryPanels) {
      expect(p.datasource, String(p.title)).toEqual({ type: 'prometheus', uid: DS });
      expect(p.targets?.length, String(p.title)).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource, String(p.title)).toEqual({ type: 'prometheus', uid: DS });
    }
    for (const v of dashboard.templating?.list ?? []) expect(v.datasource, String(v.name)).toEqual({ type: 'prometheus', uid: DS });
  });

  it('panels: unique ids, known types, on the 24-column grid, refIds unique per panel, a unit on every query panel', () => {
    const ids = panels.map((p) => p.id);
    expect(ids.every((id) => Number.isInteger(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(['row', 'timeseries', 'bargauge', 'stat', 'table', 'gauge']).toContain(p.type);
      const g = p.gridPos ?? {};
      for (const k of ['h', 'w', 'x', 'y'] as const) expect(Number.isInteger(g[k]), `${String(p.title)} gridPos.${k}`).toBe(true);
      expect((g.x as number) + (g.w as number)).toBeLessThanOrEqual(24);
    }
    for (const p of queryPanels) {
      const refIds = (p.targets ?? []).map((t) => t.refId);
      expect(new Set(refIds).size, String(p.title)).toBe(refIds.length);
      expect(p.fieldConfig?.defaults?.unit, String(p.title)).toEqual(expect.any(String));
    }
  });

  it('every metric a query or variable names is one the daemon exports (from its registry)', async () => {
    const exported = await exportedNames();
    const named = [...exprs.flatMap((e) => metricNames(e.expr).map((name) => ({ where: e.panel, name }))),
      ...(dashboard.templating?.list ?? []).map((v) => ({ where: `variable ${String(v.name)}`, name: variableMetric(variableQuery(v)) ?? `unparsed: ${variableQuery(v)}` }))];
    expect(named.length).toBeGreaterThan(15);
    const unknown = named.filter((n) => !exported.has(n.name));
    expect(unknown).toEqual([]);
  });

  it('covers what the issue asks: per-node memory and CPU availability, reservations, advice rate and latency, moves, per-VM locality', () => {
    const used = new Set(exprs.flatMap((e) => metricNames(e.expr)));
    for (const name of [
      'numadvisor_numa_node_memory_available_bytes',
      'numadvisor_numa_node_cpu_available_cores',
      'numadvisor_reservations',
      'numadvisor_advice_requests_total',
      'numadvisor_advice_duration_seconds_bucket',
      'numadvisor_moves_total',
      'numadvisor_domain_locality_ratio',
    ]) expect(used.has(name), name).toBe(true);
  });

  it('the metric-name extraction itself: calls, groupings, matchers, ranges and keywords are not names', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (le) (rate(a_bucket{x=~"$v", le!="1"}[$__rate_interval])))')).toEqual(['a_bucket']);
    expect(metricNames('a / on (numa_node) group_left (domain) b offset 5m and bool c')).toEqual(['a', 'b', 'c']);
    expect(metricNames('sum without (instance) (rate(x_total[5m])) * 1e3')).toEqual(['x_total']);
  });

  const t = tempDir('numadvisor-dashboard-');
  afterAll(t.cleanup);
  it.skipIf(!existsSync(PROMTOOL))('every query parses as PromQL (`promtool check rules` on them as recording rules)', async () => {
    const rules = { groups: [{ name: 'dashboard', rules: exprs.map((e, i) => ({ record: `dashboard:query_${i}`, expr: substitute(e.expr) })) }] };
    const file = path.join(t.dir, 'rules.yml');
    // JSON is YAML.
    writeFileSync(file, JSON.stringify(rules, null, 2));
    const { stdout } = await execFileP(PROMTOOL, ['check', 'rules', file], { encoding: 'utf8' });
    expect(stdout).toMatch(new RegExp(`SUCCESS: ${exprs.length} rules found`));
  });
});
