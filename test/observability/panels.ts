/**
 * Reads a Grafana dashboard JSON the way Grafana runs it against Prometheus: every panel target's `expr`, the
 * dashboard's query variables resolved through Prometheus (`label_values(match, label)`, "All" as the regex
 * alternation of every value, as Grafana formats a multi-value variable for Prometheus), and Grafana's built-in
 * interval variables ($__rate_interval and friends) computed from a scrape interval and a step.
 */
import fs from 'node:fs';
import type { PrometheusApi } from './prometheus';

export interface DataSourceRef {
  type?: string;
  uid?: string;
}

export interface Target {
  refId: string;
  expr?: string;
  legendFormat?: string;
  datasource?: DataSourceRef;
}

export interface GridPos {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface ThresholdStep {
  color: string;
  value: number | null;
}

/** A value mapping of type "value": raw value -> shown text and colour. */
export interface ValueMapping {
  type: string;
  options?: Record<string, { text?: string; color?: string; index?: number }>;
}

/** The part of a panel's fieldConfig.defaults that a renderer needs. */
export interface FieldDefaults {
  unit?: string;
  decimals?: number;
  min?: number;
  max?: number;
  thresholds?: { mode?: string; steps: ThresholdStep[] };
  mappings?: ValueMapping[];
  custom?: { lineInterpolation?: string; fillOpacity?: number; lineWidth?: number; axisSoftMin?: number };
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: DataSourceRef;
  gridPos: GridPos;
  targets?: Target[];
  fieldConfig?: { defaults?: FieldDefaults; overrides?: unknown[] };
  options?: Record<string, unknown>;
  /** A collapsed row keeps its panels here. */
  panels?: Panel[];
}

export interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
  definition?: string;
  includeAll?: boolean;
  multi?: boolean;
  allValue?: string | null;
  current?: { text?: string | string[]; value?: string | string[] };
}

export interface Dashboard {
  uid: string;
  title: string;
  description?: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
  __inputs?: unknown[];
}

/** One query of one panel. */
export interface PanelQuery {
  panel: string;
  panelId: number;
  panelType: string;
  refId: string;
  expr: string;
}

export function loadDashboard(file: string): Dashboard {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Dashboard;
}

/** Every panel, rows' nested panels included, in order. */
export function allPanels(d: Dashboard): Panel[] {
  const out: Panel[] = [];
  for (const p of d.panels) {
    out.push(p);
    for (const inner of p.panels ?? []) out.push(inner);
  }
  return out;
}

/** Every target of every panel that draws data (rows excluded). */
export function panelQueries(d: Dashboard): PanelQuery[] {
  const out: PanelQuery[] = [];
  for (const p of allPanels(d)) {
    if (p.type === 'row') continue;
    for (const t of p.targets ?? []) {
      if (typeof t.expr !== 'string' || t.expr.trim() === '') throw new Error(`panel "${p.title}" target ${t.refId} has no expr`);
      out.push({ panel: p.title, panelId: p.id, panelType: p.type, refId: t.refId, expr: t.expr });
    }
  }
  return out;
}

/**
 * Grafana's built-in time variables for a panel drawn at `stepSeconds` per point over `rangeSeconds`, with the
 * data source's scrape interval set to `scrapeSeconds`: $__rate_interval is max($__interval + scrape, 4 × scrape).
 */
export function builtinVariables(scrapeSeconds: number, stepSeconds: number, rangeSeconds: number): Record<string, string> {
  const rate = Math.max(stepSeconds + scrapeSeconds, 4 * scrapeSeconds);
  return {
    __rate_interval: `${rate}s`,
    __interval: `${stepSeconds}s`,
    __interval_ms: String(stepSeconds * 1000),
    __range: `${rangeSeconds}s`,
    __range_s: String(rangeSeconds),
    __range_ms: String(rangeSeconds * 1000),
  };
}

/** A value as a PromQL regex inside a double-quoted string: regex metacharacters escaped, backslashes doubled. */
export function promRegexEscape(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}]/g, (c) => `\\\\${c}`);
}

const VAR_REF = /\$\{(\w+)(?::[\w]+)?\}|\[\[(\w+)\]\]|\$(\w+)/g;

/** Replaces $name, ${name}, ${name:fmt} and [[name]] by `vars[name]`; unknown names are left as they are. */
export function substitute(expr: string, vars: Record<string, string>): string {
  return expr.replace(VAR_REF, (whole, a: string | undefined, b: string | undefined, c: string | undefined) => {
    const name = a ?? b ?? c ?? '';
    return Object.prototype.hasOwnProperty.call(vars, name) ? vars[name]! : whole;
  });
}

/** Variable references still in `expr` (after substitution, there must be none). */
export function leftoverVariables(expr: string): string[] {
  return [...expr.matchAll(VAR_REF)].map((m) => m[0]);
}

function variableQuery(v: Variable): string {
  const q = typeof v.query === 'string' ? v.query : v.query?.query;
  return (q ?? v.definition ?? '').trim();
}

/**
 * Resolves the dashboard's variables in order (a variable may use earlier ones), each set to its default
 * selection: "All" for includeAll variables whose current value is All, else the current value. A query
 * variable with no values fails: every panel using it would be empty. The data source variable is not
 * substituted into expressions (Grafana uses it to pick the data source).
 */
export async function resolveVariables(d: Dashboard, prom: Pick<PrometheusApi, 'labelValues'>, builtins: Record<string, string>): Promise<Record<string, string>> {
  const vars: Record<string, string> = { ...builtins };
  for (const v of d.templating.list) {
    if (v.type === 'datasource') continue;
    if (v.type !== 'query') throw new Error(`variable ${v.name}: type ${v.type} is not handled by this test; extend resolveVariables`);
    const q = variableQuery(v);
    const m = /^label_values\((.+),\s*(\w+)\s*\)$/.exec(q);
    if (!m) throw new Error(`variable ${v.name}: query "${q}" is not label_values(match, label)`);
    const match = substitute(m[1]!, vars);
    const left = leftoverVariables(match);
    if (left.length > 0) throw new Error(`variable ${v.name}: ${left.join(', ')} is not defined before it`);
    const values = await prom.labelValues(m[2]!, match);
    if (values.length === 0) throw new Error(`variable ${v.name}: label_values(${match}, ${m[2]}) has no values`);
    const current = v.current?.value;
    const wantsAll = current === undefined || current === '$__all' || (Array.isArray(current) && current.includes('$__all'));
    if (v.includeAll && wantsAll) {
      vars[v.name] = v.allValue ?? `(${values.map(promRegexEscape).join('|')})`;
    } else {
      const chosen = Array.isArray(current) ? current : current !== undefined ? [current] : [values[0]!];
      vars[v.name] = chosen.length === 1 ? promRegexEscape(chosen[0]!) : `(${chosen.map(promRegexEscape).join('|')})`;
    }
  }
  return vars;
}

/** Pairs of panels whose grid rectangles overlap (Grafana would push one down; a sign of a hand-edit slip). */
export function overlappingPanels(panels: Panel[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < panels.length; i++) {
    for (let j = i + 1; j < panels.length; j++) {
      const a = panels[i]!.gridPos;
      const b = panels[j]!.gridPos;
      if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h) out.push(`"${panels[i]!.title}" and "${panels[j]!.title}"`);
    }
  }
  return out;
}
