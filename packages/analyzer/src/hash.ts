import { crc32 } from 'node:zlib';

/**
 * Milvus hashes at most this many leading UTF-8 bytes of a token (typeutil.substringLengthForCRC): longer tokens
 * that share their first 100 bytes map to one term id.
 */
const HASHED_PREFIX_BYTES = 100;
const MAX_UINT32 = 0xffffffff;

/**
 * The uint32 term id of a token, as Milvus computes it (typeutil.HashString2LessUint32, used for BM25's sparse
 * indices and RunAnalyzer's with_hash): CRC-32 (IEEE) of the token's first 100 UTF-8 bytes, modulo 2^32 - 1.
 * node:zlib's crc32 is the IEEE polynomial, the one Go's crc32.ChecksumIEEE uses.
 */
export function termId(token: string): number {
  const bytes = Buffer.from(token, 'utf8');
  const crc = crc32(bytes.length > HASHED_PREFIX_BYTES ? bytes.subarray(0, HASHED_PREFIX_BYTES) : bytes);
  return crc % MAX_UINT32;
}
