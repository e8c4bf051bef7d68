/** Row bitmaps: bit i (byte i >> 3, bit i & 7, LSB first) set means row i is selected. */

export function bitmapAll(n: number): Uint8Array {
  const b = new Uint8Array((n + 7) >> 3).fill(0xff);
  const rem = n & 7;
  if (rem && b.length) b[b.length - 1] = (1 << rem) - 1;
  return b;
}

export function bitGet(b: Uint8Array, i: number): boolean {
  return ((b[i >> 3]! >> (i & 7)) & 1) === 1;
}

export function bitClear(b: Uint8Array, i: number): void {
  b[i >> 3]! &= ~(1 << (i & 7));
}

export function bitSet(b: Uint8Array, i: number): void {
  b[i >> 3]! |= 1 << (i & 7);
}

/** The whole 32-bit words of a bitmap's bytes, when they start on a 4-byte boundary (typed arrays' buffers do). */
function wordsOf(b: Uint8Array): Uint32Array | undefined {
  return (b.byteOffset & 3) === 0 ? new Uint32Array(b.buffer, b.byteOffset, b.length >>> 2) : undefined;
}

/** a &= b, in place (32 bits at a time where both allow it). */
export function bitAnd(a: Uint8Array, b: Uint8Array): Uint8Array {
  let i = 0;
  const wa = wordsOf(a);
  const wb = b.length >= a.length ? wordsOf(b) : undefined;
  if (wa !== undefined && wb !== undefined) {
    for (let w = 0; w < wa.length; w++) wa[w]! &= wb[w]!;
    i = wa.length << 2;
  }
  for (; i < a.length; i++) a[i]! &= b[i] ?? 0;
  return a;
}

const popcount32 = (x: number): number => {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
};

/** Set bits of a bitmap, 32 at a time (a selective filter's mask is mostly zero words). */
export function bitCount(b: Uint8Array): number {
  let n = 0;
  let i = 0;
  const words = wordsOf(b);
  if (words !== undefined) {
    for (let w = 0; w < words.length; w++) {
      const v = words[w]!;
      if (v !== 0) n += popcount32(v);
    }
    i = words.length << 2;
  }
  for (; i < b.length; i++) n += popcount32(b[i]!);
  return n;
}

/** Whether the first n bits are all set. */
export function bitIsFull(b: Uint8Array, n: number): boolean {
  return bitCount(b) === n;
}
