import type { Column } from './columns';

/**
 * Float16 (IEEE 754 binary16) and BFloat16 (the top half of a float32) vectors. Kite stores their values as the
 * client sent them (two little-endian bytes per element) and returns the same bytes; faiss searches float32, so an
 * index or a query is built over the exact float32 value of each element (every float16 and bfloat16 value is a
 * float32 value: the widening loses nothing).
 */
export type HalfType = 'Float16Vector' | 'BFloat16Vector';

export const HALF_TYPES: readonly HalfType[] = ['Float16Vector', 'BFloat16Vector'];

export const isHalfType = (t: string): t is HalfType => t === 'Float16Vector' || t === 'BFloat16Vector';

/** The vector types stored as packed elements: the half-precision ones and Int8Vector (signed bytes). */
export type PackedType = HalfType | 'Int8Vector';

/** Bytes per element of a packed type. */
export const elementBytes = (t: PackedType): number => (t === 'Int8Vector' ? 1 : 2);

/** The float32 value of one float16 bit pattern (exact; NaN and infinities map to NaN and infinities). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float32 value of one bfloat16 bit pattern (exact: the pattern is the float32's high 16 bits). */
export function bf16ToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

/** Widens packed elements (little-endian half-precision, or signed bytes) to their exact float32 values. */
export function halfBytesToF32(type: PackedType, bytes: Uint8Array): Float32Array {
  if (type === 'Int8Vector') return Float32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const n = bytes.length >> 1;
  const out = new Float32Array(n);
  if (type === 'BFloat16Vector') {
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u[i] = (bytes[2 * i]! | (bytes[2 * i + 1]! << 8)) << 16;
  } else {
    for (let i = 0; i < n; i++) out[i] = f16ToF32(bytes[2 * i]! | (bytes[2 * i + 1]! << 8));
  }
  return out;
}

/** The first element of half-precision bytes that is NaN or infinite, or -1. */
export function firstNonFinite(type: HalfType, bytes: Uint8Array): number {
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    const hi = bytes[i + 1]!;
    // float16: exponent bits 14..10 all set; bfloat16: exponent bits 14..7 all set.
    const special = type === 'Float16Vector' ? (hi & 0x7c) === 0x7c : (hi & 0x7f) === 0x7f && (bytes[i]! & 0x80) === 0x80;
    if (special) return i >> 1;
  }
  return -1;
}

/**
 * The float32 vectors of a dense vector column, as faiss takes them: a FloatVector column as it is, a Float16Vector,
 * BFloat16Vector or Int8Vector column widened.
 */
export function floatVectors(c: Column | undefined): Extract<Column, { kind: 'vector' }> {
  if (c?.kind === 'vector') return c;
  if (c?.kind === 'packed') return { kind: 'vector', dim: c.dim, data: halfBytesToF32(c.type, c.data) };
  if (c?.kind === 'binary') throw new Error('a BinaryVector column has no float32 values: search it with a binary index');
  throw new Error(`expected a dense vector column, got ${c?.kind ?? 'none'}`);
}
