/**
 * TLS on the public Milvus port (tls.mode, Milvus's modes) through the official Node SDK's own options: one-way TLS
 * (mode 1) serves a client that trusts the CA and refuses plaintext; mutual TLS (mode 2) also refuses a client
 * without a certificate or with one from another CA. Certificates are made here with openssl.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { MilvusClient, type ClientConfig } from '@zilliz/milvus2-sdk-node';
import { makeTempDir, removeTempDir } from '../harness/util';
import { makeTestCerts, type TestCerts } from '../support/certs';
import { startStandalone, type Standalone } from '../support/kite';
import { expectOk } from './helpers';

jest.setTimeout(180_000);

let certs: TestCerts;
let server: Standalone | undefined;
const clients: MilvusClient[] = [];

beforeAll(() => {
  certs = makeTestCerts(makeTempDir('tls-certs'));
});

afterAll(() => removeTempDir(certs.dir));

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.closeConnection().catch(() => undefined)));
  await server?.dispose();
  server = undefined;
});

function tlsEnv(mode: 1 | 2): NodeJS.ProcessEnv {
  return { KITE_TLS_MODE: String(mode), KITE_TLS_SERVER_PEM_PATH: certs.serverPem, KITE_TLS_SERVER_KEY_PATH: certs.serverKey, KITE_TLS_CA_PEM_PATH: certs.caPem };
}

function client(address: string, opts: Partial<ClientConfig>): MilvusClient {
  const c = new MilvusClient({ address, timeout: 10_000, maxRetries: 0, ...opts });
  clients.push(c);
  return c;
}

/** A collection created, written and counted: the client really works over the connection. */
async function works(c: MilvusClient, name: string): Promise<void> {
  expectOk(await c.createCollection({ collection_name: name, dimension: 4 }), 'createCollection');
  const ins = await c.insert({ collection_name: name, data: [{ id: 1, vector: [1, 0, 0, 0] }, { id: 2, vector: [0, 1, 0, 0] }] });
  expectOk(ins.status, 'insert');
  expect(Number(ins.insert_cnt)).toBe(2);
  const has = await c.hasCollection({ collection_name: name });
  expect(has.value).toBe(true);
}

/**
 * A client with these options gets nowhere: its Connect and its calls fail (UNAVAILABLE), the TLS handshake (or
 * plaintext against TLS) never lets a request through.
 */
async function refused(address: string, opts: Partial<ClientConfig>): Promise<void> {
  const c = client(address, opts);
  await expect(c.connectPromise).rejects.toThrow(/UNAVAILABLE/);
  await expect(c.hasCollection({ collection_name: 'anything' })).rejects.toThrow(/UNAVAILABLE/);
}

const oneWay = (): Partial<ClientConfig> => ({ ssl: true, tls: { rootCertPath: certs.caPem, serverName: 'localhost' } });
const mutual = (pem: string, key: string): Partial<ClientConfig> => ({
  ssl: true,
  tls: { rootCertPath: certs.caPem, certChainPath: pem, privateKeyPath: key, serverName: 'localhost' },
});

test('tls.mode 1: a client that trusts the CA works; a plaintext client is refused', async () => {
  server = await startStandalone({ env: tlsEnv(1), clientOptions: oneWay() });
  await works(client(server.address, oneWay()), 'tls_one_way');
  await refused(server.address, {});
});

test('tls.mode 2: a client with a certificate from the CA works; none, another CA\'s, or plaintext are refused', async () => {
  server = await startStandalone({ env: tlsEnv(2), clientOptions: mutual(certs.clientPem, certs.clientKey) });
  await works(client(server.address, mutual(certs.clientPem, certs.clientKey)), 'tls_mutual');
  await refused(server.address, oneWay());
  await refused(server.address, mutual(certs.strangerPem, certs.strangerKey));
  await refused(server.address, {});
});

test('tls.mode 0 (default): plaintext as before, a TLS client is refused', async () => {
  server = await startStandalone();
  await works(client(server.address, {}), 'tls_off');
  await refused(server.address, oneWay());
});

test('tls.mode 1 without readable certificate files stops the start, naming the key', async () => {
  await expect(startStandalone({ env: { ...tlsEnv(1), KITE_TLS_SERVER_PEM_PATH: `${certs.dir}/missing.pem` }, readyTimeoutMs: 30_000 })).rejects.toThrow(
    /cannot read tls.serverPemPath .*missing.pem \(env KITE_TLS_SERVER_PEM_PATH\)/,
  );
});
