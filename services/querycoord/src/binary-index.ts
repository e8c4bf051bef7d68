import { KiteError, clip } from '@kite/common';
import { BINARY_INDEX_TYPES, BINARY_METRICS, DEFAULT_BINARY_NLIST } from '@kite/faiss';

/** What AUTOINDEX means on a BinaryVector field, as Milvus resolves it (autoIndex.params.binary.build). */
export const BINARY_AUTOINDEX = { indexType: 'BIN_IVF_FLAT', nlist: 1024 } as const;

/**
 * Checks a BinaryVector index as Milvus does: BIN_FLAT or BIN_IVF_FLAT (or AUTOINDEX), metric HAMMING or JACCARD,
 * nlist in [1, 65536] for BIN_IVF_FLAT. Returns the index type and the parameters to store, defaults filled in.
 */
export function binaryIndexParams(field: string, requested: string, metric: string, user: Record<string, unknown>): { indexType: string; params: Record<string, number> } {
  if (!(BINARY_METRICS as readonly string[]).includes(metric)) {
    throw new KiteError('IndexNotSupported', `metric type ${clip(metric, 32)} not found or not supported for BinaryVector field ${field}, supported: [${BINARY_METRICS.join(' ')}]`);
  }
  const auto = requested === 'AUTOINDEX';
  const indexType = auto ? BINARY_AUTOINDEX.indexType : requested;
  if (!(BINARY_INDEX_TYPES as readonly string[]).includes(indexType)) {
    throw new KiteError('IndexNotSupported', `index_type "${clip(requested, 64)}" is not supported for BinaryVector field ${field}; use one of ${[...BINARY_INDEX_TYPES, 'AUTOINDEX'].join(', ')}`);
  }
  if (indexType === 'BIN_FLAT') return { indexType, params: {} };
  const raw = user.nlist ?? (auto ? BINARY_AUTOINDEX.nlist : DEFAULT_BINARY_NLIST);
  const nlist = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (!Number.isInteger(nlist) || nlist < 1 || nlist > 65536) {
    throw new KiteError('IndexNotSupported', `invalid nlist ${clip(JSON.stringify(raw), 64)} for the BIN_IVF_FLAT index on ${field}: it must be an integer in range [1, 65536]`);
  }
  return { indexType, params: { nlist } };
}
