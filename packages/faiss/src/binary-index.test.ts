import { BinaryIndex, type BinaryIndexType, type BinaryMetric } from './binary-index';
import { FaissError } from './errors';

/** mulberry32: seeded, so every run sees the same data. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n codes of `bits` bits around a few centres (each bit of a centre flipped with probability 0.1). */
function codes(n: number, bits: number, seed: number): Uint8Array {
  const next = rng(seed);
  const bytes = bits / 8;
  const centres = Array.from({ length: 8 }, () => Uint8Array.from({ length: bytes }, () => Math.floor(next() * 256)));
  const out = new Uint8Array(n * bytes);
  for (let i = 0; i < n; i++) {
    const c = centres[Math.floor(next() * centres.length)]!;
    for (let b = 0; b < bytes; b++) {
      let v = c[b]!;
      for (let bit = 0; bit < 8; bit++) if (next() < 0.1) v ^= 1 << bit;
      out[i * bytes + b] = v;
    }
  }
  return out;
}

const popcount = (x: number): number => {
  let c = 0;
  for (let v = x; v; v &= v - 1) c++;
  return c;
};

/** Milvus's distances, computed here bit by bit. */
function distance(metric: BinaryMetric, a: Uint8Array, b: Uint8Array): number {
  if (metric === 'HAMMING') return a.reduce((s, x, i) => s + popcount(x ^ b[i]!), 0);
  let inter = 0;
  let union = 0;
  a.forEach((x, i) => {
    inter += popcount(x & b[i]!);
    union += popcount(x | b[i]!);
  });
  return union === 0 ? 0 : 1 - inter / union;
}

function bruteForce(metric: BinaryMetric, data: Uint8Array, bytes: number, q: Uint8Array, k: number, keep: (i: number) => boolean): { id: number; d: number }[] {
  const all: { id: number; d: number }[] = [];
  for (let i = 0; i < data.length / bytes; i++) if (keep(i)) all.push({ id: i, d: Math.fround(distance(metric, q, data.subarray(i * bytes, (i + 1) * bytes))) });
  return all.sort((x, y) => x.d - y.d || x.id - y.id).slice(0, k);
}

const bitmap = (n: number, keep: (i: number) => boolean): Uint8Array => {
  const out = new Uint8Array(Math.ceil(n / 8));
  for (let i = 0; i < n; i++) if (keep(i)) out[i >> 3]! |= 1 << (i & 7);
  return out;
};

const N = 2000;
const BITS = 128;
const BYTES = BITS / 8;
const data = codes(N, BITS, 1);
const queries = codes(10, BITS, 2);
const ids = BigInt64Array.from({ length: N }, (_, i) => BigInt(i));

async function built(indexType: BinaryIndexType, metric: BinaryMetric): Promise<BinaryIndex> {
  const idx = BinaryIndex.create({ indexType, metric, dim: BITS, nlist: 16 });
  await idx.train(data);
  await idx.add(data, ids);
  return idx;
}

function expectExact(metric: BinaryMetric, res: { ids: BigInt64Array; distances: Float32Array }, k: number, keep: (i: number) => boolean = () => true): void {
  for (let q = 0; q < res.ids.length / k; q++) {
    const want = bruteForce(metric, data, BYTES, queries.subarray(q * BYTES, (q + 1) * BYTES), k, keep);
    const got = Array.from(res.ids.subarray(q * k, (q + 1) * k), Number).filter((id) => id >= 0);
    expect({ q, ids: got }).toEqual({ q, ids: want.map((w) => w.id) });
    expect(Array.from(res.distances.subarray(q * k, q * k + want.length))).toEqual(want.map((w) => w.d));
  }
}

describe.each(['HAMMING', 'JACCARD'] as const)('%s', (metric) => {
  test.each(['BIN_FLAT', 'BIN_IVF_FLAT'] as const)('%s: exact (IVF with every list probed), with and without a filter', async (indexType) => {
    const idx = await built(indexType, metric);
    try {
      expect(idx.ntotal).toBe(N);
      expectExact(metric, await idx.search(queries, 10, { nprobe: 16 }), 10);
      const keep = (i: number): boolean => i % 7 === 3;
      expectExact(metric, await idx.search(queries, 10, { nprobe: 16, filter: bitmap(N, keep) }), 10, keep);
      // A filter leaving fewer rows than k: the rest of the slots are empty.
      const few = (i: number): boolean => i === 5 || i === 1999;
      const res = await idx.search(queries.subarray(0, BYTES), 4, { nprobe: 16, filter: bitmap(N, few) });
      expect(Array.from(res.ids.subarray(2))).toEqual([-1n, -1n]);
      expect(Array.from(res.distances.subarray(2))).toEqual([Infinity, Infinity]);
      expectExact(metric, res, 4, few);
      // One list probed: the query finds fewer than k allowed rows there and is answered again over every list.
      const sparse = (i: number): boolean => i % 97 === 0;
      expectExact(metric, await idx.search(queries, 30, { nprobe: 1, filter: bitmap(N, sparse) }), 30, sparse);
      // Serialised and read back: the same answers.
      const again = await BinaryIndex.deserialize(await idx.serialize());
      try {
        expect(again.indexType).toBe(indexType);
        expect(again.metric).toBe(metric);
        expect(again.ntotal).toBe(N);
        expectExact(metric, await again.search(queries, 10, { nprobe: 16 }), 10);
      } finally {
        again.free();
      }
    } finally {
      idx.free();
    }
  });
});

test('BIN_IVF_FLAT with few lists probed finds most true neighbours', async () => {
  const idx = await built('BIN_IVF_FLAT', 'HAMMING');
  try {
    const res = await idx.search(queries, 10, { nprobe: 4 });
    let hit = 0;
    for (let q = 0; q < 10; q++) {
      const want = new Set(bruteForce('HAMMING', data, BYTES, queries.subarray(q * BYTES, (q + 1) * BYTES), 10, () => true).map((w) => w.id));
      for (const id of res.ids.subarray(q * 10, (q + 1) * 10)) if (want.has(Number(id))) hit++;
    }
    expect(hit / 100).toBeGreaterThanOrEqual(0.8);
  } finally {
    idx.free();
  }
});

test('bad input is refused with faiss error codes', async () => {
  expect(() => BinaryIndex.create({ indexType: 'BIN_FLAT', metric: 'HAMMING', dim: 12 })).toThrow(/multiple of 8/);
  expect(() => BinaryIndex.create({ indexType: 'BIN_FLAT', metric: 'L2' as BinaryMetric, dim: 16 })).toThrow(/HAMMING or JACCARD/);
  const idx = BinaryIndex.create({ indexType: 'BIN_FLAT', metric: 'HAMMING', dim: 16 });
  await expect(idx.add(new Uint8Array(3), new BigInt64Array(1))).rejects.toThrow(FaissError);
  const ivf = BinaryIndex.create({ indexType: 'BIN_IVF_FLAT', metric: 'HAMMING', dim: 16, nlist: 64 });
  await expect(ivf.train(new Uint8Array(20))).rejects.toThrow(/at least nlist = 64/);
  await expect(BinaryIndex.deserialize(Buffer.from('nonsense, not an index'))).rejects.toThrow(/bad magic/);
  idx.free();
  ivf.free();
  await expect(idx.search(new Uint8Array(2), 1)).rejects.toThrow(/freed/);
});
