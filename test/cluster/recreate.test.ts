/**
 * Drop and re-create in cluster mode: the same collection name dropped and created again five times in a row (what
 * LangChain's `drop_old=True`, notebooks and test suites do), each time with inserts, an index, a load, a search and
 * a count. Segments seal every 1,000 rows, so each generation also has the data node flush and index segments, and
 * the shard count alternates between 1 and 2. Each generation gets a new collection ID and Kafka topic and the
 * previous one's topic is deleted, which
 * once left every other process's Kafka clients failing on the deleted topic: the second generation's inserts
 * retried for 30 s and failed, and its load never finished. Every SDK call has a deadline, so a hang fails the test.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { chunks, expectOk, queriesNear } from '../standalone/helpers';
import { KiteCluster } from './launcher';
import { Model, count, createCollection, createHnswIndex, loadAndWait, makeRows, meanRecall, search } from './scenario';

const NAME = 'recreated';
const GENERATIONS = 5;
const ROWS = 3000;
const BATCH = 1000;
/** Rows per sealed segment (KITE_DATANODE_SEGMENT_MAX_ROWS): three segments per generation. */
const SEGMENT_MAX_ROWS = 1000;
/** Deadline of one SDK call (the client's gRPC deadline, and a timer of our own in case the SDK retries past it). */
const CALL_MS = 30_000;
/** Deadline of a load, polled with getLoadState (each poll is a call with CALL_MS). */
const LOAD_MS = 90_000;

jest.setTimeout(GENERATIONS * 150_000);

let cluster: KiteCluster;
let client: MilvusClient;

/** `call`, failed with a message naming `what` if it has not settled after `ms`. */
async function within<T>(what: string, call: Promise<T>, ms = CALL_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([call, expired]);
  } finally {
    clearTimeout(timer);
  }
}

beforeAll(async () => {
  cluster = await KiteCluster.start({ querynodes: 2, datanodes: 1, env: { KITE_DATANODE_SEGMENT_MAX_ROWS: String(SEGMENT_MAX_ROWS) } });
  client = new MilvusClient({ address: cluster.address, timeout: CALL_MS, logLevel: 'info' });
  await within('connect', client.connectPromise);
}, 300_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  await cluster?.dispose();
}, 180_000);

test(`one name dropped and re-created ${GENERATIONS} times: insert, index, load, search and count(*) each time`, async () => {
  const ids = new Set<string>();
  const timings: string[] = [];
  try {
    for (let gen = 1; gen <= GENERATIONS; gen++) {
      const step = (what: string): string => `generation ${gen}: ${what}`;
      const t0 = Date.now();
      expectOk(await within(step('dropCollection'), client.dropCollection({ collection_name: NAME })), step('dropCollection'));
      const id = await within(step('createCollection'), createCollection(client, NAME, gen % 2 === 0 ? 2 : 1));
      expect(ids.has(id)).toBe(false); // a new collection, not the dropped one answering again
      ids.add(id);

      // Ids of their own per generation: a row or hit from an earlier generation would show.
      const model = new Model();
      const rows = makeRows(ROWS, gen * 100_000, gen);
      for (const [i, part] of chunks(rows, BATCH).entries()) {
        const res = await within(step(`insert batch ${i + 1}`), client.insert({ collection_name: NAME, data: part.map((r) => ({ ...r })) }));
        expectOk(res.status, step(`insert batch ${i + 1}`));
        expect(Number(res.insert_cnt)).toBe(part.length);
        model.apply(part);
      }
      await within(step('createIndex'), createHnswIndex(client, NAME));
      await within(step('load'), loadAndWait(client, NAME, 1, LOAD_MS), LOAD_MS + CALL_MS);

      const queries = queriesNear(rows.map((r) => r.vector), 5, 1000 + gen);
      const hits = await within(step('search'), search(client, NAME, queries, 10));
      for (const list of hits) {
        expect(list).toHaveLength(10);
        for (const h of list) expect(model.rows.has(Number(h.id))).toBe(true);
      }
      expect(meanRecall(model, queries, hits, 10)).toBeGreaterThanOrEqual(0.9);
      expect(await within(step('count(*)'), count(client, NAME))).toBe(ROWS);
      timings.push(`generation ${gen}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  } catch (err) {
    // The component logs say which process failed and how (kept with KITE_KEEP_TEST_DATA=1): Kite's own warnings
    // and errors first, then a few of kafkajs's.
    const errors = [...cluster.grepLogs(/"level":(40|50)(?!.*"logger":"kafkajs")/, 15), ...cluster.grepLogs(/"level":(40|50).*"logger":"kafkajs"/, 5)];
    throw new Error(`${(err as Error).message}\nwarnings and errors in the component logs:\n${errors.join('\n')}`);
  } finally {
    console.log(`[recreate] ${timings.join(', ')}`);
  }
});
