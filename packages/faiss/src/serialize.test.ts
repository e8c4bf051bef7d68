import { FaissError, VectorIndex, type IndexParams, type IndexType, type MetricType } from './index';
import { clustered, randomBitmap, sequentialIds } from './synthetic';

jest.setTimeout(60_000);

const DIM = 32;
const N = 4000;
const gen = clustered(DIM, 20, 31);
const base = gen.points(N, 32);
const queries = gen.points(40, 33);
const ids = sequentialIds(N);

const CASES: Array<[IndexType, MetricType, IndexParams]> = [
  ['FLAT', 'L2', {}],
  ['HNSW', 'COSINE', { M: 12, efConstruction: 60 }],
  ['IVF_FLAT', 'IP', { nlist: 32 }],
  ['IVF_SQ8', 'L2', { nlist: 32 }],
  ['IVF_PQ', 'COSINE', { nlist: 32, m: 8, nbits: 8 }],
];

async function build(type: IndexType, metric: MetricType, params: IndexParams): Promise<VectorIndex> {
  const index = VectorIndex.create({ indexType: type, metric, dim: DIM, params });
  await index.train(base);
  await index.add(base, ids);
  return index;
}

test.each(CASES)('%s/%s: serialize -> deserialize gives identical results and metadata', async (type, metric, params) => {
  const index = await build(type, metric, params);
  const bits = randomBitmap(N, 0.3, 9);
  const opts = { nprobe: 8, ef: 32 };
  const before = await index.search(queries, 10, opts);
  const beforeFiltered = await index.search(queries, 10, { ...opts, filter: bits });
  const buf = await index.serialize();
  expect(Buffer.isBuffer(buf)).toBe(true);
  const copy = await VectorIndex.deserialize(buf);
  try {
    expect(copy.indexType).toBe(type);
    expect(copy.metric).toBe(metric);
    expect(copy.dim).toBe(DIM);
    expect(copy.params).toEqual(index.params);
    expect(copy.ntotal).toBe(N);
    expect(copy.isTrained).toBe(true);
    expect(copy.memoryUsage()).toBeGreaterThan(0);
    const after = await copy.search(queries, 10, opts);
    expect(Array.from(after.ids)).toEqual(Array.from(before.ids));
    expect(Array.from(after.distances)).toEqual(Array.from(before.distances));
    const afterFiltered = await copy.search(queries, 10, { ...opts, filter: bits });
    expect(Array.from(afterFiltered.ids)).toEqual(Array.from(beforeFiltered.ids));
    // A deserialized index keeps accepting rows.
    await copy.add(base.subarray(0, DIM), new BigInt64Array([BigInt(N)]));
    expect(copy.ntotal).toBe(N + 1);
    index.free();
  } finally {
    copy.free();
  }
});

test('an untrained IVF index round-trips too', async () => {
  const index = VectorIndex.create({ indexType: 'IVF_FLAT', metric: 'L2', dim: DIM, params: { nlist: 16 } });
  const copy = await VectorIndex.deserialize(await index.serialize());
  expect(copy.isTrained).toBe(false);
  expect(copy.params).toEqual({ nlist: 16 });
  await copy.train(base);
  await copy.add(base, ids);
  expect(copy.ntotal).toBe(N);
  index.free();
  copy.free();
});

describe('bad serialized data', () => {
  let good: Buffer;
  beforeAll(async () => {
    const index = await build('HNSW', 'L2', { M: 8, efConstruction: 40 });
    good = await index.serialize();
    index.free();
  });

  async function expectBadData(buf: Uint8Array, message: RegExp) {
    const err = await VectorIndex.deserialize(buf as Buffer).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(FaissError);
    expect((err as FaissError).code).toBe('ERR_FAISS_BAD_DATA');
    expect((err as FaissError).message).toMatch(message);
  }

  test('wrong magic', () => expectBadData(Buffer.from('hello world, not an index'), /magic/));
  test('truncated', () => expectBadData(good.subarray(0, good.length - 100), /truncated/));
  test('padded', () => expectBadData(Buffer.concat([good, Buffer.alloc(3)]), /truncated or padded/));
  test('corrupted payload', () => {
    const bad = Buffer.from(good);
    bad[bad.length - 1000] ^= 0x55;
    return expectBadData(bad, /checksum/);
  });
  test('header names another index type', () => {
    const headerLen = good.readUInt32LE(12);
    const header = JSON.parse(good.toString('utf8', 16, 16 + headerLen)) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...header, indexType: 'FLAT', params: {} }).padEnd(headerLen, ' '));
    expect(forged.length).toBe(headerLen);
    const bad = Buffer.from(good);
    forged.copy(bad, 16);
    return expectBadData(bad, /does not hold a FLAT index/);
  });
  test('header is not JSON', () => {
    const bad = Buffer.from(good);
    bad.write('{{{{', 16);
    return expectBadData(bad, /JSON/);
  });
  test('unsupported version', () => {
    const bad = Buffer.from(good);
    bad.writeUInt32LE(99, 8);
    return expectBadData(bad, /version 99/);
  });
  test('not a buffer', async () => {
    const err = await VectorIndex.deserialize('nope' as unknown as Buffer).catch((e: unknown) => e);
    expect((err as FaissError).code).toBe('ERR_FAISS_BAD_PARAM');
  });
});
