/**
 * Search and Query replies carry int64 values (primary keys in `ids`, Int64 output columns in `long_data`) as
 * decimal strings, the form the rest of the proxy (and the REST API) reads. On the gRPC path protobufjs turns each
 * one into a Long before encoding it: `Long.fromString` multiplies Longs per group of digits, about 0.17 ms per
 * 1,000 values on the event loop, while a number goes through one division (`Long.fromNumber`). This hands the
 * encoder numbers for every value that a double holds exactly (up to 15 characters: |v| < 10^15 < 2^53), so the
 * bytes on the wire are the same; longer values stay strings.
 */

/** `data` with every short decimal string as a number (a new array when anything changed; the input is left alone). */
export function int64Values(data: readonly unknown[]): readonly unknown[] {
  let out: unknown[] | undefined;
  for (let i = 0; i < data.length; i++) {
    const s = data[i];
    if (typeof s !== 'string' || s.length === 0 || s.length > 15) continue;
    const n = Number(s);
    // Only canonical integers (what bigint.toString() writes): anything else is left to protobufjs as it was.
    if (!Number.isSafeInteger(n) || String(n) !== s) continue;
    out ??= data.slice();
    out[i] = n;
  }
  return out ?? data;
}

interface LongData {
  data?: readonly unknown[];
}
interface FieldData {
  scalars?: { long_data?: LongData | null } | null;
}

function fieldsWithNumbers(fields: readonly FieldData[] | undefined): readonly FieldData[] | undefined {
  if (!fields) return fields;
  let out: FieldData[] | undefined;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const long = f.scalars?.long_data;
    if (!long?.data || long.data.length === 0) continue;
    const data = int64Values(long.data);
    if (data === long.data) continue;
    out ??= fields.slice();
    out[i] = { ...f, scalars: { ...f.scalars, long_data: { ...long, data } } };
  }
  return out ?? fields;
}

interface SearchReply {
  results?: { ids?: { int_id?: LongData | null } | null; fields_data?: readonly FieldData[] } | null;
}
interface QueryReply {
  fields_data?: readonly FieldData[];
}

/** A SearchResults reply (Search, HybridSearch) ready for the encoder: same message, int64 values as numbers. */
export function searchReplyForWire<T>(reply: T): T {
  const r = (reply as SearchReply | null)?.results;
  if (!r) return reply;
  const ids = r.ids?.int_id?.data;
  const newIds = ids ? int64Values(ids) : ids;
  const fields = fieldsWithNumbers(r.fields_data);
  if (newIds === ids && fields === r.fields_data) return reply;
  return {
    ...reply,
    results: { ...r, ...(newIds === ids ? {} : { ids: { ...r.ids, int_id: { ...r.ids!.int_id, data: newIds } } }), fields_data: fields },
  } as T;
}

/** A QueryResults reply ready for the encoder: same message, int64 values as numbers. */
export function queryReplyForWire<T>(reply: T): T {
  const fields = (reply as QueryReply | null)?.fields_data;
  const out = fieldsWithNumbers(fields);
  return out === fields ? reply : ({ ...reply, fields_data: out } as T);
}
