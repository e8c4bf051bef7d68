/**
 * KafkaWal against a real single-node Kafka 3.9 broker (started by the test harness): the WAL contract, then what
 * only a real broker can show — gaps in offsets, a broker restart under appenders and subscribers.
 */
import { Kafka, logLevel } from 'kafkajs';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, makeTestCerts, removeTempDir, startKafka, type KafkaServer, type TestCerts } from '../../../test/harness';
import { walContract } from './contract';
import { KafkaWal, type KafkaSasl } from './kafka';
import type { WalRecord } from './types';

jest.setTimeout(120_000);

const SASL_USER = { username: 'kite', password: 'kite-secret' };
let kafka: KafkaServer;
let certs: TestCerts;
let dataDir: string;

beforeAll(async () => {
  dataDir = makeTempDir('kafka');
  // One broker for the whole file; its SASL_PLAINTEXT listener serves the authentication tests.
  // and its SSL listener (client certificates required) the TLS tests.
  certs = makeTestCerts(path.join(dataDir, 'certs'));
  kafka = await startKafka({
    dataDir,
    sasl: SASL_USER,
    tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, clientAuth: true },
  });
});

afterAll(async () => {
  await kafka?.stop();
  if (dataDir) removeTempDir(dataDir);
});

const open = (): KafkaWal => new KafkaWal({ brokers: kafka.brokers });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let seq = 0;
const newTopic = (name: string): string => `${name}-${Date.now().toString(36)}-${seq++}`;

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

walContract('kafka', async () => {
  let wal = open();
  return {
    get wal() {
      return wal;
    },
    cleanup: () => wal.close(),
    reopen: async () => {
      await wal.close();
      wal = open();
      return wal;
    },
  };
});

describe('KafkaWal', () => {
  let wal: KafkaWal;
  beforeEach(() => {
    wal = open();
  });
  afterEach(async () => {
    await wal.close();
  });

  it('refuses channels of missing topics and partitions, and a topic re-created with another partition count', async () => {
    const topic = newTopic('missing');
    await expect(wal.append({ topic, partition: 0 }, [{ value: Buffer.from('x') }])).rejects.toMatchObject({
      kind: 'ParameterInvalid',
      message: expect.stringContaining('does not exist'),
    });
    await wal.createTopic(topic, 2);
    await expect(wal.endOffset({ topic, partition: 2 })).rejects.toMatchObject({ kind: 'ParameterInvalid' });
    await expect(wal.createTopic(topic, 3)).rejects.toMatchObject({ kind: 'ParameterInvalid' });
    await expect(wal.createTopic('bad topic!', 1)).rejects.toMatchObject({ kind: 'ParameterInvalid' });
    await wal.deleteTopic(topic);
    await wal.deleteTopic(topic); // gone already: a no-op
  });

  // A create retried after a first attempt that did create the topic answers "exists"; with several brokers the one
  // asked next may not list it yet. That used to fail the collection's creation at once (retriable, but the caller
  // got the error); the metadata is now asked again until it shows the topic.
  it('waits for a topic the broker says exists to show in the metadata', async () => {
    const wal = open();
    const topic = newTopic('late-metadata');
    let lists = 0;
    (wal as unknown as { admin: unknown }).admin = {
      connect: async () => undefined,
      disconnect: async () => undefined,
      createTopics: async () => false,
      listTopics: async () => (++lists < 3 ? [] : [topic]),
      fetchTopicMetadata: async () => ({ topics: [{ name: topic, partitions: [{}, {}] }] }),
      fetchTopicOffsets: async () => [],
    };
    await wal.createTopic(topic, 2);
    expect(lists).toBe(3);
    await wal.close();
  });

  it('keeps working after a topic it used is deleted, by itself or by another client (drop and re-create)', async () => {
    const other = open();
    try {
      // Both clients touch the first generation's topic with every kafkajs client they hold: producer, admin, reader.
      const use = async (w: KafkaWal, ch: { topic: string; partition: number }, value: string): Promise<number> => {
        const [offset] = await w.append(ch, [{ value: Buffer.from(value) }]);
        expect(await w.endOffset(ch)).toBe((offset as number) + 1);
        expect((await w.read(ch, offset as number, 10)).map((r) => r.value.toString())).toEqual([value]);
        return offset as number;
      };
      let ch = { topic: newTopic('generation'), partition: 0 };
      await wal.createTopic(ch.topic, 1);
      await use(wal, ch, 'first');
      await use(other, ch, 'first, other');
      for (let generation = 2; generation <= 3; generation++) {
        // The same steps as DropCollection + CreateCollection: `wal` deletes and creates, `other` only appends.
        await wal.deleteTopic(ch.topic);
        ch = { topic: newTopic('generation'), partition: 0 };
        await wal.createTopic(ch.topic, 1);
        const t0 = Date.now();
        await use(other, ch, `gen ${generation}, other`);
        await use(wal, ch, `gen ${generation}`);
        // Well inside the 30 s an append retries for: nothing waits on a retry loop.
        expect(Date.now() - t0).toBeLessThan(10_000);
      }
    } finally {
      await other.close();
    }
  });

  it('steps over transaction markers: offsets with gaps read and tail correctly', async () => {
    const ch = { topic: newTopic('gaps'), partition: 0 };
    await wal.createTopic(ch.topic, 1);
    const [a] = await wal.append(ch, [{ value: Buffer.from('a') }]);
    // A transactional producer leaves a commit marker (a control record) after its records, and aborted records.
    const client = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING });
    const tx = client.producer({ transactionalId: `kite-test-${ch.topic}`, idempotent: true, maxInFlightRequests: 1 });
    await tx.connect();
    try {
      const t1 = await tx.transaction();
      await t1.send({ topic: ch.topic, messages: [{ value: 'aborted', partition: 0 }] });
      await t1.abort();
      const t2 = await tx.transaction();
      await t2.send({ topic: ch.topic, messages: [{ value: 'committed', partition: 0 }] });
      await t2.commit();
    } finally {
      await tx.disconnect();
    }
    const [b] = await wal.append(ch, [{ value: Buffer.from('b') }]);
    expect((b as number) - (a as number)).toBeGreaterThan(2); // markers take offsets

    const seen: WalRecord[] = [];
    const sub = wal.subscribe(ch, 0, async (records) => {
      seen.push(...records);
    });
    try {
      await waitFor(() => seen.length >= 3, 10_000, 'records around the markers');
      const [c] = await wal.append(ch, [{ value: Buffer.from('c') }]);
      await waitFor(() => seen.length >= 4, 10_000, 'the record after them');
      expect(seen.map((r) => r.value.toString())).toEqual(['a', 'committed', 'b', 'c']);
      expect(seen[3]?.offset).toBe(c);
      const all: WalRecord[] = [];
      let next = 0;
      for (;;) {
        const got = await wal.read(ch, next, 10);
        if (got.length === 0) break;
        all.push(...got);
        next = (got[got.length - 1] as WalRecord).offset + 1;
      }
      expect(all.map((r) => r.value.toString())).toEqual(['a', 'committed', 'b', 'c']);
      expect(await wal.read(ch, (a as number) + 1, 10)).toEqual(all.slice(1));
    } finally {
      await sub.close();
    }
  });

  it('measures append throughput and tail latency (1 KiB records)', async () => {
    const ch = { topic: newTopic('perf'), partition: 0 };
    await wal.createTopic(ch.topic, 1);
    const value = Buffer.alloc(1024, 1);
    await wal.append(ch, [{ value }]); // warm up connections and metadata

    const n = 500;
    let t0 = Date.now();
    for (let i = 0; i < n; i++) await wal.append(ch, [{ value }]);
    const sequentialPerSec = (n / (Date.now() - t0)) * 1000;

    const m = 4000;
    let next = 0;
    t0 = Date.now();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < m) {
          next++;
          await wal.append(ch, [{ value }]);
        }
      }),
    );
    const concurrentPerSec = (m / (Date.now() - t0)) * 1000;

    // Keyed by the value, set before the append: the subscriber may see a record before its append resolves.
    const latencies: number[] = [];
    const sentAt = new Map<string, number>();
    const sub = wal.subscribe(ch, await wal.endOffset(ch), async (records) => {
      const now = performance.now();
      for (const r of records) {
        const s = sentAt.get(r.value.toString());
        if (s !== undefined) latencies.push(now - s);
      }
    });
    try {
      await sleep(300);
      for (let i = 0; i < 50; i++) {
        const tagged = Buffer.concat([Buffer.from(`tail-${i}:`), value.subarray(16)]);
        sentAt.set(tagged.toString(), performance.now());
        await wal.append(ch, [{ value: tagged }]);
        await waitFor(() => latencies.length === i + 1, 5000, `record ${i}`);
        await sleep(20);
      }
    } finally {
      await sub.close();
    }
    latencies.sort((x, y) => x - y);
    const p50 = latencies[Math.floor(latencies.length * 0.5)] as number;
    const p99 = latencies[Math.floor(latencies.length * 0.99)] as number;
    console.log(
      `KafkaWal 1 KiB appends: sequential ${sequentialPerSec.toFixed(0)}/s, 32 concurrent ${concurrentPerSec.toFixed(0)}/s; ` +
        `append→subscriber latency p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`,
    );
    expect(concurrentPerSec).toBeGreaterThan(sequentialPerSec);
    expect(p50).toBeLessThan(200);
  });
});

describe('KafkaWal when the broker restarts', () => {
  it('appends after a restart succeed, appends during it complete, and subscribers resume without gap or duplicate', async () => {
    const wal = open();
    const ch = { topic: newTopic('restart'), partition: 0 };
    const seen: WalRecord[] = [];
    const errors: Error[] = [];
    try {
      await wal.createTopic(ch.topic, 1);
      const before = await wal.append(ch, Array.from({ length: 10 }, (_, i) => ({ value: Buffer.from(`before-${i}`) })));
      const sub = wal.subscribe(
        ch,
        before[0] as number,
        async (records) => {
          seen.push(...records);
        },
        { onError: (e) => errors.push(e) },
      );
      await waitFor(() => seen.length === 10, 10_000, 'records before the restart');

      await kafka.kill();
      const during = wal.append(ch, [{ value: Buffer.from('during') }]);
      await kafka.start();
      const duringOffsets = await during;
      const after: number[] = [];
      for (let i = 0; i < 10; i++) after.push(...(await wal.append(ch, [{ value: Buffer.from(`after-${i}`) }])));
      await waitFor(() => seen.length === 21, 30_000, 'records after the restart');
      await sleep(200);
      await sub.close();

      expect(seen.map((r) => r.value.toString())).toEqual([
        ...Array.from({ length: 10 }, (_, i) => `before-${i}`),
        'during',
        ...Array.from({ length: 10 }, (_, i) => `after-${i}`),
      ]);
      expect(seen.map((r) => r.offset)).toEqual([...before, ...duringOffsets, ...after]);
      expect(errors.length).toBeGreaterThan(0); // the outage was noticed and retried through
    } finally {
      await wal.close();
    }
  });
});

describe('KafkaWal over a SASL_PLAINTEXT listener', () => {
  const wals: KafkaWal[] = [];
  const openSasl = (mechanism: KafkaSasl['mechanism'], password: string): KafkaWal => {
    const wal = new KafkaWal({
      brokers: kafka.saslBrokers,
      sasl: { mechanism, username: SASL_USER.username, password },
      saslSettings: 'wal.kafkaSaslUsername and wal.kafkaSaslPassword',
      appendTimeoutMs: 20_000,
    });
    wals.push(wal);
    return wal;
  };
  afterAll(async () => {
    for (const w of wals) await w.close();
  });

  for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const) {
    it(`creates, appends and reads with the right ${mechanism} credentials`, async () => {
      const wal = openSasl(mechanism, SASL_USER.password);
      const ch = { topic: newTopic(`sasl-${mechanism}`), partition: 0 };
      await wal.createTopic(ch.topic, 1);
      expect(await wal.append(ch, [{ value: Buffer.from('a') }, { value: Buffer.from('b') }])).toEqual([0, 1]);
      const got: WalRecord[] = [];
      const sub = wal.subscribe(ch, 0, async (records) => {
        got.push(...records);
      });
      await waitFor(() => got.length === 2, 30_000, 'two records through the SASL listener');
      await sub.close();
      expect(got.map((r) => r.value.toString())).toEqual(['a', 'b']);
      await wal.deleteTopic(ch.topic);
    });
  }

  it('refuses a wrong password at once, not retriable, naming the settings', async () => {
    const wal = openSasl('plain', 'not-the-password');
    const started = Date.now();
    const err = await wal.createTopic(newTopic('sasl-wrong'), 1).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ kind: 'ServiceUnavailable', retriable: false });
    expect((err as Error).message).toContain('refused the SASL PLAIN login of user "kite"');
    expect((err as Error).message).toContain('wal.kafkaSaslPassword');
    const appendErr = await wal.append({ topic: 'any', partition: 0 }, [{ value: Buffer.from('x') }]).then(() => undefined, (e: unknown) => e);
    expect(appendErr).toMatchObject({ retriable: false });
    expect((appendErr as Error).message).toContain('wal.kafkaSaslPassword');
    // Refused credentials are not retried until appendTimeoutMs (20 s here).
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('refuses a SCRAM login with a wrong password the same way', async () => {
    const err = await openSasl('scram-sha-256', 'wrong').createTopic(newTopic('scram-wrong'), 1).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ retriable: false });
    expect((err as Error).message).toContain('refused the SASL SCRAM-SHA-256 login');
  });

  it('tells a client without SASL which settings the listener may want', async () => {
    const wal = new KafkaWal({ brokers: kafka.saslBrokers, appendTimeoutMs: 5_000 });
    wals.push(wal);
    const err = await wal.createTopic(newTopic('sasl-none'), 1).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ kind: 'ServiceUnavailable' });
    expect((err as Error).message).toContain('wal.kafkaSecurityProtocol');
  });

  it('refuses a SASL user without a password before connecting', () => {
    expect(() => new KafkaWal({ brokers: kafka.saslBrokers, sasl: { mechanism: 'plain', username: 'kite', password: '' } })).toThrow(/user name and a password/);
  });
});

describe('KafkaWal over an SSL listener that requires client certificates', () => {
  const wals: KafkaWal[] = [];
  const openTls = (ssl: { ca?: Buffer; cert?: Buffer; key?: Buffer }): KafkaWal => {
    const wal = new KafkaWal({ brokers: kafka.sslBrokers, ssl, appendTimeoutMs: 5_000 });
    wals.push(wal);
    return wal;
  };
  afterAll(async () => {
    for (const w of wals) await w.close();
  });

  it('creates, appends and reads with the CA and a client certificate', async () => {
    const wal = openTls({ ca: fs.readFileSync(certs.ca), cert: fs.readFileSync(certs.clientCert), key: fs.readFileSync(certs.clientKey) });
    const ch = { topic: newTopic('tls'), partition: 0 };
    await wal.createTopic(ch.topic, 1);
    expect(await wal.append(ch, [{ value: Buffer.from('secret') }])).toEqual([0]);
    expect((await wal.read(ch, 0, 10)).map((r) => r.value.toString())).toEqual(['secret']);
    await wal.deleteTopic(ch.topic);
  });

  it('fails without a client certificate, and without the CA', async () => {
    await expect(openTls({ ca: fs.readFileSync(certs.ca) }).createTopic(newTopic('tls-nocert'), 1)).rejects.toMatchObject({ kind: 'ServiceUnavailable' });
    await expect(openTls({ cert: fs.readFileSync(certs.clientCert), key: fs.readFileSync(certs.clientKey) }).createTopic(newTopic('tls-noca'), 1)).rejects.toMatchObject({
      kind: 'ServiceUnavailable',
    });
  });
});
