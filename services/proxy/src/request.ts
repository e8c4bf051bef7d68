import { KiteError, clip } from '@kite/common';
import type { CallContext } from '@kite/rpc';

/** What every MilvusService handler gets besides its request: the method, its deadline (epoch ms), the metadata. */
export type RequestContext = CallContext;

/** Reads: bounded by `proxy.defaultTimeoutMs`; every other call by `proxy.writeTimeoutMs`. */
export const READ_METHODS: ReadonlySet<string> = new Set(['Search', 'Query', 'GetPartitionStatistics', 'GetCollectionStatistics']);

/** Calls that answer without a database: they carry no db_name to check. */
const DATABASE_FREE = new Set(['GetVersion', 'CheckHealth', 'GetComponentStates', 'AllocTimestamp', 'ListDatabases']);

/**
 * Kite serves one database, "default" (databases are a later feature): a call naming any other, through the
 * request's `db_name` or the `dbname` metadata the SDKs send, is refused instead of silently using the default one.
 */
export function checkDatabase(method: string, request: unknown, metadataDb: string | undefined): void {
  if (DATABASE_FREE.has(method)) return;
  const fromRequest = typeof request === 'object' && request !== null && 'db_name' in request ? request.db_name : undefined;
  for (const name of [fromRequest, metadataDb]) {
    if (typeof name === 'string' && name !== '' && name !== 'default') {
      throw new KiteError('DatabaseNotFound', `database not found[database=${clip(name, 128)}]: Kite serves only the "default" database; leave db_name unset or use "default"`);
    }
  }
}
