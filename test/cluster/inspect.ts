/**
 * Reads a running cluster's state from underneath Kite, with the backends' own clients: etcd (sessions, leases,
 * segment records, checkpoints) through `etcd3`, the WAL topics through `kafkajs`, sealed segment files from the
 * object directory, and each query node's served segments through its internal `GetDistribution` RPC.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { Kafka, logLevel } from 'kafkajs';
import { connect, type DistributionResponse } from '@kite/rpc';
import { decodeWalMsg, type SegmentMeta, type WalMsg } from '@kite/segment';

export const ROOT = 'kite';

export interface SessionRecord {
  key: string;
  value: { serverID?: number; role?: string; address?: string; stopping?: boolean; [k: string]: unknown };
  /** The lease id ('0' when the key has none). */
  lease: string;
  /** Remaining seconds of the lease (-1: expired or unknown), its granted TTL, and the keys attached to it. */
  ttl: number;
  grantedTtl: number;
  leaseKeys: string[];
}

export async function withEtcd<T>(endpoints: string[], fn: (etcd: Etcd3) => Promise<T>): Promise<T> {
  const etcd = new Etcd3({ hosts: endpoints, dialTimeout: 5_000 });
  try {
    return await fn(etcd);
  } finally {
    etcd.close();
  }
}

/** Every key under `<root>/session/` with its lease and the lease's remaining TTL. */
export async function readSessions(endpoints: string[]): Promise<SessionRecord[]> {
  return withEtcd(endpoints, async (etcd) => {
    const res = await etcd.getAll().prefix(`${ROOT}/session/`).exec();
    const out: SessionRecord[] = [];
    for (const kv of res.kvs) {
      let ttl = -1;
      let grantedTtl = -1;
      let leaseKeys: string[] = [];
      if (kv.lease && kv.lease !== '0') {
        const t = await etcd.leaseClient.leaseTimeToLive({ ID: kv.lease, keys: true });
        ttl = Number(t.TTL);
        grantedTtl = Number(t.grantedTTL);
        leaseKeys = ((t as unknown as { keys?: Buffer[] }).keys ?? []).map((k) => k.toString());
      }
      let value: SessionRecord['value'] = {};
      try {
        value = JSON.parse(kv.value.toString()) as SessionRecord['value'];
      } catch {
        value = { raw: kv.value.toString() };
      }
      out.push({ key: kv.key.toString(), value, lease: kv.lease, ttl, grantedTtl, leaseKeys });
    }
    return out;
  });
}

/** JSON values under a prefix, keyed by the full key. */
export async function readJsonPrefix<T>(endpoints: string[], prefix: string): Promise<Map<string, T>> {
  return withEtcd(endpoints, async (etcd) => {
    const all = await etcd.getAll().prefix(prefix).strings();
    const out = new Map<string, T>();
    for (const [k, v] of Object.entries(all)) out.set(k, JSON.parse(v) as T);
    return out;
  });
}

/** One JSON value, or undefined when the key is absent. */
export async function readJson<T>(endpoints: string[], key: string): Promise<T | undefined> {
  return withEtcd(endpoints, async (etcd) => {
    const v = await etcd.get(key).string();
    return v === null ? undefined : (JSON.parse(v) as T);
  });
}

/** Segment records of a collection (`kite/meta/segment/<coll>/<seg>`). */
export async function readSegments(endpoints: string[], collectionID: string | number): Promise<SegmentMeta[]> {
  const m = await readJsonPrefix<SegmentMeta>(endpoints, `${ROOT}/meta/segment/${collectionID}/`);
  return [...m.values()];
}

export interface WalInsert {
  partition: number;
  offset: number;
  msg: WalMsg;
}

/**
 * Every message of a WAL topic from the beginning up to the high watermark it had when called, read with a plain
 * kafkajs consumer in a fresh group. Also returns the partition count.
 */
export async function readTopic(brokers: string[], topic: string, timeoutMs = 60_000): Promise<{ partitions: number; messages: WalInsert[] }> {
  const kafka = new Kafka({ clientId: 'kite-cluster-test', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  let offsets: { partition: number; offset: string; high: string; low: string }[];
  try {
    offsets = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect();
  }
  const pending = new Map<number, number>();
  for (const o of offsets) if (Number(o.high) > Number(o.low)) pending.set(o.partition, Number(o.high));
  const messages: WalInsert[] = [];
  if (pending.size === 0) return { partitions: offsets.length, messages };

  const consumer = kafka.consumer({ groupId: `kite-cluster-test-${process.pid}-${Date.now()}`, maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`reading ${topic}: partitions ${[...pending.keys()].join(', ')} not read to their end in ${timeoutMs} ms`)),
        timeoutMs,
      );
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            const offset = Number(message.offset);
            const high = pending.get(partition);
            if (high === undefined || offset >= high) return;
            if (message.value) messages.push({ partition, offset, msg: decodeWalMsg(message.value) });
            if (offset + 1 >= high) pending.delete(partition);
            if (pending.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return { partitions: offsets.length, messages };
}

/** The primary keys an insert or delete message carries, as strings. */
export function pksOf(msg: WalMsg): string[] {
  if (msg.type === 'flush') return [];
  const col = msg.batch.columns.get('$pk');
  if (!col) throw new Error(`a ${msg.type} WAL message without a $pk column`);
  if (col.kind === 'int64') return Array.from(col.data, (v) => v.toString());
  if (col.kind === 'string') return [...col.data];
  throw new Error(`unexpected $pk column kind ${col.kind}`);
}

/** Relative paths of every file under `dir` (recursively), with their sizes. */
export function listFiles(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (sub: string): void => {
    const abs = path.join(dir, sub);
    if (!fs.existsSync(abs)) return;
    for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory()) walk(rel);
      else out.set(rel, fs.statSync(path.join(dir, rel)).size);
    }
  };
  walk('');
  return out;
}

/** A query node's (or data node's) distribution through its internal gRPC API. */
export async function getDistribution(address: string, service: 'QueryNode' | 'DataNode' = 'QueryNode'): Promise<DistributionResponse> {
  const client = connect(service, address, 15_000);
  try {
    return await client.GetDistribution({});
  } finally {
    client.close();
  }
}
