import { FaissError } from './errors';
import { loadAddon } from './native';
import { toFaissError, type SearchResult } from './vector-index';

/**
 * Binary vectors (Milvus's BinaryVector): BIN_FLAT and BIN_IVF_FLAT with the HAMMING and JACCARD metrics. Vectors are
 * dim bits packed 8 to a byte (dim a multiple of 8), as the SDKs send them. faiss (IndexBinaryFlat, IndexBinaryIVF)
 * stores, clusters and serialises them; the native search scans the stored codes itself (exactly, over every row of
 * BIN_FLAT and every row of the nprobe lists nearest by Hamming distance for BIN_IVF_FLAT), honouring the row bitmap
 * filter and computing Jaccard distances, which faiss 1.7.3's binary search does neither of. Distances are Milvus's:
 * the number of differing bits (HAMMING) or 1 - |a & b| / |a | b| (JACCARD); smaller is better; a missing hit has id
 * -1 and distance +Infinity.
 */
export type BinaryIndexType = 'BIN_FLAT' | 'BIN_IVF_FLAT';
export type BinaryMetric = 'HAMMING' | 'JACCARD';

export const BINARY_INDEX_TYPES: readonly BinaryIndexType[] = ['BIN_FLAT', 'BIN_IVF_FLAT'];
export const BINARY_METRICS: readonly BinaryMetric[] = ['HAMMING', 'JACCARD'];
/** Milvus's default nlist for BIN_IVF_FLAT. */
export const DEFAULT_BINARY_NLIST = 128;

interface NativeBinaryIndex {
  train(codes: Uint8Array): Promise<void>;
  add(codes: Uint8Array, ids: BigInt64Array): Promise<void>;
  search(queries: Uint8Array, k: number, nprobe: number, filter: Uint8Array | null, outDistances: Float32Array, outIds: BigInt64Array): Promise<void>;
  serialize(prefix: Uint8Array): Promise<Buffer>;
  ntotal(): number;
  isTrained(): boolean;
  nlist(): number;
  free(): void;
}

interface BinaryAddon {
  NativeBinaryIndex: {
    create(indexType: string, metric: string, dim: number, nlist: number): NativeBinaryIndex;
    deserialize(indexType: string, metric: string, dim: number, buf: Uint8Array, offset: number): Promise<NativeBinaryIndex>;
  };
}

const MAGIC = Buffer.from('KITEFBIN', 'latin1');
const FORMAT_VERSION = 1;

interface Header {
  indexType: BinaryIndexType;
  metric: BinaryMetric;
  dim: number;
  nlist: number;
}

const addon = (): BinaryAddon => loadAddon() as unknown as BinaryAddon;

async function native<T>(p: () => Promise<T>): Promise<T> {
  try {
    return await p();
  } catch (e) {
    throw toFaissError(e);
  }
}

function checkHeader(h: Partial<Header>): Header {
  if (!BINARY_INDEX_TYPES.includes(h.indexType as BinaryIndexType)) {
    throw new FaissError('ERR_FAISS_BAD_PARAM', `unknown binary index type ${String(h.indexType)}: use BIN_FLAT or BIN_IVF_FLAT`);
  }
  if (!BINARY_METRICS.includes(h.metric as BinaryMetric)) throw new FaissError('ERR_FAISS_BAD_PARAM', `unknown binary metric ${String(h.metric)}: use HAMMING or JACCARD`);
  const dim = h.dim;
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 8 || dim > 32768 * 8 || dim % 8 !== 0) {
    throw new FaissError('ERR_FAISS_DIMENSION', `binary vector dim must be a multiple of 8 in [8, ${32768 * 8}], got ${String(dim)}`);
  }
  const nlist = h.nlist ?? DEFAULT_BINARY_NLIST;
  if (!Number.isInteger(nlist) || nlist < 1 || nlist > 65536) throw new FaissError('ERR_FAISS_BAD_PARAM', `nlist must be an integer in [1, 65536], got ${String(nlist)}`);
  return { indexType: h.indexType as BinaryIndexType, metric: h.metric as BinaryMetric, dim, nlist };
}

export class BinaryIndex {
  readonly indexType: BinaryIndexType;
  readonly metric: BinaryMetric;
  /** Bits per vector. */
  readonly dim: number;
  readonly nlist: number;
  private handle: NativeBinaryIndex | null;

  private constructor(handle: NativeBinaryIndex, h: Header) {
    this.handle = handle;
    this.indexType = h.indexType;
    this.metric = h.metric;
    this.dim = h.dim;
    this.nlist = h.nlist;
  }

  static create(o: { indexType: BinaryIndexType; metric: BinaryMetric; dim: number; nlist?: number }): BinaryIndex {
    const h = checkHeader(o);
    try {
      return new BinaryIndex(addon().NativeBinaryIndex.create(h.indexType, h.metric, h.dim, h.nlist), h);
    } catch (e) {
      throw toFaissError(e);
    }
  }

  static async deserialize(buf: Uint8Array): Promise<BinaryIndex> {
    const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    if (bytes.length < 16 || !bytes.subarray(0, 8).equals(MAGIC)) throw new FaissError('ERR_FAISS_BAD_DATA', 'not a serialized Kite binary index (bad magic)');
    const version = bytes.readUInt32LE(8);
    if (version !== FORMAT_VERSION) throw new FaissError('ERR_FAISS_BAD_DATA', `unsupported serialized binary index format version ${version}`);
    const headerLen = bytes.readUInt32LE(12);
    if (16 + headerLen > bytes.length) throw new FaissError('ERR_FAISS_BAD_DATA', 'serialized binary index is truncated (header)');
    let h: Header;
    try {
      h = checkHeader(JSON.parse(bytes.toString('utf8', 16, 16 + headerLen)) as Partial<Header>);
    } catch (e) {
      throw new FaissError('ERR_FAISS_BAD_DATA', `serialized binary index header is invalid: ${(e as Error).message}`);
    }
    const handle = await native(() => addon().NativeBinaryIndex.deserialize(h.indexType, h.metric, h.dim, bytes, 16 + headerLen));
    return new BinaryIndex(handle, { ...h, nlist: handle.nlist() });
  }

  private live(): NativeBinaryIndex {
    if (!this.handle) throw new FaissError('ERR_FAISS_FREED', `this ${this.indexType} index was freed; create or deserialize a new one`);
    return this.handle;
  }

  get ntotal(): number {
    return this.live().ntotal();
  }

  get isTrained(): boolean {
    return this.live().isTrained();
  }

  get isFreed(): boolean {
    return this.handle === null;
  }

  private count(name: string, v: Uint8Array): number {
    if (!(v instanceof Uint8Array)) throw new FaissError('ERR_FAISS_BAD_PARAM', `${name} must be a Uint8Array`);
    if (v.length % (this.dim / 8) !== 0) throw new FaissError('ERR_FAISS_DIMENSION', `${name} length ${v.length} bytes is not a multiple of dim/8 = ${this.dim / 8}`);
    return v.length / (this.dim / 8);
  }

  /** BIN_IVF_FLAT learns its nlist centroids (needs at least nlist vectors); BIN_FLAT needs no training. */
  async train(codes: Uint8Array): Promise<void> {
    const h = this.live();
    this.count('vectors', codes);
    if (this.indexType === 'BIN_FLAT') return;
    await native(() => h.train(codes));
  }

  async add(codes: Uint8Array, ids: BigInt64Array): Promise<void> {
    const h = this.live();
    const n = this.count('vectors', codes);
    if (ids.length !== n) throw new FaissError('ERR_FAISS_BAD_PARAM', `ids length ${ids.length} does not match the number of vectors ${n}`);
    await native(() => h.add(codes, ids));
  }

  async search(queries: Uint8Array, k: number, opts: { nprobe?: number; filter?: Uint8Array } = {}): Promise<SearchResult> {
    const h = this.live();
    const nq = this.count('queries', queries);
    if (!Number.isInteger(k) || k < 1 || k > 1 << 20) throw new FaissError('ERR_FAISS_BAD_PARAM', `k must be an integer in [1, ${1 << 20}], got ${k}`);
    const nprobe = opts.nprobe ?? 8;
    if (!Number.isInteger(nprobe) || nprobe < 1 || nprobe > 65536) throw new FaissError('ERR_FAISS_BAD_PARAM', `nprobe must be an integer in [1, 65536], got ${nprobe}`);
    const distances = new Float32Array(nq * k);
    const ids = new BigInt64Array(nq * k);
    if (nq > 0) await native(() => h.search(queries, k, nprobe, opts.filter ?? null, distances, ids));
    return { distances, ids };
  }

  async serialize(): Promise<Buffer> {
    const h = this.live();
    const header = Buffer.from(JSON.stringify({ indexType: this.indexType, metric: this.metric, dim: this.dim, nlist: this.nlist }), 'utf8');
    const prefix = Buffer.alloc(16 + header.length);
    MAGIC.copy(prefix, 0);
    prefix.writeUInt32LE(FORMAT_VERSION, 8);
    prefix.writeUInt32LE(header.length, 12);
    header.copy(prefix, 16);
    return native(() => h.serialize(prefix));
  }

  free(): void {
    this.handle?.free();
    this.handle = null;
  }
}
