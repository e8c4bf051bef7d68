/**
 * The Grafana dashboard against real data: a local cluster (`bin/kite cluster up`, 2 query nodes, 1 data node),
 * the targets file from scripts/prometheus-targets.js, Debian's `prometheus` scraping every process with (a test
 * copy of) deploy/prometheus/prometheus.yml, and load through the Node SDK — DDL, inserts, flushes, index builds,
 * searches, queries, deletes, a few user errors, and a query node killed with SIGKILL during reads so that
 * node events, retries and an open circuit breaker show up. Then every query of every panel of
 * deploy/grafana/kite-dashboard.json, with the dashboard's variables resolved through Prometheus as Grafana
 * would, must return series — and, over the run, non-zero data. Last, the dashboard is drawn from that run
 * (test/observability/dashboard-render.ts, as scripts/render-dashboard.ts does for any Prometheus) and
 * screenshotted in headless Chromium to $DASHBOARD_SCREENSHOT_DIR/dashboard.png (default: a temporary
 * directory, so a test run leaves the checkout alone; `DASHBOARD_SCREENSHOT_DIR=docs/images` refreshes the
 * README's picture).
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConsistencyLevelEnum, MilvusClient, type ResStatus } from '@zilliz/milvus2-sdk-node';
import YAML from 'yaml';
import { repoRoot, sleep } from '../harness/util';
import { readJson, ROOT as META_ROOT } from '../cluster/inspect';
import { processAlive } from '@kite/common';
import { KiteCluster } from '../cluster/launcher';
import { Model, count, createCollection, createHnswIndex, flushAndWait, insertRows, loadAndWait, makeRows, query, search } from '../cluster/scenario';
import { eventually, expectFailure, isSuccess, queriesNear } from '../standalone/helpers';
import {
  allPanels,
  builtinVariables,
  leftoverVariables,
  loadDashboard,
  overlappingPanels,
  panelQueries,
  resolveVariables,
  substitute,
  type Dashboard,
  type PanelQuery,
} from './panels';
import { DEFAULT_CHROMIUM, DRAWN_TYPES, renderDashboard } from './dashboard-render';
import { PROMETHEUS_BIN, PROMTOOL_BIN, PrometheusServer, promtoolCheckConfig, requireBinary, type InstantSeries } from './prometheus';

jest.setTimeout(240_000);

const ROOT = repoRoot();
const DASHBOARD_FILE = path.join(ROOT, 'deploy', 'grafana', 'kite-dashboard.json');
const CONFIG_FILE = path.join(ROOT, 'deploy', 'prometheus', 'prometheus.yml');
const RULES_FILE = path.join(ROOT, 'deploy', 'prometheus', 'kite-alerts.yml');
const TARGETS_SCRIPT = path.join(ROOT, 'scripts', 'prometheus-targets.js');
const IMAGES = process.env.DASHBOARD_SCREENSHOT_DIR
  ? path.resolve(ROOT, process.env.DASHBOARD_SCREENSHOT_DIR)
  : path.join(os.tmpdir(), 'kite-dashboard-screenshots');

/** The test's scrape interval (the shipped config says 5 s; 1 s keeps the run short). */
const SCRAPE_S = 1;
/** Range-query step, i.e. Grafana's $__interval for the checks over the whole run. */
const STEP_S = 2;
const NAME = 'dash_load';
const SHARDS = 2;
/** Rows per sealed segment, so that the data node seals, flushes and indexes several segments. */
const SEGMENT_MAX_ROWS = 500;
/** opossum's rolling window in the proxy (rollingCountTimeout): reads must be quiet this long before the kill. */
const BREAKER_WINDOW_MS = 10_000;

/**
 * Panel queries that may stay at zero in a healthy run, with the reason. They must still return series (the
 * instant check); only the "non-zero at some point" check skips them.
 */
const MAY_STAY_ZERO: Record<string, string> = {
  'Storage failures/A': 'meta store requests do not fail in a healthy run; the query shows 0 per operation',
  'Storage failures/B': 'object store requests do not fail in a healthy run; the query shows 0 per operation',
  'etcd failure ratio/A': 'meta store requests do not fail in a healthy run; the query shows 0 per component',
  'Object store requests and failure ratio by component/B': 'object store requests do not fail in a healthy run; the query shows 0 per component',
  'Tasks/B':
    'the in-flight gauge is a point sample; load/release tasks finish within a second or two, so 5 s scrapes can miss every one (Tasks/A counts them)',
  'Consume lag/A':
    'consumers keep up with a small run, and each subscriber samples its lag only every 5 s, so the samples are 0 more often than not',
};

let cluster: KiteCluster;
let prom: PrometheusServer;
let client: MilvusClient;
let dashboard: Dashboard;
let promDir = '';
let loadStart = 0;
let collectionID = '';
let killed: { instance: string; pid: number; serverID: number } | undefined;
const model = new Model();

beforeAll(async () => {
  requireBinary(PROMETHEUS_BIN);
  requireBinary(PROMTOOL_BIN);
  if (!fs.existsSync(DEFAULT_CHROMIUM)) throw new Error(`${DEFAULT_CHROMIUM} is missing: run scripts/install-system-deps.sh (Debian's chromium package) or set KITE_CHROMIUM`);
  dashboard = loadDashboard(DASHBOARD_FILE);
  cluster = await KiteCluster.start({
    querynodes: 2,
    datanodes: 1,
    env: {
      KITE_DATANODE_SEGMENT_MAX_ROWS: String(SEGMENT_MAX_ROWS),
      // One failed call opens a node's breaker: the coordinator takes a killed node out of routing at its next
      // pull (every 500 ms), so on a busy machine only one or two reads may reach it before that.
      KITE_PROXY_BREAKER_VOLUME_THRESHOLD: '1',
    },
  });
  // Under the cluster's data directory: the launcher's watchdog kills whatever names it if Jest dies.
  promDir = path.join(cluster.dataDir, 'prometheus');
  fs.mkdirSync(promDir, { recursive: true });
  const gen = spawnSync(process.execPath, [TARGETS_SCRIPT, '--data-dir', cluster.dataDir, '--out', path.join(promDir, 'targets.json')], { encoding: 'utf8' });
  if (gen.status !== 0) throw new Error(`prometheus-targets.js failed (${gen.status}): ${gen.stderr}`);
  // The shipped config with the test's scrape interval; its relative file_sd path then finds promDir/targets.json.
  const config = YAML.parse(fs.readFileSync(CONFIG_FILE, 'utf8')) as { global: Record<string, string> };
  config.global.scrape_interval = `${SCRAPE_S}s`;
  config.global.scrape_timeout = `${SCRAPE_S}s`;
  config.global.evaluation_interval = `${SCRAPE_S}s`;
  fs.writeFileSync(path.join(promDir, 'prometheus.yml'), YAML.stringify(config));
  // The alert rules it names, relative to it as in deploy/prometheus.
  fs.copyFileSync(RULES_FILE, path.join(promDir, 'kite-alerts.yml'));
  prom = await PrometheusServer.start(path.join(promDir, 'prometheus.yml'), promDir);
  client = new MilvusClient({ address: cluster.address, timeout: 60_000, logLevel: 'info' });
  await client.connectPromise;
}, 300_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  await prom?.stop();
  await cluster?.dispose();
}, 180_000);

describe('scrape configuration', () => {
  test('promtool accepts deploy/prometheus/prometheus.yml, and the test copy with its generated targets file', () => {
    const shipped = promtoolCheckConfig(CONFIG_FILE);
    expect({ code: shipped.code, output: shipped.output }).toEqual({ code: 0, output: expect.stringContaining('SUCCESS') });
    // Next to a real targets file, promtool also validates the file_sd content.
    const copy = promtoolCheckConfig(path.join(promDir, 'prometheus.yml'));
    expect({ code: copy.code, output: copy.output }).toEqual({ code: 0, output: expect.stringContaining('SUCCESS') });
    expect(copy.output).not.toContain('WARNING');
    expect(copy.output).toMatch(/kite-alerts\.yml\s+SUCCESS: \d+ rules found/);

    const shippedConfig = YAML.parse(fs.readFileSync(CONFIG_FILE, 'utf8')) as {
      global: { scrape_interval: string };
      scrape_configs: { job_name: string; file_sd_configs: { files: string[] }[] }[];
    };
    expect(shippedConfig.global.scrape_interval).toBe('5s');
    expect(shippedConfig.scrape_configs.map((s) => s.job_name)).toEqual(['kite']);
    expect(shippedConfig.scrape_configs[0]!.file_sd_configs[0]!.files).toEqual(['targets.json']);
  });

  test('the targets file lists every process with its component and serverID, and Prometheus scrapes them all', async () => {
    const groups = JSON.parse(fs.readFileSync(path.join(promDir, 'targets.json'), 'utf8')) as { targets: string[]; labels: Record<string, string> }[];
    const expected = cluster.info.components
      .map((c) => ({ targets: [`127.0.0.1:${c.metrics}`], labels: { component: c.role, serverID: String(c.serverID) } }))
      .sort((a, b) => a.targets[0]!.localeCompare(b.targets[0]!));
    expect([...groups].sort((a, b) => a.targets[0]!.localeCompare(b.targets[0]!))).toEqual(expected);

    const targets = await eventually(
      'every target scraped and up',
      async () => {
        const t = await prom.targets();
        return t.length === expected.length && t.every((x) => x.health === 'up') ? t : undefined;
      },
      30_000,
    );
    for (const t of targets) {
      const c = cluster.info.components.find((x) => t.scrapeUrl === `http://127.0.0.1:${x.metrics}/metrics`);
      expect(c).toBeDefined();
      // namespace="local" comes from prometheus.yml's relabelling, as a Kubernetes scrape gets the pod's namespace.
      expect(t.labels).toEqual({ instance: `127.0.0.1:${c!.metrics}`, job: 'kite', component: c!.role, serverID: String(c!.serverID), namespace: 'local' });
    }
  });

  test('the targets script refuses a directory without cluster.json, naming the fix', () => {
    const res = spawnSync(process.execPath, [TARGETS_SCRIPT, '--data-dir', promDir, '--out', path.join(promDir, 'never.json')], { encoding: 'utf8' });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('cluster.json');
    expect(res.stderr).toContain('cluster up');
    expect(fs.existsSync(path.join(promDir, 'never.json'))).toBe(false);
  });
});

describe('dashboard file', () => {
  test('is a Grafana dashboard on a templated Prometheus data source, a row per component, service quality first', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.schemaVersion).toBeLessThanOrEqual(41);
    expect(dashboard.uid).toBeTruthy();
    const ds = dashboard.templating.list.find((v) => v.type === 'datasource');
    expect(ds).toMatchObject({ name: 'DS_PROMETHEUS', query: 'prometheus' });
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['DS_PROMETHEUS', 'namespace', 'job', 'instance']);

    const panels = allPanels(dashboard);
    const rows = panels.filter((p) => p.type === 'row').map((p) => p.title);
    expect(rows).toEqual(['Service quality (proxy)', 'Failover', 'Query coordinator', 'Query nodes', 'Data nodes', 'WAL', 'Storage', 'Backends by component (etcd, Kafka, object store)', 'Process']);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(overlappingPanels(panels)).toEqual([]);
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      if (p.type === 'row') continue;
      expect({ panel: p.title, ds: p.datasource }).toEqual({ panel: p.title, ds: { type: 'prometheus', uid: '${DS_PROMETHEUS}' } });
      expect(p.targets?.length ?? 0).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect({ panel: p.title, ds: t.datasource }).toEqual({ panel: p.title, ds: p.datasource });
    }
    // Every query honours the namespace, job and instance selection.
    for (const q of panelQueries(dashboard)) {
      const filters = q.expr.match(/\{[^}]*\}/g) ?? [];
      expect({ panel: q.panel, selectors: filters.length > 0, filtered: filters.every((f) => f.startsWith('{namespace=~"$namespace", job=~"$job", instance=~"$instance"')) }).toEqual({
        panel: q.panel,
        selectors: true,
        filtered: true,
      });
    }
    // The p99 latency of the proxy is the quantile over per-method bucket rates.
    const p99 = panelQueries(dashboard).find((q) => q.panel === 'Latency p99 by method');
    expect(p99?.expr).toBe(
      'histogram_quantile(0.99, sum by (le, method)(rate(kite_proxy_request_duration_seconds_bucket{namespace=~"$namespace", job=~"$job", instance=~"$instance"}[2m])))',
    );
  });
});

/** A search that reports its status instead of throwing (reads during failover may fail). */
async function trySearch(vectors: number[][], level = ConsistencyLevelEnum.Strong): Promise<ResStatus | Error> {
  try {
    const res = await client.search({
      collection_name: NAME,
      data: vectors,
      anns_field: 'vector',
      limit: 10,
      params: { ef: 32 },
      consistency_level: level,
    });
    return res.status;
  } catch (e) {
    return e as Error;
  }
}

function scalar(series: InstantSeries[]): number {
  return series.length === 0 ? NaN : Number(series[0]!.value[1]);
}

/**
 * Waits until Prometheus has scraped every target at least `n` times since `since` (unix seconds): the newest
 * `up` sample of the least recently scraped target is at least n - 1 scrape intervals after it. A killed
 * process's target keeps being scraped (up = 0), so it counts too.
 */
async function scrapedSince(since: number, n: number): Promise<void> {
  await eventually(
    `every target scraped ${n} times since ${since.toFixed(1)}`,
    async () => (scalar(await prom.query('min(timestamp(up{job="kite"}))')) >= since + (n - 1) * SCRAPE_S ? true : undefined),
    30_000,
  );
}

describe('load through the Node SDK', () => {
  const rows = makeRows(3000, 0, 41);
  const queries = queriesNear(rows.map((r) => r.vector), 30, 43);

  test('DDL, writes, flushes, index builds, reads, deletes and user errors', async () => {
    loadStart = Date.now() / 1000;
    collectionID = await createCollection(client, NAME, SHARDS);
    await createHnswIndex(client, NAME);
    await insertRows(client, NAME, model, rows.slice(0, 2000), 250);
    await flushAndWait(client, NAME);
    await loadAndWait(client, NAME);
    await insertRows(client, NAME, model, rows.slice(2000, 2500), 100);
    for (let i = 0; i < 20; i++) {
      const nq = 1 + (i % 4);
      const hits = await search(client, NAME, queries.slice(i, i + nq), 5 + i);
      expect(hits).toHaveLength(nq);
    }
    for (let i = 0; i < 8; i++) expect((await query(client, NAME, `id >= ${i * 100} and id < ${i * 100 + 10}`)).length).toBe(10);
    expect(await count(client, NAME)).toBe(model.rows.size);

    // Deletes and user errors, in rounds a few scrapes apart: Prometheus's rate() sees a counter's increments
    // from its second sample on, and these counters only come into being at their first event.
    for (let round = 0; round < 3; round++) {
      const ids = Array.from({ length: 20 }, (_, i) => round * 20 + i);
      const del = await client.delete({ collection_name: NAME, filter: `id in [${ids.join(', ')}]` });
      expect(isSuccess(del.status)).toBe(true);
      model.remove(ids);
      // Each must come back as an error status, which the proxy counts under its code.
      await expectFailure('describe a missing collection', () => client.describeCollection({ collection_name: 'no_such_collection' }));
      await expectFailure('query with a broken filter', () => client.query({ collection_name: NAME, filter: 'id >>> 3', output_fields: ['id'] }));
      await expectFailure('search with a vector of the wrong dimension', () =>
        client.search({ collection_name: NAME, data: [[0.1, 0.2, 0.3]], anns_field: 'vector', limit: 3 }),
      );
      await scrapedSince(Date.now() / 1000, 2);
    }
    expect(await count(client, NAME)).toBe(model.rows.size);
    expect(model.rows.size).toBe(2500 - 60);
    const errors = await prom.query('sum by (method)(kite_proxy_requests_total{status!="0"})');
    expect(errors.map((e) => e.metric.method).sort()).toEqual(expect.arrayContaining(['DescribeCollection', 'Query', 'Search']));
  });

  test('a query node killed with SIGKILL during reads: retries, an open circuit breaker, node events, recovery', async () => {
    // Reads stay quiet for one breaker window, so that the breaker's window holds only the failed calls to the
    // dead node (with earlier successes in it, a few failures stay under the 50% threshold). Writes go on.
    const quietUntil = Date.now() + BREAKER_WINDOW_MS + 1500;
    let next = 2500;
    while (Date.now() < quietUntil) {
      if (next < 3000) {
        await insertRows(client, NAME, model, rows.slice(next, next + 100), 100);
        next += 100;
      }
      await sleep(300);
    }
    // The victim: the query node the proxy routes reads to, i.e. a shard leader as the coordinator publishes it
    // (`<root>/leaders/<collection>`; delegators may be on two nodes while the balancer hands a shard over).
    const published = await readJson<{ replica_id: number; shards: { channel: string; node_id: number; address: string; serviceable: boolean }[] }[]>(
      cluster.etcdEndpoints,
      `${META_ROOT}/leaders/${collectionID}`,
    );
    const leader = published?.flatMap((r) => r.shards).find((sh) => sh.serviceable);
    expect(leader).toBeDefined();
    const victim = cluster.components('querynode').find((c) => c.serverID === Number(leader!.node_id));
    expect(victim).toBeDefined();
    const instance = `127.0.0.1:${victim!.metrics}`;
    killed = { instance, pid: victim!.pid, serverID: victim!.serverID };
    process.kill(victim!.pid, 'SIGKILL');
    // Reads right away, from several clients at once, before the coordinator (checking every 500 ms) has moved
    // the shard: their calls to the dead leader fail, are retried, and open that node's circuit breaker (opossum:
    // at least breakerVolumeThreshold calls, 1 here, and more than half of them failed within its window).
    // Eventually-consistent reads skip
    // the WAL end-offset lookup, so they reach the dead node within milliseconds of the kill.
    const stopAt = Date.now() + 3000;
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        let ok = 0;
        let failed = 0;
        while (Date.now() < stopAt) {
          const s = await trySearch(queries.slice(w, w + 1), ConsistencyLevelEnum.Eventually);
          if (!(s instanceof Error) && isSuccess(s)) ok++;
          else failed++;
        }
        return { ok, failed };
      }),
    );

    // Reads recover once the coordinator has moved the dead node's channels and segments.
    await eventually(
      'a Strong search succeeds after the kill',
      async () => {
        const s = await trySearch(queries.slice(0, 2));
        return !(s instanceof Error) && isSuccess(s) ? true : undefined;
      },
      90_000,
    );
    expect(processAlive(victim!.pid)).toBe(false);
    await eventually(
      'the collection fully served again',
      async () => (scalar(await prom.query(`max(kite_querycoord_load_progress_percent{collection="${NAME}"})`)) === 100 ? true : undefined),
      90_000,
    );
    for (let i = 0; i < 10; i++) await search(client, NAME, queries.slice(i, i + 2), 10);
    expect(await count(client, NAME)).toBe(model.rows.size);

    // What the failover panels must show, straight from Prometheus.
    const since = `${Math.ceil(Date.now() / 1000 - loadStart) + 5}s`;
    await eventually(
      'the coordinator counted the query node down',
      async () => (scalar(await prom.query('sum(kite_querycoord_node_events_total{role="querynode", event="down"})')) >= 1 ? true : undefined),
      30_000,
    );
    const retries = scalar(await prom.query('sum(kite_proxy_retries_total)'));
    const breakerMax = scalar(await prom.query(`max(max_over_time(kite_proxy_circuit_breaker_state{node="${leader!.address}"}[${since}]))`));
    expect({ breakerMax, retried: retries > 0, retries, outcomes }).toEqual({ breakerMax: 2, retried: true, retries, outcomes });
    expect(scalar(await prom.query(`up{instance="${instance}"}`))).toBe(0);

    // A few more scrapes after the last requests, so that the rate windows ($__rate_interval: 4 scrapes) hold
    // their last increments.
    await scrapedSince(Date.now() / 1000, 4);
  });
});

describe('every panel query against Prometheus', () => {
  let queries: PanelQuery[] = [];
  let vars: Record<string, string> = {};
  let range = { start: 0, end: 0 };

  beforeAll(async () => {
    if (!killed) throw new Error('the load tests did not run to the end; the panel checks need their data');
    range = { start: Math.floor(loadStart), end: Math.ceil(Date.now() / 1000) };
    vars = await resolveVariables(dashboard, prom, builtinVariables(SCRAPE_S, STEP_S, range.end - range.start));
    queries = panelQueries(dashboard);
  });

  test('the variables resolve to this cluster', () => {
    expect(vars.job).toBe('(kite)');
    for (const c of cluster.info.components) expect(vars.instance).toContain(`:${c.metrics}`);
    expect(vars.__rate_interval).toBe('4s');
  });

  test('every query returns at least one series now', async () => {
    const empty: string[] = [];
    const summary: string[] = [];
    for (const q of queries) {
      const expr = substitute(q.expr, vars);
      expect({ panel: q.panel, left: leftoverVariables(expr) }).toEqual({ panel: q.panel, left: [] });
      const series = await prom.query(expr);
      summary.push(`${q.panel}/${q.refId}: ${series.length}`);
      if (series.length === 0) empty.push(`${q.panel}/${q.refId}: ${expr}`);
    }
    console.log(`[dashboard] ${queries.length} queries, series per query:\n${summary.join('\n')}`);
    expect(empty).toEqual([]);
  });

  test('every query shows a non-zero value at some point of the run (except the documented ones)', async () => {
    const flat: string[] = [];
    for (const q of queries) {
      const key = `${q.panel}/${q.refId}`;
      const expr = substitute(q.expr, vars);
      const series = await prom.queryRange(expr, range.start, range.end, STEP_S);
      const nonZero = series.some((s) => s.values.some(([, v]) => Number.isFinite(Number(v)) && Number(v) !== 0));
      if (!nonZero && !(key in MAY_STAY_ZERO)) flat.push(`${key} (${series.length} series): ${expr}`);
    }
    expect(flat).toEqual([]);
  });

  test('the exemptions name real panel queries', () => {
    const keys = new Set(queries.map((q) => `${q.panel}/${q.refId}`));
    for (const k of Object.keys(MAY_STAY_ZERO)) expect(keys.has(k)).toBe(true);
  });

  test('the dashboard drawn from this run: every panel with data, the picture written', async () => {
    const out = path.join(IMAGES, 'dashboard.png');
    fs.rmSync(out, { force: true });
    const res = await renderDashboard({
      dashboard,
      prom,
      // From a little before the load, so that the picture shows the cluster idle first.
      start: range.start - 20,
      end: Math.ceil(Date.now() / 1000),
      step: STEP_S,
      scrapeSeconds: SCRAPE_S,
      out,
      htmlOut: path.join(promDir, 'dashboard.html'),
      caption:
        "Kite's dashboard JSON (deploy/grafana/kite-dashboard.json) drawn by scripts/render-dashboard.ts from a live Prometheus " +
        'scraping a local cluster (2 query nodes, 1 data node) under load from test/observability/dashboard.test.ts, ' +
        'a query node killed with SIGKILL midway. Grafana draws the same JSON in a real install.',
    });
    const drawn = allPanels(dashboard).filter((p) => p.type !== 'row');
    expect(drawn.filter((p) => !DRAWN_TYPES.includes(p.type)).map((p) => `${p.title} (${p.type})`)).toEqual([]);
    expect(res.data.queries.filter((q) => q.error !== undefined)).toEqual([]);
    expect(res.data.queries.map((q) => q.key).sort()).toEqual(queries.map((q) => `${q.panel}/${q.refId}`).sort());
    expect(res.noData).toEqual([]);
    // A PNG as wide as the page and as tall as the whole grid (IHDR: width and height at bytes 16 and 20).
    const png = fs.readFileSync(out);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect({ width: png.readUInt32BE(16), tall: png.readUInt32BE(20) >= res.height }).toEqual({ width: res.width, tall: true });
    console.log(`[dashboard] picture ${out}: ${res.width}x${res.height} px, ${png.length} bytes`);
  });
});
