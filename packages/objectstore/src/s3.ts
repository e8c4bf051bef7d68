/**
 * S3ObjectStore: objects in an S3 bucket (AWS S3 or an S3-compatible server: MinIO, S3Proxy, Ceph RGW...), for
 * clusters where query and data nodes on different machines share segment files.
 *
 *   const store = await S3ObjectStore.open({ endpoint, bucket, region, accessKeyId, secretAccessKey, forcePathStyle });
 *
 * A key `segments/12/col_1` is the S3 key `<prefix>segments/12/col_1`. S3's PUT replaces an object whole, so readers
 * see the old object or the new one, never a part. Listing pages through ListObjectsV2 continuation tokens and
 * deletePrefix deletes in DeleteObjects batches (at most 1000 keys each, S3's limit) while it lists, so neither holds
 * more than a page of keys.
 *
 * Transient failures (5xx, throttling, connection refused or reset, timeouts) are retried by the SDK's standard retry
 * strategy (exponential backoff with jitter, `maxAttempts` tries in all); what still fails becomes a KiteError
 * `IoFailed` whose `retriable` flag tells callers whether trying later may help (true for 5xx, throttling and network
 * errors; false for 4xx such as 404 and 403).
 *
 * Keys follow the same rules as LocalObjectStore (non-empty `/`-separated parts, not `.` or `..`, no NUL, at most
 * 1024 bytes with the prefix), so whatever works on one backend works on the other.
 */
import {
  CreateBucketCommand,
  type BucketLocationConstraint,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type DeleteObjectsCommandOutput,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import { KiteError } from '@kite/common';
import { MAX_KEY_BYTES } from './local';
import type { ObjectInfo, ObjectStore } from './types';

export interface S3ObjectStoreOptions {
  /** `http(s)://host:port` of the S3 service; empty for AWS's own endpoint of `region`. */
  endpoint: string;
  bucket: string;
  region: string;
  /** Static credentials; when both are empty the SDK's default chain (environment, profile, instance role) is used. */
  accessKeyId: string;
  secretAccessKey: string;
  /** `http://host/bucket/key` addressing instead of `http://bucket.host/key` (MinIO, S3Proxy and most servers). */
  forcePathStyle: boolean;
  /** CA certificate(s) (PEM) trusted for an `https://` endpoint, for servers with a private CA; default the system CAs. */
  ca?: string | Buffer;
  /** Key prefix inside the bucket (a `/` is appended when missing), so several deployments can share one bucket. */
  prefix?: string;
  /** Create the bucket on open when it does not exist (default true); when false a missing bucket fails open. */
  createBucket?: boolean;
  /** Tries per request, the first included, by the SDK's standard retry strategy (default 5). */
  maxAttempts?: number;
  /** Time allowed to open a TCP connection, ms (default 5000). */
  connectionTimeoutMs?: number;
  /** A request fails when its socket sees no traffic for this long, ms (default 30000): a hung server fails, big objects do not. */
  idleTimeoutMs?: number;
  /** ListObjectsV2 MaxKeys, 1..1000 (default 1000); smaller only to exercise paging in tests. */
  listPageSize?: number;
  /** Keys per DeleteObjects request, 1..1000 (default 1000). */
  deleteBatchSize?: number;
}

/** S3's limit on keys per DeleteObjects request and on ListObjectsV2 MaxKeys. */
const S3_BATCH_LIMIT = 1000;

/** Error names S3 and S3-compatible servers use for throttling (HTTP 503 or 429, sometimes 400). */
const THROTTLING = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'TooManyRequests',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'ProvisionedThroughputExceededException',
  'EC2ThrottledException',
  'PriorRequestNotComplete',
]);

/** Transient 4xx-ish errors and Node/SDK network failures. */
const TRANSIENT = new Set([
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'AbortError',
  'InternalError',
  'ServiceUnavailable',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

/** The HTTP status of an SDK error, when a response came back. */
function statusOf(e: unknown): number | undefined {
  const err = e as SdkErrorShape | undefined;
  return err?.$metadata?.httpStatusCode ?? err?.$response?.statusCode;
}

function isNotFound(e: unknown): boolean {
  const name = (e as SdkErrorShape | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || (statusOf(e) === 404 && name !== 'NoSuchBucket');
}

/** Whether an SDK error is worth retrying later: 5xx, throttling, or no response at all (network, timeout). */
export function isRetriableS3Error(e: unknown): boolean {
  const err = (e ?? {}) as SdkErrorShape;
  const status = statusOf(e);
  if (err.name !== undefined && (THROTTLING.has(err.name) || TRANSIENT.has(err.name))) return true;
  if (err.code !== undefined && TRANSIENT.has(err.code)) return true;
  if (status !== undefined) return status >= 500 || status === 429 || status === 408;
  return true; // no HTTP response: the request never completed
}

function checkParts(value: string, what: string): void {
  for (const part of value.split('/')) {
    if (part === '' || part === '.' || part === '..') {
      throw new KiteError(
        'ParameterInvalid',
        `${what} "${value}" is invalid: parts between "/" must be non-empty and not "." or ".."`,
      );
    }
  }
}

function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function intOption(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new KiteError('ParameterInvalid', `S3 object store option ${name} must be an integer in [${min}, ${max}], got ${v}`);
  }
  return v;
}

export class S3ObjectStore implements ObjectStore {
  private closed = false;

  private constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
    private readonly endpoint: string,
    private readonly listPageSize: number,
    private readonly deleteBatchSize: number,
  ) {}

  /** Connects, checks the bucket is reachable and creates it when missing (unless `createBucket` is false). */
  static async open(options: S3ObjectStoreOptions): Promise<S3ObjectStore> {
    if (!options.bucket) {
      throw new KiteError('ParameterInvalid', 'storage.s3.bucket is empty: set it to the name of the bucket for segment files');
    }
    if (!options.region) throw new KiteError('ParameterInvalid', 'storage.s3.region is empty: set it (e.g. us-east-1)');
    if (Boolean(options.accessKeyId) !== Boolean(options.secretAccessKey)) {
      throw new KiteError(
        'ParameterInvalid',
        'storage.s3.accessKeyId and storage.s3.secretAccessKey must be set together (or both empty for the default credential chain)',
      );
    }
    if (options.endpoint) {
      let url: URL;
      try {
        url = new URL(options.endpoint);
      } catch {
        throw new KiteError('ParameterInvalid', `storage.s3.endpoint "${options.endpoint}" is not a URL: use http(s)://host:port`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new KiteError('ParameterInvalid', `storage.s3.endpoint "${options.endpoint}" must start with http:// or https://`);
      }
    }
    let prefix = options.prefix ?? '';
    if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
    if (prefix !== '') checkParts(prefix.slice(0, -1), 'storage.s3 prefix');
    const listPageSize = intOption('listPageSize', options.listPageSize, S3_BATCH_LIMIT, 1, S3_BATCH_LIMIT);
    const deleteBatchSize = intOption('deleteBatchSize', options.deleteBatchSize, S3_BATCH_LIMIT, 1, S3_BATCH_LIMIT);
    const maxAttempts = intOption('maxAttempts', options.maxAttempts, 5, 1, 20);
    const connectionTimeout = intOption('connectionTimeoutMs', options.connectionTimeoutMs, 5_000, 1, 600_000);
    const socketTimeout = intOption('idleTimeoutMs', options.idleTimeoutMs, 30_000, 1, 3_600_000);

    const client = new S3Client({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.forcePathStyle,
      ...(options.accessKeyId
        ? { credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } }
        : {}),
      maxAttempts,
      retryMode: 'standard',
      requestHandler: { connectionTimeout, socketTimeout, ...(options.ca !== undefined ? { httpsAgent: { ca: options.ca, keepAlive: true } } : {}) },
      // Checksums only where S3 demands them (DeleteObjects): S3-compatible servers differ in the newer flexible
      // checksum headers; TCP and TLS already guard the bytes in flight.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const store = new S3ObjectStore(client, options.bucket, prefix, options.endpoint || `AWS S3 (${options.region})`, listPageSize, deleteBatchSize);
    try {
      await store.ensureBucket(options.createBucket ?? true);
    } catch (e) {
      client.destroy();
      throw e;
    }
    return store;
  }

  private async ensureBucket(create: boolean): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (e) {
      if (statusOf(e) !== 404 && (e as SdkErrorShape).name !== 'NotFound' && (e as SdkErrorShape).name !== 'NoSuchBucket') {
        throw this.error(e, `access to bucket ${this.bucket}`);
      }
      if (!create) {
        throw new KiteError(
          'IoFailed',
          `bucket ${this.bucket} does not exist at ${this.endpoint}: create it or fix storage.s3.bucket`,
          { cause: e, retriable: false },
        );
      }
    }
    try {
      // AWS wants the region named for any region but us-east-1 (the default location).
      const region = await this.client.config.region();
      await this.client.send(
        new CreateBucketCommand({
          Bucket: this.bucket,
          ...(region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }),
        }),
      );
    } catch (e) {
      const name = (e as SdkErrorShape).name;
      // Another node created it meanwhile.
      if (name === 'BucketAlreadyOwnedByYou' || name === 'BucketAlreadyExists') return;
      throw this.error(e, `creation of bucket ${this.bucket}`);
    }
  }

  async put(key: string, data: Buffer): Promise<void> {
    const s3Key = this.keyOf(key);
    if (!Buffer.isBuffer(data)) throw new KiteError('ParameterInvalid', `object ${key}: data must be a Buffer`);
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: s3Key, Body: data, ContentLength: data.length }),
      );
    } catch (e) {
      throw this.error(e, `put of object ${key}`);
    }
  }

  async get(key: string): Promise<Buffer> {
    const s3Key = this.keyOf(key);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: s3Key }));
      if (!res.Body) return Buffer.alloc(0);
      const bytes = await res.Body.transformToByteArray();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (e) {
      if (isNotFound(e)) throw new KiteError('IoFailed', `object ${key} not found`, { cause: e, retriable: false });
      throw this.error(e, `get of object ${key}`);
    }
  }

  async exists(key: string): Promise<boolean> {
    const s3Key = this.keyOf(key);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: s3Key }));
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw this.error(e, `exists of object ${key}`);
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    this.checkPrefix(prefix);
    const out: ObjectInfo[] = [];
    await this.eachPage(prefix, (page) => {
      out.push(...page);
    });
    return out.sort((a, b) => compareKeys(a.key, b.key));
  }

  async delete(key: string): Promise<void> {
    const s3Key = this.keyOf(key);
    try {
      // S3 answers 204 for a missing key too.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: s3Key }));
    } catch (e) {
      if (isNotFound(e)) return;
      throw this.error(e, `delete of object ${key}`);
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    this.checkPrefix(prefix);
    let deleted = 0;
    let pending: string[] = [];
    const flush = async (all: boolean): Promise<void> => {
      while (pending.length >= this.deleteBatchSize || (all && pending.length > 0)) {
        const batch = pending.slice(0, this.deleteBatchSize);
        pending = pending.slice(batch.length);
        await this.deleteBatch(batch, prefix);
        deleted += batch.length;
      }
    };
    // Deleting keys already listed does not disturb the continuation token (it points past the last key listed).
    await this.eachPage(prefix, async (page) => {
      for (const o of page) pending.push(o.key);
      await flush(false);
    });
    await flush(true);
    return deleted;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.destroy();
  }

  /** Calls `onPage` with each ListObjectsV2 page under `prefix` (keys without the store's prefix), in order. */
  private async eachPage(prefix: string, onPage: (page: ObjectInfo[]) => void | Promise<void>): Promise<void> {
    let token: string | undefined;
    do {
      let res: ListObjectsV2CommandOutput;
      try {
        res = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            MaxKeys: this.listPageSize,
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        );
      } catch (e) {
        throw this.error(e, `list of prefix ${prefix}`);
      }
      const page: ObjectInfo[] = [];
      for (const o of res.Contents ?? []) {
        if (o.Key === undefined || !o.Key.startsWith(this.prefix)) continue;
        page.push({ key: o.Key.slice(this.prefix.length), size: o.Size ?? 0 });
      }
      await onPage(page);
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
      if (res.IsTruncated && !token) {
        throw new KiteError('IoFailed', `list of prefix ${prefix} failed: the server said the listing is truncated but gave no continuation token`, {
          retriable: false,
        });
      }
    } while (token !== undefined);
  }

  private async deleteBatch(keys: string[], prefix: string): Promise<void> {
    let res: DeleteObjectsCommandOutput;
    try {
      res = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: keys.map((k) => ({ Key: this.prefix + k })), Quiet: true },
        }),
      );
    } catch (e) {
      throw this.error(e, `delete of ${keys.length} objects under prefix ${prefix}`);
    }
    const errors = (res.Errors ?? []).filter((err) => err.Code !== 'NoSuchKey');
    const first = errors[0];
    if (first) {
      const key = first.Key?.slice(this.prefix.length) ?? '?';
      const retriable = first.Code === undefined || THROTTLING.has(first.Code) || TRANSIENT.has(first.Code);
      throw new KiteError(
        'IoFailed',
        `delete of ${errors.length} of ${keys.length} objects under prefix ${prefix} failed, e.g. ${key}: ${first.Code ?? 'unknown'} ${first.Message ?? ''}`.trim(),
        { retriable },
      );
    }
  }

  /** An SDK error as a KiteError IoFailed naming the operation, with `retriable` set and a hint at the fix. */
  private error(e: unknown, what: string): KiteError {
    if (e instanceof KiteError) return e;
    const err = (e ?? {}) as SdkErrorShape;
    const status = statusOf(e);
    const name = err.name ?? err.code ?? 'Error';
    const retriable = isRetriableS3Error(e);
    let hint = '';
    if (status === 403) hint = ': check storage.s3.accessKeyId, storage.s3.secretAccessKey and the bucket policy';
    else if (err.name === 'NoSuchBucket') hint = `: bucket ${this.bucket} does not exist (storage.s3.bucket)`;
    else if (status === undefined) hint = `: is the S3 service at ${this.endpoint} (storage.s3.endpoint) up and reachable?`;
    const detail = err.message && err.message !== name ? `${name}: ${err.message}` : name;
    return new KiteError(
      'IoFailed',
      `${what} failed${status === undefined ? '' : ` (HTTP ${status})`}: ${detail}${hint}`,
      { cause: e, retriable },
    );
  }

  private checkOpen(): void {
    if (this.closed) throw new KiteError('ServiceNotReady', 'object store is closed');
  }

  private checkPrefix(prefix: string): void {
    this.checkOpen();
    if (typeof prefix !== 'string') throw new KiteError('ParameterInvalid', 'list prefix must be a string');
    const slash = prefix.lastIndexOf('/');
    if (slash >= 0) checkParts(prefix.slice(0, slash), 'list prefix');
  }

  /** The S3 key of an object key; refuses malformed keys as LocalObjectStore does. */
  private keyOf(key: string): string {
    this.checkOpen();
    if (typeof key !== 'string' || key.length === 0) {
      throw new KiteError('ParameterInvalid', 'object key must be a non-empty string');
    }
    const s3Key = this.prefix + key;
    if (Buffer.byteLength(s3Key, 'utf8') > MAX_KEY_BYTES) {
      throw new KiteError('ParameterInvalid', `object key ${key.slice(0, 64)}... is longer than ${MAX_KEY_BYTES} bytes with the store's prefix`);
    }
    if (key.includes('\0')) throw new KiteError('ParameterInvalid', `object key ${JSON.stringify(key)} contains NUL`);
    checkParts(key, 'object key');
    return s3Key;
  }
}
