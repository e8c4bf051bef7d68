import { createAnalyzer, TextIndex } from '@kite/analyzer';
import { KiteError } from '@kite/common';
import type { CollectionMeta, ColumnBatch } from '@kite/segment';

/**
 * The text indexes a collection asks for: its VarChar fields with enable_match (and enable_analyzer), each with its
 * analyzer_params. Milvus builds these when a segment is built; Kite builds them when a segment is loaded and as
 * growing rows arrive, in the background (see TextIndexes.prepare), so that filters only look them up.
 */
export function textMatchFields(c: CollectionMeta): { field: string; analyzer: string }[] {
  const on = (v: string | undefined): boolean => (v ?? '').toLowerCase() === 'true';
  return c.fields
    .filter((f) => f.dataType === 'VarChar' && on(f.typeParams.enable_match) && on(f.typeParams.enable_analyzer))
    .map((f) => ({ field: f.name, analyzer: f.typeParams.analyzer_params ?? '' }));
}

/**
 * The text indexes (text_match / phrase_match) of one row source, per field and analyzer: a sealed segment's, or a
 * delegator's growing rows' until they compact. An index is built on first use from the field's column, so a
 * segment that is never text-filtered costs nothing, and repeated filters do not analyze the text again. A growing
 * source's batches only extend one another (until it compacts and starts a new TextIndexes), so an index built over
 * one batch is extended by the rows the next adds; a view on an older batch reads only its own rows' bits of it.
 */
export class TextIndexes {
  private readonly indexes = new Map<string, TextIndex>();

  /** The index of `field` analyzed with `analyzerParams`, covering at least the rows of `batch`. */
  get(batch: ColumnBatch, field: string, analyzerParams: string): { index: TextIndex; firstRow: number } | undefined {
    const column = batch.columns.get(field);
    if (column === undefined || column.kind !== 'string') return undefined;
    const key = `${field}\u0000${analyzerParams}`;
    let index = this.indexes.get(key);
    if (index === undefined) {
      index = new TextIndex(createAnalyzer(analyzerParams));
      this.indexes.set(key, index);
    }
    if (index.numRows < batch.numRows) index.addRows(column.data, index.numRows, batch.numRows);
    return { index, firstRow: 0 };
  }

  /**
   * Builds (or extends) the indexes `wanted` over the rows of `batch` in slices of about `sliceMs` that return to the
   * event loop, so that indexing a large segment on its first text filter does not hold up other requests. Calls
   * for the same index share the work: each slice appends from wherever the index has got to. Past `deadline`
   * (Date.now() value) it stops with DeadlineExceeded; what it indexed stays for the next call.
   */
  async prepare(batch: ColumnBatch, wanted: readonly { field: string; analyzer: string }[], deadline?: number, sliceMs = 10): Promise<void> {
    for (const { field, analyzer } of wanted) {
      const column = batch.columns.get(field);
      if (column === undefined || column.kind !== 'string') continue;
      const key = `${field}\u0000${analyzer}`;
      let index = this.indexes.get(key);
      if (index === undefined) {
        index = new TextIndex(createAnalyzer(analyzer));
        this.indexes.set(key, index);
      }
      while (index.numRows < batch.numRows) {
        const t0 = performance.now();
        while (index.numRows < batch.numRows && performance.now() - t0 < sliceMs) {
          index.addRows(column.data, index.numRows, Math.min(batch.numRows, index.numRows + 256));
        }
        if (index.numRows < batch.numRows) {
          if (deadline !== undefined && Date.now() > deadline) {
            throw new KiteError('DeadlineExceeded', `indexing field "${field}" for text_match/phrase_match did not finish within the request's deadline (${index.numRows} of ${batch.numRows} rows); the index keeps growing with later requests, retry`);
          }
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
    }
  }

  /**
   * Starts prepare() without waiting for it. A failure (analyzer params that no longer build) is left to the filter
   * that needs the index, which reports it with its message.
   */
  prepareInBackground(batch: ColumnBatch, wanted: readonly { field: string; analyzer: string }[]): void {
    if (wanted.length > 0) this.prepare(batch, wanted).catch(() => undefined);
  }

  /** Rows indexed so far for `field` with `analyzerParams` (0 when not started); builds nothing. */
  indexedRows(field: string, analyzerParams: string): number {
    return this.indexes.get(`${field}\u0000${analyzerParams}`)?.numRows ?? 0;
  }

  /** Fields indexed so far (for tests and statistics). */
  get size(): number {
    return this.indexes.size;
  }
}
