/** ObjectStore: immutable segment files (columns, indexes, delete logs). A local directory or S3. */

export interface ObjectInfo {
  key: string;
  size: number;
}

export interface ObjectStore {
  /** Writes an object atomically (readers see the whole object or none). */
  put(key: string, data: Buffer): Promise<void>;
  /** Reads an object; throws a KiteError `IoFailed` naming the key when it does not exist. */
  get(key: string): Promise<Buffer>;
  exists(key: string): Promise<boolean>;
  /** Lists objects whose key starts with `prefix`, sorted by key. */
  list(prefix: string): Promise<ObjectInfo[]>;
  delete(key: string): Promise<void>;
  deletePrefix(prefix: string): Promise<number>;
  close(): Promise<void>;
}
