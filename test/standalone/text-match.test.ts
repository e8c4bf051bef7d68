/**
 * Text analysis through the official Node SDK against `bin/kite standalone`: VarChar fields with enable_analyzer /
 * analyzer_params / enable_match (described back as given), text_match and phrase_match filters on growing rows,
 * on flushed segments and on both at once, combined with other conditions, in query and search, checked against
 * a scan of the same rows; RunAnalyzer with built-in, custom and a field's analyzer; and the errors that name the
 * field and the fix.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { createAnalyzer } from '@kite/analyzer';
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { flushAndWait, expectFailure, expectOk, rng } from './helpers';

jest.setTimeout(240_000);

const NAME = 'text_match_docs';
const ENGLISH = { type: 'english' };
const english = createAnalyzer(ENGLISH);
const WORDS = ['machine', 'machines', 'learning', 'learned', 'deep', 'robot', 'robots', 'vector', 'database', 'search', 'the', 'of', 'fast', 'Python', 'data', 'is'];

type Row = {
  id: number;
  doc: string;
  title: string;
  plain: string;
  tag: number;
  vector: number[];
};

function makeRows(from: number, count: number, seed: number): Row[] {
  const next = rng(seed);
  return Array.from({ length: count }, (_, k) => {
    const id = from + k;
    const words = Array.from({ length: 2 + Math.floor(next() * 10) }, () => WORDS[Math.floor(next() * WORDS.length)] as string);
    return { id, doc: words.join(' '), title: `Title ${id}: ${words.slice(0, 2).join(' ').toUpperCase()}`, plain: 'x', tag: id % 7, vector: [next(), next(), next(), next()] };
  });
}

/** The rows whose `doc` holds any of the query's terms (english analyzer). */
function textMatch(rows: Row[], query: string): number[] {
  const want = new Set(english.terms(query));
  return rows.filter((r) => english.terms(r.doc).some((t) => want.has(t))).map((r) => r.id);
}

/** The rows whose `doc` holds the query as a phrase within `slop` (tried over every choice of positions). */
function phraseMatch(rows: Row[], query: string, slop: number): number[] {
  const q = english.termsWithPositions(query);
  if (q.terms.length === 0) return [];
  return rows
    .filter((r) => {
      const d = english.termsWithPositions(r.doc);
      const options = q.terms.map((t, i) => d.terms.flatMap((u, j) => (u === t ? [(d.positions[j] as number) - (q.positions[i] as number)] : [])));
      const chain = (i: number, prev: number): boolean =>
        i === options.length || (options[i] as number[]).some((x) => (i === 0 || (x >= prev && x - prev <= slop)) && chain(i + 1, x));
      return chain(0, 0);
    })
    .map((r) => r.id);
}

let server: Standalone;
let client: MilvusClient;
const all: Row[] = [];

async function queryIds(filter: string): Promise<number[]> {
  const res = await client.query({ collection_name: NAME, filter, output_fields: ['id'], limit: 16384, consistency_level: 'Strong' as never });
  expectOk(res.status, `query(${filter})`);
  return res.data.map((r) => Number(r.id)).sort((a, b) => a - b);
}

/** Every check of the filters against the scan, on whatever rows the collection holds now (`all`). */
async function checkFilters(): Promise<void> {
  for (const q of ['machines', 'robot python', 'Deep learning', 'the of is', 'vectors databases']) {
    expect({ q, ids: await queryIds(`text_match(doc, "${q}")`) }).toEqual({ q, ids: textMatch(all, q) });
  }
  for (const [q, slop] of [['machine learning', 0], ['deep learning', 1], ['vector database search', 2], ['robot data', 0]] as const) {
    expect({ q, slop, ids: await queryIds(`phrase_match(doc, "${q}", ${slop})`) }).toEqual({ q, slop, ids: phraseMatch(all, q, slop) });
  }
  const ml = new Set(textMatch(all, 'machine'));
  const py = new Set(textMatch(all, 'python'));
  const phrase = new Set(phraseMatch(all, 'deep learning', 0));
  expect(await queryIds('text_match(doc, "machine") and tag in [1, 2]')).toEqual(all.filter((r) => ml.has(r.id) && [1, 2].includes(r.tag)).map((r) => r.id));
  expect(await queryIds('not text_match(doc, "machine") or id < 10')).toEqual(all.filter((r) => !ml.has(r.id) || r.id < 10).map((r) => r.id));
  expect(await queryIds('text_match(doc, "python") and not phrase_match(doc, "deep learning")')).toEqual(all.filter((r) => py.has(r.id) && !phrase.has(r.id)).map((r) => r.id));
  // Template parameters carry the text.
  const res = await client.query({ collection_name: NAME, filter: 'text_match(doc, {q})', exprValues: { q: 'robots' }, output_fields: ['id'], limit: 16384, consistency_level: 'Strong' as never });
  expectOk(res.status, 'query with exprValues');
  expect(res.data.map((r) => Number(r.id)).sort((a, b) => a - b)).toEqual(textMatch(all, 'robots'));
  // A search filtered by text: every hit matches, and as many as exist come back (FLAT is exact).
  const want = textMatch(all, 'database');
  const s = await client.search({ collection_name: NAME, data: [[0.5, 0.5, 0.5, 0.5]], anns_field: 'vector', limit: 1000, filter: 'text_match(doc, "database")', output_fields: ['id'], consistency_level: 'Strong' as never });
  expectOk(s.status, 'search with text_match');
  expect(s.results.map((h) => Number(h.id)).sort((a, b) => a - b)).toEqual(want);
}

async function insert(rows: Row[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 200) {
    const res = await client.insert({ collection_name: NAME, data: rows.slice(i, i + 200) });
    expectOk(res.status, `insert ${rows[i]?.id}..`);
  }
  all.push(...rows);
}

async function flush(): Promise<void> {
  await flushAndWait(client, NAME);
}

beforeAll(async () => {
  server = await startStandalone();
  client = new MilvusClient({ address: server.address, timeout: 120_000 });
  await client.connectPromise;
  expectOk(
    await client.createCollection({
      collection_name: NAME,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'doc', data_type: DataType.VarChar, max_length: 2000, enable_analyzer: true, enable_match: true, analyzer_params: ENGLISH },
        { name: 'title', data_type: DataType.VarChar, max_length: 2000, enable_analyzer: true },
        { name: 'plain', data_type: DataType.VarChar, max_length: 100 },
        { name: 'tag', data_type: DataType.Int64 },
        { name: 'vector', data_type: DataType.FloatVector, dim: 4 },
      ],
      consistency_level: 'Strong',
    } as never),
    'createCollection',
  );
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), 'createIndex');
  await client.loadCollectionSync({ collection_name: NAME });
}, 240_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  if (server && !server.running) console.error(`kite standalone is not running at the end of the suite; log tail:\n${server.logTail(6000)}`);
  await server?.dispose();
});

describe('analyzer-enabled VarChar fields', () => {
  test('DescribeCollection returns the type params as given', async () => {
    const d = await client.describeCollection({ collection_name: NAME });
    expectOk(d.status, 'describeCollection');
    const params = (name: string) => Object.fromEntries((d.schema.fields.find((f) => f.name === name)?.type_params ?? []).map((p) => [p.key, p.value]));
    expect(params('doc')).toEqual({ max_length: '2000', enable_analyzer: 'true', enable_match: 'true', analyzer_params: JSON.stringify(ENGLISH) });
    expect(params('title')).toEqual({ max_length: '2000', enable_analyzer: 'true' });
    expect(params('plain')).toEqual({ max_length: '100' });
  });

  test('text_match and phrase_match on growing rows', async () => {
    await insert(makeRows(0, 600, 1));
    await checkFilters();
  });

  test('on flushed segments, then on flushed and growing rows together', async () => {
    await flush();
    await checkFilters();
    await insert(makeRows(600, 300, 2));
    await checkFilters();
    await flush();
    await insert(makeRows(900, 100, 3));
    await checkFilters();
  });

  test('after deletes, also by a text filter', async () => {
    const gone = textMatch(all, 'robot').slice(0, 20);
    expectOk((await client.delete({ collection_name: NAME, filter: `id in [${gone.join(',')}]` })).status, 'delete');
    all.splice(0, all.length, ...all.filter((r) => !gone.includes(r.id)));
    expect(await queryIds('text_match(doc, "robot")')).toEqual(textMatch(all, 'robot'));
    const phrase = new Set(phraseMatch(all, 'deep learning', 0).filter((id) => id < 700));
    expect(phrase.size).toBeGreaterThan(0);
    expectOk((await client.delete({ collection_name: NAME, filter: 'phrase_match(doc, "deep learning") and id < 700' })).status, 'delete by phrase_match');
    all.splice(0, all.length, ...all.filter((r) => !phrase.has(r.id)));
    await checkFilters();
  });

  test('errors name the field and the fix', async () => {
    const plain = await expectFailure('text_match on a field without enable_match', () =>
      client.query({ collection_name: NAME, filter: 'text_match(plain, "x")', output_fields: ['id'], limit: 10 }),
    );
    expect(plain.message).toMatch(/field "plain" does not enable match: text_match needs a VarChar field created with enable_analyzer=True and enable_match=True/);
    const title = await expectFailure('phrase_match on an analyzer field without enable_match', () =>
      client.query({ collection_name: NAME, filter: 'phrase_match(title, "x")', output_fields: ['id'], limit: 10 }),
    );
    expect(title.message).toMatch(/field "title" does not enable match/);
    const slop = await expectFailure('a negative slop', () => client.query({ collection_name: NAME, filter: 'phrase_match(doc, "a b", -1)', output_fields: ['id'], limit: 10 }));
    expect(slop.message).toMatch(/slop .* must be an integer between 0 and/);

    const field = (extra: Record<string, unknown>) => ({
      collection_name: 'text_bad',
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'body', data_type: DataType.VarChar, max_length: 100, ...extra },
        { name: 'vector', data_type: DataType.FloatVector, dim: 4 },
      ],
    });
    const badParams = await expectFailure('bad analyzer_params', () =>
      client.createCollection(field({ enable_analyzer: true, analyzer_params: { tokenizer: 'standard', filter: ['lowercase', { type: 'stemmer', language: 'klingon' }] } }) as never),
    );
    expect(badParams.message).toMatch(/field "body": invalid analyzer_params: stemmer language "klingon" is not supported by Kite; supported languages: arabic/);
    const unknownType = await expectFailure('unknown analyzer type', () => client.createCollection(field({ enable_analyzer: true, analyzer_params: { type: 'klingon' } }) as never));
    expect(unknownType.message).toMatch(/field "body": invalid analyzer_params: unknown built-in analyzer type "klingon"; supported types: standard, english/);
    const noAnalyzer = await expectFailure('enable_match without enable_analyzer', () => client.createCollection(field({ enable_match: true }) as never));
    expect(noAnalyzer.message).toMatch(/field "body" which has enable_match must also enable_analyzer: set enable_analyzer=True/);
    const has = await client.hasCollection({ collection_name: 'text_bad' });
    expect(has.value).toBe(false);
  });
});

describe('RunAnalyzer', () => {
  const run = async (req: Record<string, unknown>) => {
    const res = await client.runAnalyzer(req as never);
    expectOk(res.status, `runAnalyzer(${JSON.stringify(req)})`);
    return res.results;
  };

  test('built-in, custom and default analyzers', async () => {
    const tokens = (r: { tokens: { token: string }[] }[]) => r.map((x) => x.tokens.map((t) => t.token));
    expect(tokens(await run({ text: 'The Quick-Brown Fox!', analyzer_params: { type: 'standard' } }))).toEqual([['the', 'quick', 'brown', 'fox']]);
    expect(tokens(await run({ text: ['The dancing stars were shining', 'Running dogs'], analyzer_params: ENGLISH }))).toEqual([
      ['danc', 'star', 'were', 'shine'],
      ['run', 'dog'],
    ]);
    expect(
      tokens(await run({ text: 'Milvus supports L2 and IP for float vectors', analyzer_params: { tokenizer: 'whitespace', filter: ['lowercase', { type: 'stop', stop_words: ['and', 'for'] }, { type: 'length', max: 6 }] } })),
    ).toEqual([['milvus', 'l2', 'ip', 'float']]);
    expect(tokens(await run({ text: 'Hello World' }))).toEqual([['hello', 'world']]);
  });

  test('with_detail gives UTF-8 byte offsets and positions; with_hash the term ids', async () => {
    const [r] = await run({ text: 'Héllo, 世界 the ok', analyzer_params: ENGLISH, with_detail: true, with_hash: true });
    expect(r?.tokens.map((t) => [t.token, Number(t.start_offset), Number(t.end_offset), Number(t.position), Number(t.position_length)])).toEqual([
      ['héllo', 0, 6, 0, 1],
      ['世界', 8, 14, 1, 1],
      ['ok', 19, 21, 3, 1],
    ]);
    // Milvus's term id: CRC-32 (IEEE) of the token's UTF-8 bytes.
    expect(Number(r?.tokens[2]?.hash)).toBe(0x79dcdd47);
  });

  test("a collection field's analyzer", async () => {
    const [r] = await run({ text: 'The Running Robots', collection_name: NAME, field_name: 'doc' });
    expect(r?.tokens.map((t: { token: string }) => t.token)).toEqual(['run', 'robot']);
    const [t] = await run({ text: 'The Running Robots', collection_name: NAME, field_name: 'title' });
    expect(t?.tokens.map((x: { token: string }) => x.token)).toEqual(['the', 'running', 'robots']);
  });

  test('errors name the key or field and the fix', async () => {
    const bad = await expectFailure('bad params', () => client.runAnalyzer({ text: 'x', analyzer_params: { tokenizer: 'jieba' } } as never));
    expect(bad.message).toMatch(/invalid analyzer_params: tokenizer "jieba" is not supported by Kite; supported tokenizers: standard, whitespace/);
    const plain = await expectFailure('a field without analyzer', () => client.runAnalyzer({ text: 'x', collection_name: NAME, field_name: 'plain' } as never));
    expect(plain.message).toMatch(/field "plain" of collection "text_match_docs" has no analyzer: create it as a VarChar field with enable_analyzer=True/);
    const missing = await expectFailure('a missing field', () => client.runAnalyzer({ text: 'x', collection_name: NAME, field_name: 'nope' } as never));
    expect(missing.message).toMatch(/field "nope" not found in collection "text_match_docs"/);
  });
});
