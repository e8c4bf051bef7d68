import { KiteError, clip } from '@kite/common';
import type { CollectionMeta } from '@kite/segment';

/** Index types of a SparseFloatVector field (AUTOINDEX resolves to the first). */
export const SPARSE_INDEX_TYPES = ['SPARSE_INVERTED_INDEX', 'SPARSE_WAND'] as const;

/** Whether a field is the output of the collection's BM25 function. */
export function isBm25Output(c: CollectionMeta, field: string): boolean {
  return (c.functions ?? []).some((f) => f.type === 'BM25' && f.outputFieldNames.includes(field));
}

const num = (field: string, name: string, raw: unknown, min: number, max: number, maxOpen: boolean): number => {
  const v = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (!Number.isFinite(v) || v < min || (maxOpen ? v >= max : v > max)) {
    throw new KiteError('IndexNotSupported', `invalid ${name} ${clip(JSON.stringify(raw), 64)} for the index on ${field}: it must be in range [${min}, ${max}${maxOpen ? ')' : ']'}`);
  }
  return v;
};

/**
 * Checks a sparse index's metric and build parameters as Milvus does: IP on a plain SparseFloatVector field, BM25 on
 * a BM25 function's output; drop_ratio_build in [0, 1); bm25_k1 in [0, 3] and bm25_b in [0, 1] (BM25 only, defaults
 * 1.2 and 0.75). Returns the parameters to store, defaults filled in. Unknown keys are refused by name.
 */
export function sparseIndexParams(c: CollectionMeta, field: string, metric: string, user: Record<string, unknown>): Record<string, number> {
  const bm25 = isBm25Output(c, field);
  if (bm25 && metric !== 'BM25') {
    throw new KiteError('IndexNotSupported', `metric type ${clip(metric, 32)} not supported on field ${field}: it is the output of a BM25 function, only metric_type BM25 is supported there`);
  }
  if (!bm25 && metric !== 'IP') {
    throw new KiteError('IndexNotSupported', metric === 'BM25'
      ? `metric type BM25 is only supported on the output field of a BM25 function; ${field} is a plain SparseFloatVector field: use metric_type IP`
      : `metric type ${clip(metric, 32)} not found or not supported for SparseFloatVector field ${field}, supported: [IP]`);
  }
  const out: Record<string, number> = { drop_ratio_build: 0 };
  for (const [k, v] of Object.entries(user)) {
    if (k === 'drop_ratio_build') out.drop_ratio_build = num(field, k, v, 0, 1, true);
    else if (bm25 && k === 'bm25_k1') out.bm25_k1 = num(field, k, v, 0, 3, false);
    else if (bm25 && k === 'bm25_b') out.bm25_b = num(field, k, v, 0, 1, false);
    else if (k === 'inverted_index_algo' || k === 'mmap.enabled') continue;
    else throw new KiteError('IndexNotSupported', `index parameter "${clip(k, 64)}" is not supported for a sparse index on ${field}; supported: drop_ratio_build${bm25 ? ', bm25_k1, bm25_b' : ''}`);
  }
  if (bm25) {
    out.bm25_k1 ??= 1.2;
    out.bm25_b ??= 0.75;
  }
  return out;
}
