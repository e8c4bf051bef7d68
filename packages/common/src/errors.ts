/**
 * Kite's error catalogue. Every error that crosses a component boundary is a KiteError with a stable numeric
 * code (Milvus's `merr` codes, so SDKs that branch on them behave as with Milvus), the legacy `ErrorCode` enum value
 * the older SDK paths still read, and a retriable flag that the proxy's retry loop and the SDKs honour.
 */

/** Milvus's legacy common.ErrorCode values that SDKs still branch on. */
export const LegacyCode = {
  Success: 0,
  UnexpectedError: 1,
  CollectionNotExists: 4,
  IllegalArgument: 5,
  IllegalDimension: 7,
  IllegalIndexType: 8,
  IllegalCollectionName: 9,
  IllegalTOPK: 10,
  IndexNotExist: 25,
  NotReadyServe: 1,
} as const;

interface ErrorSpec {
  code: number;
  legacy: number;
  retriable: boolean;
}

/** Thrown-when comments mirror the condition each code names. */
export const ErrorCodes = {
  /** A component has not finished starting or is stopping. */
  ServiceNotReady: { code: 1, legacy: LegacyCode.NotReadyServe, retriable: true },
  /** A dependency (node, channel, store) did not answer. */
  ServiceUnavailable: { code: 2, legacy: LegacyCode.UnexpectedError, retriable: true },
  /** The request exceeded a size limit (gRPC message size, rows per request). */
  RequestTooLarge: { code: 4, legacy: LegacyCode.IllegalArgument, retriable: false },
  /** An invariant broke inside Kite. */
  Internal: { code: 5, legacy: LegacyCode.UnexpectedError, retriable: false },
  /** The RPC is part of Milvus's API but Kite does not serve it. */
  Unimplemented: { code: 10, legacy: LegacyCode.UnexpectedError, retriable: false },
  /** The named collection (or alias) does not exist. */
  CollectionNotFound: { code: 100, legacy: LegacyCode.CollectionNotExists, retriable: false },
  /** Search or query on a collection that is not loaded. */
  CollectionNotLoaded: { code: 101, legacy: LegacyCode.UnexpectedError, retriable: false },
  /** The collection is loading but not all of it is served yet. */
  CollectionNotFullyLoaded: { code: 103, legacy: LegacyCode.UnexpectedError, retriable: true },
  /** A schema that cannot be created (duplicate fields, no vector field, bad type params). */
  IllegalSchema: { code: 105, legacy: LegacyCode.IllegalArgument, retriable: false },
  /** The partition does not exist. */
  PartitionNotFound: { code: 200, legacy: LegacyCode.UnexpectedError, retriable: false },
  /** No replica could serve a request in time. */
  ReplicaNotAvailable: { code: 401, legacy: LegacyCode.UnexpectedError, retriable: true },
  /** A shard channel has no serving delegator right now. */
  ChannelNotAvailable: { code: 503, legacy: LegacyCode.UnexpectedError, retriable: true },
  /** A segment could not be loaded. */
  SegmentLoadFailed: { code: 604, legacy: LegacyCode.UnexpectedError, retriable: true },
  /** The field has no index. */
  IndexNotFound: { code: 700, legacy: LegacyCode.IndexNotExist, retriable: false },
  /** Index type or metric not supported, or bad index parameters. */
  IndexNotSupported: { code: 701, legacy: LegacyCode.IllegalIndexType, retriable: false },
  /** A different index already exists on the field. */
  IndexDuplicate: { code: 702, legacy: LegacyCode.IllegalArgument, retriable: false },
  /** The target node is offline. */
  NodeOffline: { code: 902, legacy: LegacyCode.UnexpectedError, retriable: true },
  /** A storage read or write failed. */
  IoFailed: { code: 1001, legacy: LegacyCode.UnexpectedError, retriable: true },
  /** A request parameter is wrong; the message names the field and the fix. */
  ParameterInvalid: { code: 1100, legacy: LegacyCode.IllegalArgument, retriable: false },
  /** A required parameter is missing. */
  ParameterMissing: { code: 1101, legacy: LegacyCode.IllegalArgument, retriable: false },
  /** The alias does not exist. */
  AliasNotFound: { code: 1600, legacy: LegacyCode.UnexpectedError, retriable: false },
  /** An alias cannot share a name with a collection. */
  AliasCollectionNameConflict: { code: 1601, legacy: LegacyCode.IllegalArgument, retriable: false },
  /** The alias already exists (for another collection). */
  AliasAlreadyExists: { code: 1602, legacy: LegacyCode.IllegalArgument, retriable: false },
  /** The collection already exists (with a different schema). */
  CollectionAlreadyExists: { code: 1102, legacy: LegacyCode.IllegalArgument, retriable: false },
  /** The filter expression cannot be parsed or type-checked. */
  ExpressionInvalid: { code: 1100, legacy: LegacyCode.IllegalArgument, retriable: false },
  /** The dimension of a vector does not match the field. */
  DimensionMismatch: { code: 1100, legacy: LegacyCode.IllegalDimension, retriable: false },
  /** A meta store operation failed (lost lease, compare-and-swap conflict beyond retries). */
  MetaFailed: { code: 1001, legacy: LegacyCode.UnexpectedError, retriable: true },
  /** The named database does not exist (Kite serves only "default"). */
  DatabaseNotFound: { code: 800, legacy: LegacyCode.UnexpectedError, retriable: false },
  /** The deadline passed before the request completed. */
  DeadlineExceeded: { code: 2, legacy: LegacyCode.UnexpectedError, retriable: true },
  /**
   * A server could not listen on its address at start-up (port held by another process, a privileged port, an
   * address that is not local). The process does not start, so no client sees it; the code is ServiceUnavailable's.
   */
  ListenFailed: { code: 2, legacy: LegacyCode.UnexpectedError, retriable: false },
  /** A store's directory is locked by another running process (its LOCK file names a live pid). */
  DirectoryLocked: { code: 1001, legacy: LegacyCode.UnexpectedError, retriable: false },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorKind = keyof typeof ErrorCodes;

export class KiteError extends Error {
  readonly kind: ErrorKind;
  readonly code: number;
  readonly legacyCode: number;
  readonly retriable: boolean;

  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown; retriable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    const spec: ErrorSpec = ErrorCodes[kind];
    this.name = 'KiteError';
    this.kind = kind;
    this.code = spec.code;
    this.legacyCode = spec.legacy;
    this.retriable = options?.retriable ?? spec.retriable;
  }
}

export function isKiteError(e: unknown): e is KiteError {
  return e instanceof KiteError;
}

/** Wraps anything thrown into a KiteError, keeping a KiteError as it is. */
export function toKiteError(e: unknown, fallback: ErrorKind = 'Internal'): KiteError {
  if (e instanceof KiteError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new KiteError(fallback, message, { cause: e });
}

export const invalid = (message: string): KiteError => new KiteError('ParameterInvalid', message);

/**
 * User input echoed in a message, cut to `max` characters with a note of how much was left out, so that an error
 * about a 1 MB name or a 100 MB filter stays small.
 */
export function clip(text: string, max = 256): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length - max} more characters)`;
}
