/**
 * The web UI with security.authorizationEnabled, on `kite standalone`: every /webui path asks for a Kite user as
 * the RESTful API does (HTTP Basic, the browser's sign-in prompt, or "Bearer user:password"); wrong credentials are
 * refused. Signed in, the JSON document describes the standalone process's components.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { startStandalone, type Standalone } from '../support/kite';

jest.setTimeout(180_000);

let server: Standalone;
let base = '';
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

beforeAll(async () => {
  server = await startStandalone({ env: { KITE_SECURITY_AUTHORIZATION_ENABLED: 'true' }, clientOptions: { username: 'root', password: 'Milvus' } });
  base = `http://127.0.0.1:${server.metricsPort}`;
}, 150_000);

afterAll(async () => {
  await server?.dispose();
});

test('missing or wrong credentials get 401 with a Basic challenge, on the page, its assets and the JSON', async () => {
  for (const p of ['/webui/', '/webui/api/cluster', '/webui/app.js']) {
    const none = await fetch(`${base}${p}`, { signal: AbortSignal.timeout(30_000) });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm="Kite web UI"/);
    expect(await none.text()).toMatch(/sign in/);
  }
  const wrong = await fetch(`${base}/webui/api/cluster`, { headers: { Authorization: basic('root', 'not-the-password') }, signal: AbortSignal.timeout(30_000) });
  expect(wrong.status).toBe(401);
  expect(await wrong.text()).toMatch(/auth check failure/);
  const malformed = await fetch(`${base}/webui/`, { headers: { Authorization: 'Token abc' }, signal: AbortSignal.timeout(30_000) });
  expect(malformed.status).toBe(401);
  expect(await malformed.text()).toMatch(/must be "Basic/);
});

test('signed in with Basic or Bearer: the page and the JSON document', async () => {
  const page = await fetch(`${base}/webui/`, { headers: { Authorization: basic('root', 'Milvus') }, signal: AbortSignal.timeout(30_000) });
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('<table id="nodes-table">');
  const res = await fetch(`${base}/webui/api/cluster`, { headers: { Authorization: 'Bearer root:Milvus' }, signal: AbortSignal.timeout(30_000) });
  expect(res.status).toBe(200);
  const doc = (await res.json()) as { nodes: { role: string; state: string }[]; coordinator: unknown; errors: string[] };
  expect(doc.errors).toEqual([]);
  expect(doc.coordinator).not.toBeNull();
  expect(doc.nodes.map((n) => n.role).sort()).toEqual(['datanode', 'proxy', 'querycoord', 'querynode']);
});
