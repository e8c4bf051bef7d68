import { createAnalyzer, TextIndex } from '@kite/analyzer';
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

  /** Fields indexed so far (for tests and statistics). */
  get size(): number {
    return this.indexes.size;
  }
}
