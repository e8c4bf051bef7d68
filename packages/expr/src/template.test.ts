import { KiteError } from '@kite/common';
import { decodeParams, encodeParams, evaluate, parseExpr, templateParams, type ColumnBatch, type SchemaInfo, type TemplateValueWire } from './index';

const schema: SchemaInfo = {
  enableDynamicField: false,
  fields: [
    { name: 'id', type: 'Int64', isPrimaryKey: true },
    { name: 's', type: 'VarChar' },
    { name: 'x', type: 'Double' },
    { name: 'j', type: 'JSON' },
  ],
};
const BIG = 2n ** 62n + 1n; // not a double
const batch: ColumnBatch = {
  numRows: 5,
  column: (name) =>
    ({
      id: { kind: 'int64' as const, data: BigInt64Array.from([1n, 2n, 3n, 4n, BIG]) },
      s: { kind: 'string' as const, data: ['a', 'b', 'c', 'd', 'e'] },
      x: { kind: 'float' as const, data: Float64Array.from([0.5, 1.5, 2.5, 3.5, 4.5]) },
      j: { kind: 'json' as const, data: [[1, 2], [3], 'x', null, { k: 1 }] },
    })[name],
};

function rows(bitmap: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < batch.numRows; i++) if (((bitmap[i >> 3] as number) >> (i & 7)) & 1) out.push(i);
  return out;
}

/**
 * expr_template_values exactly as the proxy receives them: what the Node SDK's formatExprValues builds for
 * `{ ids: [1, 2, 3], one: 5, f: 1.5, s: 'x', names: ['a', 'c'], nested: [[1, 2], [3]], b: true, fl: [1.5, 2.5] }`
 * (pymilvus builds the same members), encoded as a QueryRequest and decoded with Kite's loader options:
 * int64 values arrive as decimal strings, and `val` / `data` name the member that is set.
 */
const fromSdk: Record<string, TemplateValueWire> = {
  ids: { array_val: { long_data: { data: ['1', '2', '3'] }, data: 'long_data' }, val: 'array_val' },
  one: { int64_val: '5', val: 'int64_val' },
  f: { float_val: 1.5, val: 'float_val' },
  s: { string_val: 'x', val: 'string_val' },
  names: { array_val: { string_data: { data: ['a', 'c'] }, data: 'string_data' }, val: 'array_val' },
  nested: {
    array_val: {
      array_data: { data: [{ long_data: { data: ['1', '2'] }, data: 'long_data' }, { long_data: { data: ['3'] }, data: 'long_data' }] },
      data: 'array_data',
    },
    val: 'array_val',
  },
  b: { bool_val: true, val: 'bool_val' },
  fl: { array_val: { double_data: { data: [1.5, 2.5] }, data: 'double_data' }, val: 'array_val' },
};

describe('template parameters', () => {
  it('reads an Int64 list as numbers, so `id in {ids}` is accepted', () => {
    const params = templateParams(fromSdk);
    expect(params).toEqual({ ids: [1n, 2n, 3n], one: 5n, f: 1.5, s: 'x', names: ['a', 'c'], nested: [[1n, 2n], [3n]], b: true, fl: [1.5, 2.5] });
    expect(rows(evaluate(parseExpr('id in {ids}', schema, params), batch))).toEqual([0, 1, 2]);
    expect(rows(evaluate(parseExpr('id not in {ids} and id != {one}', schema, params), batch))).toEqual([3, 4]);
    expect(rows(evaluate(parseExpr('s in {names}', schema, params), batch))).toEqual([0, 2]);
    expect(rows(evaluate(parseExpr('x in {fl}', schema, params), batch))).toEqual([1, 2]);
    expect(rows(evaluate(parseExpr('j in {nested}', schema, params), batch))).toEqual([0, 1]);
  });

  it('keeps int64 values beyond 2^53 exact', () => {
    const params = templateParams({ ids: { array_val: { long_data: { data: [BIG.toString()] }, data: 'long_data' }, val: 'array_val' } });
    expect(rows(evaluate(parseExpr('id in {ids}', schema, params), batch))).toEqual([4]);
    const one = templateParams({ v: { int64_val: (BIG - 1n).toString(), val: 'int64_val' } });
    expect(rows(evaluate(parseExpr('id > {v}', schema, one), batch))).toEqual([4]);
  });

  it('reads values without the oneof discriminator too (the member that is present)', () => {
    expect(templateParams({ ids: { array_val: { long_data: { data: [7, '8'] } } } })).toEqual({ ids: [7n, 8n] });
    expect(templateParams({})).toBeUndefined();
    expect(templateParams(undefined)).toBeUndefined();
  });

  it('parses json_data elements', () => {
    const params = templateParams({ v: { array_val: { json_data: { data: [Buffer.from('[1,2]'), Buffer.from('"x"')] }, data: 'json_data' }, val: 'array_val' } });
    expect(params).toEqual({ v: [[1, 2], 'x'] });
  });

  it('refuses malformed values with a parameter error naming the parameter', () => {
    const bad = (v: TemplateValueWire): KiteError => {
      try {
        templateParams({ p: v });
      } catch (e) {
        if (e instanceof KiteError) return e;
        throw e;
      }
      throw new Error('expected an error');
    };
    expect(bad({ int64_val: '1.5', val: 'int64_val' }).message).toContain('{p}: 1.5 is not an int64');
    expect(bad({ int64_val: (2n ** 63n).toString(), val: 'int64_val' }).kind).toBe('ParameterInvalid');
    expect(templateParams({ p: { val: null } })).toEqual({});
    expect(() => parseExpr('id == {p}', schema, templateParams({ p: { val: null } }))).toThrow(/template parameter \{p\} has no value/);
    let deep: TemplateValueWire['array_val'] = { long_data: { data: ['1'] }, data: 'long_data' };
    for (let i = 0; i < 10000; i++) deep = { array_data: { data: [deep] }, data: 'array_data' };
    const e = bad({ array_val: deep, val: 'array_val' });
    expect(e.kind).toBe('ParameterInvalid');
    expect(e.message).toContain('more than 256 levels deep');
  });

  it('crosses the internal RPC as text with int64 values intact', () => {
    const params = templateParams({ ...fromSdk, big: { int64_val: BIG.toString(), val: 'int64_val' } });
    const text = encodeParams(params);
    expect(decodeParams(text)).toEqual(params);
    expect(encodeParams(undefined)).toBe('');
    expect(decodeParams('')).toBeUndefined();
    expect(decodeParams('{"a":[1,2.5,"x"]}')).toEqual({ a: [1, 2.5, 'x'] }); // plain JSON reads as it is
  });
});
