// Draws Kite's Grafana dashboard JSON from a live Prometheus, without Grafana, to a PNG (headless Chromium):
// every panel's queries over the last N minutes, laid out as the JSON's gridPos says. See
// test/observability/dashboard-render.ts for what it draws, and docs/observability.md, "A picture of the dashboard".
//
//   node scripts/run-ts.js scripts/render-dashboard.ts --prometheus http://127.0.0.1:9090 [--minutes 15] [--out FILE]
//
// Exits 1 if a query fails (the picture is still written, the failed panels showing the error), 2 on bad options.
import path from 'node:path';
import { DEFAULT_CHROMIUM, renderDashboard } from '../test/observability/dashboard-render';
import { loadDashboard } from '../test/observability/panels';
import { PrometheusApi } from '../test/observability/prometheus';

const ROOT = path.resolve(__dirname, '..');

interface Options {
  prometheus: string;
  dashboard: string;
  out: string;
  html?: string;
  minutes: number;
  /** Unix seconds; now when not given. */
  end?: number;
  step?: number;
  scrape: number;
  width: number;
  chromium: string;
  caption?: string;
}

const USAGE = `usage: node scripts/run-ts.js scripts/render-dashboard.ts [options]
  --prometheus URL        Prometheus HTTP API (default http://127.0.0.1:9090)
  --minutes N             time range: the last N minutes (default 15)
  --end TIME              the range's end instead of now: unix seconds or an ISO date (2026-12-07T18:30:00Z)
  --step S                seconds per point (default: the range over 240 points, at least the scrape interval)
  --scrape-interval S     Prometheus's scrape interval, for $__rate_interval (default 5, as deploy/prometheus/prometheus.yml)
  --out FILE              the PNG (default docs/images/dashboard.png)
  --html FILE             also write the drawn page
  --dashboard FILE        the dashboard JSON (default deploy/grafana/kite-dashboard.json)
  --width PX              page width (default 1600)
  --chromium PATH         Chromium binary (default ${DEFAULT_CHROMIUM}; KITE_CHROMIUM)
  --caption TEXT          the line under the title (default: says what drew the picture, from where)`;

class UsageError extends Error {}

function positive(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number, not "${value}"`);
  return n;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    prometheus: 'http://127.0.0.1:9090',
    dashboard: path.join(ROOT, 'deploy', 'grafana', 'kite-dashboard.json'),
    out: path.join(ROOT, 'docs', 'images', 'dashboard.png'),
    minutes: 15,
    scrape: 5,
    width: 1600,
    chromium: DEFAULT_CHROMIUM,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--help' || flag === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    const value = argv[++i];
    if (value === undefined || value.startsWith('--')) throw new UsageError(`${flag} needs a value (see --help)`);
    switch (flag) {
      case '--prometheus':
        if (!/^https?:\/\//.test(value)) throw new UsageError(`--prometheus must be an http(s) URL such as http://127.0.0.1:9090, not "${value}"`);
        o.prometheus = value.replace(/\/+$/, '');
        break;
      case '--minutes':
        o.minutes = positive(flag, value);
        break;
      case '--end': {
        const t = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Date.parse(value) / 1000;
        if (!Number.isFinite(t)) throw new UsageError(`--end must be unix seconds or an ISO date such as 2026-12-07T18:30:00Z, not "${value}"`);
        o.end = t;
        break;
      }
      case '--step':
        o.step = positive(flag, value);
        break;
      case '--scrape-interval':
        o.scrape = positive(flag, value);
        break;
      case '--out':
        o.out = path.resolve(value);
        break;
      case '--html':
        o.html = path.resolve(value);
        break;
      case '--dashboard':
        o.dashboard = path.resolve(value);
        break;
      case '--width':
        o.width = Math.round(positive(flag, value));
        break;
      case '--chromium':
        o.chromium = value;
        break;
      case '--caption':
        o.caption = value;
        break;
      default:
        throw new UsageError(`unknown option ${flag} (see --help)`);
    }
  }
  return o;
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const end = Math.floor(o.end ?? Date.now() / 1000);
  const start = end - Math.round(o.minutes * 60);
  const step = o.step ?? Math.max(o.scrape, Math.ceil((end - start) / 240));
  const caption =
    o.caption ??
    `${o.dashboard.startsWith(ROOT + path.sep) ? path.relative(ROOT, o.dashboard) : o.dashboard} drawn by scripts/render-dashboard.ts from the Prometheus at ${o.prometheus} (Grafana draws the same JSON in a real install)`;
  const res = await renderDashboard({
    dashboard: loadDashboard(o.dashboard),
    prom: new PrometheusApi(o.prometheus),
    start,
    end,
    step,
    scrapeSeconds: o.scrape,
    out: o.out,
    htmlOut: o.html,
    chromium: o.chromium,
    width: o.width,
    caption,
  });
  const failed = res.data.queries.filter((q) => q.error !== undefined);
  const empty = res.data.queries.filter((q) => q.error === undefined && q.series === 0);
  process.stdout.write(
    `${o.out}: ${res.width}x${res.height} px, ${res.data.panels.filter((p) => p.type !== 'row').length} panels, ` +
      `${res.data.queries.length} queries over ${o.minutes} min at ${step}s steps (${empty.length} without series, ${failed.length} failed)\n`,
  );
  for (const q of empty) process.stdout.write(`  no series: ${q.key}\n`);
  for (const q of failed) process.stderr.write(`  failed: ${q.key}: ${q.error}\n`);
  return failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`render-dashboard: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
