import type { FieldMeta } from '@kite/segment';
import { sameJsonPath, scalarIndexSpec } from './scalar-index';

const json: FieldMeta = { fieldID: 101, name: 'meta', dataType: 'JSON', isPrimaryKey: false, autoID: false, description: '', typeParams: {}, isDynamic: false, isPartitionKey: false, nullable: false };

describe('JSON path index params', () => {
  it('takes json_path and json_cast_type (2.5 lower case, 2.6 upper case) with INVERTED or AUTOINDEX', () => {
    expect(scalarIndexSpec(json, 'INVERTED', { json_path: 'meta["a"]["b"]', json_cast_type: 'double' })).toEqual({ indexType: 'INVERTED', params: { json_path: 'meta["a"]["b"]', json_cast_type: 'DOUBLE' } });
    expect(scalarIndexSpec(json, 'AUTOINDEX', { json_path: "meta['a']", json_cast_type: 'VARCHAR' }).params.json_cast_type).toBe('VARCHAR');
    expect(scalarIndexSpec(json, 'inverted', { json_path: 'meta["f"]', json_cast_type: 'Bool', 'mmap.enabled': 'false' }).params.json_cast_type).toBe('BOOL');
  });

  it.each([
    ['INVERTED', { json_cast_type: 'double' }, /json_path is required for an index on JSON field meta/],
    ['INVERTED', { json_path: 'meta["a"]' }, /json_cast_type is required .* one of BOOL, DOUBLE, VARCHAR/],
    ['INVERTED', { json_path: 'meta["a"]', json_cast_type: 'ARRAY_VARCHAR' }, /json_cast_type "ARRAY_VARCHAR" is not supported for JSON field meta: Kite builds BOOL, DOUBLE, VARCHAR/],
    ['INVERTED', { json_path: 'meta["a"]', json_cast_type: 'JSON' }, /json_cast_type "JSON" is not supported/],
    ['INVERTED', { json_path: 'meta["a"] == 1', json_cast_type: 'double' }, /json_path meta\["a"\] == 1 is not a path into JSON field meta/],
    ['INVERTED', { json_path: 'meta["a"]', json_cast_type: 'double', json_cast_function: 'STRING_TO_DOUBLE' }, /"json_cast_function" is not supported .* does not convert values/],
    ['BITMAP', { json_path: 'meta["a"]', json_cast_type: 'double' }, /a JSON field takes INVERTED or AUTOINDEX with json_path and json_cast_type/],
  ] as [string, Record<string, unknown>, RegExp][])('%s %j is refused naming the fix', (type, params, message) => {
    expect(() => scalarIndexSpec(json, type, params)).toThrow(expect.objectContaining({ kind: 'ParameterInvalid', message: expect.stringMatching(message) }));
  });

  it('tells one path and cast type from another', () => {
    const p = (path: string, cast: string): Record<string, string> => ({ json_path: path, json_cast_type: cast });
    expect(sameJsonPath(p('meta["a"]', 'DOUBLE'), p("meta['a']", 'DOUBLE'), 'meta')).toBe(true);
    expect(sameJsonPath(p('meta["a"][0]', 'DOUBLE'), p('meta["a"]["0"]', 'DOUBLE'), 'meta')).toBe(true);
    expect(sameJsonPath(p('meta["a"]', 'DOUBLE'), p('meta["a"]', 'VARCHAR'), 'meta')).toBe(false);
    expect(sameJsonPath(p('meta["a"]', 'DOUBLE'), p('meta["b"]', 'DOUBLE'), 'meta')).toBe(false);
    expect(sameJsonPath({}, {}, 'i32')).toBe(true);
  });
});
