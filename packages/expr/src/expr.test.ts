import * as fs from 'node:fs';
import { KiteError } from '@kite/common';
import { countMatches, evaluate, evaluateAsync, ExprError, parseExpr, primaryKeyTerms, type ArrayColumn, type BatchColumn, type Column, type ColumnBatch, type SchemaInfo } from './index';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const gen = require('../scripts/gen-grammar.js') as { render(grammar: string): string; GRAMMAR: string; OUTPUT: string };

const schema: SchemaInfo = {
  enableDynamicField: true,
  fields: [
    { name: 'id', type: 'Int64', isPrimaryKey: true },
    { name: 'age', type: 'Int32' },
    { name: 'small', type: 'Int8' },
    { name: 'price', type: 'Float' },
    { name: 'score', type: 'Double' },
    { name: 'name', type: 'VarChar' },
    { name: 'ok', type: 'Bool' },
    { name: 'meta', type: 'JSON' },
    { name: 'tags', type: 'Array', elementType: 'VarChar' },
    { name: 'nums', type: 'Array', elementType: 'Int64' },
    { name: 'maybe', type: 'Int32', nullable: true },
    { name: 'vec', type: 'FloatVector' },
  ],
};
const staticSchema: SchemaInfo = { ...schema, enableDynamicField: false };

const BIG = 9007199254740993n; // 2^53 + 1: not representable as a double
const columns: Record<string, Column> = {
  id: { kind: 'int64', data: BigInt64Array.from([1n, 2n, 3n, BIG, 5n, 6n, 7n, -(2n ** 63n), 9n, 2n ** 63n - 1n]) },
  age: { kind: 'int', data: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) },
  small: { kind: 'int', data: Int32Array.from([-3, -2, -1, 0, 1, 2, 3, 4, 5, 6]) },
  price: { kind: 'float', data: Float32Array.from([0.1, 0.2, 0.3, 1, 2, 3, 4, 5, 6, 7]) },
  score: { kind: 'float', data: Float64Array.from([0.1, 0.2, 0.3, 1, 2, 3, 4, 5, 6, 7]) },
  name: { kind: 'string', data: ['abc', 'abd', 'xyz', 'a_c', 'a%c', '', 'foo', 'bar', 'baz', 'ab'] },
  ok: { kind: 'bool', data: Uint8Array.from([1, 0, 1, 0, 1, 0, 1, 0, 1, 0]) },
  meta: {
    kind: 'json',
    data: [{ a: 1 }, { a: 2.5 }, { a: 'x' }, {}, { a: [1, 2] }, null, { a: { b: 3 } }, { a: true }, { a: BIG }, { a: -1, n: null }],
  },
  tags: { kind: 'json', data: [['a'], ['b', 'c'], [], ['a', 'b'], ['x'], ['x'], ['a'], ['c'], ['d'], ['a', 'c']] },
  nums: { kind: 'json', data: [[1n], [2n, BIG], [], [1, 2], [3], [], [7n], [8], [9], [1n, 10n]] },
  maybe: { kind: 'int', data: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), valid: Uint8Array.from([1, 1, 0, 1, 0, 1, 1, 1, 1, 0]) },
  $meta: { kind: 'json', data: [{ k: 1 }, { k: 2 }, {}, { k: 's' }, { k: 1 }, {}, {}, {}, {}, { k: 10 }] },
};
const batch: ColumnBatch = { numRows: 10, column: (name) => columns[name] };

function rowsOf(bitmap: Uint8Array, n = 10): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (((bitmap[i >> 3] as number) >> (i & 7)) & 1) out.push(i);
  return out;
}

const rows = (text: string, params?: Record<string, unknown>, s: SchemaInfo = schema): number[] =>
  rowsOf(evaluate(parseExpr(text, s, params), batch));

function parseError(text: string, s: SchemaInfo = schema, params?: Record<string, unknown>): ExprError {
  try {
    parseExpr(text, s, params);
  } catch (e) {
    if (e instanceof ExprError) return e;
    throw e;
  }
  throw new Error(`expected ${text} to fail`);
}

describe('grammar', () => {
  it('committed grammar.generated.ts matches grammar.peggy (run `pnpm --filter @kite/expr gen`)', () => {
    const expected = gen.render(fs.readFileSync(gen.GRAMMAR, 'utf8'));
    expect(fs.readFileSync(gen.OUTPUT, 'utf8') === expected).toBe(true);
  });
});

describe('parsing and evaluation of each construct', () => {
  it.each<[string, number[]]>([
    ['age == 3', [2]],
    ['age != 3', [0, 1, 3, 4, 5, 6, 7, 8, 9]],
    ['age < 3', [0, 1]],
    ['age <= 3', [0, 1, 2]],
    ['age > 8', [8, 9]],
    ['age >= 8', [7, 8, 9]],
    ['3 < age', [3, 4, 5, 6, 7, 8, 9]],
    ['1 < age < 5', [1, 2, 3]],
    ['1 <= age <= 5', [0, 1, 2, 3, 4]],
    ['10 >= age > 7', [7, 8, 9]],
    ['age in [1, 3, 5]', [0, 2, 4]],
    ['age not in [1, 3, 5, 6, 7, 8, 9]', [1, 3, 9]],
    ['age IN [2]', [1]],
    ['age > 2 and age < 5', [2, 3]],
    ['age > 2 && age < 5', [2, 3]],
    ['age < 2 or age > 9', [0, 9]],
    ['age < 2 || age > 9', [0, 9]],
    ['age > 2 AND NOT (age > 4)', [2, 3]],
    ['not age > 2', [0, 1]],
    ['!(age > 2)', [0, 1]],
    ['(age < 3 or age > 8) and ok', [0, 8]],
    ['age < 3 or age > 8 and ok', [0, 1, 8]],
    ['name like "ab%"', [0, 1, 9]],
    ['name like "%c"', [0, 3, 4]],
    ['name like "%b%"', [0, 1, 7, 8, 9]],
    ['name LIKE "a_c"', [0, 3, 4]],
    ['name like "a\\_c"', [3]],
    ['name like "a\\%c"', [4]],
    ['name like "b%z"', [8]],
    ['name like "%"', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],
    ['name == "abc"', [0]],
    ["name == 'abc'", [0]],
    ['name == "a\\u005fc"', [3]],
    ['name == r"a_c"', [3]],
    ['name > "b"', [2, 6, 7, 8]],
    ['age + 2 > 10', [8, 9]],
    ['age - 2 == 1', [2]],
    ['age * 2 == 10', [4]],
    ['age / 2 == 2', [3, 4]],
    ['age % 3 == 0', [2, 5, 8]],
    ['age ** 2 > 50', [7, 8, 9]],
    ['-age < -8', [8, 9]],
    ['(age + 1) * 2 == 8', [2]],
    ['age == 2 + 3', [4]],
    ['age == -(-4)', [3]],
    ['price * 2 == 0.2', [0]],
    ['score * 2 == 0.2', [0]],
    ['age > 2.5', [2, 3, 4, 5, 6, 7, 8, 9]],
    ['age == 5.0', [4]],
    ['age == 010', [7]],
    ['age == 0x0A', [9]],
    ['age == 0b11', [2]],
    ['score < 1e0', [0, 1, 2]],
    ['score == .3', [2]],
    ['ok', [0, 2, 4, 6, 8]],
    ['!ok', [1, 3, 5, 7, 9]],
    ['ok == true', [0, 2, 4, 6, 8]],
    ['ok == False', [1, 3, 5, 7, 9]],
    ['ok != TRUE', [1, 3, 5, 7, 9]],
    ['true', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],
    ['false or age == 1', [0]],
    ['meta["a"] == 1', [0]],
    ["meta['a'] == 'x'", [2]],
    ['meta["a"]["b"] == 3', [6]],
    ['meta["a"][1] == 2', [4]],
    ['meta["a"]["1"] == 2', [4]],
    ['meta["a"] == [1, 2]', [4]],
    ['meta["a"] == true', [7]],
    ['meta["a"] > 0', [0, 1, 8]],
    ['meta["a"] in [1, "x", true]', [0, 2, 7]],
    ['meta["a"] like "x%"', [2]],
    ['json_contains(meta["a"], 2)', [4]],
    ['JSON_CONTAINS(meta["a"], 1)', [4]],
    ['json_contains_all(meta["a"], [2, 1])', [4]],
    ['json_contains_any(meta["a"], [5, 2])', [4]],
    ['array_contains(tags, "a")', [0, 3, 6, 9]],
    ['array_contains_all(tags, ["a", "c"])', [9]],
    ['array_contains_any(tags, ["x", "d"])', [4, 5, 8]],
    ['ARRAY_CONTAINS(nums, 9007199254740993)', [1]],
    ['array_length(tags) == 2', [1, 3, 9]],
    ['array_length(tags) == 0', [2]],
    ['array_length(meta["a"]) == 2', [4]],
    ['tags[0] == "a"', [0, 3, 6, 9]],
    ['tags[1] like "c%"', [1, 9]],
    ['nums[1] == 9007199254740993', [1]],
    ['nums[0] > 2', [4, 6, 7, 8]],
    // An element past the end of the row is false under every operator, != included (Milvus); `not` negates that.
    ['tags[1] != "c"', [3]],
    ['nums[1] != 2', [1, 9]],
    ['nums[1] + 1 != 3', [1, 9]],
    ['not (tags[1] == "c")', [0, 2, 3, 4, 5, 6, 7, 8]],
    ['tags == ["a", "b"]', [3]],
    ['exists meta["a"]', [0, 1, 2, 4, 6, 7, 8, 9]],
    ['EXISTS meta["n"]', [9]],
    ['meta is null', [5]],
    ['meta IS NOT NULL', [0, 1, 2, 3, 4, 6, 7, 8, 9]],
    ['meta["a"] is null', [3, 5]],
    ['meta["n"] is null', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],
    ['maybe is null', [2, 4, 9]],
    ['maybe is not null', [0, 1, 3, 5, 6, 7, 8]],
    ['age is null', []],
    ['k == 1', [0, 4]],
    ['$meta["k"] == 1', [0, 4]],
    ['k > 1', [1, 9]],
    ['exists k', [0, 1, 3, 4, 9]],
    ['age == small + 4', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],
    ['age == small + 5', []],
    ['score > age', []],
    ['score < age', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],
    ['id == 9007199254740993', [3]],
    ['id == 9007199254740992', []],
    ['id > 9007199254740992 and id < 9007199254740994', [3]],
    ['id == -9223372036854775808', [7]],
    ['id == 9223372036854775807', [9]],
    ['id < 2.5', [0, 1, 7]],
    ['id > 1e30', []],
    ['id < 1e30', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],
    ['id in [1, 9007199254740993, 9223372036854775807]', [0, 3, 9]],
    ['id + 1 == 9007199254740994', [3]],
    ['id - 1 == 9223372036854775807', [7]], // int64 arithmetic wraps, as in Milvus
    ['-id == -9007199254740993', [3]],
    ['-id == -9223372036854775808', [7]], // negating the int64 minimum wraps to itself
    ['id == age', [0, 1, 2, 4, 5, 6, 8]],
    // an int64 intermediate inside a small final result must not go through doubles (2^63-1 % 3 is 1, not 2)
    ['((age / 9223372036854775807) + 9223372036854775807) % 3 == 1', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],
    ['id > score', [0, 1, 2, 3, 4, 5, 6, 8, 9]],
    ['id < score', [7]],
  ])('%s', (text, expected) => {
    expect(rows(text)).toEqual(expected);
  });

  it('binds template parameters from expr_params', () => {
    expect(rows('age > {p}', { p: 8 })).toEqual([8, 9]);
    expect(rows('age in {list}', { list: [1, 2] })).toEqual([0, 1]);
    expect(rows('{lo} < age < {hi}', { lo: 1, hi: 4 })).toEqual([1, 2]);
    expect(rows('name like {pat}', { pat: 'ab%' })).toEqual([0, 1, 9]);
    expect(rows('id == {big}', { big: BIG })).toEqual([3]);
    expect(rows('score == {f}', { f: 0.3 })).toEqual([2]);
    expect(rows('json_contains(meta["a"], {v})', { v: 2 })).toEqual([4]);
    expect(rows('{flag} and age == 1', { flag: true })).toEqual([0]);
  });

  it('Float fields compare with the constant rounded to float32, as Milvus does', () => {
    expect(rows('price == 0.1')).toEqual([0]);
    expect(rows('price in [0.2, 0.3]')).toEqual([1, 2]);
    expect(rows('score == 0.1')).toEqual([0]);
  });

  it('NULLs are unknown: neither a condition nor its negation selects them', () => {
    expect(rows('maybe > 0')).toEqual([0, 1, 3, 5, 6, 7, 8]);
    expect(rows('not (maybe > 0)')).toEqual([]);
    expect(rows('maybe > 0 or age == 3')).toEqual([0, 1, 2, 3, 5, 6, 7, 8]);
    expect(rows('not (maybe > 100 and age > 100)')).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(rows('not (maybe > 100 or age > 100)')).toEqual([0, 1, 3, 5, 6, 7, 8]);
    expect(rows('maybe != 3')).toEqual([0, 1, 3, 5, 6, 7, 8]);
    expect(rows('meta["a"] == 1 or meta is null')).toEqual([0, 5]);
  });

  it('a missing JSON key is false for comparisons but true for != and under not (Milvus semantics)', () => {
    expect(rows('meta["zz"] == 1')).toEqual([]);
    expect(rows('meta["zz"] < 1')).toEqual([]);
    expect(rows('meta["zz"] != 1')).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(rows('not (meta["zz"] == 1)')).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(rows('meta["a"] != 1')).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(rows('meta["a"] not in [1]')).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('arithmetic on JSON values follows their type', () => {
    expect(rows('meta["a"] + 1 == 2')).toEqual([0]);
    expect(rows('meta["a"] * 2 == 5')).toEqual([1]);
    expect(rows('meta["a"] / 2 == 0')).toEqual([0, 9]);
    expect(rows('meta["a"] + 1 == 9007199254740994')).toEqual([8]);
    expect(rows('-meta["a"] == 1')).toEqual([9]);
  });

  it('reports the columns an expression reads', () => {
    expect(parseExpr('age > 1 and meta["a"] == 1 or k == 2', schema).fields).toEqual(['age', 'meta', '$meta']);
    expect(parseExpr('1 < age < 5', schema).fields).toEqual(['age']);
  });

  it('clears the bits past the last row and sizes the bitmap to the rows', () => {
    const n = 37;
    const b: ColumnBatch = { numRows: n, column: () => ({ kind: 'int', data: new Int32Array(n) }) };
    const bitmap = evaluate(parseExpr('not (age == 1)', schema), b);
    expect(bitmap.length).toBe(5);
    expect(bitmap[4]).toBe(0b11111);
    expect(countMatches(bitmap)).toBe(37);
    expect(countMatches(evaluate(parseExpr('age == 1', schema), b))).toBe(0);
  });

  it('evaluates an empty batch', () => {
    expect(evaluate(parseExpr('age > 1', schema), { numRows: 0, column: () => undefined }).length).toBe(0);
  });

  it('treats a column the batch lacks as NULL, and a missing $meta as empty', () => {
    const b: ColumnBatch = { numRows: 3, column: () => undefined };
    expect(rowsOf(evaluate(parseExpr('age > 1', schema), b), 3)).toEqual([]);
    expect(rowsOf(evaluate(parseExpr('not (age > 1)', schema), b), 3)).toEqual([]);
    expect(rowsOf(evaluate(parseExpr('age is null', schema), b), 3)).toEqual([0, 1, 2]);
    expect(rowsOf(evaluate(parseExpr('k != 1', schema), b), 3)).toEqual([0, 1, 2]);
  });

  it('rejects a column whose kind does not fit the schema', () => {
    const b: ColumnBatch = { numRows: 1, column: () => ({ kind: 'string', data: ['x'] }) };
    expect(() => evaluate(parseExpr('age > 1', schema), b)).toThrow(/column "age" has kind string/);
  });

  it('reads Array fields kept as offsets + flat values as it reads their JSON form, also in slices', async () => {
    const typed = (rowsIn: unknown[][], big: boolean): ArrayColumn => {
      const offsets = new Uint32Array(rowsIn.length + 1);
      rowsIn.forEach((r, i) => (offsets[i + 1] = offsets[i]! + r.length));
      const flat = rowsIn.flat();
      return { kind: 'array', offsets, values: big ? BigInt64Array.from(flat, (x) => BigInt(x as number)) : (flat as string[]) };
    };
    const arrays: Record<string, BatchColumn> = {
      tags: typed((columns.tags as { data: unknown[][] }).data, false),
      nums: typed((columns.nums as { data: unknown[][] }).data, true),
    };
    const typedBatch: ColumnBatch = { numRows: 10, column: (name) => arrays[name] ?? columns[name] };
    // 2000 rows: the slices of evaluateAsync cut the offsets at arbitrary rows.
    const many = 2000;
    const rep = (c: { data: unknown[][] }): unknown[][] => Array.from({ length: many }, (_, i) => c.data[i % 10]!);
    const manyJson: Record<string, Column> = { tags: { kind: 'json', data: rep(columns.tags as { data: unknown[][] }) }, nums: { kind: 'json', data: rep(columns.nums as { data: unknown[][] }) } };
    const manyTyped: Record<string, BatchColumn> = { tags: typed(rep(columns.tags as { data: unknown[][] }), false), nums: typed(rep(columns.nums as { data: unknown[][] }), true) };
    const flags: ArrayColumn = { kind: 'array', offsets: Uint32Array.from([0, 2, 2, 3]), values: Uint8Array.from([1, 0, 0]), bool: true };
    const flagSchema: SchemaInfo = { fields: [{ name: 'flags', type: 'Array', elementType: 'Bool' }], enableDynamicField: false };
    expect(rowsOf(evaluate(parseExpr('array_contains(flags, false)', flagSchema), { numRows: 3, column: () => flags }), 3)).toEqual([0, 2]);
    expect(rowsOf(evaluate(parseExpr('flags[0] == true', flagSchema), { numRows: 3, column: () => flags }), 3)).toEqual([0]);
    for (const text of [
      'array_contains(tags, "a")', 'array_contains_all(tags, ["a", "c"])', 'array_contains_any(tags, ["x", "d"])', 'ARRAY_CONTAINS(nums, 9007199254740993)',
      'array_length(tags) == 2', 'array_length(tags) == 0', 'tags[0] == "a"', 'tags[1] like "c%"', 'nums[1] == 9007199254740993', 'nums[0] > 2',
      'tags[1] != "c"', 'nums[1] + 1 != 3', 'not (tags[1] == "c")', 'tags == ["a", "c"]', 'nums[0] in [1, 7]', 'array_length(nums) >= 1 and nums[0] % 2 == 0',
    ]) {
      const e = parseExpr(text, schema);
      expect({ text, rows: rowsOf(evaluate(e, typedBatch)) }).toEqual({ text, rows: rowsOf(evaluate(e, batch)) });
      const want = Array.from(evaluate(e, { numRows: many, column: (name) => manyJson[name] }));
      const got = Array.from(await evaluateAsync(e, { numRows: many, column: (name) => manyTyped[name] }, { sliceMs: 0 }));
      expect({ text, got }).toEqual({ text, got: want });
    }
  });

  it('only evaluates Exprs from parseExpr', () => {
    expect(() => evaluate({ text: 'x', fields: [], ir: { k: 'const', v: true } }, batch)).toThrow(TypeError);
  });
});

describe('primaryKeyTerms', () => {
  const terms = (text: string, s: SchemaInfo = schema): unknown => primaryKeyTerms(parseExpr(text, s));

  it('extracts keys from pk == v, pk in [...] and their or', () => {
    expect(terms('id == 5')).toEqual([5n]);
    expect(terms('5 == id')).toEqual([5n]);
    expect(terms('id in [1, 2, 9007199254740993, 2]')).toEqual([1n, 2n, BIG]);
    expect(terms('id == 1 or id in [2, 3] or id == 1')).toEqual([1n, 2n, 3n]);
    expect(terms('id in []')).toEqual([]);
    expect(terms('id == 2.5')).toEqual([]);
    expect(primaryKeyTerms(parseExpr('id in {ids}', schema, { ids: [7, 8n] }))).toEqual([7n, 8n]);
  });

  it('returns undefined for anything else', () => {
    expect(terms('id > 5')).toBeUndefined();
    expect(terms('id != 5')).toBeUndefined();
    expect(terms('id not in [1]')).toBeUndefined();
    expect(terms('id == 1 and age == 2')).toBeUndefined();
    expect(terms('id == 1 or age == 2')).toBeUndefined();
    expect(terms('age in [1]')).toBeUndefined();
  });

  it('returns strings for a VarChar primary key', () => {
    const s: SchemaInfo = { enableDynamicField: false, fields: [{ name: 'pk', type: 'VarChar', isPrimaryKey: true }] };
    expect(terms('pk in ["a", "b"] or pk == "c"', s)).toEqual(['a', 'b', 'c']);
  });
});

describe('errors', () => {
  it('is a KiteError of kind ExpressionInvalid with a position', () => {
    const e = parseError('name == 5');
    expect(e).toBeInstanceOf(KiteError);
    expect(e.kind).toBe('ExpressionInvalid');
    expect(e.position).toEqual({ offset: 8, line: 1, column: 9 });
    expect(e.message).toContain('line 1, column 9');
    expect(e.message).toContain('VarChar field "name"');
    expect(e.message).toContain('quote the value');
  });

  it.each<[string, number, RegExp]>([
    // malformed input
    ['(age > 1', 1, /unbalanced '\('.*closing '\)'/],
    ['age > 1)', 8, /unbalanced '\)'/],
    ['((age > 1) and (age < 3)', 1, /unbalanced '\('/],
    ['age in [1, 2', 8, /unbalanced '\['/],
    ['age > 1 and', 12, /ends too early/],
    ['age = 1', 5, /use '=='/],
    ['age > 1 & age < 2', 9, /use '&&' or 'and'/],
    ['age > 1 | age < 2', 9, /use '\|\|' or 'or'/],
    ['age >> 1', 6, /syntax error: unexpected ">"/],
    ['age > > 1', 7, /syntax error/],
    ['age 5', 5, /syntax error: unexpected "5"/],
    ['name == "abc', 9, /unterminated string/],
    ['age == 08', 8, /leading 0 makes it octal/],
    ['   ', 0, /empty/],
    // unknown field
    ['agee > 1', 1, /field "agee" does not exist.*did you mean "age"/],
    ['$meta["k"] == 1', 1, /does not enable the dynamic field/],
    // type mismatch
    ['age == "5"', 8, /cannot compare Int32 field "age" with the string "5"; compare with a number/],
    ['name in ["a", 1]', 9, /every element must be a string/],
    ['ok > true', 4, /cannot order booleans/],
    ['age like "1%"', 1, /'like' matches strings/],
    ['name + 1 > 2', 1, /operator '\+' needs numbers, but VarChar field "name"/],
    ['tags == "a"', 6, /Array field "tags" can only be compared with == or != to an array constant/],
    ['array_contains(tags, 1)', 22, /cannot be compared with the elements of Array field "tags", which are strings/],
    ['vec > 1', 1, /vector field/],
    ['age', 1, /Int32 field "age" is not a condition/],
    ['age + 1', 1, /not a condition/],
    ['age["x"] == 1', 1, /cannot be indexed/],
    ['tags["x"] == 1', 1, /indexed by position/],
    ['meta["a"] > age', 11, /can only be compared with constants/],
    ['age in age', 8, /must be an array constant/],
    ['score % 2 == 1', 7, /applies to integers only/],
    ['age / 0 == 1', 7, /division by zero/],
    ['age / small == 1', 7, /divisor of '\/' must be a constant/],
    ['age == 9223372036854775808', 8, /out of the int64 range/],
    ['1 < age > 5', 9, /chained as a range/],
    ['age == {missing}', 8, /\{missing\} has no value; pass it in expr_params/],
    // bad operator / function
    ['foo(age)', 1, /unknown function foo/],
    ['Json_Contains(meta, 1)', 1, /unknown function Json_Contains \(write it json_contains/],
    ['random_sample(0.1)', 1, /not supported by Kite/],
    ['text_match(name, "x")', 12, /field "name" does not enable match: text_match needs a VarChar field created with enable_analyzer=True and enable_match=True/],
    ['json_contains(age, 1)', 15, /first argument of json_contains must be an Array field or a JSON key/],
    ['json_contains_all(meta, 1)', 25, /must be an array constant/],
    ['exists age', 8, /'exists' applies to a JSON key/],
  ])('%s', (text, column, message) => {
    const e = parseError(text, text.startsWith('$meta') || text.startsWith('agee') ? staticSchema : schema);
    expect(e.detail).toMatch(message);
    if (column > 0) expect(e.position?.column).toBe(column);
    else expect(e.position).toBeUndefined();
  });

  it('reports line and column in multi-line expressions', () => {
    const e = parseError('age > 1 and\n  name == 5');
    expect(e.position).toEqual({ offset: 22, line: 2, column: 11 });
  });

  it('rejects unsupported parameter values', () => {
    expect(parseError('age == {p}', schema, { p: null }).detail).toMatch(/must be a number, string, boolean or array/);
    expect(parseError('age > {p}', schema, { p: 'x' }).detail).toMatch(/cannot compare/);
  });
});
