import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { loadConfig, silentLogger, type KiteConfig } from '@kite/common';
import { EmbeddedMetaStore } from '@kite/metastore';
import { registry } from '@kite/observe';
import { codecs, keys } from '@kite/segment';
import { ComponentHost, RunningComponent, type HostContext, type Hosted } from './index';

let dir = '';
let store: EmbeddedMetaStore;
let cfg: KiteConfig;

beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kite-host-'));
  store = await EmbeddedMetaStore.open(path.join(dir, 'meta'));
  cfg = loadConfig({ env: {}, overrides: { common: { listenHost: '127.0.0.1', advertiseHost: '127.0.0.1', stopTimeoutMs: 3000 } } });
});
afterEach(async () => {
  await store.close();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

/** The session records of `role` in the store. */
async function sessions(role: 'querynode' = 'querynode'): Promise<{ serverID: number; stopping: boolean }[]> {
  const r = await store.getPrefix(keys.roleSessions(cfg.common.rootPath, role));
  return r.kvs.map((kv) => codecs.session.decode(kv.value, kv.key));
}

/** A component that records what the host did to it, in order. */
class Recorder implements Hosted {
  readonly role = 'querynode' as const;
  readonly announceStopping = true;
  readonly steps: string[] = [];
  ctx: HostContext | undefined;
  serving: Promise<void> = Promise.resolve();
  draining: (deadline: number) => Promise<void> = async () => undefined;

  async prepare(): Promise<void> {
    this.steps.push('prepare');
  }
  addServices(_server: grpc.Server): void {
    this.steps.push('addServices');
  }
  attach(ctx: HostContext): void {
    this.ctx = ctx;
    this.steps.push(`attach ${ctx.port > 0 ? 'bound' : 'unbound'} ${ctx.session.live ? 'registered' : 'unregistered'}`);
  }
  async serve(): Promise<void> {
    this.steps.push(`serve ${(await sessions()).length} session`);
    await this.serving;
  }
  async drain(deadline: number): Promise<void> {
    const s = await sessions();
    this.steps.push(`drain stopping=${s.map((x) => x.stopping).join()}`);
    await this.draining(deadline);
  }
  async close(): Promise<void> {
    this.steps.push(`close ${(await sessions()).length} session`);
  }
}

async function stateGauge(component: string): Promise<Record<string, number>> {
  const m = await registry.getSingleMetric('kite_component_state')!.get();
  return Object.fromEntries(m.values.filter((v) => v.labels.component === component).map((v) => [String(v.labels.state), v.value]));
}

function getJson(port: number, p: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, timeout: 5000, agent: false }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      })
      .on('error', reject);
  });
}

test('a component binds, then registers, then serves; it stops by handing over, revoking, shutting down, closing', async () => {
  const c = new Recorder();
  const r = new RunningComponent(c, { cfg, store, log: silentLogger, port: 0, name: 'qn-order' });
  expect(r.state).toBe('starting');
  await r.start();
  expect(r.state).toBe('serving');
  expect(await stateGauge('qn-order')).toEqual({ starting: 0, serving: 1, stopping: 0, stopped: 0 });
  expect(r.ready()).toBe(true);
  expect(r.address).toBe(`127.0.0.1:${r.port}`);
  expect((await sessions()).map((s) => s.serverID)).toEqual([r.serverID]);
  await r.stop();
  expect(r.state).toBe('stopped');
  expect(await stateGauge('qn-order')).toEqual({ starting: 0, serving: 0, stopping: 0, stopped: 1 });
  expect(c.steps).toEqual([
    'prepare',
    'addServices',
    'attach bound unregistered',
    'serve 1 session',
    'drain stopping=true',
    'close 0 session',
  ]);
  // A second stop is the first one.
  await r.stop();
});

test('a port that cannot be bound fails naming the address and the setting, before any session, and closes what was prepared', async () => {
  const held = net.createServer();
  await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', () => resolve()));
  const port = (held.address() as net.AddressInfo).port;
  try {
    const c = new Recorder();
    const r = new RunningComponent(c, { cfg, store, log: silentLogger, port, portSetting: { flag: '--port', key: 'querynode.port' } });
    await expect(r.start()).rejects.toMatchObject({
      kind: 'ListenFailed',
      message: expect.stringMatching(new RegExp(`^query node gRPC server: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE.*--port \\(config querynode\\.port, env KITE_QUERYNODE_PORT\\)$`)),
    });
    expect(await sessions()).toEqual([]);
    expect(c.steps).toEqual(['prepare', 'addServices', 'drain stopping=', 'close 0 session']);
    expect(r.state).toBe('stopped');
  } finally {
    await new Promise<void>((resolve) => held.close(() => resolve()));
  }
});

test('/ready says 503 with the state until every component serves; a stop that overruns ends at the deadline', async () => {
  const host = new ComponentHost(cfg, silentLogger);
  const c = new Recorder();
  let release!: () => void;
  c.serving = new Promise<void>((resolve) => (release = resolve));
  const web = await host.startHttp(0, { flag: '--metrics-port', key: 'querynode.metricsPort' });
  const serving = host.serve(c, { store, port: 0, name: 'qn-ready' });
  void serving.catch(() => undefined);
  await waitFor(() => c.steps.some((s) => s.startsWith('serve')));
  const before = await getJson(web.port, '/ready');
  expect(before.status).toBe(503);
  expect(before.body).toMatchObject({ ready: false, role: 'querynode', state: 'starting', process: 'starting' });
  expect((await getJson(web.port, '/healthz')).status).toBe(200);
  release();
  const running = await serving;
  host.started();
  const after = await getJson(web.port, '/ready');
  expect(after.status).toBe(200);
  expect(after.body).toMatchObject({ ready: true, state: 'serving', process: 'serving' });

  // The drain never ends by itself: the stop ends within common.stopTimeoutMs (3 s here) with a DeadlineExceeded.
  let drainDeadline = 0;
  let endDrain!: () => void;
  c.draining = (deadline) => {
    drainDeadline = deadline;
    return new Promise<void>((resolve) => (endDrain = resolve));
  };
  const t0 = Date.now();
  await expect(host.stop()).rejects.toMatchObject({ kind: 'DeadlineExceeded' });
  const took = Date.now() - t0;
  expect(took).toBeGreaterThanOrEqual(2900);
  expect(took).toBeLessThan(8000);
  expect(drainDeadline - t0).toBeGreaterThan(2500);
  expect(drainDeadline - t0).toBeLessThanOrEqual(3100);
  expect(host.state).toBe('stopped');
  // The HTTP server was stopped after the component (it gave up on it at the deadline).
  await expect(getJson(web.port, '/healthz')).rejects.toThrow();
  // The component finishes stopping (session revoked, server shut down) when its drain ends.
  endDrain();
  await running.stop();
  expect(running.state).toBe('stopped');
});

test('SIGTERM stops the host once and exits 0', async () => {
  const host = new ComponentHost(cfg, silentLogger);
  const c = new Recorder();
  await host.serve(c, { store, port: 0, name: 'qn-signal' });
  host.started();
  const exits: number[] = [];
  const before = { SIGTERM: process.listeners('SIGTERM'), SIGINT: process.listeners('SIGINT') };
  host.stopOnSignals((code) => void exits.push(code));
  try {
    process.emit('SIGTERM');
    await waitFor(() => exits.length > 0);
    expect(exits).toEqual([0]);
    expect(host.state).toBe('stopped');
    expect(await sessions()).toEqual([]);
  } finally {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) for (const l of process.listeners(sig)) if (!before[sig].includes(l)) process.off(sig, l);
  }
});

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('internal address', () => {
  /** A logger that keeps its warnings. */
  function warnings(): { log: typeof silentLogger; lines: string[] } {
    const lines: string[] = [];
    const log = Object.create(silentLogger) as typeof silentLogger;
    log.warn = ((...args: unknown[]) => void lines.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '))) as typeof log.warn;
    return { log, lines };
  }

  it('binds an internal component on internal.listenHost and warns when that is loopback but the advertised address is not', async () => {
    const far = loadConfig({ env: {}, overrides: { common: { advertiseHost: '10.9.8.7', stopTimeoutMs: 3000 } } });
    const { log, lines } = warnings();
    const r = new RunningComponent(new Recorder(), { cfg: far, store, log, port: 0 });
    await r.start();
    await r.stop();
    expect(r.address).toMatch(/^10\.9\.8\.7:\d+$/);
    expect(lines.join('\n')).toMatch(/internal port listens on loopback .* set internal.listenHost \(KITE_INTERNAL_LISTEN_HOST\)/);

    const near = warnings();
    const local = new RunningComponent(new Recorder(), { cfg, store, log: near.log, port: 0 });
    await local.start();
    await local.stop();
    expect(near.lines.join('\n')).not.toMatch(/internal port listens on loopback/);
  });
});
