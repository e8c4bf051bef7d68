import { evaluate, parseExpr, type SchemaInfo } from '@kite/expr';
import { fieldStatsOf, type ColumnBatch, type FieldMeta } from '@kite/segment';
import { mayMatch } from './prune';

const schema: SchemaInfo = {
  enableDynamicField: false,
  fields: [
    { name: 'id', type: 'Int64', isPrimaryKey: true },
    { name: 'k', type: 'Int64' },
    { name: 's', type: 'VarChar' },
    { name: 'f', type: 'Float' },
  ],
};
const field = (name: string, dataType: FieldMeta['dataType'], extra: Partial<FieldMeta> = {}): FieldMeta => ({
  fieldID: 0, name, dataType, isPrimaryKey: false, autoID: false, description: '', typeParams: {}, isDynamic: false, isPartitionKey: false, nullable: false, ...extra,
});
const fields = [field('id', 'Int64', { isPrimaryKey: true }), field('k', 'Int64'), field('s', 'VarChar', { isClusteringKey: true }), field('f', 'Float')];

/** A segment of rows k = lo..hi, s = 'key<k padded>', f = k / 10 (as float32). */
function segment(lo: number, hi: number): ColumnBatch {
  const n = hi - lo + 1;
  const ks = Array.from({ length: n }, (_, i) => lo + i);
  return {
    numRows: n,
    columns: new Map([
      ['id', { kind: 'int64', data: BigInt64Array.from(ks.map(BigInt)) }],
      ['k', { kind: 'int64', data: BigInt64Array.from(ks.map(BigInt)) }],
      ['s', { kind: 'string', data: ks.map((k) => `key${String(k).padStart(4, '0')}`) }],
      ['f', { kind: 'float', data: Float32Array.from(ks.map((k) => k / 10)) }],
    ]),
  } as ColumnBatch;
}

const segs = [segment(0, 99), segment(100, 199), segment(200, 299)];
const filters = [
  'k == 150', 'k == 1000', 'k in [5, 250]', 'k in [1000, 2000]', 'k < 100', 'k <= 100', 'k > 199', 'k >= 199', '100 <= k < 200', 'k > 50 and k < 60',
  'k < 10 or k > 290', 'k != 5', 'not (k == 5)', 's == "key0150"', 's >= "key0200"', 's < "key0100"', 's in ["key0001", "key0299"]', 'f == 15.1', 'f > 29.9',
  'f >= 0.1 and f <= 0.1', 'k > 150.5', 'k == 150 and s == "key0150"', 'k == 150 or s == "key0001"', 'id + 1 == 5', 'k == k',
];

test('a segment is skipped only when no row of it matches: every filter against evaluating it row by row', () => {
  for (const text of filters) {
    const e = parseExpr(text, schema);
    for (const b of segs) {
      const bits = evaluate(e, { numRows: b.numRows, column: (name: string) => b.columns.get(name) as never });
      let matches = 0;
      for (let i = 0; i < b.numRows; i++) if ((bits[i >> 3]! >> (i & 7)) & 1) matches++;
      const may = mayMatch(e.ir, fieldStatsOf({ fields }, b));
      if (matches > 0) expect({ text, may }).toEqual({ text, may: true });
    }
  }
});

test('range filters on the key prune the segments outside the range', () => {
  const skipped = (text: string): number => segs.filter((b) => !mayMatch(parseExpr(text, schema).ir, fieldStatsOf({ fields }, b))).length;
  expect(skipped('k == 150')).toBe(2);
  expect(skipped('k in [5, 250]')).toBe(1);
  expect(skipped('k < 100')).toBe(2);
  expect(skipped('k >= 199')).toBe(1);
  expect(skipped('100 <= k < 200')).toBe(2);
  expect(skipped('s == "key0150"')).toBe(2);
  expect(skipped('s >= "key0200"')).toBe(2);
  expect(skipped('k == 150 or s == "key0001"')).toBe(1);
  expect(skipped('not (k == 5)')).toBe(0);
  expect(skipped('k != 5')).toBe(0);
  expect(skipped('k == 1000')).toBe(3);
});

test('segments without recorded ranges, or filters on other fields, are never skipped', () => {
  expect(mayMatch(parseExpr('k == 1000', schema).ir, {})).toBe(true);
  expect(mayMatch(parseExpr('id + 1 == 5000', schema).ir, fieldStatsOf({ fields }, segs[0]!))).toBe(true);
});
