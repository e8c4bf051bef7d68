/**
 * Bulk import through the official Node SDK against Kite standalone: hand-written JSON files (`{"rows": [...]}`, as
 * pymilvus's BulkWriter writes them) in the object store (standalone's local directory, `<data dir>/objects`) are
 * imported with bulkInsert, the task is polled with getImportState until Completed, and the rows are then counted,
 * queried and searched against what was written: primary keys given and auto-assigned, dynamic keys, JSON, a
 * partition key. A bad row fails the task with a message naming the file, the row and the field, and none of the
 * task's rows become visible (also when the bad row is in its second file). A restart of the server right after
 * Import leaves the task to be run again: it completes with every row exactly once.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { dynamicValue, eventually, expectOk, rng } from './helpers';

jest.setTimeout(480_000);

let server: Standalone;
let client: MilvusClient;
const DIM = 8;

beforeAll(async () => {
  server = await startStandalone({ env: { KITE_BULK_IMPORT_CHECK_INTERVAL_MS: '200' } });
  client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;
}, 150_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  if (server && !server.running) console.error(`kite standalone is not running at the end of the suite; log tail:\n${server.logTail(6000)}`);
  await server?.dispose();
});

/** Writes a JSON import file into the standalone object store; returns its object key. */
function writeFile(key: string, rows: unknown[]): string {
  const file = path.join(server.dataDir, 'objects', ...key.split('/'));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ rows }));
  return key;
}

type State = { state: string; row_count: string; infos: { key: string; value: string }[]; id_list: string[] };

const info = (s: State, key: string): string | undefined => s.infos.find((i) => i.key === key)?.value;

/** Polls getImportState until the task is Completed or Failed. */
async function waitDone(task: string, timeoutMs = 180_000): Promise<State> {
  return eventually(`import task ${task} done`, async () => {
    const s = (await client.getImportState({ task: task as unknown as number })) as unknown as State & { status: never };
    expectOk(s.status, 'getImportState');
    return s.state === 'ImportCompleted' || s.state === 'ImportFailed' ? s : undefined;
  }, timeoutMs);
}

async function bulkInsert(collection: string, files: string[], partition?: string): Promise<string> {
  const res = await client.bulkInsert({ collection_name: collection, files, ...(partition ? { partition_name: partition } : {}) });
  expectOk(res.status, 'bulkInsert');
  expect(res.tasks).toHaveLength(1);
  return String(res.tasks[0]);
}

async function count(collection: string): Promise<number> {
  const res = await client.query({ collection_name: collection, output_fields: ['count(*)'], consistency_level: 'Strong' as never });
  expectOk(res.status, 'count');
  return Number(res.data[0]!['count(*)']);
}

/** Waits until a loaded collection serves `n` rows (imported segments are loaded after the task completes). */
async function waitCount(collection: string, n: number): Promise<void> {
  await eventually(`${collection} serves ${n} rows`, async () => ((await count(collection)) === n ? true : undefined), 120_000);
}

type Row = { id: number; vector: number[]; tag: string; score: number; doc: Record<string, unknown>; color?: string };

function makeRows(from: number, n: number, seed: number): Row[] {
  const next = rng(seed);
  return Array.from({ length: n }, (_, i) => ({
    id: from + i,
    vector: Array.from({ length: DIM }, () => Math.fround(next() * 2 - 1)),
    tag: `t${(from + i) % 7}`,
    score: Math.fround(next() * 100),
    doc: { n: from + i, even: (from + i) % 2 === 0 },
    color: ['red', 'green', 'blue'][(from + i) % 3]!,
  }));
}

async function createPlain(name: string): Promise<void> {
  expectOk(await client.createCollection({
    collection_name: name, consistency_level: 'Strong', enable_dynamic_field: true, shards_num: 2,
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true },
      { name: 'vector', data_type: DataType.FloatVector, dim: DIM },
      { name: 'tag', data_type: DataType.VarChar, max_length: 16 },
      { name: 'score', data_type: DataType.Float },
      { name: 'doc', data_type: DataType.JSON },
    ],
  }), `create ${name}`);
  expectOk(await client.createIndex({ collection_name: name, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), 'index');
}

describe('bulk import of JSON files', () => {
  it('imports rows with given keys, JSON and dynamic fields into a loaded collection; count, query and search match the files', async () => {
    const name = 'imp_plain';
    await createPlain(name);
    expectOk(await client.loadCollectionSync({ collection_name: name }), 'load');
    const a = makeRows(0, 1200, 1);
    const b = makeRows(1200, 800, 2);
    // Dynamic keys both ways BulkWriter and hand-written files carry them: as extra keys and under $meta.
    const fileA = writeFile('import/plain/a.json', a.map(({ color, ...r }) => ({ ...r, color })));
    const fileB = writeFile('import/plain/b.json', b.map(({ color, ...r }) => ({ ...r, $meta: { color } })));
    const task = await bulkInsert(name, [fileA, fileB]);
    const done = await waitDone(task);
    expect(info(done, 'failed_reason')).toBe('');
    expect(done.state).toBe('ImportCompleted');
    expect(Number(done.row_count)).toBe(2000);
    expect(info(done, 'progress_percent')).toBe('100');
    expect(info(done, 'collection')).toBe(name);
    await waitCount(name, 2000);

    const all = [...a, ...b];
    const picked = [0, 7, 1199, 1200, 1999].map((i) => all[i]!);
    const q = await client.query({ collection_name: name, filter: `id in [${picked.map((r) => r.id).join(',')}]`, output_fields: ['id', 'tag', 'score', 'doc', 'color', 'vector'], consistency_level: 'Strong' as never });
    expectOk(q.status, 'query');
    expect(q.data).toHaveLength(picked.length);
    for (const want of picked) {
      const got = q.data.find((r) => Number(r.id) === want.id)!;
      expect(got.tag).toBe(want.tag);
      expect(got.score).toBeCloseTo(want.score, 4);
      expect(got.doc).toEqual(want.doc);
      expect(dynamicValue(got, 'color')).toBe(want.color);
      (got.vector as number[]).forEach((v, i) => expect(v).toBeCloseTo(want.vector[i]!, 5));
    }
    const filtered = await client.query({ collection_name: name, filter: 'tag == "t3" and color == "blue"', output_fields: ['id'], consistency_level: 'Strong' as never });
    expect(filtered.data.map((r) => Number(r.id)).sort((x, y) => x - y)).toEqual(all.filter((r) => r.tag === 't3' && r.color === 'blue').map((r) => r.id));
    const s = await client.search({ collection_name: name, data: [all[1500]!.vector], limit: 1, output_fields: ['id'], consistency_level: 'Strong' as never });
    expectOk(s.status, 'search');
    expect(Number(s.results[0]!.id)).toBe(all[1500]!.id);

    const list = await client.listImportTasks({ collection_name: name });
    expectOk(list.status, 'listImportTasks');
    expect((list.tasks as unknown as { id: string; state: string }[]).map((t) => [String(t.id), t.state])).toContainEqual([task, 'ImportCompleted']);
  });

  it('assigns auto ids and routes rows by the partition key; a collection loaded afterwards serves them', async () => {
    const name = 'imp_auto';
    expectOk(await client.createCollection({
      collection_name: name, consistency_level: 'Strong', num_partitions: 4,
      fields: [
        { name: 'pk', data_type: DataType.Int64, is_primary_key: true, autoID: true },
        { name: 'vector', data_type: DataType.FloatVector, dim: DIM },
        { name: 'tenant', data_type: DataType.VarChar, max_length: 32, is_partition_key: true },
        { name: 'n', data_type: DataType.Int32 },
      ],
    }), `create ${name}`);
    expectOk(await client.createIndex({ collection_name: name, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), 'index');
    const next = rng(3);
    const rows = Array.from({ length: 900 }, (_, i) => ({ vector: Array.from({ length: DIM }, () => next()), tenant: `tenant-${i % 5}`, n: i }));
    const task = await bulkInsert(name, [writeFile('import/auto/rows.json', rows)]);
    const done = await waitDone(task);
    expect(info(done, 'failed_reason')).toBe('');
    expect(done.state).toBe('ImportCompleted');
    // id_list holds [first, last] ranges of the ids assigned: 900 of them in all.
    const ranges = done.id_list.map(Number);
    let assigned = 0;
    for (let i = 0; i < ranges.length; i += 2) assigned += ranges[i + 1]! - ranges[i]! + 1;
    expect(assigned).toBe(900);
    expectOk(await client.loadCollectionSync({ collection_name: name }), 'load');
    await waitCount(name, 900);
    // A filter on the partition key reads only the key's partition: on a collection whose rows all came from an
    // import (its delegators never held a growing row).
    const t2 = await client.query({ collection_name: name, filter: 'tenant == "tenant-2"', output_fields: ['pk', 'n'], consistency_level: 'Strong' as never });
    expectOk(t2.status, 'query by partition key');
    expect(t2.data.map((r) => Number(r.n)).sort((x, y) => x - y)).toEqual(rows.map((r, i) => ({ r, i })).filter(({ r }) => r.tenant === 'tenant-2').map(({ i }) => i));
    const ids = t2.data.map((r) => Number(r.pk));
    for (const id of ids) expect(ranges.some((_, i) => i % 2 === 0 && id >= ranges[i]! && id <= ranges[i + 1]!)).toBe(true);
  });

  it('fails a task with a bad row, naming file, row and field, and shows none of its rows', async () => {
    const name = 'imp_bad';
    await createPlain(name);
    expectOk(await client.loadCollectionSync({ collection_name: name }), 'load');
    const good = writeFile('import/bad/good.json', makeRows(0, 300, 4));
    const rows: unknown[] = makeRows(300, 100, 5);
    (rows[37] as Record<string, unknown>).score = 'not a number';
    const bad = writeFile('import/bad/bad.json', rows);
    const task = await bulkInsert(name, [good, bad]);
    const done = await waitDone(task);
    expect(done.state).toBe('ImportFailed');
    const reason = info(done, 'failed_reason')!;
    expect(reason).toContain('import/bad/bad.json');
    expect(reason).toContain('row 37');
    expect(reason).toContain('"score"');

    const wrongDim = makeRows(0, 10, 6).map((r, i) => (i === 4 ? { ...r, vector: r.vector.slice(1) } : r));
    const dimTask = await waitDone(await bulkInsert(name, [writeFile('import/bad/dim.json', wrongDim)]));
    expect(dimTask.state).toBe('ImportFailed');
    expect(info(dimTask, 'failed_reason')).toMatch(/dim\.json", row 4, field "vector".*dim is 8/);

    const missing = makeRows(0, 10, 7).map((r, i) => (i === 9 ? { ...r, tag: undefined } : r));
    const missingTask = await waitDone(await bulkInsert(name, [writeFile('import/bad/missing.json', missing)]));
    expect(info(missingTask, 'failed_reason')).toMatch(/row 9, field "tag".*missing/);
    expect(await count(name)).toBe(0);

    // Refused up front: a file that is neither JSON nor Parquet, an unknown partition.
    const r1 = await client.bulkInsert({ collection_name: name, files: ['import/bad/rows.csv'] });
    expect(r1.status.error_code).not.toBe('Success');
    expect(r1.status.reason).toMatch(/neither \.json nor \.parquet/);
    const r2 = await client.bulkInsert({ collection_name: name, files: [good], partition_name: 'nope' });
    expect(r2.status.reason).toMatch(/partition not found/);
    const r3 = await client.getImportState({ task: 12345 });
    expect(r3.status.reason).toMatch(/import task 12345 not found/);
  });

  it('fails a task whose collection is dropped while it runs', async () => {
    const name = 'imp_dropped';
    await createPlain(name);
    const task = await bulkInsert(name, [writeFile('import/dropped/rows.json', makeRows(0, 30_000, 9))]);
    expectOk(await client.dropCollection({ collection_name: name }), 'drop');
    const done = await waitDone(task);
    expect(done.state).toBe('ImportFailed');
    expect(info(done, 'failed_reason')).toMatch(/imp_dropped was dropped during the import/);
  });

  it('runs a task again after a restart right after Import: every row once', async () => {
    const name = 'imp_restart';
    await createPlain(name);
    const rows = makeRows(0, 60_000, 8);
    const task = await bulkInsert(name, [writeFile('import/restart/rows.json', rows)]);
    await server.restart();
    client = new MilvusClient({ address: server.address, timeout: 60_000 });
    await client.connectPromise;
    const done = await waitDone(task, 300_000);
    expect(info(done, 'failed_reason')).toBe('');
    expect(done.state).toBe('ImportCompleted');
    expect(Number(done.row_count)).toBe(60_000);
    expectOk(await client.loadCollectionSync({ collection_name: name }), 'load');
    await waitCount(name, 60_000);
    const dup = await client.query({ collection_name: name, filter: 'id in [0, 59999]', output_fields: ['id'], consistency_level: 'Strong' as never });
    expect(dup.data).toHaveLength(2);
  });
});
