import * as os from 'node:os';
import { milvusProtobufRoot } from '@kite/proto';
import { searchReplyForWire } from './wire-int64';

/**
 * The bytes of a SearchResults reply with many hits, written without protobufjs for its bulk arrays.
 *
 * On the generic path every primary key goes bigint -> decimal string (the reply's shape, which the REST API and the
 * iterators read) -> number -> protobufjs Long -> varint, and every score through protobufjs's float writer: for an
 * nq=100 search (1,000 hits) that was about a sixth of the event loop's time per request, and much of its garbage.
 * Here the keys (in `ids`, and in an Int64 output column such as the primary key, which Milvus returns with every
 * hit) are written as varints straight from the BigInt64Array the strings were made from (idsOf and fieldData
 * register it with the string array, see withKeys) and the scores as one block of little-endian floats; everything
 * else in the message goes through protobufjs as before. The fields_data (3), scores (4) and ids (5) of
 * SearchResultData are appended after its other fields, and the results (2) after SearchResults' other fields:
 * protobuf readers accept fields in any order (repeated ones keep theirs), so every SDK decodes the same message
 * (the tests decode both forms and compare them).
 *
 * A reply this cannot vouch for (string keys, a key array not registered or not matching, few hits) goes the generic
 * way unchanged.
 */

/** The scores are written as the host's floats, which must be protobuf's little-endian ones. */
const LITTLE_ENDIAN = os.endianness() === 'LE';

/** Below this many hits the generic encoder is as quick, and the reply small. */
const MIN_HITS = 32;

/** Int64 primary keys as decimal strings (the reply's `ids.int_id.data`) -> the values they were written from. */
const keysOf = new WeakMap<readonly string[], BigInt64Array>();

/** Registers `values` as the int64 keys that `strings` spells (same length, same order); returns `strings`. */
export function withKeys(strings: string[], values: BigInt64Array): string[] {
  if (strings.length === values.length) keysOf.set(strings, values);
  return strings;
}

interface LongField {
  scalars?: { long_data?: { data?: readonly unknown[] } | null } | null;
}

interface Reply {
  results?: {
    ids?: { int_id?: { data?: readonly string[] } | null; str_id?: { data?: readonly string[] } | null } | null;
    scores?: readonly number[] | Float32Array;
    fields_data?: readonly LongField[];
  } | null;
}

type MessageType = ReturnType<ReturnType<typeof milvusProtobufRoot>['lookupType']>;

let types: { resultData: MessageType; fieldData: MessageType } | undefined;

function messageTypes(): { resultData: MessageType; fieldData: MessageType } {
  if (types === undefined) {
    const root = milvusProtobufRoot();
    types = { resultData: root.lookupType('milvus.proto.schema.SearchResultData'), fieldData: root.lookupType('milvus.proto.schema.FieldData') };
  }
  return types;
}

const LEN = 2; // wire type of a length-delimited field

/** Bytes a varint of `n` (0 <= n < 2^53) takes. */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes `n` (0 <= n < 2^53) as a varint at `at`; returns the position after it. */
function putVarint(buf: Uint8Array, at: number, n: number): number {
  while (n >= 128) {
    buf[at++] = (n % 128) | 128;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

const TWO_53 = 2n ** 53n;

/** The packed varints of int64 `values` (negative ones as 10-byte two's complement, as protobuf writes int64). */
function packedInt64(values: BigInt64Array): Uint8Array {
  const out = new Uint8Array(values.length * 10);
  let at = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v >= 0n && v < TWO_53) {
      at = putVarint(out, at, Number(v));
      continue;
    }
    let u = BigInt.asUintN(64, v);
    while (u >= 128n) {
      out[at++] = Number(u & 127n) | 128;
      u >>= 7n;
    }
    out[at++] = Number(u);
  }
  return out.subarray(0, at);
}

/** A length-delimited field: tag, length, then the parts. */
function lengthDelimited(field: number, parts: readonly Uint8Array[]): Uint8Array[] {
  const len = parts.reduce((s, p) => s + p.length, 0);
  const head = new Uint8Array(varintSize(field * 8 + LEN) + varintSize(len));
  putVarint(head, putVarint(head, 0, field * 8 + LEN), len);
  return [head, ...parts];
}

/** One FieldData's bytes: an Int64 column with registered values written directly, any other through protobufjs. */
function fieldDataBytes(f: LongField): Uint8Array[] {
  const data = f.scalars?.long_data?.data;
  const keys = data === undefined ? undefined : keysOf.get(data as readonly string[]);
  const { fieldData } = messageTypes();
  if (keys === undefined || keys.length !== data!.length) {
    const plain = (searchReplyForWire({ results: { fields_data: [f] } }) as Reply).results!.fields_data![0]!;
    return [fieldData.encode(fieldData.fromObject(plain as Record<string, unknown>)).finish()];
  }
  // FieldData without its scalars, then scalars (3) { long_data (3) { data (1) [packed] } } appended.
  const rest = fieldData.encode(fieldData.fromObject({ ...f, scalars: null } as Record<string, unknown>)).finish();
  return [rest, ...lengthDelimited(3, lengthDelimited(3, lengthDelimited(1, [packedInt64(keys)])))];
}

/**
 * Serializes a SearchResults reply (Search, HybridSearch). `generic` is the service definition's serializer of the
 * whole message (protobufjs through proto-loader), used for the rest of the message and for replies this does not
 * take.
 */
export function encodeSearchReply(reply: unknown, generic: (r: unknown) => Buffer): Buffer {
  const r = (reply as Reply | null)?.results;
  const strings = r?.ids?.int_id?.data;
  const keys = strings === undefined ? undefined : keysOf.get(strings);
  if (!r || strings === undefined || keys === undefined || keys.length !== strings.length || keys.length < MIN_HITS || !LITTLE_ENDIAN || (r.ids?.str_id?.data?.length ?? 0) > 0) {
    return generic(searchReplyForWire(reply));
  }
  // Everything but the bulk arrays through protobufjs, as the generic path writes it.
  const outer = generic({ ...(reply as object), results: null });
  const { resultData } = messageTypes();
  const parts: Uint8Array[] = [resultData.encode(resultData.fromObject({ ...r, ids: null, scores: [], fields_data: [] } as Record<string, unknown>)).finish()];
  // fields_data (3) in order, each one element of the repeated field.
  for (const f of r.fields_data ?? []) parts.push(...lengthDelimited(3, fieldDataBytes(f)));
  const scores = r.scores instanceof Float32Array ? r.scores : Float32Array.from(r.scores ?? []);
  if (scores.length > 0) parts.push(...lengthDelimited(4, [new Uint8Array(scores.buffer, scores.byteOffset, scores.byteLength)]));
  // ids (5): IDs { LongArray int_id = 1 { repeated int64 data = 1 [packed] } }
  parts.push(...lengthDelimited(5, lengthDelimited(1, lengthDelimited(1, [packedInt64(keys)]))));
  return Buffer.concat([outer, ...lengthDelimited(2, parts)]);
}
