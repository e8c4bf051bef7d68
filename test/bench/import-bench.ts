/**
 * Bulk import benchmark through the official Node SDK: --rows rows (default 1,000,000) of an Int64 primary key and a
 * --dim-dimensional float vector (default 128), written as JSON import files of --file-rows rows each (pymilvus
 * BulkWriter's `{"rows": [...]}` shape) into Kite standalone's object store, imported with bulkInsert and polled with
 * getImportState until Completed; then the same rows inserted through the SDK (insert batches of --batch rows, then
 * flush until sealed and persisted). Both collections have a FLAT index (the data path is timed, not an index build)
 * and segments of 100,000 rows (datanode.segmentMaxRows and bulkImport.segmentMaxRows alike); both are loaded first,
 * and each path's time runs until a Strong count(*) returns every row. Prints rows/s and total time per path. Not a
 * test; prints a table.
 *
 *   test/node_modules/.bin/tsx test/bench/import-bench.ts [--rows 1000000] [--dim 128] [--file-rows 100000] [--batch 10000]
 *
 * It starts `bin/kite standalone` on a temporary data directory and stops it at the end. Every wait is bounded.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { eventually, expectOk, rng } from '../standalone/helpers';
import { benchArgs } from './args';

function readOptions(argv: string[]) {
  const a = benchArgs(argv, { rows: 'int', dim: 'int', 'file-rows': 'int', batch: 'int' }, __filename);
  return { rows: a.rows ?? 1_000_000, dim: a.dim ?? 128, fileRows: a['file-rows'] ?? 100_000, batch: a.batch ?? 10_000 };
}

const SEGMENT_ROWS = 100_000;
const WAIT_MS = 3_600_000;

/** Rows [from, from + n) with vectors from a seeded generator (the same rows for both paths). */
function rows(from: number, n: number, dim: number): { id: number; vector: number[] }[] {
  const next = rng(from + 1);
  return Array.from({ length: n }, (_, i) => ({ id: from + i, vector: Array.from({ length: dim }, () => Math.round((next() * 2 - 1) * 1e4) / 1e4) }));
}

async function create(client: MilvusClient, name: string, dim: number): Promise<void> {
  expectOk(await client.createCollection({
    collection_name: name, consistency_level: 'Strong', shards_num: 1,
    fields: [{ name: 'id', data_type: DataType.Int64, is_primary_key: true }, { name: 'vector', data_type: DataType.FloatVector, dim }],
  }), `create ${name}`);
  expectOk(await client.createIndex({ collection_name: name, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), 'index');
  expectOk(await client.loadCollectionSync({ collection_name: name }), 'load');
}

async function waitCount(client: MilvusClient, name: string, n: number): Promise<void> {
  await eventually(`${name} serves ${n} rows`, async () => {
    const r = await client.query({ collection_name: name, output_fields: ['count(*)'], consistency_level: 'Strong' as never });
    expectOk(r.status, 'count');
    return Number(r.data[0]!['count(*)']) === n ? true : undefined;
  }, WAIT_MS);
}

async function main(): Promise<void> {
  const o = readOptions(process.argv.slice(2));
  let server: Standalone | undefined;
  let client: MilvusClient | undefined;
  try {
    server = await startStandalone({ env: { KITE_BULK_IMPORT_CHECK_INTERVAL_MS: '200', KITE_BULK_IMPORT_SEGMENT_MAX_ROWS: String(SEGMENT_ROWS), KITE_DATANODE_SEGMENT_MAX_ROWS: String(SEGMENT_ROWS) } });
    // Each call is bounded (a call the client never sees answered fails, and the polls try again) rather than
    // waiting out a long timeout.
    client = new MilvusClient({ address: server.address, timeout: 120_000 });
    await client.connectPromise;

    // Files written before timing (a client prepares them before it imports).
    const t0 = performance.now();
    const files: string[] = [];
    for (let from = 0; from < o.rows; from += o.fileRows) {
      const key = `bench-import/rows-${from}.json`;
      const file = path.join(server.dataDir, 'objects', ...key.split('/'));
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, JSON.stringify({ rows: rows(from, Math.min(o.fileRows, o.rows - from), o.dim) }));
      files.push(key);
    }
    const bytes = files.reduce((s, k) => s + fs.statSync(path.join(server!.dataDir, 'objects', ...k.split('/'))).size, 0);
    console.log(`wrote ${files.length} JSON files, ${(bytes / 1e6).toFixed(0)} MB, in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    await create(client, 'bench_import', o.dim);
    const i0 = performance.now();
    const res = await client.bulkInsert({ collection_name: 'bench_import', files });
    expectOk(res.status, 'bulkInsert');
    const task = res.tasks[0]!;
    const done = await eventually('import completed', async () => {
      const s = await client!.getImportState({ task });
      expectOk(s.status, 'getImportState');
      if (s.state === 'ImportFailed') throw new Error(`import failed: ${JSON.stringify(s.infos)}`);
      return s.state === 'ImportCompleted' ? performance.now() : undefined;
    }, WAIT_MS);
    await waitCount(client, 'bench_import', o.rows);
    const i1 = performance.now();

    await create(client, 'bench_insert', o.dim);
    const s0 = performance.now();
    for (let from = 0; from < o.rows; from += o.batch) {
      const r = await client.insert({ collection_name: 'bench_insert', data: rows(from, Math.min(o.batch, o.rows - from), o.dim) as never });
      expectOk(r.status, 'insert');
    }
    const acked = performance.now();
    expectOk((await client.flushSync({ collection_names: ['bench_insert'] })).status, 'flush');
    const flushed = performance.now();
    await waitCount(client, 'bench_insert', o.rows);
    const s1 = performance.now();

    const sec = (ms: number): string => (ms / 1000).toFixed(1);
    const rate = (ms: number): string => Math.round(o.rows / (ms / 1000)).toLocaleString('en-US');
    console.log(`\n${o.rows.toLocaleString('en-US')} rows x ${o.dim}-d float vectors, FLAT index, ${SEGMENT_ROWS.toLocaleString('en-US')}-row segments\n`);
    console.log('| path | until | total s | rows/s |');
    console.log('|---|---|---|---|');
    console.log(`| bulk import (${files.length} JSON files) | task Completed | ${sec(done - i0)} | ${rate(done - i0)} |`);
    console.log(`| bulk import | all rows served (count) | ${sec(i1 - i0)} | ${rate(i1 - i0)} |`);
    console.log(`| SDK insert (batches of ${o.batch}) | inserts acknowledged | ${sec(acked - s0)} | ${rate(acked - s0)} |`);
    console.log(`| SDK insert | flushed (sealed, persisted) | ${sec(flushed - s0)} | ${rate(flushed - s0)} |`);
    console.log(`| SDK insert | all rows served (count) | ${sec(s1 - s0)} | ${rate(s1 - s0)} |`);
    console.log(`\nimport vs insert, all rows served: ${((s1 - s0) / (i1 - i0)).toFixed(2)}x`);
  } finally {
    await client?.closeConnection().catch(() => undefined);
    if (server && !server.running) console.error(`kite standalone died; log tail:\n${server.logTail(4000)}`);
    await server?.dispose();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
