import { createAnalyzer, TextIndex } from '@kite/analyzer';
import { withValidity, type EvalContext, type Mask, type PredFn } from './compile';
import type { Pred } from './ir';

type TextPred = Extract<Pred, { k: 'text' }>;

/**
 * text_match / phrase_match: the rows a text index gives for the query. The batch's own index (a query node's,
 * cached per segment and field) is used when it offers one; otherwise the column is indexed here, once per column
 * array (a batch evaluated again with the same column reuses it).
 */
export function compileText(p: TextPred): PredFn {
  let local: { data: readonly string[]; index: TextIndex } | undefined;
  return (ctx: EvalContext): Mask => {
    const column = ctx.batch.column(p.field);
    const t = ctx.words();
    if (column === undefined) {
      // A field the batch lacks (added after the segment was written) is NULL in every row.
      return withValidity(ctx, t, new Uint8Array(ctx.n));
    }
    if (column.kind !== 'string') throw new Error(`column "${p.field}" has kind ${column.kind}, but text_match needs a VarChar column`);
    let index: TextIndex;
    let first = 0;
    const offered = ctx.batch.textIndex?.(p.field, p.analyzer);
    if (offered !== undefined) {
      index = offered.index;
      first = offered.firstRow;
    } else {
      if (local?.data !== column.data) {
        const built = new TextIndex(createAnalyzer(p.analyzer));
        built.addRows(column.data);
        local = { data: column.data, index: built };
      }
      index = local.index;
    }
    const bits = p.slop === undefined ? index.matchAny(p.query, p.minShouldMatch ?? 1) : index.matchPhrase(p.query, p.slop);
    const n = ctx.n;
    if ((first & 7) === 0) {
      // Whole bytes: four at a time into each 32-bit word.
      const base = first >>> 3;
      for (let w = 0; w < t.length; w++) {
        const b = base + w * 4;
        t[w] = ((bits[b] ?? 0) | ((bits[b + 1] ?? 0) << 8) | ((bits[b + 2] ?? 0) << 16) | ((bits[b + 3] ?? 0) << 24)) >>> 0;
      }
      const tail = n & 31;
      if (tail !== 0 && t.length > 0) t[t.length - 1] = (t[t.length - 1] as number) & ((1 << tail) - 1);
    } else {
      for (let i = 0; i < n; i++) {
        const r = first + i;
        if (((bits[r >>> 3] ?? 0) >>> (r & 7)) & 1) t[i >>> 5] = (t[i >>> 5] as number) | (1 << (i & 31));
      }
    }
    return withValidity(ctx, t, column.valid);
  };
}
