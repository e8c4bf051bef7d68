import { bitAnd, bitCount } from './bitmap';

/** Bytes with runs of zeros (whole zero words) and random bits, seeded. */
function bytes(n: number, seed: number): Uint8Array {
  let x = seed;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    out[i] = (i >> 4) % 3 === 0 ? 0 : x & 0xff;
  }
  return out;
}

const naiveCount = (b: Uint8Array): number => b.reduce((s, v) => s + v.toString(2).split('1').length - 1, 0);

test.each([0, 1, 2, 3])('bitCount and bitAnd equal the byte-by-byte result at byte offset %i', (offset) => {
  for (const n of [0, 1, 3, 4, 5, 64, 1001]) {
    const a = bytes(n + offset, 7 + n).subarray(offset);
    const b = bytes(n + 2, 11 + n);
    expect(bitCount(a)).toBe(naiveCount(a));
    const want = Uint8Array.from(a, (v, i) => v & b[i]!);
    expect(Array.from(bitAnd(Uint8Array.from(a), b))).toEqual(Array.from(want));
    expect(Array.from(bitAnd(a.slice(), b.subarray(0, 1)))).toEqual(Array.from(a, (v, i) => (i === 0 ? v & b[0]! : 0)));
  }
});
