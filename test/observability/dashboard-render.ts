/**
 * Draws Kite's dashboard JSON (deploy/grafana/kite-dashboard.json) without Grafana, for the README's picture and
 * for checking the dashboard against a live Prometheus: every panel's targets are run as range queries over
 * [start, end] (the dashboard's variables resolved through Prometheus as Grafana does, see panels.ts), the
 * results are laid out on the panels' 24-column gridPos grid in an HTML page — time series drawn with uPlot
 * (MIT), stat, bar gauge and state timeline panels with plain HTML — and headless Chromium (Debian's package,
 * driven by puppeteer-core) screenshots the page to a PNG.
 *
 * It reads what Kite's dashboard uses: panel types row, timeseries, stat, bargauge and state-timeline; per panel
 * the unit, decimals, min/max, thresholds, value mappings, line interpolation and fill opacity; per target the
 * expr and legendFormat. Anything else in the JSON (overrides, transformations, links) is ignored; a panel of
 * another type is drawn as a box that names its type.
 *
 * Used by scripts/render-dashboard.ts (any Prometheus, by URL) and test/observability/dashboard.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { repoRoot } from '../harness/util';
import { allPanels, builtinVariables, resolveVariables, substitute, type Dashboard, type FieldDefaults, type GridPos } from './panels';
import type { PrometheusApi, RangeSeries } from './prometheus';

/** Debian's package (scripts/install-system-deps.sh installs it); KITE_CHROMIUM overrides the path. */
export const DEFAULT_CHROMIUM = process.env.KITE_CHROMIUM ?? '/usr/bin/chromium';

/** Panel types drawn as such; others get a placeholder box. */
export const DRAWN_TYPES = ['row', 'timeseries', 'stat', 'bargauge', 'state-timeline'];

export interface RenderedSeries {
  /** The legend: legendFormat with {{label}} filled in from the series' labels. */
  name: string;
  /** One value per point of the time axis; null where Prometheus returned no sample. */
  values: (number | null)[];
}

export interface RenderedPanel {
  id: number;
  type: string;
  title: string;
  gridPos: GridPos;
  defaults: FieldDefaults;
  options: Record<string, unknown>;
  series: RenderedSeries[];
  /** Query errors of this panel's targets ("A: bad_data: ..."), shown in the panel. */
  errors: string[];
}

export interface DashboardData {
  title: string;
  /** The time axis (unix seconds): start, start + step, ..., as Prometheus evaluates a range query. */
  times: number[];
  step: number;
  /** The resolved variables (namespace, job, instance, $__rate_interval, ...). */
  vars: Record<string, string>;
  panels: RenderedPanel[];
  /** Per target, "panel/refId" and how many series it returned. */
  queries: { key: string; expr: string; series: number; error?: string }[];
}

export interface FetchOptions {
  dashboard: Dashboard;
  prom: Pick<PrometheusApi, 'labelValues' | 'queryRange'>;
  /** Unix seconds. */
  start: number;
  end: number;
  /** Range-query step in seconds (Grafana's $__interval). */
  step: number;
  /** Prometheus's scrape interval in seconds, for $__rate_interval (max(step + scrape, 4 × scrape)). */
  scrapeSeconds: number;
}

/** Grafana's legendFormat: `{{label}}` (spaces allowed inside the braces) replaced by the label's value. */
export function legendName(format: string | undefined, metric: Record<string, string>, expr: string): string {
  if (format === undefined || format.trim() === '' || format === '__auto') {
    const labels = Object.entries(metric).filter(([k]) => k !== '__name__');
    if (labels.length === 0) return metric.__name__ ?? expr;
    return `${metric.__name__ ?? ''}{${labels.map(([k, v]) => `${k}="${v}"`).join(', ')}}`;
  }
  return format.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_, label: string) => metric[label] ?? '').replace(/\s+/g, ' ').trim();
}

/** Places range-query samples on the time axis start, start + step, ... (null where a series has no sample). */
export function alignSeries(series: RangeSeries, start: number, step: number, points: number): (number | null)[] {
  const out: (number | null)[] = new Array<number | null>(points).fill(null);
  for (const [t, v] of series.values) {
    const i = Math.round((t - start) / step);
    const n = Number(v);
    if (i >= 0 && i < points && Number.isFinite(n)) out[i] = n;
  }
  return out;
}

/** Resolves the variables and runs every panel target as a range query; a failed query is recorded, not thrown. */
export async function fetchDashboardData(o: FetchOptions): Promise<DashboardData> {
  if (!(o.end > o.start)) throw new Error(`the time range is empty (start ${o.start}, end ${o.end}); end must be after start`);
  if (!(o.step > 0)) throw new Error(`step must be a positive number of seconds, not ${o.step}`);
  const vars = await resolveVariables(o.dashboard, o.prom, builtinVariables(o.scrapeSeconds, o.step, Math.round(o.end - o.start)));
  const start = Math.floor(o.start / o.step) * o.step;
  const points = Math.floor((o.end - start) / o.step) + 1;
  const times = Array.from({ length: points }, (_, i) => start + i * o.step);
  const end = times[times.length - 1]!;
  const panels: RenderedPanel[] = [];
  const queries: DashboardData['queries'] = [];
  for (const p of allPanels(o.dashboard)) {
    const panel: RenderedPanel = {
      id: p.id,
      type: p.type,
      title: p.title,
      gridPos: p.gridPos,
      defaults: p.fieldConfig?.defaults ?? {},
      options: p.options ?? {},
      series: [],
      errors: [],
    };
    panels.push(panel);
    if (p.type === 'row') continue;
    for (const t of p.targets ?? []) {
      const key = `${p.title}/${t.refId}`;
      const expr = substitute(t.expr ?? '', vars);
      try {
        const result = await o.prom.queryRange(expr, start, end, o.step);
        for (const s of result) panel.series.push({ name: legendName(t.legendFormat, s.metric, expr), values: alignSeries(s, start, o.step, points) });
        queries.push({ key, expr, series: result.length });
      } catch (e) {
        const error = (e as Error).message;
        panel.errors.push(`${t.refId}: ${error}`);
        queries.push({ key, expr, series: 0, error });
      }
    }
  }
  return { title: o.dashboard.title, times, step: o.step, vars, panels, queries };
}

export interface PageOptions {
  /** Page width in CSS pixels (the 24 grid columns share it). */
  width: number;
  /** A line under the title saying what the picture is. */
  caption: string;
}

/** Escapes text for HTML element content and attribute values. */
function html(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON that is safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

/** The self-contained page: uPlot's script and stylesheet inlined, the data as JSON, the drawing script. */
export function dashboardHtml(data: DashboardData, o: PageOptions): string {
  const uplotJs = fs.readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  const uplotCss = fs.readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  const pageJs = fs.readFileSync(path.join(repoRoot(), 'test', 'observability', 'dashboard-page.js'), 'utf8');
  const pageCss = fs.readFileSync(path.join(repoRoot(), 'test', 'observability', 'dashboard-page.css'), 'utf8');
  const from = new Date(data.times[0]! * 1000).toISOString().replace('T', ' ').slice(0, 19);
  const to = new Date(data.times[data.times.length - 1]! * 1000).toISOString().replace('T', ' ').slice(11, 19);
  const shownVars = ['namespace', 'job', 'instance']
    .filter((v) => data.vars[v] !== undefined)
    .map((v) => `${v}: ${data.vars[v]!.startsWith('(') ? 'All' : data.vars[v]!}`)
    .join(' · ');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${html(data.title)}</title>
<style>${uplotCss}</style><style>${pageCss}</style></head>
<body style="width:${o.width}px">
<header><h1>${html(data.title)}</h1><div class="range">${html(`${from} – ${to} UTC · step ${data.step}s · ${shownVars}`)}</div>
<div class="caption">${html(o.caption)}</div></header>
<div id="grid"></div>
<script>${uplotJs}</script>
<script>window.KITE_DASHBOARD = ${scriptJson({ times: data.times, panels: data.panels })};</script>
<script>${pageJs}</script>
</body></html>
`;
}

export interface ScreenshotOptions {
  chromium: string;
  width: number;
  /** Every step (launch, drawing, screenshot) must end within this. */
  timeoutMs?: number;
}

export interface Screenshot {
  width: number;
  height: number;
  /** Titles of the panels drawn as "No data" (no series), as the page shows them. */
  noData: string[];
}

/** Loads the page in headless Chromium and writes a full-page PNG; a script error in the page fails it. */
export async function screenshot(page: string, out: string, o: ScreenshotOptions): Promise<Screenshot> {
  if (!fs.existsSync(o.chromium)) throw new Error(`${o.chromium} is missing: run scripts/install-system-deps.sh (Debian's chromium package) or set KITE_CHROMIUM`);
  const timeout = o.timeoutMs ?? 60_000;
  // Root in a container: Chromium's sandbox needs user namespaces it may not have there.
  const browser = await puppeteer.launch({ executablePath: o.chromium, headless: true, timeout, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
  try {
    const tab = await browser.newPage();
    tab.setDefaultTimeout(timeout);
    const errors: string[] = [];
    tab.on('pageerror', (e) => errors.push(e instanceof Error ? e.message : String(e)));
    await tab.emulateTimezone('UTC');
    await tab.setViewport({ width: o.width, height: 900 });
    await tab.setContent(page, { waitUntil: 'load', timeout });
    await tab.waitForFunction('window.KITE_DASHBOARD_DRAWN === true || window.KITE_DASHBOARD_ERROR !== undefined', { timeout });
    const failed = await tab.evaluate('window.KITE_DASHBOARD_ERROR');
    if (failed !== undefined || errors.length > 0) throw new Error(`the dashboard page failed: ${[failed, ...errors].filter((x) => x !== undefined).join('; ')}`);
    const height = (await tab.evaluate('document.documentElement.scrollHeight')) as number;
    const noData = (await tab.evaluate(
      "Array.from(document.querySelectorAll('.panel')).filter((p) => p.querySelector('.nodata')).map((p) => p.querySelector('.title').textContent)",
    )) as string[];
    fs.mkdirSync(path.dirname(out), { recursive: true });
    await tab.screenshot({ path: out as `${string}.png`, fullPage: true });
    return { width: o.width, height, noData };
  } finally {
    await browser.close().catch(() => undefined);
  }
}

export interface RenderOptions extends FetchOptions {
  /** The PNG to write. */
  out: string;
  /** Also write the page here (optional). */
  htmlOut?: string;
  chromium?: string;
  width?: number;
  caption: string;
  timeoutMs?: number;
}

export interface RenderResult extends Screenshot {
  data: DashboardData;
}

/** Fetches every panel's data, draws the page and screenshots it to `out`. */
export async function renderDashboard(o: RenderOptions): Promise<RenderResult> {
  const data = await fetchDashboardData(o);
  const width = o.width ?? 1600;
  const page = dashboardHtml(data, { width, caption: o.caption });
  if (o.htmlOut) {
    fs.mkdirSync(path.dirname(o.htmlOut), { recursive: true });
    fs.writeFileSync(o.htmlOut, page);
  }
  const size = await screenshot(page, o.out, { chromium: o.chromium ?? DEFAULT_CHROMIUM, width, timeoutMs: o.timeoutMs });
  return { data, ...size };
}
