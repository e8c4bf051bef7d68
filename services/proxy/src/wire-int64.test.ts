import { decodeMessage, milvusServiceDefinition } from '@kite/proto';
import { int64Values, queryReplyForWire, searchReplyForWire } from './wire-int64';

const def = milvusServiceDefinition();
const big = ['9007199254740993', '-9223372036854775808', '9223372036854775807', '1000000000000000'];
const ids = [...Array.from({ length: 300 }, (_, i) => String(BigInt(i * 7919 - 500))), ...big];

const query = {
  status: { code: 0, error_code: 'Success', reason: '' }, collection_name: 'c', output_fields: ['id', 'tag'],
  fields_data: [
    { type: 'Int64', field_name: 'id', field_id: '100', is_dynamic: false, valid_data: [], scalars: { long_data: { data: ids } } },
    { type: 'Int32', field_name: 'tag', field_id: '101', is_dynamic: false, valid_data: [], scalars: { int_data: { data: [1, 2] } } },
  ],
};
const search = {
  status: { code: 0, error_code: 'Success', reason: '' }, collection_name: 'c', session_ts: '0',
  results: {
    num_queries: '1', top_k: String(ids.length), scores: ids.map((_, i) => i / 3), ids: { int_id: { data: ids } }, topks: [String(ids.length)],
    output_fields: ['id'], primary_field_name: 'id', distances: [], recalls: [], all_search_count: String(ids.length),
    fields_data: [{ type: 'Int64', field_name: 'id', field_id: '100', is_dynamic: false, valid_data: [], scalars: { long_data: { data: ids } } }],
  },
};

describe('int64 values handed to the reply encoder as numbers', () => {
  it('encodes Search and Query replies to the same bytes, values beyond 2^53 included', () => {
    const q = def.Query!.responseSerialize(queryReplyForWire(query));
    expect(Buffer.compare(q, def.Query!.responseSerialize(query))).toBe(0);
    const s = def.Search!.responseSerialize(searchReplyForWire(search));
    expect(Buffer.compare(s, def.Search!.responseSerialize(search))).toBe(0);
    const back = decodeMessage<{ results: { ids: { int_id: { data: string[] } } } }>('milvus.proto.milvus.SearchResults', s);
    expect(back.results.ids.int_id.data).toEqual(ids);
  });

  it('converts only canonical decimal strings that a double holds exactly, and leaves its input alone', () => {
    const input = ['0', '-12', '123456789012345', '1234567890123456', '007', '1e3', '', ' 5', '-0'];
    const copy = [...input];
    expect(int64Values(input)).toEqual([0, -12, 123456789012345, '1234567890123456', '007', '1e3', '', ' 5', '-0']);
    expect(input).toEqual(copy);
    const untouched = ['1234567890123456789'];
    expect(int64Values(untouched)).toBe(untouched);
    expect(searchReplyForWire(query)).toBe(query);
    expect(searchReplyForWire({ status: { code: 5 } })).toEqual({ status: { code: 5 } });
    expect(queryReplyForWire({ status: { code: 5 } })).toEqual({ status: { code: 5 } });
    expect(search.results.ids.int_id.data).toBe(ids);
    expect(query.fields_data[0]!.scalars.long_data!.data).toBe(ids);
  });
});
