/**
 * Kite's error catalogue. Every error that crosses a component boundary is a KiteError with a stable numeric
 * code (Milvus's `merr` codes, so SDKs that branch on them behave as with Milvus), the legacy `ErrorCode` enum value
 * the older SDK paths still read, and a retriable flag that the proxy's retry loop and the SDKs honour.
 */

/**
 * Milvus's legacy common.ErrorCode values that SDKs still branch on, each defined once with its value in Milvus's
 * common.proto (a unit test checks that no two names share a value).
 */
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
  NotReadyServe: 56,
  SchemaMismatch: 62,
} as const;

interface ErrorSpec {
  /** Milvus's `merr` code (pkg/util/merr/errors.go). */
  code: number;
  legacy: number;
  retriable: boolean;
  /**
   * Set when this kind answers with another kind's code on purpose: that kind (which owns the code) and why a
   * client should not tell the two apart by code. Two kinds with one code and no such note fail a unit test.
   */
  sharesCodeOf?: { kind: string; why: string };
}

/**
 * Thrown-when comments mirror the condition each code names. Every kind has its own code, or names the kind whose
 * code it shares (`sharesCodeOf`) and why: Milvus has fewer codes than Kite has kinds, and SDKs branch on the code.
 */
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
  /** Missing or wrong credentials while security.authorizationEnabled is on (answered as gRPC UNAUTHENTICATED). */
  NotAuthenticated: { code: 1400, legacy: LegacyCode.UnexpectedError, retriable: false },
  /** The caller may not do this (e.g. delete root, change another user's password without being root). */
  PrivilegeNotPermitted: { code: 1401, legacy: LegacyCode.UnexpectedError, retriable: false },
  /** The alias does not exist. */
  AliasNotFound: { code: 1600, legacy: LegacyCode.UnexpectedError, retriable: false },
  /** An alias cannot share a name with a collection. */
  AliasCollectionNameConflict: { code: 1601, legacy: LegacyCode.IllegalArgument, retriable: false },
  /** The alias already exists (for another collection). */
  AliasAlreadyExists: { code: 1602, legacy: LegacyCode.IllegalArgument, retriable: false },
  /**
   * An insert or upsert was built from a schema older than the collection's (schema_timestamp below its last schema
   * change, e.g. AddCollectionField): pymilvus describes the collection again and retries on the legacy code.
   */
  CollectionSchemaMismatch: { code: 106, legacy: LegacyCode.SchemaMismatch, retriable: false },
  /** The collection already exists (with a different schema). */
  CollectionAlreadyExists: {
    code: 1100,
    legacy: LegacyCode.IllegalArgument,
    retriable: false,
    sharesCodeOf: {
      kind: 'ParameterInvalid',
      why: 'Milvus answers a create with a taken name and another schema with its invalid-parameter error; it has no code of its own (1102 is Milvus\'s "parameter too large")',
    },
  },
  /** The filter expression cannot be parsed or type-checked. */
  ExpressionInvalid: {
    code: 1100,
    legacy: LegacyCode.IllegalArgument,
    retriable: false,
    sharesCodeOf: { kind: 'ParameterInvalid', why: 'Milvus reports a bad filter as an invalid parameter (the filter is one); the message says what is wrong with it' },
  },
  /** The dimension of a vector does not match the field. */
  DimensionMismatch: {
    code: 1100,
    legacy: LegacyCode.IllegalDimension,
    retriable: false,
    sharesCodeOf: { kind: 'ParameterInvalid', why: 'Milvus has no code for it; the legacy code (IllegalDimension) is what tells it apart, as in Milvus' },
  },
  /** A meta store operation failed (lost lease, compare-and-swap conflict beyond retries). */
  MetaFailed: {
    code: 1001,
    legacy: LegacyCode.UnexpectedError,
    retriable: true,
    sharesCodeOf: { kind: 'IoFailed', why: 'the meta store (etcd) is storage to a client, and Milvus reports its failures as IO failures' },
  },
  /** The named database does not exist. */
  DatabaseNotFound: { code: 800, legacy: LegacyCode.UnexpectedError, retriable: false },
  /** CreateDatabase beyond Milvus's rootCoord.maxDatabaseNum (64). */
  DatabaseNumLimitExceeded: { code: 801, legacy: LegacyCode.UnexpectedError, retriable: false },
  /** A database name breaks Milvus's rule (letters, digits, underscores; first a letter or underscore; at most 64). */
  DatabaseNameInvalid: { code: 802, legacy: LegacyCode.UnexpectedError, retriable: false },
  /** CreateDatabase with a name already taken: Milvus answers "database already exist: <name>" with its generic code. */
  DatabaseAlreadyExists: { code: 65535, legacy: LegacyCode.UnexpectedError, retriable: false },
  /** The deadline passed before the request completed. */
  DeadlineExceeded: {
    code: 2,
    legacy: LegacyCode.UnexpectedError,
    retriable: true,
    sharesCodeOf: {
      kind: 'ServiceUnavailable',
      why: 'a bound reached inside Kite means a dependency (WAL, node, coordinator) did not answer in time, retriable as ServiceUnavailable; the client\'s own deadline ends the call with gRPC DEADLINE_EXCEEDED instead',
    },
  },
  /**
   * A server could not listen on its address at start-up (port held by another process, a privileged port, an
   * address that is not local).
   */
  ListenFailed: {
    code: 2,
    legacy: LegacyCode.UnexpectedError,
    retriable: false,
    sharesCodeOf: { kind: 'ServiceUnavailable', why: 'start-up only: the process does not start, so no client ever sees it' },
  },
  /** RESTful API: a call without valid credentials while authorization is on (Milvus's ErrNeedAuthenticate). */
  RestNotAuthenticated: { code: 1800, legacy: LegacyCode.UnexpectedError, retriable: false },
  /** RESTful API: the request body is not a JSON object of the endpoint's shape (Milvus's ErrIncorrectParameterFormat). */
  RestBodyInvalid: { code: 1801, legacy: LegacyCode.IllegalArgument, retriable: false },
  /** RESTful API: a field the endpoint needs is absent (Milvus's ErrMissingRequiredParameters). */
  RestParameterMissing: { code: 1802, legacy: LegacyCode.IllegalArgument, retriable: false },
  /** RESTful API: rows of an insert or upsert that do not fit the collection's schema (Milvus's ErrInvalidInsertData). */
  RestInsertDataInvalid: { code: 1804, legacy: LegacyCode.IllegalArgument, retriable: false },
  /** A store's directory is locked by another running process (its LOCK file names a live pid). */
  DirectoryLocked: {
    code: 1001,
    legacy: LegacyCode.UnexpectedError,
    retriable: false,
    sharesCodeOf: { kind: 'IoFailed', why: 'start-up only: the process does not start, so no client ever sees it' },
  },
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
