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

/** a &= b, in place. */
export function bitAnd(a: Uint8Array, b: Uint8Array): Uint8Array {
  for (let i = 0; i < a.length; i++) a[i]! &= b[i] ?? 0;
  return a;
}

export function bitCount(b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    let v = b[i]!;
    while (v) {
      v &= v - 1;
      n++;
    }
  }
  return n;
}

/** Whether the first n bits are all set. */
export function bitIsFull(b: Uint8Array, n: number): boolean {
  return bitCount(b) === n;
}
