// Filters on the query node compare whole columns with the faiss addon's native kernels (exec.ts plugs them into
// @kite/expr). They must give the bits @kite/expr's JavaScript kernels give, for every comparison operator and every
// column type they take: Int64 beyond 2^53 and at its ends, negative values, NULLs, NaN, and a row count that is not
// a multiple of 32.
import { compareColumn } from '@kite/faiss';
import { evaluate, parseExpr, useNativeKernels, type ColumnBatch, type SchemaInfo } from '@kite/expr';
import './exec'; // plugs the native kernels in

const N = 1000 + 13;

const schema: SchemaInfo = {
  fields: [
    { name: 'id', type: 'Int64', isPrimaryKey: true },
    { name: 'i64', type: 'Int64', nullable: true },
    { name: 'i32', type: 'Int32' },
    { name: 'f32', type: 'Float' },
    { name: 'f64', type: 'Double', nullable: true },
  ],
  enableDynamicField: false,
};

const I64_VALUES = [
  0n, 1n, -1n, 9n, 10n, 11n, -10n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 53n - 1n, -(2n ** 53n) - 1n, 2n ** 32n, 2n ** 32n - 1n,
  -(2n ** 32n), 2n ** 31n, -(2n ** 31n) - 1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 63n - 2n, -(2n ** 63n) + 1n,
];
const I32_VALUES = [0, 1, -1, 9, 10, 11, -10, 2 ** 31 - 1, -(2 ** 31), 12345, -12345];
const F_VALUES = [0, -0, 1.5, -1.5, 10, 9.999, 10.001, NaN, Infinity, -Infinity, 1e30, -1e-30, 16777217, 0.1];

function batch(): ColumnBatch {
  let seed = 7;
  const pick = <T>(xs: T[]): T => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return xs[seed % xs.length]!;
  };
  const i64 = BigInt64Array.from({ length: N }, () => pick(I64_VALUES));
  const i64Valid = Uint8Array.from({ length: N }, (_, r) => (r % 7 === 3 ? 0 : 1));
  const i32 = Int32Array.from({ length: N }, () => pick(I32_VALUES));
  const f32 = Float32Array.from({ length: N }, () => pick(F_VALUES));
  const f64 = Float64Array.from({ length: N }, () => pick(F_VALUES));
  const f64Valid = Uint8Array.from({ length: N }, (_, r) => (r % 5 === 1 ? 0 : 1));
  const columns = new Map<string, unknown>([
    ['id', { kind: 'int64', data: BigInt64Array.from({ length: N }, (_, r) => BigInt(r)) }],
    ['i64', { kind: 'int64', data: i64, valid: i64Valid }],
    ['i32', { kind: 'int', data: i32 }],
    ['f32', { kind: 'float', data: f32 }],
    ['f64', { kind: 'float', data: f64, valid: f64Valid }],
  ]);
  return { numRows: N, column: (name) => columns.get(name) as never };
}

const OPS = ['==', '!=', '<', '<=', '>', '>='];
const CONSTANTS: Record<string, string[]> = {
  i64: ['10', '-1', '0', '9007199254740992', '9007199254740993', '-9007199254740993', '4294967296', '-2147483649', '9223372036854775807', '-9223372036854775808', '9223372036854775806', '1.5', '-10.5'],
  i32: ['10', '-1', '0', '2147483647', '-2147483648', '12345.5', '3000000000'],
  f32: ['10', '1.5', '-1.5', '0', '16777217', '1e30', '0.1'],
  f64: ['10', '1.5', '9.999', '0', '-0.0', '1e30', '0.1'],
};

let nativeCalls = 0;
const counted = { compareColumn: (...a: Parameters<typeof compareColumn>) => { nativeCalls++; compareColumn(...a); } };

function bitsOf(text: string, b: ColumnBatch, native: boolean): number[] {
  useNativeKernels(native ? counted : undefined);
  try {
    return Array.from(evaluate(parseExpr(text, schema), b));
  } finally {
    useNativeKernels({ compareColumn });
  }
}

test.each(Object.keys(CONSTANTS))('native kernels give the JavaScript kernels\' bits on %s, every operator', (field) => {
  const b = batch();
  let matched = 0;
  nativeCalls = 0;
  for (const c of CONSTANTS[field]!) {
    for (const op of OPS) {
      for (const text of [`${field} ${op} ${c}`, `not (${field} ${op} ${c})`, `${field} ${op} ${c} and id < 900`]) {
        const js = bitsOf(text, b, false);
        const nat = bitsOf(text, b, true);
        expect({ text, bits: nat }).toEqual({ text, bits: js });
        matched += js.reduce((s, x) => s + (x === 0 ? 0 : 1), 0);
      }
    }
  }
  expect(matched).toBeGreaterThan(0);
  expect(nativeCalls).toBeGreaterThan(0); // the native path was taken
});

test('the native kernel: exact Int64 beyond 2^53, bits past the last row cleared, bad arguments rejected', () => {
  const d = BigInt64Array.from([2n ** 53n, 2n ** 53n + 1n, -(2n ** 63n), 2n ** 63n - 1n, -5n]);
  const out = new Uint32Array(1).fill(0xffffffff);
  compareColumn(2, d, 2n ** 53n + 1n, d.length, out); // <
  expect(out[0]).toBe(0b10101);
  compareColumn(0, d, 2n ** 53n + 1n, d.length, out); // ==
  expect(out[0]).toBe(0b00010);
  compareColumn(5, d, -5n, 3, out); // >=, first 3 rows only
  expect(out[0]).toBe(0b011);
  const f = Float64Array.from([NaN, 1, NaN]);
  compareColumn(1, f, NaN, 3, out); // NaN != anything
  expect(out[0]).toBe(0b111);
  expect(() => compareColumn(2, d, 1, d.length, out)).toThrow(/bigint/);
  expect(() => compareColumn(2, d, 1n, d.length + 1, out)).toThrow(/n must be/);
  expect(() => compareColumn(2, d, 1n, 40, new Uint32Array(1))).toThrow();
  expect(() => compareColumn(2, Int32Array.from([1]), 1n, 1, out)).toThrow(/number/);
  expect(() => compareColumn(9, d, 1n, 1, out)).toThrow(/op/);
});
