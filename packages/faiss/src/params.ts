import { FaissError } from './errors';

export type MetricType = 'L2' | 'IP' | 'COSINE';
export type IndexType = 'FLAT' | 'IVF_FLAT' | 'IVF_SQ8' | 'IVF_PQ' | 'HNSW';

/** Build parameters, with Milvus's names. Which ones apply depends on the index type. */
export interface IndexParams {
  /** IVF_*: number of inverted lists (coarse clusters). */
  nlist?: number;
  /** IVF_PQ: number of sub-quantizers; must divide dim. */
  m?: number;
  /** IVF_PQ: bits per sub-quantizer code. */
  nbits?: number;
  /** HNSW: graph degree (layer 0 keeps 2*M links per node). */
  M?: number;
  /** HNSW: beam width while building. */
  efConstruction?: number;
}

export interface SearchOptions {
  /** IVF_*: inverted lists probed per query (default DEFAULT_NPROBE, clamped to nlist). */
  nprobe?: number;
  /** HNSW: beam width (default max(k, 16); values below k act as k). */
  ef?: number;
  /** bitmap over ids: bit i (byte i>>3, bit i&7, LSB first) set => id i allowed */
  filter?: Uint8Array;
}

export const INDEX_TYPES: readonly IndexType[] = ['FLAT', 'IVF_FLAT', 'IVF_SQ8', 'IVF_PQ', 'HNSW'];
export const METRIC_TYPES: readonly MetricType[] = ['L2', 'IP', 'COSINE'];

/** Milvus's limits. */
export const MAX_DIM = 32768;
export const MAX_TOPK = 16384;
export const MAX_NLIST = 65536;
export const MAX_NPROBE = 65536;
export const MAX_EF = 32768;
export const MIN_HNSW_M = 2;
export const MAX_HNSW_M = 2048;
export const MAX_EF_CONSTRUCTION = 2 ** 31 - 1;

/** Defaults used when a parameter is absent (Milvus's defaults). */
export const DEFAULT_NLIST = 128;
export const DEFAULT_NBITS = 8;
export const DEFAULT_HNSW_M = 30;
export const DEFAULT_EF_CONSTRUCTION = 360;
export const DEFAULT_NPROBE = 8;
export const DEFAULT_MIN_EF = 16;

export function isIndexType(v: unknown): v is IndexType {
  return typeof v === 'string' && (INDEX_TYPES as readonly string[]).includes(v);
}

export function isMetricType(v: unknown): v is MetricType {
  return typeof v === 'string' && (METRIC_TYPES as readonly string[]).includes(v);
}

export function checkIndexType(v: unknown): IndexType {
  if (!isIndexType(v)) {
    throw new FaissError('ERR_FAISS_BAD_PARAM', `unknown index type ${JSON.stringify(v)}: expected one of ${INDEX_TYPES.join(', ')}`);
  }
  return v;
}

export function checkMetric(v: unknown): MetricType {
  if (!isMetricType(v)) {
    throw new FaissError('ERR_FAISS_BAD_PARAM', `unknown metric ${JSON.stringify(v)}: expected one of ${METRIC_TYPES.join(', ')}`);
  }
  return v;
}

export function checkDim(dim: unknown): number {
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1 || dim > MAX_DIM) {
    throw new FaissError('ERR_FAISS_DIMENSION', `dim must be an integer in [1, ${MAX_DIM}], got ${String(dim)}`);
  }
  return dim;
}

/**
 * Reads an integer the way the SDKs send it: a number, or a string of decimal digits ("128", " 16 ").
 * Returns undefined when absent (undefined, null or empty string).
 */
export function parseIntParam(name: string, raw: unknown, min: number, max: number): number | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  let value: number;
  if (typeof raw === 'number') {
    value = raw;
  } else if (typeof raw === 'string' && /^\s*[+-]?\d+\s*$/.test(raw)) {
    value = Number(raw.trim());
  } else if (typeof raw === 'bigint') {
    value = Number(raw);
  } else {
    throw new FaissError('ERR_FAISS_BAD_PARAM', `${name} must be an integer, got ${JSON.stringify(raw)}`);
  }
  if (!Number.isInteger(value)) {
    throw new FaissError('ERR_FAISS_BAD_PARAM', `${name} must be an integer, got ${String(raw)}`);
  }
  if (value < min || value > max) {
    throw new FaissError('ERR_FAISS_BAD_PARAM', `${name} must be in [${min}, ${max}], got ${value}`);
  }
  return value;
}

/**
 * Parses Milvus index (build) params as the SDKs send them (strings or numbers) and validates ranges.
 * Keys that do not apply to the index type (e.g. metric_type, or nlist for HNSW) are ignored, as Milvus does.
 * Absent parameters get Milvus's defaults, except IVF_PQ's `m`, which has none and must be given.
 */
export function validateIndexParams(indexType: IndexType, dim: number, params: Record<string, unknown>): IndexParams {
  checkIndexType(indexType);
  checkDim(dim);
  const p = params ?? {};
  if (typeof p !== 'object') {
    throw new FaissError('ERR_FAISS_BAD_PARAM', `index params must be an object, got ${typeof p}`);
  }
  switch (indexType) {
    case 'FLAT':
      return {};
    case 'IVF_FLAT':
    case 'IVF_SQ8':
      return { nlist: parseIntParam('nlist', p['nlist'], 1, MAX_NLIST) ?? DEFAULT_NLIST };
    case 'IVF_PQ': {
      const nlist = parseIntParam('nlist', p['nlist'], 1, MAX_NLIST) ?? DEFAULT_NLIST;
      const m = parseIntParam('m', p['m'], 1, dim);
      if (m === undefined) {
        throw new FaissError('ERR_FAISS_BAD_PARAM', `IVF_PQ needs m (number of sub-quantizers, a divisor of dim ${dim})`);
      }
      if (dim % m !== 0) {
        throw new FaissError('ERR_FAISS_BAD_PARAM', `IVF_PQ m must divide dim ${dim}, got m=${m}`);
      }
      const nbits = parseIntParam('nbits', p['nbits'], 1, 16) ?? DEFAULT_NBITS;
      return { nlist, m, nbits };
    }
    case 'HNSW':
      return {
        M: parseIntParam('M', p['M'], MIN_HNSW_M, MAX_HNSW_M) ?? DEFAULT_HNSW_M,
        efConstruction: parseIntParam('efConstruction', p['efConstruction'], 1, MAX_EF_CONSTRUCTION) ?? DEFAULT_EF_CONSTRUCTION,
      };
  }
}

/**
 * Parses Milvus search params (`{nprobe}` for IVF, `{ef}` for HNSW; strings or numbers) for a search with top `k`.
 * Milvus's ranges: nprobe in [1, 65536], ef in [k, 32768]. Other keys are ignored.
 */
export function validateSearchParams(indexType: IndexType, k: number, params: Record<string, unknown>): SearchOptions {
  checkIndexType(indexType);
  checkTopK(k);
  const p = params ?? {};
  switch (indexType) {
    case 'IVF_FLAT':
    case 'IVF_SQ8':
    case 'IVF_PQ': {
      const nprobe = parseIntParam('nprobe', p['nprobe'], 1, MAX_NPROBE);
      return nprobe === undefined ? {} : { nprobe };
    }
    case 'HNSW': {
      const ef = parseIntParam('ef', p['ef'], 1, MAX_EF);
      if (ef !== undefined && ef < k) {
        throw new FaissError('ERR_FAISS_BAD_PARAM', `ef (${ef}) must be >= topk (${k}); raise ef or lower limit`);
      }
      return ef === undefined ? {} : { ef };
    }
    case 'FLAT':
      return {};
  }
}

export function checkTopK(k: unknown): number {
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > MAX_TOPK) {
    throw new FaissError('ERR_FAISS_BAD_PARAM', `k must be an integer in [1, ${MAX_TOPK}], got ${String(k)}`);
  }
  return k;
}

/** Fills defaults into params given to VectorIndex.create (numbers only; use validateIndexParams for SDK input). */
export function resolveIndexParams(indexType: IndexType, dim: number, params: IndexParams | undefined): IndexParams {
  return validateIndexParams(indexType, dim, { ...(params ?? {}) });
}
