/** Stable codes carried by every error this package throws or rejects with (Kite maps them to its own kinds). */
export type FaissErrorCode =
  /** A vector array's length is not a multiple of the index dimension, or dim itself is invalid. */
  | 'ERR_FAISS_DIMENSION'
  /** add/search on an IVF index that has not been trained. */
  | 'ERR_FAISS_NOT_TRAINED'
  /** train on an IVF index that already is. */
  | 'ERR_FAISS_ALREADY_TRAINED'
  /** A bad argument: unknown index type or metric, out-of-range parameter, wrong array type or length, bad k. */
  | 'ERR_FAISS_BAD_PARAM'
  /** deserialize got bytes that are not a serialized VectorIndex (bad magic, truncated, corrupt, mismatched). */
  | 'ERR_FAISS_BAD_DATA'
  /** Any call on a VectorIndex after free(). */
  | 'ERR_FAISS_FREED'
  /** The native addon is missing, or faiss failed in a way none of the above describes. */
  | 'ERR_FAISS_INTERNAL';

/** A plain Error with a `code`; thrown by argument checks in JS and created by the native addon. */
export class FaissError extends Error {
  readonly code: FaissErrorCode;
  constructor(code: FaissErrorCode, message: string) {
    super(message);
    this.name = 'FaissError';
    this.code = code;
  }
}

export function isFaissError(e: unknown): e is Error & { code: FaissErrorCode } {
  // Not `instanceof Error`: errors from the addon may come from another realm (e.g. under jest's vm context).
  if (e === null || typeof e !== 'object') return false;
  const code: unknown = (e as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('ERR_FAISS_');
}
