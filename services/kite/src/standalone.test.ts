// Standalone Kite in this process: the proxy runs on the component host like the other three components, so the
// host's /ready, its state gauge and its stop cover it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig, silentLogger } from '@kite/common';
import { startStandalone, type Standalone } from './standalone';

jest.setTimeout(60_000);

let dir = '';
let server: Standalone | undefined;

beforeAll(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kite-standalone-'));
  const cfg = loadConfig({
    env: {},
    overrides: { common: { dataDir: dir, listenHost: '127.0.0.1', advertiseHost: '127.0.0.1' }, proxy: { port: 0, metricsPort: 0 } },
  });
  server = await startStandalone(cfg, silentLogger);
});

afterAll(async () => {
  await server?.stop();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

test('the proxy is a hosted component: /ready and the state gauge report it serving, and the stop stops it', async () => {
  const s = server!;
  const ready = (await (await fetch(`http://127.0.0.1:${s.metricsPort}/ready`)).json()) as { ready: boolean; components: Record<string, Record<string, unknown>> };
  expect(ready.ready).toBe(true);
  expect(Object.keys(ready.components)).toEqual(['querycoord', 'datanode', 'querynode', 'proxy']);
  expect(ready.components.proxy).toEqual({ role: 'proxy', serverID: expect.any(Number), state: 'serving' });
  expect(ready.components.proxy!.serverID).toBeGreaterThan(0);
  const metrics = await (await fetch(`http://127.0.0.1:${s.metricsPort}/metrics`)).text();
  expect(metrics).toContain('kite_component_state{component="proxy",state="serving"} 1');
  await s.stop();
  server = undefined;
  const details = s.host.details() as { components: Record<string, { state: string }> };
  expect(Object.fromEntries(Object.entries(details.components).map(([name, c]) => [name, c.state]))).toEqual({
    querycoord: 'stopped', datanode: 'stopped', querynode: 'stopped', proxy: 'stopped',
  });
});
