/**
 * S3ObjectStore against a real S3 server (MinIO, started by the test harness): the ObjectStore contract, then what
 * is S3's own — paging, batched deletes, bucket creation, credentials, a server that stops or hangs — and, against a
 * scripted HTTP server, which failures the SDK retries and how they are reported.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { makeTempDir, makeTestCerts, removeTempDir, startS3Server, startTcpProxy, type S3Server } from '../../../test/harness';
import { PutBucketPolicyCommand, S3Client } from '@aws-sdk/client-s3';
import { KiteError } from '@kite/common';
import { objectStoreContract } from './contract';
import { openObjectStore } from './open';
import { S3ObjectStore, type S3ObjectStoreOptions } from './s3';

jest.setTimeout(60_000);

let server: S3Server;
let dataDir: string;
const opened: S3ObjectStore[] = [];

/**
 * The server's data folder: in RAM (/dev/shm) where there is one, since MinIO fsyncs every object's metadata and
 * disk syncs would dominate the run; a temporary folder on disk elsewhere.
 */
function serverDir(name: string): string {
  if (fs.existsSync('/dev/shm')) {
    try {
      return fs.mkdtempSync(`/dev/shm/kite-${name}-`);
    } catch {
      // not writable: fall back to disk
    }
  }
  return makeTempDir(name);
}

beforeAll(async () => {
  dataDir = serverDir('s3');
  server = await startS3Server({ dataDir });
}, 30 * 60_000); // a first run may build the server

afterAll(async () => {
  for (const s of opened) await s.close();
  await server?.stop();
  if (dataDir) removeTempDir(dataDir);
});

const unique = (name: string): string => `${name}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;

function optionsFor(s: { endpoint: string; accessKeyId: string; secretAccessKey: string }, extra: Partial<S3ObjectStoreOptions> = {}): S3ObjectStoreOptions {
  return {
    endpoint: s.endpoint,
    bucket: 'kite-test',
    region: 'us-east-1',
    accessKeyId: s.accessKeyId,
    secretAccessKey: s.secretAccessKey,
    forcePathStyle: true,
    ...extra,
  };
}

async function open(extra: Partial<S3ObjectStoreOptions> = {}): Promise<S3ObjectStore> {
  const store = await S3ObjectStore.open(optionsFor(server, extra));
  opened.push(store);
  return store;
}

/** Runs `fn` over `items`, `width` at a time. */
async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let it = queue.shift(); it !== undefined; it = queue.shift()) await fn(it);
    }),
  );
}

/** An unsigned, empty PUT (allowed by a bucket policy). */
function anonymousPut(url: string, agent: http.Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'PUT', agent, headers: { 'content-length': '0' } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`PUT ${url}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function expectKiteError(p: Promise<unknown>): Promise<KiteError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KiteError);
  return err as KiteError;
}

// Every harness works under a store prefix of its own, so the contract also checks that keys round-trip through it.
objectStoreContract('s3', async () => {
  const prefix = unique('contract-store');
  let store = await open({ prefix });
  return {
    store,
    cleanup: async () => {
      await store.close();
    },
    reopen: async () => {
      await store.close();
      store = await open({ prefix });
      return store;
    },
  };
});

describe('S3ObjectStore on MinIO', () => {
  it('pages through listings and deletes in batches (small page and batch sizes)', async () => {
    const store = await open({ prefix: unique('paging'), listPageSize: 7, deleteBatchSize: 10 });
    const keys = Array.from({ length: 45 }, (_, i) => `k/${String(i).padStart(3, '0')}`);
    await pool(keys, 16, (k) => store.put(k, Buffer.from(k)));
    await store.put('l/outside', Buffer.from('x'));
    const listed = await store.list('k/');
    expect(listed.map((o) => o.key)).toEqual(keys);
    expect(listed.every((o) => o.size === 5)).toBe(true);
    expect(await store.deletePrefix('k/')).toBe(45);
    expect(await store.list('k/')).toEqual([]);
    expect((await store.list('')).map((o) => o.key)).toEqual(['l/outside']);
  });

  it('lists and deletes more than 1000 keys with S3\'s own page and batch limits', async () => {
    // One more than a page and a DeleteObjects batch hold. They are written by plain HTTP PUTs under a bucket policy
    // that lets anyone write this prefix: the SDK's per-request cost would make this test several times slower.
    const bucket = unique('many').toLowerCase();
    const store = await open({ bucket, prefix: 'p' });
    const admin = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    });
    try {
      await admin.send(
        new PutBucketPolicyCommand({
          Bucket: bucket,
          Policy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Principal: { AWS: ['*'] }, Action: ['s3:PutObject'], Resource: [`arn:aws:s3:::${bucket}/p/*`] }],
          }),
        }),
      );
    } finally {
      admin.destroy();
    }
    const keys = Array.from({ length: 1001 }, (_, i) => `m/${String(i).padStart(5, '0')}`);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    try {
      await pool(keys, 16, (k) => anonymousPut(`${server.endpoint}/${bucket}/p/${k}`, agent));
    } finally {
      agent.destroy();
    }
    const listed = await store.list('m/');
    expect(listed).toHaveLength(1001);
    expect(listed.map((o) => o.key)).toEqual(keys);
    expect(await store.deletePrefix('m/')).toBe(1001);
    expect(await store.list('')).toEqual([]);
  }, 120_000);

  it('get of a missing key throws a non-retriable IoFailed naming the key', async () => {
    const store = await open({ prefix: unique('missing') });
    const err = await expectKiteError(store.get('seg/7/col_3'));
    expect(err.kind).toBe('IoFailed');
    expect(err.retriable).toBe(false);
    expect(err.message).toContain('seg/7/col_3');
    expect(await store.exists('seg/7/col_3')).toBe(false);
  });

  it('keeps objects under its prefix: the bucket holds <prefix>/<key>, and other prefixes stay apart', async () => {
    const a = unique('pa');
    const storeA = await open({ prefix: a }); // the missing '/' is added
    const storeB = await open({ prefix: `${unique('pb')}/` });
    const root = await open();
    await storeA.put('x/1', Buffer.from('A'));
    await storeB.put('x/1', Buffer.from('B'));
    expect((await storeA.get('x/1')).toString()).toBe('A');
    expect((await storeB.get('x/1')).toString()).toBe('B');
    expect(await root.list(`${a}/`)).toEqual([{ key: `${a}/x/1`, size: 1 }]);
    expect(await storeA.deletePrefix('')).toBe(1);
    expect((await storeB.get('x/1')).toString()).toBe('B');
    await storeB.deletePrefix('');
  });

  it('keeps two clusters sharing one bucket apart by storage.rootPath: a drop in one leaves the other', async () => {
    const bucket = unique('shared').toLowerCase();
    const cfg = (rootPath: string) => ({ type: 's3' as const, path: '', rootPath, s3: optionsFor(server, { bucket }) });
    const a = await openObjectStore(cfg('kite-a'));
    const b = await openObjectStore(cfg('kite-b/'));
    const legacy = await openObjectStore(cfg(''));
    for (const [store, v] of [[a, 'A'], [b, 'B'], [legacy, 'L']] as const) {
      await store.put('collections/1/segments/2/col_1', Buffer.from(v));
      await store.put('collections/10/segments/3/col_1', Buffer.from(v));
    }
    const whole = await open({ bucket });
    expect((await whole.list('')).map((o) => o.key)).toEqual([
      'collections/1/segments/2/col_1',
      'collections/10/segments/3/col_1',
      'kite-a/collections/1/segments/2/col_1',
      'kite-a/collections/10/segments/3/col_1',
      'kite-b/collections/1/segments/2/col_1',
      'kite-b/collections/10/segments/3/col_1',
    ]);
    // Dropping collection 1 in cluster A removes A's objects only; the default root reads the earlier layout.
    expect(await a.deletePrefix('collections/1/')).toBe(1);
    expect((await b.get('collections/1/segments/2/col_1')).toString()).toBe('B');
    expect((await legacy.get('collections/1/segments/2/col_1')).toString()).toBe('L');
    expect(await legacy.deletePrefix('collections/1/')).toBe(1);
    expect((await b.list('collections/')).length).toBe(2);
    expect((await a.list('collections/')).map((o) => o.key)).toEqual(['collections/10/segments/3/col_1']);
    for (const s of [a, b, legacy]) await s.close();
  });

  it('creates a missing bucket on open, or refuses it when createBucket is false', async () => {
    const bucket = unique('bucket').toLowerCase();
    const err = await expectKiteError(S3ObjectStore.open(optionsFor(server, { bucket, createBucket: false })));
    expect(err.kind).toBe('IoFailed');
    expect(err.retriable).toBe(false);
    expect(err.message).toContain(bucket);

    const store = await open({ bucket });
    await store.put('a', Buffer.from('1'));
    // A second opener finds the bucket there (and its objects).
    const again = await open({ bucket, createBucket: false });
    expect((await again.get('a')).toString()).toBe('1');
  });

  it('refuses a wrong secret with a non-retriable IoFailed that names the credentials', async () => {
    const err = await expectKiteError(S3ObjectStore.open(optionsFor(server, { secretAccessKey: 'not-the-secret' })));
    expect(err.kind).toBe('IoFailed');
    expect(err.retriable).toBe(false);
    expect(err.message).toContain('403');
    expect(err.message).toContain('secretAccessKey');
  });

  it('refuses malformed keys and options as the local store does', async () => {
    const store = await open({ prefix: unique('keys') });
    for (const key of ['', 'a//b', 'a/./b', '../x', 'a/', '/abs', 'x\0y']) {
      await expect(store.put(key, Buffer.from('x'))).rejects.toMatchObject({ kind: 'ParameterInvalid' });
      await expect(store.get(key)).rejects.toMatchObject({ kind: 'ParameterInvalid' });
    }
    await expect(store.put('k'.repeat(1100), Buffer.from('x'))).rejects.toMatchObject({ kind: 'ParameterInvalid' });
    await expect(store.list('a/../')).rejects.toMatchObject({ kind: 'ParameterInvalid' });
    await expect(S3ObjectStore.open(optionsFor(server, { listPageSize: 5000 }))).rejects.toMatchObject({ kind: 'ParameterInvalid' });
    await expect(S3ObjectStore.open(optionsFor(server, { endpoint: 'localhost:9000' }))).rejects.toMatchObject({ kind: 'ParameterInvalid' });
    await expect(S3ObjectStore.open(optionsFor(server, { bucket: '' }))).rejects.toThrow('storage.s3.bucket');
  });

  it('rejects calls after close', async () => {
    const store = await S3ObjectStore.open(optionsFor(server));
    await store.close();
    await expect(store.get('a')).rejects.toMatchObject({ kind: 'ServiceNotReady' });
  });
});

describe('S3ObjectStore when the server fails', () => {
  let own: S3Server;
  let ownDir: string;
  beforeAll(async () => {
    ownDir = serverDir('s3-failing');
    own = await startS3Server({ dataDir: ownDir });
  });
  afterAll(async () => {
    await own?.stop();
    if (ownDir) removeTempDir(ownDir);
  });

  const quick = { maxAttempts: 2, connectionTimeoutMs: 500, idleTimeoutMs: 500 };

  it('a stopped server gives a retriable IoFailed within seconds, and the store works again once it is back', async () => {
    const store = await S3ObjectStore.open(optionsFor(own, quick));
    try {
      await store.put('kept', Buffer.from('v'));
      await own.stop();
      const t0 = Date.now();
      const err = await expectKiteError(store.get('kept'));
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(err.kind).toBe('IoFailed');
      expect(err.retriable).toBe(true);
      expect(err.message).toContain('kept');
      expect(err.message).toContain('storage.s3.endpoint');
      await expect(store.list('')).rejects.toMatchObject({ kind: 'IoFailed', retriable: true });

      await own.start();
      expect((await store.get('kept')).toString()).toBe('v');
    } finally {
      await store.close();
    }
  });

  it('a hung server (connections open, no answers) gives a retriable IoFailed after the idle timeout, not a hang', async () => {
    const proxy = await startTcpProxy({ targetPort: own.port });
    const store = await S3ObjectStore.open(optionsFor({ ...own, endpoint: `http://${proxy.address}` }, quick));
    try {
      await store.put('h', Buffer.from('1'));
      proxy.blackhole();
      const t0 = Date.now();
      const err = await expectKiteError(store.get('h'));
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(err).toMatchObject({ kind: 'IoFailed', retriable: true });
      await proxy.restore();
      expect((await store.get('h')).toString()).toBe('1');
    } finally {
      await store.close();
      await proxy.close();
    }
  });
});

describe('S3ObjectStore retries (scripted HTTP server)', () => {
  /** Answers HEAD (the bucket check) with 200 and every other request from `script`, counting them. */
  async function scripted(script: (n: number, req: http.IncomingMessage, body: string) => { status: number; body?: string }) {
    let requests = 0;
    const srv = http.createServer((req, res) => {
      let reqBody = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (reqBody += chunk));
      req.on('end', () => {
        if (req.method === 'HEAD') {
          res.writeHead(200).end();
          return;
        }
        const { status, body } = script(++requests, req, reqBody);
        res.writeHead(status, { 'content-type': 'application/xml' }).end(body ?? '');
      });
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const port = (srv.address() as AddressInfo).port;
    return {
      endpoint: `http://127.0.0.1:${port}`,
      accessKeyId: 'a',
      secretAccessKey: 'b',
      get requests() {
        return requests;
      },
      close: () => new Promise<void>((resolve) => srv.close(() => resolve())),
    };
  }
  const xmlError = (code: string): string =>
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>scripted ${code}</Message><RequestId>1</RequestId></Error>`;

  it('retries 503 SlowDown up to maxAttempts, then reports a retriable IoFailed', async () => {
    const srv = await scripted(() => ({ status: 503, body: xmlError('SlowDown') }));
    const store = await S3ObjectStore.open(optionsFor(srv, { maxAttempts: 3 }));
    try {
      const err = await expectKiteError(store.get('obj'));
      expect(err).toMatchObject({ kind: 'IoFailed', retriable: true });
      expect(err.message).toContain('503');
      expect(srv.requests).toBe(3);
    } finally {
      await store.close();
      await srv.close();
    }
  });

  it('succeeds when a 500 is followed by an answer', async () => {
    const srv = await scripted((n) => (n === 1 ? { status: 500, body: xmlError('InternalError') } : { status: 200, body: 'payload' }));
    const store = await S3ObjectStore.open(optionsFor(srv, { maxAttempts: 3 }));
    try {
      expect((await store.get('obj')).toString()).toBe('payload');
      expect(srv.requests).toBe(2);
    } finally {
      await store.close();
      await srv.close();
    }
  });

  it('does not retry 403 AccessDenied and reports it as not retriable', async () => {
    const srv = await scripted(() => ({ status: 403, body: xmlError('AccessDenied') }));
    const store = await S3ObjectStore.open(optionsFor(srv, { maxAttempts: 3 }));
    try {
      const err = await expectKiteError(store.put('obj', Buffer.from('x')));
      expect(err).toMatchObject({ kind: 'IoFailed', retriable: false });
      expect(err.message).toContain('AccessDenied');
      expect(srv.requests).toBe(1);
    } finally {
      await store.close();
      await srv.close();
    }
  });

  it('follows continuation tokens with the configured page size, and deletes in batches of the configured size', async () => {
    const keys = ['d/1', 'd/2', 'd/3', 'd/4', 'd/5'];
    const seen: string[] = [];
    const batches: string[][] = [];
    const srv = await scripted((_n, req, body) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'POST') {
        batches.push([...body.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1] as string));
        return { status: 200, body: '<?xml version="1.0" encoding="UTF-8"?><DeleteResult></DeleteResult>' };
      }
      const token = url.searchParams.get('continuation-token');
      seen.push(`max-keys=${url.searchParams.get('max-keys')} token=${token}`);
      const start = token === null ? 0 : Number(token.slice(1));
      const page = keys.slice(start, start + 2);
      const more = start + 2 < keys.length;
      return {
        status: 200,
        body:
          '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>kite-test</Name><Prefix>d/</Prefix>' +
          `<KeyCount>${page.length}</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>${more}</IsTruncated>` +
          (more ? `<NextContinuationToken>t${start + 2}</NextContinuationToken>` : '') +
          page.map((k) => `<Contents><Key>${k}</Key><Size>3</Size></Contents>`).join('') +
          '</ListBucketResult>',
      };
    });
    const store = await S3ObjectStore.open(optionsFor(srv, { listPageSize: 2, deleteBatchSize: 2 }));
    try {
      expect((await store.list('d/')).map((o) => o.key)).toEqual(keys);
      expect(seen).toEqual(['max-keys=2 token=null', 'max-keys=2 token=t2', 'max-keys=2 token=t4']);
      expect(await store.deletePrefix('d/')).toBe(5);
      expect(batches).toEqual([['d/1', 'd/2'], ['d/3', 'd/4'], ['d/5']]);
    } finally {
      await store.close();
      await srv.close();
    }
  });

  it('reports per-key DeleteObjects errors', async () => {
    const list =
      '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>kite-test</Name><Prefix>d/</Prefix><KeyCount>2</KeyCount>' +
      '<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Contents><Key>d/1</Key><Size>1</Size></Contents>' +
      '<Contents><Key>d/2</Key><Size>1</Size></Contents></ListBucketResult>';
    const deleted =
      '<?xml version="1.0" encoding="UTF-8"?><DeleteResult><Error><Key>d/2</Key><Code>AccessDenied</Code>' +
      '<Message>no</Message></Error></DeleteResult>';
    const srv = await scripted((_n, req) => (req.method === 'POST' ? { status: 200, body: deleted } : { status: 200, body: list }));
    const store = await S3ObjectStore.open(optionsFor(srv));
    try {
      const err = await expectKiteError(store.deletePrefix('d/'));
      expect(err).toMatchObject({ kind: 'IoFailed', retriable: false });
      expect(err.message).toContain('d/2');
      expect(err.message).toContain('AccessDenied');
    } finally {
      await store.close();
      await srv.close();
    }
  });
});

describe('S3 object store over TLS (storage.s3.caPemPath)', () => {
  let tlsServer: S3Server;
  let tlsDir: string;
  let ca: string;
  const stores: { close(): Promise<void> }[] = [];

  beforeAll(async () => {
    tlsDir = serverDir('s3-tls');
    const certs = makeTestCerts(path.join(tlsDir, 'ca'));
    ca = certs.ca;
    tlsServer = await startS3Server({ dataDir: tlsDir, tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca } });
  }, 5 * 60_000);

  afterAll(async () => {
    for (const s of stores) await s.close();
    await tlsServer?.stop();
    if (tlsDir) removeTempDir(tlsDir);
  });

  const cfg = (caPemPath: string) => ({
    type: 's3' as const,
    path: '',
    rootPath: 'tls',
    s3: { ...optionsFor(tlsServer, { bucket: 'kite-tls', maxAttempts: 1 }), caPemPath },
  });

  it('stores and reads objects at an https:// endpoint signed by the configured CA', async () => {
    expect(tlsServer.endpoint).toMatch(/^https:\/\//);
    const store = await openObjectStore(cfg(ca));
    stores.push(store);
    await store.put('a/b', Buffer.from('over tls'));
    expect((await store.get('a/b')).toString()).toBe('over tls');
  });

  it('fails to open without that CA (the server certificate is not trusted)', async () => {
    const err = await expectKiteError(openObjectStore(cfg('')));
    expect(err.kind).toBe('IoFailed');
    expect(err.message).toMatch(/certificate/i);
  });

  it('refuses a CA file that cannot be read, or a CA with an http:// endpoint, naming the setting', async () => {
    await expect(openObjectStore(cfg(path.join(tlsDir, 'missing.pem')))).rejects.toThrow(/storage.s3.caPemPath ".*missing.pem" cannot be read/);
    const plain = cfg(ca);
    plain.s3.endpoint = server.endpoint;
    await expect(openObjectStore(plain)).rejects.toThrow(/storage.s3.caPemPath is set but storage.s3.endpoint/);
  });
});
