/**
 * The harness itself: servers start on loopback, serve, restart on the same ports, and leave no process behind.
 */
import net from 'node:net';
import { Etcd3 } from 'etcd3';
import { Kafka, logLevel } from 'kafkajs';
import { startEtcd, startKafka, makeTempDir, removeTempDir } from './index';

jest.setTimeout(120_000);

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('startEtcd', () => {
  it('serves on loopback, survives restart and kill, and stops its process', async () => {
    const dir = makeTempDir('harness-etcd');
    const t0 = Date.now();
    const etcd = await startEtcd({ dataDir: dir });
    const startMs = Date.now() - t0;
    const client = new Etcd3({ hosts: etcd.endpoints });
    try {
      expect(etcd.endpoints[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      await client.put('k').value('v1');
      const pid = etcd.pid!;
      await etcd.restart();
      expect(alive(pid)).toBe(false);
      expect(await client.get('k').string()).toBe('v1');
      await etcd.kill();
      await etcd.start();
      expect(await client.get('k').string()).toBe('v1');
      const last = etcd.pid!;
      await etcd.stop();
      expect(etcd.running).toBe(false);
      expect(alive(last)).toBe(false);
      console.log(`etcd started in ${startMs} ms`);
    } finally {
      client.close();
      await etcd.kill();
      removeTempDir(dir);
    }
  });
});

describe('startKafka', () => {
  it('serves on loopback, survives restart, and stops its JVM', async () => {
    const dir = makeTempDir('harness-kafka');
    const t0 = Date.now();
    const kafka = await startKafka({ dataDir: dir });
    const startMs = Date.now() - t0;
    const client = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING });
    const admin = client.admin();
    try {
      expect(kafka.brokers[0]).toMatch(/^127\.0\.0\.1:\d+$/);
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: 't', numPartitions: 2 }] });
      const pid = kafka.pid!;
      const t1 = Date.now();
      await kafka.restart();
      const restartMs = Date.now() - t1;
      expect(alive(pid)).toBe(false);
      const meta = await admin.fetchTopicMetadata({ topics: ['t'] });
      expect(meta.topics[0]?.partitions).toHaveLength(2);
      const last = kafka.pid!;
      await kafka.stop();
      expect(alive(last)).toBe(false);
      const port = Number(kafka.brokers[0]!.split(':')[1]);
      const refused = await new Promise<boolean>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port });
        s.once('connect', () => (s.destroy(), resolve(false)));
        s.once('error', () => resolve(true));
      });
      expect(refused).toBe(true);
      console.log(`kafka started in ${startMs} ms, restarted in ${restartMs} ms`);
    } finally {
      await admin.disconnect();
      await kafka.kill();
      removeTempDir(dir);
    }
  });
});
