import { clip, toKiteError, type KiteError } from '@kite/common';
import { ERROR_CODES, milvusProtobufRoot, type ErrorCode, type KeyValuePair, type MilvusMethodName, type Status } from '@kite/proto';

/** Success: what every handler answers with (alone, or as `status`) when the call worked. */
export const OK: Status = { error_code: 'Success', reason: '', code: 0, retriable: false, detail: '', extra_info: {} };

/** Longest error text a reply carries: messages that echo user input stay small whatever the input's size. */
const MAX_REASON = 2048;

let legacyNames: Record<number, string> | undefined;
const isErrorCode = (name: string | undefined): name is ErrorCode => name !== undefined && name in ERROR_CODES;
function legacyName(n: number): ErrorCode {
  legacyNames ??= milvusProtobufRoot().lookupEnum('milvus.proto.common.ErrorCode').valuesById;
  const name = legacyNames[n];
  return isErrorCode(name) ? name : 'UnexpectedError';
}

/** A failure as a Milvus status: the Milvus code, the legacy error code the Node SDK checks, and the message. */
export function statusOf(e: unknown): Status {
  const k = toKiteError(e);
  const reason = clip(k.message, MAX_REASON);
  return { error_code: legacyName(k.legacyCode), reason, code: k.code, retriable: k.retriable, detail: reason, extra_info: {} };
}

/** Methods whose response is a bare common.Status (their errors are the response itself). */
const STATUS_ONLY = new Set(
  milvusProtobufRoot()
    .lookupService('milvus.proto.milvus.MilvusService')
    .methodsArray.filter((m) => (m.resolve(), m.resolvedResponseType?.fullName === '.milvus.proto.common.Status'))
    .map((m) => m.name),
);

/** The response of `method` that carries a failure: the status itself, or a response with only `status` set. */
export function errorResponse(method: MilvusMethodName | string, err: KiteError): Status | { status: Status } {
  return STATUS_ONLY.has(method) ? statusOf(err) : { status: statusOf(err) };
}

/** Milvus's key-value lists as a record (a later duplicate wins). */
export const kvs = (list: readonly KeyValuePair[] | undefined | null): Record<string, string> =>
  Object.fromEntries((list ?? []).map((p) => [p.key, p.value]));

/** A hybrid timestamp's physical part (ms since the epoch) as the decimal text Milvus sends in `*_utc_timestamp`. */
export const utcOf = (ts: string): string => String(Number(BigInt(ts) >> 18n));
