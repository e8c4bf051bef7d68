import { KiteError } from '@kite/common';
import type { CollectionSchema } from '@kite/proto';
import { checkArrayField } from './array-fields';
import { fieldToWire, schemaToFields } from './schema';

const arrayField = (element_type: unknown, params: Record<string, string>, extra: Record<string, unknown> = {}) => ({
  name: 'tags', element_type, ...extra, params,
});

describe('Array field schema', () => {
  it('accepts every element type with max_capacity 1..4096, and max_length for VarChar elements', () => {
    for (const t of ['Bool', 'Int8', 'Int16', 'Int32', 'Int64', 'Float', 'Double']) {
      const p = { max_capacity: ' 4096 ', max_length: '9' };
      expect(checkArrayField('c', arrayField(t, p), p)).toBe(t);
      expect(p).toEqual({ max_capacity: '4096' });
    }
    const p = { max_capacity: '1', max_length: '65535' };
    expect(checkArrayField('c', arrayField('VarChar', p), p)).toBe('VarChar');
    expect(p).toEqual({ max_capacity: '1', max_length: '65535' });
  });

  const refused: [unknown, Record<string, string>, RegExp, Record<string, unknown>][] = [
    ['Int64', {}, /^type param\(max_capacity\) should be specified for array field of collection c: field "tags"/, {}],
    ['Int64', { max_capacity: '0' }, /^the maximum capacity specified for a Array should be in \(0, 4096\]: field "tags" has max_capacity 0/, {}],
    ['Int64', { max_capacity: '4097' }, /should be in \(0, 4096\]/, {}],
    ['Int64', { max_capacity: '1.5' }, /^the value of max_capacity must be an integer/, {}],
    ['VarChar', { max_capacity: '3' }, /^type param\(max_length\) should be specified for varChar field of collection c: Array field "tags"/, {}],
    ['VarChar', { max_capacity: '3', max_length: '0' }, /^the maximum length specified for a VarChar should be in \(0, 65535\]/, {}],
    ['JSON', { max_capacity: '3' }, /^element type JSON is not supported: field "tags" is an Array; set element_type to one of Bool, Int8/, {}],
    ['FloatVector', { max_capacity: '3' }, /^element type FloatVector is not supported/, {}],
    ['None', { max_capacity: '3' }, /^element data type None is not valid/, {}],
    [undefined, { max_capacity: '3' }, /^element data type None is not valid/, {}],
    ['Int64', { max_capacity: '3' }, /^the data type of primary key should be Int64 or VarChar: field "tags" is an Array/, { is_primary_key: true }],
  ];
  it.each(refused)('refuses element type %s with %j', (t, params, re, extra) => {
    let err: unknown;
    try {
      checkArrayField('c', arrayField(t, params, extra), { ...params });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KiteError);
    expect((err as KiteError).message).toMatch(re);
  });

  it('goes through CreateCollection and is described back with element_type and type params', () => {
    const schema = {
      name: 'c',
      fields: [
        { name: 'id', data_type: 'Int64', is_primary_key: true },
        { name: 'v', data_type: 'FloatVector', type_params: [{ key: 'dim', value: '4' }] },
        { name: 'tags', data_type: 'Array', element_type: 'VarChar', type_params: [{ key: 'max_capacity', value: '8' }, { key: 'max_length', value: '16' }] },
      ],
    } as unknown as CollectionSchema;
    const { fields } = schemaToFields(schema, 'c');
    const tags = fields.find((f) => f.name === 'tags')!;
    expect(tags).toMatchObject({ data_type: 'Array', element_type: 'VarChar', type_params: { max_capacity: '8', max_length: '16' } });
    const wire = fieldToWire({
      fieldID: 102, name: 'tags', dataType: 'Array', elementType: 'VarChar', isPrimaryKey: false, autoID: false, description: '',
      typeParams: tags.type_params, isDynamic: false, isPartitionKey: false, nullable: false,
    });
    expect(wire).toMatchObject({ data_type: 'Array', element_type: 'VarChar', type_params: [{ key: 'max_capacity', value: '8' }, { key: 'max_length', value: '16' }] });
    const pk = { ...schema, fields: [...schema.fields.slice(0, 2), { name: 'tags', data_type: 'Array', element_type: 'Int64', is_partition_key: true, type_params: [{ key: 'max_capacity', value: '8' }] }] } as unknown as CollectionSchema;
    expect(() => schemaToFields(pk, 'c')).toThrow(/the data type of partition key should be Int64 or VarChar/);
  });
});
