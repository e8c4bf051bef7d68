import { KiteError } from '@kite/common';
import { fieldDataToColumn, firstNonFiniteFloat32, type WireFieldData } from './fielddata';
import type { FieldMeta } from './meta';

const vectorField: FieldMeta = {
  fieldID: 101, name: 'vec', dataType: 'FloatVector', isPrimaryKey: false, autoID: false, description: '',
  typeParams: { dim: '4' }, isDynamic: false, isPartitionKey: false, nullable: false,
};
const wire = (data: Float32Array | number[]): WireFieldData => ({
  type: 'FloatVector', field_name: 'vec', vectors: { dim: 4, data: 'float_vector', float_vector: { data } },
});
/** The check as it was: Number.isFinite on each value. */
const reference = (f: Float32Array): number => f.findIndex((v) => !Number.isFinite(v));

/** A float32 from its bit pattern. */
const fromBits = (u: number): number => new Float32Array(Uint32Array.of(u).buffer)[0]!;

describe('firstNonFiniteFloat32', () => {
  const specials = [NaN, Infinity, -Infinity, fromBits(0x7fc00001), fromBits(0xffffffff), fromBits(0x7f800001)];
  const finite = [0, -0, 1, -1, 3.4028234663852886e38, -3.4028234663852886e38, fromBits(1), fromBits(0x807fffff), 1e-45, 0.1];

  it('finds the same index as Number.isFinite on every value, for every special at every position', () => {
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    for (const n of [0, 1, 7, 64, 1000]) {
      const base = Float32Array.from({ length: n }, (_, i) => finite[i % finite.length]! * (i % 3 === 0 ? 1 : rnd()));
      expect(firstNonFiniteFloat32(base)).toBe(-1);
      expect(reference(base)).toBe(-1);
      for (const sp of specials) {
        for (const at of n === 0 ? [] : [0, n >> 1, n - 1]) {
          const f = base.slice();
          f[at] = sp;
          if (at + 1 < n) f[n - 1] = sp;
          expect(firstNonFiniteFloat32(f)).toBe(reference(f));
          expect(firstNonFiniteFloat32(f)).toBe(at);
        }
      }
    }
    // A view at an offset into a larger buffer reads only its own values.
    const big = Float32Array.of(NaN, 1, 2, 3, Infinity);
    expect(firstNonFiniteFloat32(big.subarray(1, 4))).toBe(-1);
    expect(firstNonFiniteFloat32(big.subarray(1))).toBe(3);
  });

  it('a FloatVector field refuses NaN and Infinity naming the field and the row, typed or plain values', () => {
    const refused = (data: Float32Array | number[], re: RegExp): void => {
      let err: unknown;
      try {
        fieldDataToColumn(wire(data), vectorField, 3);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KiteError);
      expect((err as Error).message).toMatch(re);
    };
    const rows = (): number[] => Array.from({ length: 12 }, (_, i) => i / 10);
    for (const make of [(v: number[]) => v, (v: number[]) => Float32Array.from(v)]) {
      const a = rows();
      a[9] = NaN;
      refused(make(a), /field "vec": row 2 holds NaN: vector values must be finite numbers/);
      const b = rows();
      b[4] = -Infinity;
      b[10] = NaN;
      refused(make(b), /field "vec": row 1 holds -Infinity/);
    }
    // A double too large for float32 becomes Infinity when stored: refused as before.
    const c = rows();
    c[0] = 1e39;
    refused(c, /field "vec": row 0 holds Infinity/);
    const ok = fieldDataToColumn(wire(Float32Array.from(rows())), vectorField, 3);
    expect(ok.kind === 'vector' && Array.from(ok.data)).toEqual(Array.from(Float32Array.from(rows())));
  });
});
