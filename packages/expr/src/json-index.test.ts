// INVERTED indexes on JSON paths: every filter on the indexed path answered from the index equals the scan, over
// documents where the path is missing, null, or holds numbers (integers, fractions, integers past 2^53), strings,
// booleans, objects and arrays, with NULL rows; the index file round trip; json_path and json_cast_type reading.
import {
  evaluate, evaluateAsync, jsonCastType, jsonIndexKey, parseExpr, parseJsonPath, ScalarIndex,
  type Column, type ColumnBatch, type JsonCastType, type PathKey, type SchemaInfo,
} from './index';

const schema: SchemaInfo = {
  enableDynamicField: true,
  fields: [
    { name: 'id', type: 'Int64', isPrimaryKey: true },
    { name: 'meta', type: 'JSON', nullable: true },
  ],
};

function rng(seed: number): (m: number) => number {
  let x = seed;
  return (m) => {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    return x % m;
  };
}

const STRINGS = ['', 'a', 'ab', 'abc', 'abd', 'b', 'zz', 'é', '1', 'true'];

/** A value of a random JSON type (what a path may hold). */
function anyValue(r: (m: number) => number): unknown {
  switch (r(12)) {
    case 0:
      return undefined; // key missing
    case 1:
      return null;
    case 2:
    case 3:
      return r(40) - 20; // integers
    case 4:
      return (r(80) - 40) / 4; // fractions
    case 5:
      return (BigInt(r(5)) << 60n) + BigInt(r(3)); // integers a double cannot all hold
    case 6:
    case 7:
      return STRINGS[r(STRINGS.length)];
    case 8:
      return r(2) === 0;
    case 9:
      return { b: r(5) };
    case 10:
      return [r(3), 'x'];
    default:
      return -0;
  }
}

function docs(n: number, r: (m: number) => number): Column {
  const data: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const doc: Record<string, unknown> = {};
    const a = anyValue(r);
    if (a !== undefined) doc.a = r(4) === 0 ? { b: anyValue(r) } : a;
    const list = [anyValue(r), anyValue(r)];
    doc.list = list;
    data.push(r(15) === 0 ? anyValue(r) : doc); // sometimes the document itself is not an object
  }
  return { kind: 'json', data, valid: Uint8Array.from({ length: n }, () => (r(10) === 0 ? 0 : 1)) };
}

const PATHS: [string, PathKey[]][] = [
  ['meta["a"]', ['a']],
  ['meta["a"]["b"]', ['a', 'b']],
  ["meta['list'][1]", ['list', 1]],
];

function filtersOn(p: string): string[] {
  return [
    `${p} == 3`, `${p} == 3.0`, `${p} == -0.5`, `${p} == 1152921504606846977`, `${p} < 2`, `${p} <= 2.5`, `${p} > -3`,
    `${p} >= 1152921504606846976`, `${p} > 1 and ${p} < 10`, `-5 <= ${p} < 5.5`, `${p} in [1, 2, 3.5, 2305843009213693952]`,
    `${p} == "ab"`, `${p} < "ab"`, `${p} >= "b"`, `${p} in ["a", "zz", ""]`, `${p} like "a%"`, `${p} like "ab"`,
    `${p} == true`, `${p} == false`, `${p} in [true]`, `${p} != 3`, `${p} != "a"`, `not (${p} == 3)`,
    `${p} == 3 or ${p} == "a"`, `${p} in [1, "a"]`, `${p} == 3 and id > 10`, `${p} is null`, `${p} like "%b"`,
  ];
}

describe('JSON path index', () => {
  const n = 3000;
  const r = rng(7);
  const meta = docs(n, r);
  const id: Column = { kind: 'int64', data: BigInt64Array.from({ length: n }, (_, k) => BigInt(k)) };
  const plain: ColumnBatch = { numRows: n, column: (name) => (name === 'meta' ? meta : name === 'id' ? id : undefined) };

  describe.each(PATHS)('on %s', (text, path) => {
    const indexes = new Map<string, ScalarIndex>();
    for (const cast of ['DOUBLE', 'VARCHAR', 'BOOL'] as JsonCastType[]) {
      // Through the file, as query nodes read it.
      indexes.set(jsonIndexKey('meta', path, cast), ScalarIndex.deserialize(ScalarIndex.buildJsonPath(meta, path, cast).serialize()));
    }
    let asked: string[] = [];
    const indexed: ColumnBatch = {
      ...plain,
      scalarIndex: (key) => {
        asked.push(key);
        const index = indexes.get(key);
        return index === undefined ? undefined : { index, firstRow: 0 };
      },
    };

    it.each(filtersOn(text))('%s equals the scan', async (f) => {
      asked = [];
      const e = parseExpr(f, schema);
      const want = Buffer.from(evaluate(e, plain));
      expect(Buffer.from(evaluate(parseExpr(f, schema), indexed)).equals(want)).toBe(true);
      expect(Buffer.from(await evaluateAsync(parseExpr(f, schema), indexed, { sliceMs: 0 })).equals(want)).toBe(true);
      // The index is asked for what a literal of its type compares with (!= and `is null` scan).
      if (/ (==|<|<=|>|>=|in|like) /.test(f) && !f.includes('!=') && !f.includes('in [1, "a"]') && !f.includes('like "%b"')) {
        expect(asked.some((k) => k.startsWith(`meta${JSON.stringify(path.map(String))}:`))).toBe(true);
      }
    });
  });

  it('leaves out rows whose value has another type, is missing or NULL; keeps big integers exactly', () => {
    const col: Column = { kind: 'json', data: [{ a: 1 }, { a: '1' }, { a: true }, {}, null, { a: 2 ** 53 + 2 }, { a: (1n << 60n) + 1n }, { a: 1.5 }], valid: Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 0]) };
    const d = ScalarIndex.buildJsonPath(col, ['a'], 'DOUBLE');
    expect(Array.from(d.values as Float64Array)).toEqual([1, 2 ** 53 + 2]);
    expect(Array.from(d.json!.looseRows)).toEqual([6]);
    expect(d.json!.looseValues).toEqual([(1n << 60n) + 1n]);
    const back = ScalarIndex.deserialize(d.serialize());
    expect(back.json).toEqual(d.json);
    expect(Array.from(back.rows)).toEqual([0, 5]);
    expect(ScalarIndex.buildJsonPath(col, ['a'], 'VARCHAR').values).toEqual(['1']);
    expect(Array.from(ScalarIndex.buildJsonPath(col, ['a'], 'BOOL').values as Uint8Array)).toEqual([1]);
    const batch: ColumnBatch = { numRows: 8, column: () => col, scalarIndex: (k) => (k === jsonIndexKey('meta', ['a'], 'DOUBLE') ? { index: back, firstRow: 0 } : undefined) };
    const s: SchemaInfo = { enableDynamicField: false, fields: [{ name: 'meta', type: 'JSON', nullable: true }] };
    expect(Array.from(evaluate(parseExpr('meta["a"] == 1152921504606846977', s), batch))).toEqual([0b01000000]);
    expect(Array.from(evaluate(parseExpr('meta["a"] >= 1', s), batch))).toEqual([0b01100001]);
  });
});

describe('json_path and json_cast_type', () => {
  it('reads paths as filters read them', () => {
    expect(parseJsonPath('meta["a"]["b"]', 'meta')).toEqual(['a', 'b']);
    expect(parseJsonPath("meta['a']", 'meta')).toEqual(['a']);
    expect(jsonIndexKey('meta', parseJsonPath('meta["list"][0]', 'meta'), 'DOUBLE')).toBe(jsonIndexKey('meta', ['list', '0'], 'DOUBLE'));
    expect(() => parseJsonPath('other["a"]', 'meta')).toThrow(/not a path into JSON field meta/);
    expect(() => parseJsonPath('meta["a"] + 1', 'meta')).toThrow(/not a path into JSON field meta/);
    expect(() => parseJsonPath('meta[', 'meta')).toThrow(/json_path meta\[ is not a path into JSON field meta/);
  });

  it('takes 2.5 and 2.6 cast names, and only those Kite builds', () => {
    expect(['bool', 'double', 'varchar', 'BOOL', 'Double', 'VARCHAR'].map(jsonCastType)).toEqual(['BOOL', 'DOUBLE', 'VARCHAR', 'BOOL', 'DOUBLE', 'VARCHAR']);
    expect(['ARRAY_DOUBLE', 'JSON', 'int64', ''].map(jsonCastType)).toEqual([undefined, undefined, undefined, undefined]);
  });
});
