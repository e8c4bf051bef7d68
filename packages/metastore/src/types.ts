/**
 * MetaStore: the cluster's small, consistent key-value store (etcd in a cluster, a file-backed store in standalone).
 * Keys and values are strings (values are JSON written by callers). Every mutation bumps a store-wide revision,
 * as etcd does, so a watcher can resume from the revision it last saw.
 */

export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the last change to this key. */
  modRevision: number;
  /** Revision at which this key was created (since its last deletion). */
  createRevision: number;
  /** Number of changes since creation (1 on create). */
  version: number;
  /** Lease the key is bound to, if any. */
  lease?: string;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** Store revision at which the range was read; watch from revision + 1 to see every later change. */
  revision: number;
}

/**
 * A comparison in a transaction's guard. A missing key has version/revisions 0; a `value` comparison on a missing
 * key fails whatever the operator (etcd's rule), so test `version == 0` to guard "absent".
 */
export type Compare =
  | { key: string; target: 'value'; op: '==' | '!='; value: string }
  | { key: string; target: 'version' | 'modRevision' | 'createRevision'; op: '==' | '!=' | '<' | '>'; value: number };

export type TxnOp =
  | { type: 'put'; key: string; value: string; lease?: string }
  | { type: 'delete'; key: string }
  | { type: 'deletePrefix'; prefix: string };

export interface TxnResult {
  succeeded: boolean;
  revision: number;
}

export type WatchEvent =
  | { type: 'put'; kv: KeyValue; prevValue?: string }
  | { type: 'delete'; key: string; modRevision: number; prevValue?: string };

export interface WatchHandlers {
  /** Events in revision order; a batch shares one revision only when one transaction made them. */
  onEvents(events: WatchEvent[]): void;
  /**
   * The store can no longer replay from the requested revision (compacted) or the watch broke in a way that may
   * have lost events. The watcher has re-listed the prefix: `snapshot` is the full current state, and events
   * resume after `snapshot.revision`. Callers rebuild their view from it.
   */
  onResync(snapshot: RangeResult): void;
  /** The watch ended for good (store closed). */
  onError?(err: Error): void;
}

export interface Watcher {
  close(): Promise<void>;
}

export interface LeaseOptions {
  /**
   * Keep the lease alive in the background (default true). With false the lease expires after its TTL unless
   * revoked first: keys bound to it are deleted and `onLost` fires, as when a holder process dies.
   */
  keepAlive?: boolean;
}

export interface Lease {
  readonly id: string;
  readonly ttlSeconds: number;
  /**
   * Called once when the lease is known or suspected to be gone (keep-alive failed past the TTL, or the store
   * said the lease no longer exists). A process whose session lease is lost must stop serving and re-register.
   * Not called for the holder's own `revoke()`. A listener added after the loss is called at once (asynchronously).
   */
  onLost(listener: (reason: string) => void): void;
  /** Whether the store still holds this lease (asks the store). */
  isAlive(): Promise<boolean>;
  /** Revokes the lease now: every key bound to it is deleted. */
  revoke(): Promise<void>;
}

export interface MetaStore {
  get(key: string): Promise<KeyValue | undefined>;
  getPrefix(prefix: string): Promise<RangeResult>;
  /** Puts a value; returns the new store revision. */
  put(key: string, value: string, options?: { lease?: string }): Promise<number>;
  /** Deletes a key; returns whether it existed. */
  delete(key: string): Promise<boolean>;
  /** Deletes every key under a prefix; returns how many were deleted. */
  deletePrefix(prefix: string): Promise<number>;
  /** Atomically: if every compare holds, apply `success`, else `failure`. */
  txn(compares: Compare[], success: TxnOp[], failure?: TxnOp[]): Promise<TxnResult>;
  /**
   * Watches a prefix from `fromRevision` (inclusive). Pass `RangeResult.revision + 1` after a getPrefix to see
   * every change after it with no gap. Handlers are called in revision order. 0 (or less) means "from the next
   * change", as in etcd.
   */
  watchPrefix(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watcher>;
  /** Grants a lease kept alive in the background (at about a third of the TTL) until revoked or lost. */
  grantLease(ttlSeconds: number, options?: LeaseOptions): Promise<Lease>;
  /** Compacts history up to a revision (watchers behind it resync). Optional for embedded stores. */
  compact?(revision: number): Promise<void>;
  close(): Promise<void>;
}
