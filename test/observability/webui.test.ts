/**
 * The built-in web UI (/webui on the proxy's HTTP port) in a real browser: Debian's headless Chromium driven by
 * puppeteer-core, against a local cluster (`bin/kite cluster up`: 2 query nodes, 1 data node, 1 proxy). The page
 * lists every process with its role and state, the loaded collection and its replica, and which segments and
 * channels each query node serves. Then a query node is killed with SIGKILL: without a reload, the page drops the
 * node, shows every segment on the surviving node, and its event timeline records the loss and the moves.
 * Screenshots before and after the kill go to $WEBUI_SCREENSHOT_DIR (default: a temporary directory), so a test run
 * leaves the checkout alone; `WEBUI_SCREENSHOT_DIR=docs/images` refreshes the README's pictures. The JSON document
 * and the server-rendered page (readable without JavaScript) are checked too.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { repoRoot } from '../harness/util';
import { KiteCluster } from '../cluster/launcher';
import { Model, createCollection, createHnswIndex, flushAndWait, insertRows, loadAndWait, makeRows } from '../cluster/scenario';
import { eventually } from '../standalone/helpers';

jest.setTimeout(300_000);

/** Debian's package (scripts/install-system-deps.sh installs it); KITE_CHROMIUM overrides the path. */
const CHROMIUM = process.env.KITE_CHROMIUM ?? '/usr/bin/chromium';
const IMAGES = process.env.WEBUI_SCREENSHOT_DIR ? path.resolve(repoRoot(), process.env.WEBUI_SCREENSHOT_DIR) : path.join(os.tmpdir(), 'kite-webui-screenshots');
const NAME = 'webui_demo';
const ROWS = 1500;
/** Short sessions: the killed node's session expires within seconds. */
const SESSION_TTL_S = 4;

let cluster: KiteCluster;
let client: MilvusClient;
let browser: Browser | undefined;
let page: Page;
let base = '';

/** The little of the DOM the page is read through (the test project compiles without the DOM library). */
interface DomElement {
  getAttribute(name: string): string | null;
  querySelector(selector: string): DomElement | null;
  querySelectorAll(selector: string): Iterable<DomElement>;
  readonly textContent: string | null;
}
declare const document: DomElement & { getElementById(id: string): DomElement | null };

/** What the page shows, read from its DOM. */
interface Shown {
  nodes: { id: number; role: string; state: string }[];
  /** Query node id -> the segment ids its block lists. */
  segments: Record<number, number[]>;
  /** Query node id -> the channels its block lists. */
  channels: Record<number, string[]>;
  collection: string | undefined;
  events: { kind: string; node: number; text: string }[];
  status: string;
}

async function shown(): Promise<Shown> {
  return page.evaluate(() => {
    const num = (v: string | null): number => Number(v ?? '0');
    const nodes = [...document.querySelectorAll('#nodes-table tbody tr')].map((tr) => ({
      id: num(tr.getAttribute('data-node')),
      role: tr.getAttribute('data-role') ?? '',
      state: tr.getAttribute('data-state') ?? '',
    }));
    const segments: Record<number, number[]> = {};
    const channels: Record<number, string[]> = {};
    for (const block of document.querySelectorAll('.node-dist')) {
      const id = num(block.getAttribute('data-node'));
      segments[id] = [...block.querySelectorAll('li[data-segment]')].map((li) => num(li.getAttribute('data-segment')));
      channels[id] = [...block.querySelectorAll('li[data-channel]')].map((li) => li.getAttribute('data-channel') ?? '');
    }
    const row = document.querySelector('#collections-table tr[data-collection="webui_demo"]');
    const events = [...document.querySelectorAll('#events-list li')].map((li) => ({
      kind: li.getAttribute('data-kind') ?? '',
      node: num(li.getAttribute('data-node')),
      text: li.textContent ?? '',
    }));
    return { nodes, segments, channels, collection: row?.textContent ?? undefined, events, status: document.getElementById('refresh-status')?.textContent ?? '' };
  });
}

/** Polls the page (which refreshes itself) until `check` holds; the last view is in the failure message. */
async function pageShows(what: string, check: (s: Shown) => boolean, timeoutMs = 90_000): Promise<Shown> {
  let last: Shown | undefined;
  try {
    return await eventually(
      what,
      async () => {
        last = await shown();
        return check(last) ? last : undefined;
      },
      timeoutMs,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}\nlast view: ${JSON.stringify(last)}`);
  }
}

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/install-system-deps.sh (Debian's chromium package) or set KITE_CHROMIUM`);
  cluster = await KiteCluster.start({ querynodes: 2, datanodes: 1, proxies: 1, sessionTtlSeconds: SESSION_TTL_S, env: { KITE_DATANODE_SEGMENT_MAX_ROWS: '250' } });
  client = new MilvusClient({ address: cluster.proxyAddresses[0]!, timeout: 120_000 });
  await client.connectPromise;
  base = `http://127.0.0.1:${cluster.components('proxy')[0]!.metrics}`;
  await createCollection(client, NAME, 2);
  await insertRows(client, NAME, new Model(), makeRows(ROWS, 0, 7), 500);
  await flushAndWait(client, NAME);
  await createHnswIndex(client, NAME);
  await loadAndWait(client, NAME);
  // Root in a container: Chromium's sandbox needs user namespaces it may not have there.
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 1000 });
}, 300_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await client?.closeConnection().catch(() => undefined);
  await cluster?.dispose();
}, 180_000);

test('the JSON document and the page without JavaScript describe the cluster', async () => {
  const res = await fetch(`${base}/webui/api/cluster`);
  expect(res.status).toBe(200);
  const doc = (await res.json()) as { nodes: { id: number; role: string }[]; collections: { name: string; loadState: string; replicas: unknown[] }[]; errors: string[] };
  expect(doc.errors).toEqual([]);
  const roles = doc.nodes.map((n) => n.role).sort();
  expect(roles).toEqual(['datanode', 'proxy', 'querycoord', 'querynode', 'querynode']);
  const coll = doc.collections.find((c) => c.name === NAME);
  expect(coll).toMatchObject({ loadState: 'Loaded' });
  expect(coll!.replicas).toHaveLength(1);
  // /webui redirects to /webui/, whose HTML already holds the tables (rendered on the server).
  const redirect = await fetch(`${base}/webui`, { redirect: 'manual' });
  expect(redirect.status).toBe(301);
  expect(redirect.headers.get('location')).toBe('/webui/');
  const html = await (await fetch(`${base}/webui/`)).text();
  expect(html).toContain('<table id="nodes-table">');
  expect(html).toContain(`data-collection="${NAME}"`);
  for (const asset of ['app.js', 'render.js', 'style.css']) expect((await fetch(`${base}/webui/${asset}`)).status).toBe(200);
  // The REST API behind the same port still answers.
  const rest = await fetch(`${base}/v2/vectordb/collections/list`, { method: 'POST', body: '{}' });
  expect(((await rest.json()) as { data: string[] }).data).toContain(NAME);
});

test('a killed query node: the page shows it gone and its segments moving to the other node', async () => {
  await page.goto(`${base}/webui`, { waitUntil: 'load' });
  const qns = cluster.components('querynode').map((c) => c.serverID);
  // Before: both query nodes serving, the collection loaded and its segments spread over them.
  const before = await pageShows('both query nodes with segments, collection loaded', (s) =>
    s.status.startsWith('live') &&
    qns.every((id) => s.nodes.some((n) => n.id === id && n.state === 'healthy') && (s.segments[id]?.length ?? 0) > 0) &&
    (s.collection ?? '').includes('Loaded'),
  );
  const all = [...new Set(qns.flatMap((id) => before.segments[id] ?? []))].sort((a, b) => a - b);
  expect(all.length).toBeGreaterThanOrEqual(4);
  expect(before.nodes.map((n) => n.role).sort()).toEqual(['datanode', 'proxy', 'querycoord', 'querynode', 'querynode']);
  fs.mkdirSync(IMAGES, { recursive: true });
  await page.screenshot({ path: path.join(IMAGES, 'webui-before.png'), fullPage: true });

  // The victim is the node with the most segments; the survivor must end up with every one of them.
  const [victim, survivor] = [...qns].sort((a, b) => (before.segments[b]?.length ?? 0) - (before.segments[a]?.length ?? 0));
  const movedAway = before.segments[victim!]!;
  const proc = cluster.components('querynode').find((c) => c.serverID === victim)!;
  process.kill(proc.pid, 'SIGKILL');

  const after = await pageShows(
    `node ${victim} gone, all ${all.length} segments on node ${survivor}, loss and moves on the timeline`,
    (s) => {
      const segs = new Set(s.segments[survivor!] ?? []);
      return (
        !s.nodes.some((n) => n.id === victim) &&
        s.segments[victim!] === undefined &&
        all.every((id) => segs.has(id)) &&
        s.events.some((e) => e.kind === 'node-lost' && e.node === victim) &&
        s.events.some((e) => e.kind === 'segment-moved' && e.node === survivor && e.text.includes(`from node ${victim} `))
      );
    },
    120_000,
  );
  // Every segment the victim held is recorded as moved to the survivor; its delegators, if any, rebuilt there.
  const moved = after.events.filter((e) => e.kind === 'segment-moved' && e.text.includes(`from node ${victim} `)).map((e) => Number(/segment (\d+)/.exec(e.text)![1]));
  expect(moved.sort((a, b) => a - b)).toEqual([...movedAway].sort((a, b) => a - b));
  if ((before.channels[victim!]?.length ?? 0) > 0) {
    await pageShows('delegators rebuilt on the survivor', (s) => s.events.some((e) => e.kind === 'delegator-rebuilt' && e.node === survivor));
  }
  await page.screenshot({ path: path.join(IMAGES, 'webui-after.png'), fullPage: true });
});
