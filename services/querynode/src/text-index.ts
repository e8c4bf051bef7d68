import { createAnalyzer, TextIndex } from '@kite/analyzer';
import { KiteError } from '@kite/common';
import type { ColumnBatch } from '@kite/segment';

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

  /** Fields indexed so far (for tests and statistics). */
  get size(): number {
    return this.indexes.size;
  }
}
