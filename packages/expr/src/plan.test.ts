import { KiteError } from '@kite/common';
import { decodePlan, encodePlan, evaluate, parseExpr, primaryKeyTerms, type Column, type ColumnBatch, type SchemaInfo } from './index';

const schema: SchemaInfo = {
  enableDynamicField: true,
  fields: [
    { name: 'id', type: 'Int64', isPrimaryKey: true },
    { name: 'age', type: 'Int32' },
    { name: 'score', type: 'Double' },
    { name: 'name', type: 'VarChar' },
    { name: 'meta', type: 'JSON' },
    { name: 'nums', type: 'Array', elementType: 'Int64' },
  ],
};

const BIG = 9007199254740993n; // 2^53 + 1
const columns: Record<string, Column> = {
  id: { kind: 'int64', data: BigInt64Array.from([1n, 2n, BIG, -(2n ** 63n), 5n, 2n ** 63n - 1n]) },
  age: { kind: 'int', data: Int32Array.from([1, 2, 3, 4, 5, 6]) },
  score: { kind: 'float', data: Float64Array.from([0.5, -0, Infinity, -Infinity, NaN, 2]) },
  name: { kind: 'string', data: ['abc', 'abd', 'x', 'a_c', '', 'ab'] },
  meta: { kind: 'json', data: [{ a: 1 }, { a: 'x' }, {}, { a: [1, 2] }, null, { a: BIG }] },
  nums: { kind: 'json', data: [[1n], [2n, BIG], [], [1, 2], [3], [7n]] },
  $meta: { kind: 'json', data: [{ k: 1 }, { k: 2 }, {}, { k: 's' }, { k: 1 }, {}] },
};
const batch: ColumnBatch = { numRows: 6, column: (name) => columns[name] };

const FILTERS: [string, Record<string, unknown> | undefined][] = [
  ['id in [1, 9007199254740993, -9223372036854775808]', undefined],
  ['id == 9223372036854775807 or age > 4', undefined],
  ['score > 1.5 or score < -1.5e308', undefined],
  ['score == -0.0', undefined],
  ['name like "a%" and not (age in [2])', undefined],
  ['meta["a"] == 9007199254740993 or meta["a"] == "x"', undefined],
  ['array_contains(nums, 9007199254740993)', undefined],
  ['k == 1 or k == "s"', undefined],
  ['age * 2 + 1 > 7 and age % 2 == 0', undefined],
  ['id in {ids} and age < {n}', { ids: [1n, BIG, 5n], n: 10n }],
];

test.each(FILTERS)('a decoded plan evaluates like the parsed filter: %s', (text, params) => {
  const parsed = parseExpr(text, schema, params);
  const plan = encodePlan(parsed);
  const decoded = decodePlan(plan, schema, text);
  expect(decoded.text).toBe(text);
  expect(decoded.fields).toEqual(parsed.fields);
  expect(decoded.ir).toEqual(parsed.ir);
  expect(Array.from(evaluate(decoded, batch))).toEqual(Array.from(evaluate(parsed, batch)));
  expect(primaryKeyTerms(decoded)).toEqual(primaryKeyTerms(parsed));
});

test('a plan for another version, a malformed plan or one naming an unknown field is refused as ExpressionInvalid', () => {
  const good = encodePlan(parseExpr('age > 1', schema));
  const cases: [string, string][] = [
    ['{not json', 'not valid JSON', undefined],
    [good.replace('"v":1', '"v":2'), 'version 2'],
    ['{"v":1,"fields":["age"]}', 'malformed', undefined],
    [good, 'does not have'],
  ];
  const narrow: SchemaInfo = { enableDynamicField: false, fields: [{ name: 'id', type: 'Int64', isPrimaryKey: true }] };
  for (const [plan, why] of cases) {
    let err: unknown;
    try {
      decodePlan(plan, plan === good ? narrow : schema, 'age > 1');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KiteError);
    expect((err as KiteError).kind).toBe('ExpressionInvalid');
    expect((err as KiteError).message).toContain(why);
  }
});
