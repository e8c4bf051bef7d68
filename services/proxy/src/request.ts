import { KiteError, clip } from '@kite/common';

/** What every MilvusService handler gets besides its request: the method and the time by which it must answer. */
export interface RequestContext {
  method: string;
  /** Epoch ms: the earlier of the client's gRPC deadline and the server-side bound for this kind of call. */
  deadline: number;
}

/** Reads: bounded by `proxy.defaultTimeoutMs`; every other call by `proxy.writeTimeoutMs`. */
export const READ_METHODS: ReadonlySet<string> = new Set(['Search', 'Query', 'GetPartitionStatistics', 'GetCollectionStatistics']);

/** Calls that answer without a database: they carry no db_name to check. */
const DATABASE_FREE = new Set(['GetVersion', 'CheckHealth', 'GetComponentStates', 'AllocTimestamp', 'ListDatabases']);

/**
 * The deadline of a call: the client's gRPC deadline when it has one and it is sooner, else now + `boundMs`.
 * grpc-js reports "no deadline" as Infinity.
 */
export function requestDeadline(clientDeadline: Date | number | undefined, boundMs: number, now = Date.now()): number {
  const bound = now + boundMs;
  const client = clientDeadline instanceof Date ? clientDeadline.getTime() : clientDeadline;
  return client !== undefined && Number.isFinite(client) && client < bound ? client : bound;
}

/** Milliseconds left before `deadline`, at least `floor` so that a last attempt still gets a chance to answer. */
export function remainingMs(deadline: number, floor = 1): number {
  return Math.max(floor, deadline - Date.now());
}

/** `work`, or the error `late()` makes once `ms` have passed (the work itself goes on; its result is dropped). */
async function raceTimer<T>(work: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** `work`, or a rejection "no <what> within N ms" once the deadline passes: for steps that name what did not answer. */
export function beforeDeadline<T>(work: Promise<T>, deadline: number, what: string): Promise<T> {
  const waitMs = remainingMs(deadline, 0);
  return raceTimer(work, waitMs, () => new Error(`no ${what} within ${waitMs} ms`));
}

/**
 * How long after the deadline the backstop in withDeadline fires: the steps of a call watch the deadline themselves
 * and fail naming what did not answer (a WAL channel, the coordinator, a shard); the backstop ends whatever did not.
 */
const BACKSTOP_GRACE_MS = 100;

/**
 * Races a whole call against its deadline: when it has not settled shortly after the deadline it fails with a
 * retriable DeadlineExceeded naming the call and the bound (the work may still complete; its result is dropped).
 */
export function withDeadline<T>(ctx: RequestContext, work: Promise<T>, boundName: string): Promise<T> {
  return raceTimer(work, Math.max(0, ctx.deadline - Date.now()) + BACKSTOP_GRACE_MS, () =>
    new KiteError('DeadlineExceeded', `${ctx.method} did not finish before its deadline (the client's timeout or ${boundName}); it may still take effect`));
}

/**
 * Kite serves one database, "default" (databases are a later feature): a call naming any other, through the
 * request's `db_name` or the `dbname` metadata the SDKs send, is refused instead of silently using the default one.
 */
export function checkDatabase(method: string, request: { db_name?: unknown } | null | undefined, metadataDb: string | undefined): void {
  if (DATABASE_FREE.has(method)) return;
  for (const name of [request?.db_name, metadataDb]) {
    if (typeof name === 'string' && name !== '' && name !== 'default') {
      throw new KiteError('DatabaseNotFound', `database not found[database=${clip(name, 128)}]: Kite serves only the "default" database; leave db_name unset or use "default"`);
    }
  }
}
