import {
  DEFAULT_EF_CONSTRUCTION, DEFAULT_HNSW_M, DEFAULT_NBITS, DEFAULT_NLIST, FaissError, parseIntParam,
  validateIndexParams, validateSearchParams,
} from './index';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FaissError);
    return (e as FaissError).code;
  }
  return undefined;
}

describe('validateIndexParams', () => {
  test('reads numbers and numeric strings as the SDKs send them', () => {
    expect(validateIndexParams('IVF_FLAT', 128, { nlist: '1024' })).toEqual({ nlist: 1024 });
    expect(validateIndexParams('IVF_SQ8', 128, { nlist: 64 })).toEqual({ nlist: 64 });
    expect(validateIndexParams('IVF_PQ', 128, { nlist: ' 256 ', m: '16', nbits: 8 })).toEqual({ nlist: 256, m: 16, nbits: 8 });
    expect(validateIndexParams('HNSW', 768, { M: '48', efConstruction: '500' })).toEqual({ M: 48, efConstruction: 500 });
  });

  test('fills Milvus defaults and ignores keys that do not apply', () => {
    expect(validateIndexParams('IVF_FLAT', 8, {})).toEqual({ nlist: DEFAULT_NLIST });
    expect(validateIndexParams('IVF_PQ', 8, { m: 4 })).toEqual({ nlist: DEFAULT_NLIST, m: 4, nbits: DEFAULT_NBITS });
    expect(validateIndexParams('HNSW', 8, { metric_type: 'L2', nlist: 5 })).toEqual({
      M: DEFAULT_HNSW_M, efConstruction: DEFAULT_EF_CONSTRUCTION,
    });
    expect(validateIndexParams('FLAT', 8, { nlist: 'whatever' })).toEqual({});
  });

  test('rejects out-of-range and malformed values with the field name', () => {
    const cases: Array<[Parameters<typeof validateIndexParams>, RegExp]> = [
      [['IVF_FLAT', 8, { nlist: 0 }], /nlist must be in \[1, 65536\], got 0/],
      [['IVF_FLAT', 8, { nlist: 65537 }], /nlist must be in/],
      [['IVF_FLAT', 8, { nlist: '12.5' }], /nlist must be an integer, got "12.5"/],
      [['IVF_FLAT', 8, { nlist: 'abc' }], /nlist must be an integer/],
      [['IVF_FLAT', 8, { nlist: 3.5 }], /nlist must be an integer, got 3.5/],
      [['IVF_FLAT', 8, { nlist: true }], /nlist must be an integer, got true/],
      [['IVF_PQ', 128, {}], /IVF_PQ needs m/],
      [['IVF_PQ', 128, { m: 7 }], /m must divide dim 128, got m=7/],
      [['IVF_PQ', 128, { m: 256 }], /m must be in \[1, 128\]/],
      [['IVF_PQ', 128, { m: 8, nbits: 0 }], /nbits must be in \[1, 16\]/],
      [['IVF_PQ', 128, { m: 8, nbits: '17' }], /nbits must be in \[1, 16\], got 17/],
      [['HNSW', 8, { M: 1 }], /M must be in \[2, 2048\]/],
      [['HNSW', 8, { M: 4096 }], /M must be in/],
      [['HNSW', 8, { efConstruction: 0 }], /efConstruction must be in/],
      [['HNSW', 8, { efConstruction: '-5' }], /efConstruction must be in/],
    ];
    for (const [args, message] of cases) {
      expect(() => validateIndexParams(...args)).toThrow(message);
      expect(codeOf(() => validateIndexParams(...args))).toBe('ERR_FAISS_BAD_PARAM');
    }
  });

  test('rejects unknown index types and bad dims', () => {
    expect(codeOf(() => validateIndexParams('DISKANN' as 'FLAT', 8, {}))).toBe('ERR_FAISS_BAD_PARAM');
    expect(codeOf(() => validateIndexParams('FLAT', 0, {}))).toBe('ERR_FAISS_DIMENSION');
    expect(codeOf(() => validateIndexParams('FLAT', 32769, {}))).toBe('ERR_FAISS_DIMENSION');
  });
});

describe('validateSearchParams', () => {
  test('nprobe for IVF, ef for HNSW, nothing for FLAT', () => {
    expect(validateSearchParams('IVF_PQ', 10, { nprobe: '32' })).toEqual({ nprobe: 32 });
    expect(validateSearchParams('IVF_FLAT', 10, {})).toEqual({});
    expect(validateSearchParams('HNSW', 10, { ef: '64', nprobe: 3 })).toEqual({ ef: 64 });
    expect(validateSearchParams('FLAT', 10, { ef: 5 })).toEqual({});
  });
  test('ranges', () => {
    expect(() => validateSearchParams('IVF_FLAT', 10, { nprobe: 0 })).toThrow(/nprobe must be in \[1, 65536\]/);
    expect(() => validateSearchParams('HNSW', 10, { ef: 5 })).toThrow(/ef \(5\) must be >= topk \(10\)/);
    expect(() => validateSearchParams('HNSW', 10, { ef: 40000 })).toThrow(/ef must be in \[1, 32768\]/);
    expect(() => validateSearchParams('HNSW', 0, {})).toThrow(/k must be an integer/);
  });
});

test('parseIntParam treats absent values as absent', () => {
  expect(parseIntParam('x', undefined, 1, 2)).toBeUndefined();
  expect(parseIntParam('x', null, 1, 2)).toBeUndefined();
  expect(parseIntParam('x', '', 1, 2)).toBeUndefined();
  expect(parseIntParam('x', '+2', 1, 2)).toBe(2);
  expect(parseIntParam('x', 2n, 1, 2)).toBe(2);
});
