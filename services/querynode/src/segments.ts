import { BinaryIndex, VectorIndex, type BinaryMetric, type MetricType } from '@kite/faiss';
import type { ObjectStore } from '@kite/objectstore';
import {
  bitmapAll, bitClear, binaryFields, floatVectors, concatBatches, decodeBatch, PK, sparseFields, takeBatch, vectorFields,
  type Column, type ColumnBatch, type CollectionMeta, type SegmentMeta,
} from '@kite/segment';
import { SparseIndex, type SparseIndexType, type SparseMetric } from '@kite/sparse';
import { ScalarIndex, scalarIndexKey } from '@kite/expr';
import { counter } from '@kite/observe';
import { binaryAnn, denseAnn, sparseAnn, type AnnIndex } from './ann';
import { FilterBitsCache, PkIndex, type RowSource } from './exec';
import { TextIndexes, textMatchFields } from './text-index';

const scalarLoads = counter('kite_querynode_scalar_index_files_loaded_total', 'scalar index files (INVERTED, STL_SORT, Trie, BITMAP) read from object storage with a sealed segment', ['index_type']);

/** Builds an exact (FLAT) index over a vector column: small segments and growing rows are searched this way. */
export async function flatIndex(c: Extract<Column, { kind: 'vector' }>, metric: MetricType, base = 0): Promise<VectorIndex> {
  const idx = VectorIndex.create({ indexType: 'FLAT', metric, dim: c.dim });
  const n = c.data.length / c.dim;
  if (n > 0) {
    const ids = new BigInt64Array(n);
    for (let i = 0; i < n; i++) ids[i] = BigInt(base + i);
    await idx.add(c.data, ids);
  }
  return idx;
}

function metricOf(c: CollectionMeta, field: string): MetricType {
  return (c.indexes.find((i) => i.fieldName === field)?.metricType ?? 'COSINE') as MetricType;
}

/** A binary field's metric: its index's, else HAMMING. */
function binaryMetricOf(c: CollectionMeta, field: string): BinaryMetric {
  const m = c.indexes.find((i) => i.fieldName === field)?.metricType;
  return m === 'JACCARD' ? 'JACCARD' : 'HAMMING';
}

/** An exact (BIN_FLAT) index over a binary column: growing rows and segments too small for BIN_IVF_FLAT. */
export async function binaryFlatIndex(c: Extract<Column, { kind: 'binary' }> | undefined, dim: number, metric: BinaryMetric, base = 0): Promise<BinaryIndex> {
  const idx = BinaryIndex.create({ indexType: 'BIN_FLAT', metric, dim });
  const n = c ? c.data.length / (dim / 8) : 0;
  if (c && n > 0) {
    const ids = new BigInt64Array(n);
    for (let i = 0; i < n; i++) ids[i] = BigInt(base + i);
    await idx.add(c.data, ids);
  }
  return idx;
}

/** A sparse field's metric: its index's, else BM25 for a BM25 function's output and IP otherwise. */
function sparseMetricOf(c: CollectionMeta, field: string): SparseMetric {
  const m = c.indexes.find((i) => i.fieldName === field)?.metricType;
  if (m === 'BM25' || m === 'IP') return m;
  return (c.functions ?? []).some((f) => f.type === 'BM25' && f.outputFieldNames.includes(field)) ? 'BM25' : 'IP';
}

/** The index type a sparse field's segment index is searched as (its index's, else the inverted index). */
function sparseTypeOf(c: CollectionMeta, field: string): SparseIndexType {
  const t = c.indexes.find((i) => i.fieldName === field)?.indexType;
  return t === 'SPARSE_WAND' ? 'SPARSE_WAND' : 'SPARSE_INVERTED_INDEX';
}

/** An exact sparse index over a column (growing rows, and sealed segments until their index file exists). */
export function sparseIndexOf(c: CollectionMeta, field: string, col: Extract<Column, { kind: 'sparse' }> | undefined): Promise<SparseIndex> {
  return SparseIndex.buildAsync(col?.data ?? [], { indexType: sparseTypeOf(c, field), metric: sparseMetricOf(c, field) });
}

/** A sealed segment loaded from object storage, with an index per vector field. */
export class SealedSegment implements RowSource {
  readonly pkIndex = new PkIndex();
  readonly textIndexes = new TextIndexes();
  private readonly indexes = new Map<string, { index: AnnIndex; indexID: number }>();
  /**
   * Scalar indexes by key (a field's name, or a JSON path index's key: @kite/expr scalarIndexKey), from the segment's
   * index files (those not built yet are scanned).
   */
  private readonly scalars = new Map<string, { index: ScalarIndex; indexID: number }>();

  /**
   * The replicas this node holds the segment for. One copy serves them all: a node lent to a second replica (its
   * own nodes gone) may be asked to load a segment it already holds for the first, and reports it for both.
   */
  readonly replicas: Set<number>;

  /** The bits of the filters evaluated here lately (the rows never change; deletes are applied per request). */
  readonly filterBits: FilterBitsCache;

  private constructor(
    public meta: SegmentMeta,
    replicaID: number,
    readonly batch: ColumnBatch,
    filterCacheEntries: number,
  ) {
    this.replicas = new Set([replicaID]);
    this.filterBits = new FilterBitsCache(filterCacheEntries);
    const pk = batch.columns.get(PK);
    if (pk) this.pkIndex.addColumn(pk, 0);
  }

  /** `filterCacheEntries`: filters whose bits the segment keeps (querynode.filterCacheEntries; 0: none). */
  static async load(meta: SegmentMeta, replicaID: number, coll: CollectionMeta, objects: ObjectStore, filterCacheEntries = 0): Promise<SealedSegment> {
    const batch = decodeBatch(await objects.get(meta.dataKey));
    const seg = new SealedSegment(meta, replicaID, batch, filterCacheEntries);
    await seg.refreshIndexes(coll, objects);
    seg.textIndexes.prepareInBackground(batch, textMatchFields(coll));
    return seg;
  }

  /** Uses the segment's built index file for each field's current index, or an exact index until one exists. */
  async refreshIndexes(coll: CollectionMeta, objects: ObjectStore, meta?: SegmentMeta): Promise<void> {
    if (meta) this.meta = meta;
    await this.refreshScalarIndexes(coll, objects);
    for (const f of vectorFields(coll)) {
      const want = coll.indexes.find((i) => i.fieldName === f.name);
      const file = want ? this.meta.indexes.find((x) => x.indexID === want.indexID) : undefined;
      const cur = this.indexes.get(f.name);
      const curID = cur?.indexID ?? -2;
      const wantID = file ? file.indexID : -1;
      if (cur && curID === wantID && cur.index.metric === metricOf(coll, f.name)) continue;
      let index: VectorIndex;
      // A segment too small to train its index has a file record without a key: it is searched exactly.
      if (file?.key) index = await VectorIndex.deserialize(await objects.get(file.key));
      else index = await flatIndex(floatVectors(this.batch.columns.get(f.name)), metricOf(coll, f.name));
      this.indexes.set(f.name, { index: denseAnn(index), indexID: wantID });
      cur?.index.free();
    }
    for (const f of binaryFields(coll)) {
      const want = coll.indexes.find((i) => i.fieldName === f.name);
      const file = want ? this.meta.indexes.find((x) => x.indexID === want.indexID) : undefined;
      const cur = this.indexes.get(f.name);
      const wantID = file ? file.indexID : -1;
      if (cur && (cur.indexID ?? -2) === wantID && cur.index.metric === binaryMetricOf(coll, f.name)) continue;
      const index = file?.key
        ? await BinaryIndex.deserialize(await objects.get(file.key))
        : await binaryFlatIndex(this.batch.columns.get(f.name) as Extract<Column, { kind: 'binary' }> | undefined, Number(f.typeParams.dim), binaryMetricOf(coll, f.name));
      this.indexes.set(f.name, { index: binaryAnn(index), indexID: wantID });
      cur?.index.free();
    }
    for (const f of sparseFields(coll)) {
      const want = coll.indexes.find((i) => i.fieldName === f.name);
      const file = want ? this.meta.indexes.find((x) => x.indexID === want.indexID) : undefined;
      const cur = this.indexes.get(f.name);
      const wantID = file?.key ? file.indexID : -1;
      if (cur && cur.indexID === wantID && cur.index.metric === sparseMetricOf(coll, f.name)) continue;
      const index = file?.key
        ? SparseIndex.deserialize(await objects.get(file.key), sparseTypeOf(coll, f.name))
        : await sparseIndexOf(coll, f.name, this.batch.columns.get(f.name) as Extract<Column, { kind: 'sparse' }> | undefined);
      this.indexes.set(f.name, { index: sparseAnn(index), indexID: wantID });
      cur?.index.free();
    }
  }

  index(field: string): AnnIndex | undefined {
    return this.indexes.get(field)?.index;
  }

  /** The segment's scalar index under `key` (a field, or a JSON path index's key), when its file is built and loaded. */
  scalarIndex(key: string): ScalarIndex | undefined {
    return this.scalars.get(key)?.index;
  }

  /** Loads the scalar index files of the collection's current scalar indexes; forgets those of dropped indexes. */
  private async refreshScalarIndexes(coll: CollectionMeta, objects: ObjectStore): Promise<void> {
    const wanted = new Set<string>();
    for (const idx of coll.indexes) {
      if (idx.metricType !== '') continue;
      const file = this.meta.indexes.find((x) => x.indexID === idx.indexID);
      if (!file?.key) continue;
      const key = scalarIndexKey(idx.fieldName, idx.params);
      wanted.add(key);
      if (this.scalars.get(key)?.indexID === idx.indexID) continue;
      const index = ScalarIndex.deserialize(await objects.get(file.key));
      if (index.numRows !== this.batch.numRows) continue; // not this segment's rows: scanned instead
      this.scalars.set(key, { index, indexID: idx.indexID });
      scalarLoads.inc({ index_type: idx.indexType });
    }
    for (const f of [...this.scalars.keys()]) if (!wanted.has(f)) this.scalars.delete(f);
  }

  baseMask(): undefined {
    return undefined;
  }

  get indexedFields(): number {
    return [...this.indexes.values()].filter((i) => i.indexID >= 0).length;
  }

  free(): void {
    for (const i of this.indexes.values()) i.index.free();
    this.indexes.clear();
  }
}

/**
 * A delegator's growing rows: every insert consumed from the channel at or after the delegator's start offset, with
 * an exact index per vector field. Rows below the watermark are served by sealed segments and masked out; they are
 * dropped for good when more than half the rows are masked.
 */
export class GrowingRows implements RowSource {
  batch: ColumnBatch = { numRows: 0, columns: new Map() };
  pkIndex = new PkIndex();
  /** Extended as batches grow; replaced when the rows are compacted (row numbers change then). */
  textIndexes = new TextIndexes();
  private offsets: number[] = [];
  private pending: { batch: ColumnBatch; offset: number }[] = [];
  private indexes = new Map<string, VectorIndex>();
  private sparse = new Map<string, SparseIndex>();
  private binary = new Map<string, BinaryIndex>();
  private watermark = 0;
  private mask: Uint8Array | undefined;

  constructor(private coll: CollectionMeta) {}

  get numRows(): number {
    return this.batch.numRows + this.pending.reduce((s, p) => s + p.batch.numRows, 0);
  }

  append(batch: ColumnBatch, offset: number): void {
    this.pending.push({ batch, offset });
  }

  private chain: Promise<void> = Promise.resolve();

  /**
   * Folds pending inserts into the searchable batch and the indexes; called before each search. Calls are
   * serialised, so when the returned promise resolves every row appended before the call is searchable.
   */
  settle(): Promise<void> {
    const run = this.chain.then(() => this.fold());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async fold(): Promise<void> {
    if (this.pending.length === 0) return;
    const pending = this.pending;
    this.pending = [];
    const base = this.batch.numRows;
    const added = concatBatches(pending.map((p) => p.batch));
    for (const p of pending) for (let i = 0; i < p.batch.numRows; i++) this.offsets.push(p.offset);
    const pk = added.columns.get(PK);
    if (pk) this.pkIndex.addColumn(pk, base);
    for (const f of vectorFields(this.coll)) {
      const col = floatVectors(added.columns.get(f.name));
      let idx = this.indexes.get(f.name);
      if (!idx) {
        idx = VectorIndex.create({ indexType: 'FLAT', metric: metricOf(this.coll, f.name), dim: col.dim });
        this.indexes.set(f.name, idx);
      }
      const ids = new BigInt64Array(added.numRows);
      for (let i = 0; i < added.numRows; i++) ids[i] = BigInt(base + i);
      await idx.add(col.data, ids);
    }
    for (const f of binaryFields(this.coll)) {
      const col = added.columns.get(f.name) as Extract<Column, { kind: 'binary' }> | undefined;
      let idx = this.binary.get(f.name);
      if (!idx) {
        idx = await binaryFlatIndex(undefined, Number(f.typeParams.dim), binaryMetricOf(this.coll, f.name));
        this.binary.set(f.name, idx);
      }
      if (col && added.numRows > 0) {
        const ids = new BigInt64Array(added.numRows);
        for (let i = 0; i < added.numRows; i++) ids[i] = BigInt(base + i);
        await idx.add(col.data, ids);
      }
    }
    for (const f of sparseFields(this.coll)) {
      const col = added.columns.get(f.name) as Extract<Column, { kind: 'sparse' }> | undefined;
      let idx = this.sparse.get(f.name);
      if (!idx) {
        idx = await sparseIndexOf(this.coll, f.name, undefined);
        this.sparse.set(f.name, idx);
      }
      // Row ids continue from the rows already folded in: the index was built over exactly those.
      idx.add(col?.data ?? []);
    }
    this.batch = base === 0 ? added : concatBatches([this.batch, added]);
    this.mask = undefined;
    this.textIndexes.prepareInBackground(this.batch, textMatchFields(this.coll));
  }

  setWatermark(w: number): void {
    if (w === this.watermark) return;
    this.watermark = w;
    this.mask = undefined;
  }

  index(field: string): AnnIndex | undefined {
    const dense = this.indexes.get(field);
    if (dense) return denseAnn(dense);
    const binary = this.binary.get(field);
    if (binary) return binaryAnn(binary);
    const sparse = this.sparse.get(field);
    return sparse ? sparseAnn(sparse) : undefined;
  }

  baseMask(): Uint8Array | undefined {
    if (this.watermark === 0 || this.offsets.length === 0 || this.offsets[0]! >= this.watermark) return undefined;
    if (!this.mask) {
      const m = bitmapAll(this.batch.numRows);
      for (let i = 0; i < this.offsets.length && this.offsets[i]! < this.watermark; i++) bitClear(m, i);
      this.mask = m;
    }
    return this.mask;
  }

  /** Drops rows below the watermark when they are most of the store. */
  compact(): Promise<void> {
    const run = this.chain.then(() => this.rebuild());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async rebuild(): Promise<void> {
    let dead = 0;
    while (dead < this.offsets.length && this.offsets[dead]! < this.watermark) dead++;
    if (dead === 0 || dead * 2 < this.offsets.length) return;
    const keep: ColumnBatch[] = [];
    const live = this.batch.numRows - dead;
    const liveOffsets = this.offsets.slice(dead);
    if (live > 0) {
      const idx = Array.from({ length: live }, (_, i) => dead + i);
      keep.push(takeBatch(this.batch, idx));
    }
    for (const i of this.indexes.values()) i.free();
    for (const i of this.binary.values()) i.free();
    this.indexes = new Map();
    this.binary = new Map();
    this.sparse = new Map();
    this.batch = { numRows: 0, columns: new Map() };
    this.pkIndex = new PkIndex();
    this.textIndexes = new TextIndexes();
    this.offsets = [];
    this.mask = undefined;
    const pending = this.pending;
    this.pending = [];
    if (keep[0]) {
      // Re-append the live rows keeping their offsets (all offsets of one kept run are >= the watermark).
      let start = 0;
      while (start < live) {
        let end = start;
        while (end < live && liveOffsets[end] === liveOffsets[start]) end++;
        this.pending.push({ batch: takeBatch(keep[0], Array.from({ length: end - start }, (_, i) => start + i)), offset: liveOffsets[start]! });
        start = end;
      }
    }
    this.pending.push(...pending);
    await this.fold();
  }

  setCollection(c: CollectionMeta): void {
    this.coll = c;
  }

  free(): void {
    for (const i of this.indexes.values()) i.free();
    for (const i of this.binary.values()) i.free();
    this.indexes.clear();
    this.binary.clear();
    this.sparse.clear();
  }
}
