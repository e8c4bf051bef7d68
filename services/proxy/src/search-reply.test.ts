import { decodeMessage, milvusServiceDefinition } from '@kite/proto';
import { encodeSearchReply, withKeys } from './search-reply';
import { searchReplyForWire } from './wire-int64';

const def = milvusServiceDefinition();
const generic = (r: unknown): Buffer => def.Search!.responseSerialize(r);

const extremes = [2n ** 53n + 1n, -(2n ** 63n), 2n ** 63n - 1n, 10n ** 15n, -1n, 0n, 127n, 128n, 16383n, 16384n];

function reply(keys: BigInt64Array, register: boolean) {
  const strings = Array.from(keys, (v) => v.toString());
  const ids = register ? withKeys(strings, keys) : strings;
  // The primary key as an output column too (Milvus returns it with every hit): its own registered array.
  const column = Array.from(keys, (v) => v.toString());
  if (register) withKeys(column, keys);
  const n = keys.length;
  return {
    status: { code: 0, error_code: 'Success', reason: '' }, collection_name: 'c', session_ts: '7',
    results: {
      num_queries: '4', top_k: String(n / 4), scores: Array.from({ length: n }, (_, i) => i / 3 - 5), ids: { int_id: { data: ids } }, topks: ['1', '2', String(n - 3), '0'],
      output_fields: ['id', 'tag'], primary_field_name: 'id', distances: [], recalls: [], all_search_count: String(n),
      fields_data: [
        { type: 'Int64', field_name: 'id', field_id: '100', is_dynamic: false, valid_data: [], scalars: { long_data: { data: column } } },
        { type: 'Int64', field_name: 'other', field_id: '102', is_dynamic: false, valid_data: [], scalars: { long_data: { data: ['5', '-6', '9223372036854775807'] } } },
        { type: 'Float', field_name: 'tag', field_id: '101', is_dynamic: false, valid_data: [], scalars: { float_data: { data: Array.from({ length: n }, (_, i) => i * 0.25) } } },
      ],
    },
  };
}

const decode = (b: Buffer): unknown => decodeMessage('milvus.proto.milvus.SearchResults', b);

describe('search replies with many hits: keys and scores written directly', () => {
  it('decodes to exactly the message the generic encoder writes, keys of every size and sign included', () => {
    const keys = BigInt64Array.from([...Array.from({ length: 990 }, (_, i) => BigInt(i * 7919 - 500)), ...extremes]);
    const r = reply(keys, true);
    const fast = encodeSearchReply(r, generic);
    const slow = generic(searchReplyForWire(reply(keys, false)));
    expect(Buffer.compare(fast, slow)).not.toBe(0); // the fast path was taken: its field order differs
    expect(decode(fast)).toEqual(decode(slow));
    const back = decode(fast) as { results: { ids: { int_id: { data: string[] } }; scores: number[] }; session_ts: string };
    expect(back.results.ids.int_id.data).toEqual(Array.from(keys, String));
    expect(back.results.scores[3]).toBeCloseTo(3 / 3 - 5, 5);
    expect(back.session_ts).toBe('7');
    // The Node SDK's decoder (the service definition's own) reads it the same way too.
    expect(def.Search!.responseDeserialize(fast)).toEqual(def.Search!.responseDeserialize(slow));
  });

  it('leaves to the generic encoder what it cannot vouch for: unregistered keys, few hits, string keys, no results', () => {
    const keys = BigInt64Array.from({ length: 100 }, (_, i) => BigInt(i));
    const unregistered = reply(keys, false);
    expect(Buffer.compare(encodeSearchReply(unregistered, generic), generic(searchReplyForWire(unregistered)))).toBe(0);
    const few = reply(BigInt64Array.from({ length: 8 }, (_, i) => BigInt(i)), true);
    expect(Buffer.compare(encodeSearchReply(few, generic), generic(searchReplyForWire(few)))).toBe(0);
    // Keys registered for one array do not vouch for a different array (a copy, or a page of it).
    const r = reply(keys, true);
    const copied = { ...r, results: { ...r.results, ids: { int_id: { data: [...r.results.ids.int_id.data] } } } };
    expect(Buffer.compare(encodeSearchReply(copied, generic), generic(searchReplyForWire(copied)))).toBe(0);
    // A reply without results, and one with string keys.
    expect(encodeSearchReply({ status: { code: 5, reason: 'x' } }, generic)).toEqual(generic({ status: { code: 5, reason: 'x' } }));
    const strings = { status: { code: 0 }, results: { num_queries: '1', top_k: '40', ids: { str_id: { data: Array.from({ length: 40 }, (_, i) => `k${i}`) } }, scores: new Array(40).fill(1) } };
    expect(Buffer.compare(encodeSearchReply(strings, generic), generic(strings))).toBe(0);
  });
});
