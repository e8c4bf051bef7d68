// Every bad input gets an Error with a code and a message naming the cause; none crashes the process.
import { FaissError, VectorIndex, type FaissErrorCode } from './index';
import { loadAddon } from './native';
import { clustered, sequentialIds } from './synthetic';

jest.setTimeout(60_000);

const DIM = 16;
const gen = clustered(DIM, 8, 41);
const base = gen.points(1000, 42);
const ids = sequentialIds(1000);

async function rejection(p: Promise<unknown> | (() => Promise<unknown>)): Promise<FaissError> {
  const promise = typeof p === 'function' ? p() : p;
  const err = await promise.then(() => undefined, (e: unknown) => e);
  if (err === undefined) throw new Error('expected a rejection');
  return err as FaissError;
}

function thrown(fn: () => unknown): FaissError {
  try {
    fn();
  } catch (e) {
    return e as FaissError;
  }
  throw new Error('expected a throw');
}

function expectCode(err: unknown, code: FaissErrorCode, message: RegExp) {
  expect(err).toBeInstanceOf(Error);
  expect(err).toBeInstanceOf(FaissError);
  expect((err as FaissError).code).toBe(code);
  expect((err as FaissError).message).toMatch(message);
}

describe('create', () => {
  test('unknown index type or metric', () => {
    expectCode(thrown(() => VectorIndex.create({ indexType: 'ANNOY' as 'FLAT', metric: 'L2', dim: 4 })), 'ERR_FAISS_BAD_PARAM', /unknown index type "ANNOY"/);
    expectCode(thrown(() => VectorIndex.create({ indexType: 'FLAT', metric: 'HAMMING' as 'L2', dim: 4 })), 'ERR_FAISS_BAD_PARAM', /unknown metric "HAMMING"/);
    expectCode(thrown(() => VectorIndex.create(undefined as unknown as { indexType: 'FLAT'; metric: 'L2'; dim: 1 })), 'ERR_FAISS_BAD_PARAM', /indexType/);
  });
  test('bad dim', () => {
    for (const dim of [0, -3, 1.5, NaN, 40000]) {
      expectCode(thrown(() => VectorIndex.create({ indexType: 'FLAT', metric: 'L2', dim })), 'ERR_FAISS_DIMENSION', /dim must be/);
    }
  });
  test('bad build params', () => {
    expectCode(thrown(() => VectorIndex.create({ indexType: 'IVF_FLAT', metric: 'L2', dim: 8, params: { nlist: 0 } })), 'ERR_FAISS_BAD_PARAM', /nlist/);
    expectCode(thrown(() => VectorIndex.create({ indexType: 'IVF_PQ', metric: 'L2', dim: 8, params: { m: 3 } })), 'ERR_FAISS_BAD_PARAM', /m must divide dim 8/);
    expectCode(thrown(() => VectorIndex.create({ indexType: 'IVF_PQ', metric: 'L2', dim: 8, params: {} })), 'ERR_FAISS_BAD_PARAM', /IVF_PQ needs m/);
    expectCode(thrown(() => VectorIndex.create({ indexType: 'IVF_PQ', metric: 'L2', dim: 8, params: { m: 2, nbits: 17 } })), 'ERR_FAISS_BAD_PARAM', /nbits/);
    expectCode(thrown(() => VectorIndex.create({ indexType: 'HNSW', metric: 'L2', dim: 8, params: { M: 1 } })), 'ERR_FAISS_BAD_PARAM', /M must be in/);
    expectCode(thrown(() => VectorIndex.create({ indexType: 'HNSW', metric: 'L2', dim: 8, params: { efConstruction: 2.5 } })), 'ERR_FAISS_BAD_PARAM', /efConstruction must be an integer/);
  });
});

describe('train / add / search arguments', () => {
  let flat: VectorIndex;
  let ivf: VectorIndex;
  beforeAll(() => {
    flat = VectorIndex.create({ indexType: 'FLAT', metric: 'L2', dim: DIM });
    ivf = VectorIndex.create({ indexType: 'IVF_PQ', metric: 'L2', dim: DIM, params: { nlist: 16, m: 4 } });
  });
  afterAll(() => {
    flat.free();
    ivf.free();
  });

  test('wrong dimension', async () => {
    expectCode(await rejection(flat.add(new Float32Array(DIM + 1), new BigInt64Array(1))), 'ERR_FAISS_DIMENSION', /length 17 is not a multiple of dim 16/);
    expectCode(await rejection(flat.search(new Float32Array(DIM * 2 - 1), 1)), 'ERR_FAISS_DIMENSION', /queries length 31/);
    expectCode(await rejection(ivf.train(new Float32Array(7))), 'ERR_FAISS_DIMENSION', /vectors length 7/);
  });

  test('wrong array types', async () => {
    expectCode(await rejection(flat.add([1, 2] as unknown as Float32Array, ids)), 'ERR_FAISS_BAD_PARAM', /vectors must be a Float32Array \(got Array\)/);
    expectCode(await rejection(flat.add(new Float64Array(DIM) as unknown as Float32Array, ids)), 'ERR_FAISS_BAD_PARAM', /Float32Array \(got Float64Array\)/);
    expectCode(await rejection(flat.add(new Float32Array(DIM), [0n] as unknown as BigInt64Array)), 'ERR_FAISS_BAD_PARAM', /ids must be a BigInt64Array/);
    expectCode(await rejection(flat.search(new Float32Array(DIM), 1, { filter: [1] as unknown as Uint8Array })), 'ERR_FAISS_BAD_PARAM', /filter must be a Uint8Array/);
  });

  test('ids that do not fit', async () => {
    expectCode(await rejection(flat.add(new Float32Array(DIM * 2), new BigInt64Array(3))), 'ERR_FAISS_BAD_PARAM', /ids length 3 does not match the number of vectors 2/);
    expectCode(await rejection(flat.add(new Float32Array(DIM), new BigInt64Array([-5n]))), 'ERR_FAISS_BAD_PARAM', /ids must be >= 0/);
    expect(flat.ntotal).toBe(0);
  });

  test('bad k and search params', async () => {
    await flat.add(base, ids);
    for (const k of [0, -1, 2.5, NaN, 100000]) {
      expectCode(await rejection(flat.search(new Float32Array(DIM), k)), 'ERR_FAISS_BAD_PARAM', /k must be an integer/);
    }
    expectCode(await rejection(flat.search(new Float32Array(DIM), 1, { nprobe: 0 })), 'ERR_FAISS_BAD_PARAM', /nprobe/);
    expectCode(await rejection(flat.search(new Float32Array(DIM), 1, { ef: -4 })), 'ERR_FAISS_BAD_PARAM', /ef/);
  });

  test('untrained IVF', async () => {
    expect(ivf.isTrained).toBe(false);
    expectCode(await rejection(ivf.add(base, ids)), 'ERR_FAISS_NOT_TRAINED', /IVF_PQ index must be trained before add/);
    expectCode(await rejection(ivf.search(base.subarray(0, DIM), 3)), 'ERR_FAISS_NOT_TRAINED', /must be trained before search/);
  });

  test('too little training data, then training twice', async () => {
    expectCode(await rejection(ivf.train(base.subarray(0, 100 * DIM))), 'ERR_FAISS_BAD_PARAM', /at least 256 vectors \(2\^nbits=256\), got 100/);
    await ivf.train(base);
    expect(ivf.isTrained).toBe(true);
    expectCode(await rejection(ivf.train(base)), 'ERR_FAISS_ALREADY_TRAINED', /already trained/);
    await ivf.add(base, ids);
    expect(ivf.ntotal).toBe(1000);
  });
});

test('every call after free() throws ERR_FAISS_FREED; free() twice is fine', async () => {
  const index = VectorIndex.create({ indexType: 'HNSW', metric: 'L2', dim: DIM });
  await index.add(base, ids);
  index.free();
  index.free();
  expect(index.isFreed).toBe(true);
  expectCode(thrown(() => index.ntotal), 'ERR_FAISS_FREED', /freed/);
  expectCode(thrown(() => index.isTrained), 'ERR_FAISS_FREED', /freed/);
  expectCode(thrown(() => index.memoryUsage()), 'ERR_FAISS_FREED', /freed/);
  expectCode(await rejection(() => index.search(base.subarray(0, DIM), 1)), 'ERR_FAISS_FREED', /freed/);
  expectCode(await rejection(() => index.add(base, ids)), 'ERR_FAISS_FREED', /freed/);
  expectCode(await rejection(() => index.train(base)), 'ERR_FAISS_FREED', /freed/);
  expectCode(await rejection(() => index.serialize()), 'ERR_FAISS_FREED', /freed/);
});

test('the native layer rejects garbage on its own (no crash when the TS checks are bypassed)', async () => {
  const addon = loadAddon();
  const codeOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return (e as { code?: string }).code;
    }
    return 'no error';
  };
  expect(codeOf(() => addon.NativeIndex.create('FLAT', 'L2', -1, {}))).toBe('ERR_FAISS_BAD_PARAM');
  expect(codeOf(() => addon.NativeIndex.create(1 as unknown as string, 'L2', 4, {}))).toBe('ERR_FAISS_BAD_PARAM');
  expect(codeOf(() => addon.NativeIndex.create('IVF_PQ', 'L2', 8, { m: 3 }))).toBe('ERR_FAISS_BAD_PARAM');
  expect(codeOf(() => addon.NativeIndex.create('HNSW', 'L2', 8, { M: 'x' as unknown as number }))).toBe('ERR_FAISS_BAD_PARAM');
  const h = addon.NativeIndex.create('FLAT', 'L2', 4, {});
  const out = () => [new Float32Array(2), new BigInt64Array(2)] as const;
  expect(codeOf(() => h.search(new Float32Array(4), 2, 1, 0, null, ...out()).catch(() => undefined))).toBe('no error');
  expect(codeOf(() => h.search(new Float32Array(4), 3, 1, 0, null, ...out()))).toBe('ERR_FAISS_BAD_PARAM');
  expect(codeOf(() => h.search(new Float32Array(3), 2, 1, 0, null, ...out()))).toBe('ERR_FAISS_DIMENSION');
  expect(codeOf(() => h.search(new Float32Array(4), -2, 1, 0, null, ...out()))).toBe('ERR_FAISS_BAD_PARAM');
  expect(codeOf(() => h.search(new Float32Array(4), 2, 1, 0, 'bits' as unknown as Uint8Array, ...out()))).toBe('ERR_FAISS_BAD_PARAM');
  expect(codeOf(() => (h.search as unknown as () => void)())).toBe('ERR_FAISS_BAD_PARAM');
  expect(codeOf(() => h.add(new Float32Array(4), new BigInt64Array(2)))).toBe('ERR_FAISS_BAD_PARAM');
  expect(codeOf(() => (h.add as unknown as (a: unknown, b: unknown) => void)({}, null))).toBe('ERR_FAISS_BAD_PARAM');
  expect(codeOf(() => addon.NativeIndex.deserialize('FLAT', 'L2', 4, {}, new Uint8Array(3), 0))).toBe('ERR_FAISS_BAD_DATA');
  expect(codeOf(() => addon.NativeIndex.deserialize('FLAT', 'L2', 4, {}, new Uint8Array(30), 31))).toBe('ERR_FAISS_BAD_PARAM');
  h.free();
  expect(codeOf(() => h.ntotal())).toBe('ERR_FAISS_FREED');
});
