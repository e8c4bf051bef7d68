import type { CallContext } from '@kite/rpc';
import { DEFAULT_DB } from '@kite/segment';

/** What every MilvusService handler gets besides its request: the method, its deadline (epoch ms), the metadata, the database. */
export interface RequestContext extends CallContext {
  /** The database the call acts in: the request's `db_name` when set, else the `dbname` metadata, else "default". */
  db: string;
}

/** Reads: bounded by `proxy.defaultTimeoutMs`; every other call by `proxy.writeTimeoutMs`. */
export const READ_METHODS: ReadonlySet<string> = new Set(['Search', 'Query', 'GetPartitionStatistics', 'GetCollectionStatistics']);

/**
 * Calls that do not act within a database, so the database of the call need not exist: health, version and metrics, the
 * oracle, and the database DDL (whose `db_name` names the database they create, drop, alter or describe).
 */
export const DATABASE_FREE: ReadonlySet<string> = new Set([
  'GetVersion', 'CheckHealth', 'GetComponentStates', 'AllocTimestamp', 'GetMetrics',
  'ListDatabases', 'CreateDatabase', 'DropDatabase', 'AlterDatabase', 'DescribeDatabase',
]);

/**
 * The database a call names: the request's `db_name` field when it has a non-empty one, else the `dbname` metadata
 * the SDKs send (pymilvus sends "" until `using_database`), else "default". Whether it exists is checked by the
 * handlers' wrapper (ProxyCore.database), which can wait for the catalogue cache.
 */
export function databaseOf(request: unknown, metadata: CallContext['metadata']): string {
  const fromRequest = typeof request === 'object' && request !== null && 'db_name' in request ? request.db_name : undefined;
  if (typeof fromRequest === 'string' && fromRequest !== '') return fromRequest;
  const fromMetadata = metadata.get('dbname')[0];
  if (typeof fromMetadata === 'string' && fromMetadata !== '') return fromMetadata;
  return DEFAULT_DB;
}

/** The handler's context for a call: the call's own context and its database. */
export function requestContext(request: unknown, ctx: CallContext): RequestContext {
  return { ...ctx, db: databaseOf(request, ctx.metadata) };
}
