import { FaissError, type FaissErrorCode } from './errors';
import { loadAddon, type NativeIndex } from './native';
import { MIN_ROWS_PER_CHUNK, searchParallelism } from './threads';
import {
  checkDim, checkIndexType, checkMetric, checkTopK, DEFAULT_NPROBE, MAX_EF, MAX_NPROBE, resolveIndexParams,
  type IndexParams, type IndexType, type MetricType, type SearchOptions,
} from './params';

/** nq*k rows, row-major; a missing hit has id -1n and distance +Infinity (L2) or -Infinity (IP, COSINE). */
export interface SearchResult {
  distances: Float32Array;
  ids: BigInt64Array;
}

export interface CreateOptions {
  indexType: IndexType;
  metric: MetricType;
  dim: number;
  params?: IndexParams;
}

/** Upper bound on nq*k per call (12 bytes of output each). */
export const MAX_RESULT_ROWS = 2 ** 27;

// Serialized layout (little-endian):
//   "KITEFAIS" | u32 format version | u32 header length H | H bytes of JSON {indexType, metric, dim, params}
//   | u64 payload length P | u64 payload checksum | P bytes: faiss write_index output
// The first three parts are written here; the last three by the addon (native/addon.cc), which also checks them.
const MAGIC = Buffer.from('KITEFAIS', 'latin1');
const FORMAT_VERSION = 1;

interface Header {
  indexType: IndexType;
  metric: MetricType;
  dim: number;
  params: IndexParams;
}

const FAISS_CODES: readonly string[] = [
  'ERR_FAISS_DIMENSION', 'ERR_FAISS_NOT_TRAINED', 'ERR_FAISS_ALREADY_TRAINED', 'ERR_FAISS_BAD_PARAM',
  'ERR_FAISS_BAD_DATA', 'ERR_FAISS_FREED', 'ERR_FAISS_INTERNAL',
];

/**
 * Native errors carry a code; re-create them as FaissError so callers can rely on `instanceof`. (No `instanceof
 * Error` test here: errors made by the addon belong to the main realm, which is not the realm of a vm context such
 * as jest's.)
 */
export function toFaissError(e: unknown): unknown {
  if (e instanceof FaissError) return e;
  if (e !== null && typeof e === 'object') {
    const { code, message } = e as { code?: unknown; message?: unknown };
    const msg = typeof message === 'string' ? message : String(e);
    if (typeof code === 'string' && FAISS_CODES.includes(code)) return new FaissError(code as FaissErrorCode, msg);
    return new FaissError('ERR_FAISS_INTERNAL', msg);
  }
  return new FaissError('ERR_FAISS_INTERNAL', String(e));
}

async function native<T>(p: () => Promise<T>): Promise<T> {
  try {
    return await p();
  } catch (e) {
    throw toFaissError(e);
  }
}

function optionalInt(name: string, v: unknown, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new FaissError('ERR_FAISS_BAD_PARAM', `${name} must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

/**
 * One faiss index. train/add/search/serialize run on the libuv thread pool; several searches may run at once on one
 * index, while train and add are exclusive (a writer-preferring lock in the addon). Inputs are read in place: do
 * not modify or transfer the typed arrays passed in until the returned promise settles.
 */
export class VectorIndex {
  readonly dim: number;
  readonly indexType: IndexType;
  readonly metric: MetricType;
  /** The build parameters in force, defaults filled in (for a deserialized index: as stored). */
  readonly params: Readonly<IndexParams>;
  private handle: NativeIndex | null;

  private constructor(handle: NativeIndex, h: Header) {
    this.handle = handle;
    this.dim = h.dim;
    this.indexType = h.indexType;
    this.metric = h.metric;
    this.params = Object.freeze({ ...h.params });
  }

  static create(o: CreateOptions): VectorIndex {
    if (o === null || typeof o !== 'object') throw new FaissError('ERR_FAISS_BAD_PARAM', 'create() needs { indexType, metric, dim }');
    const indexType = checkIndexType(o.indexType);
    const metric = checkMetric(o.metric);
    const dim = checkDim(o.dim);
    const params = resolveIndexParams(indexType, dim, o.params);
    let handle: NativeIndex;
    try {
      handle = loadAddon().NativeIndex.create(indexType, metric, dim, params);
    } catch (e) {
      throw toFaissError(e);
    }
    return new VectorIndex(handle, { indexType, metric, dim, params: handle.params() });
  }

  /** Reads what serialize() wrote (the index type, metric, dim and params come back too). */
  static async deserialize(buf: Buffer): Promise<VectorIndex> {
    if (!(buf instanceof Uint8Array)) throw new FaissError('ERR_FAISS_BAD_PARAM', 'deserialize() needs a Buffer or Uint8Array');
    const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    if (bytes.length < 16 || !bytes.subarray(0, 8).equals(MAGIC)) {
      throw new FaissError('ERR_FAISS_BAD_DATA', 'not a serialized Kite vector index (bad magic)');
    }
    const version = bytes.readUInt32LE(8);
    if (version !== FORMAT_VERSION) {
      throw new FaissError('ERR_FAISS_BAD_DATA', `unsupported serialized index format version ${version} (this build reads ${FORMAT_VERSION})`);
    }
    const headerLen = bytes.readUInt32LE(12);
    if (16 + headerLen > bytes.length) throw new FaissError('ERR_FAISS_BAD_DATA', 'serialized index is truncated (header)');
    let raw: unknown;
    try {
      raw = JSON.parse(bytes.toString('utf8', 16, 16 + headerLen));
    } catch {
      throw new FaissError('ERR_FAISS_BAD_DATA', 'serialized index header is not valid JSON');
    }
    const h = raw as Partial<Header> | null;
    if (h === null || typeof h !== 'object') throw new FaissError('ERR_FAISS_BAD_DATA', 'serialized index header is not an object');
    let header: Header;
    try {
      const indexType = checkIndexType(h.indexType);
      const dim = checkDim(h.dim);
      header = { indexType, metric: checkMetric(h.metric), dim, params: resolveIndexParams(indexType, dim, h.params) };
    } catch (e) {
      throw new FaissError('ERR_FAISS_BAD_DATA', `serialized index header is invalid: ${(e as Error).message}`);
    }
    const addon = loadAddon();
    const handle = await native(() =>
      addon.NativeIndex.deserialize(header.indexType, header.metric, header.dim, header.params, bytes, 16 + headerLen));
    return new VectorIndex(handle, { ...header, params: handle.params() });
  }

  private live(): NativeIndex {
    if (!this.handle) {
      throw new FaissError('ERR_FAISS_FREED', `this ${this.indexType} index was freed; create or deserialize a new one`);
    }
    return this.handle;
  }

  get ntotal(): number {
    return this.live().ntotal();
  }

  /** Adds (or a train) waiting for searches to finish before they can run: for tests that order calls. */
  get writersWaiting(): number {
    return this.live().writersWaiting();
  }

  get isTrained(): boolean {
    return this.live().isTrained();
  }

  /** True once free() was called. */
  get isFreed(): boolean {
    return this.handle === null;
  }

  private vectorCount(name: string, v: unknown): number {
    if (!(v instanceof Float32Array)) {
      throw new FaissError('ERR_FAISS_BAD_PARAM', `${name} must be a Float32Array (got ${describe(v)})`);
    }
    if (v.length % this.dim !== 0) {
      throw new FaissError('ERR_FAISS_DIMENSION', `${name} length ${v.length} is not a multiple of dim ${this.dim}`);
    }
    return v.length / this.dim;
  }

  /** IVF types learn their clusters (and codebooks) here; FLAT and HNSW need no training (a no-op). */
  async train(vectors: Float32Array): Promise<void> {
    const h = this.live();
    this.vectorCount('vectors', vectors);
    await native(() => h.train(vectors));
  }

  /** Adds vectors (n*dim) under the caller's ids (n, each >= 0). */
  async add(vectors: Float32Array, ids: BigInt64Array): Promise<void> {
    const h = this.live();
    const n = this.vectorCount('vectors', vectors);
    if (!(ids instanceof BigInt64Array)) throw new FaissError('ERR_FAISS_BAD_PARAM', `ids must be a BigInt64Array (got ${describe(ids)})`);
    if (ids.length !== n) {
      throw new FaissError('ERR_FAISS_BAD_PARAM', `ids length ${ids.length} does not match the number of vectors ${n}`);
    }
    await native(() => h.add(vectors, ids));
  }

  /** Top-k for each of nq queries (nq*dim floats). Scores as Milvus reports them (see SearchResult). */
  async search(queries: Float32Array, k: number, opts: SearchOptions = {}): Promise<SearchResult> {
    const h = this.live();
    const { nq, nprobe, ef, filter } = this.searchArgs(queries, k, opts);
    const distances = new Float32Array(nq * k);
    const ids = new BigInt64Array(nq * k);
    // A large batch is cut into chunks searched in parallel on the pool (each chunk writes into its slice of the
    // output arrays), since one call uses one thread (see threads.ts).
    const chunks = Math.min(searchParallelism(), Math.floor(nq / MIN_ROWS_PER_CHUNK));
    if (chunks <= 1) {
      // Inline rather than through native(): one promise hop less on the nq=1 path, where a hop is a visible share.
      try {
        await h.search(queries, k, nprobe, ef, filter ?? null, distances, ids);
      } catch (e) {
        throw toFaissError(e);
      }
    } else {
      const calls: Promise<void>[] = [];
      for (let c = 0; c < chunks; c++) {
        const from = Math.floor((nq * c) / chunks);
        const to = Math.floor((nq * (c + 1)) / chunks);
        calls.push(h.search(queries.subarray(from * this.dim, to * this.dim), k, nprobe, ef, filter ?? null,
          distances.subarray(from * k, to * k), ids.subarray(from * k, to * k)));
      }
      await native(() => Promise.all(calls));
    }
    return { distances, ids };
  }

  /**
   * Exact top-k over the listed rows only (a selective filter's candidates, ascending row numbers), synchronously
   * on the calling thread: no hand-off to the search threads, and no pass over every row. Only for a FLAT index whose
   * ids are its row numbers, k < 100 and nq < 20, where the result is what search() with a filter of exactly those
   * rows returns, bit for bit; undefined otherwise (search() then). The caller bounds the work (rows * dim * nq),
   * since it runs on the event loop.
   */
  searchRows(queries: Float32Array, k: number, rows: Int32Array): SearchResult | undefined {
    const h = this.live();
    const nq = this.vectorCount('queries', queries);
    checkTopK(k);
    if (!(rows instanceof Int32Array)) throw new FaissError('ERR_FAISS_BAD_PARAM', `rows must be an Int32Array (got ${describe(rows)})`);
    const distances = new Float32Array(nq * k);
    const ids = new BigInt64Array(nq * k);
    let done: boolean;
    try {
      done = h.searchRows(queries, k, rows, distances, ids);
    } catch (e) {
      throw toFaissError(e);
    }
    return done ? { distances, ids } : undefined;
  }

  /**
   * For tests: faiss's own search call in one call of all the queries. HNSW: IndexHNSW::search with efSearch set on
   * the shared index under the write lock (so these calls do not run concurrently; no filter); search() walks the
   * same graph with the same rule but takes ef per call. IVF: IndexIVF::search, which search() replaces with its
   * own loop for a few queries on one thread. Results must agree with search()'s.
   */
  async referenceSearch(queries: Float32Array, k: number, opts: SearchOptions = {}): Promise<SearchResult> {
    const h = this.live();
    const { nq, nprobe, ef, filter } = this.searchArgs(queries, k, opts);
    const distances = new Float32Array(nq * k);
    const ids = new BigInt64Array(nq * k);
    await native(() => h.referenceSearch(queries, k, nprobe, ef, filter ?? null, distances, ids));
    return { distances, ids };
  }

  private searchArgs(queries: Float32Array, k: number, opts: SearchOptions) {
    const nq = this.vectorCount('queries', queries);
    checkTopK(k);
    if (opts === null || typeof opts !== 'object') throw new FaissError('ERR_FAISS_BAD_PARAM', 'search options must be an object');
    const nprobe = optionalInt('nprobe', opts.nprobe, 1, MAX_NPROBE) ?? DEFAULT_NPROBE;
    const ef = optionalInt('ef', opts.ef, 1, MAX_EF) ?? 0;
    const filter = opts.filter;
    if (filter !== undefined && !(filter instanceof Uint8Array)) {
      throw new FaissError('ERR_FAISS_BAD_PARAM', `filter must be a Uint8Array bitmap (got ${describe(filter)})`);
    }
    if (nq * k > MAX_RESULT_ROWS) {
      throw new FaissError('ERR_FAISS_BAD_PARAM', `nq*k = ${nq * k} exceeds ${MAX_RESULT_ROWS}; split the queries`);
    }
    return { nq, nprobe, ef, filter };
  }

  async serialize(): Promise<Buffer> {
    const h = this.live();
    const json = Buffer.from(JSON.stringify({
      indexType: this.indexType, metric: this.metric, dim: this.dim, params: this.params,
    } satisfies Header), 'utf8');
    const prefix = Buffer.alloc(16 + json.length);
    MAGIC.copy(prefix, 0);
    prefix.writeUInt32LE(FORMAT_VERSION, 8);
    prefix.writeUInt32LE(json.length, 12);
    json.copy(prefix, 16);
    return native(() => h.serialize(prefix));
  }

  /** Estimated native memory held by the index, in bytes. */
  memoryUsage(): number {
    return this.live().memoryUsage();
  }

  /**
   * Releases the native index. Calls still running finish first (they hold their own reference); every later call
   * on this object throws ERR_FAISS_FREED. Calling free() again does nothing.
   */
  free(): void {
    if (!this.handle) return;
    this.handle.free();
    this.handle = null;
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}
