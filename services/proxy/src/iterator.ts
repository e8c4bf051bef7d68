import { KiteError } from '@kite/common';
import { scoreKey, takeBatch, SCORE, type Column, type ColumnBatch, type KeyRange } from '@kite/segment';
import { iteratorRange, type IteratorPlan } from './search-extras';

/** Runs a search over every shard with `k` hits per query inside `range`; hits best first, ties by primary key. */
export type RangeSearch = (k: number, range: KeyRange) => Promise<ColumnBatch>;

/** The most hits one search returns (a tie group at a page's end larger than this cannot be returned whole). */
const MAX_TIE = 16384;

/**
 * One page of the search iterator v2. The SDKs send back only the last page's bound (the score of its last hit;
 * pymilvus keeps the first token for the iterator's life, so the token cannot carry more), and the next page takes
 * the hits strictly after it. So a page never ends inside a run of equal scores: when the hit after the page has the
 * page's last score, the page ends before that run, or, when the whole page is one run, takes the whole run. Every
 * row then comes exactly once, in score order, across segments and shards.
 */
export async function iteratorPage(search: RangeSearch, metric: string, base: KeyRange | undefined, it: IteratorPlan): Promise<{ page: ColumnBatch; lastBound: number }> {
  const range = iteratorRange(metric, base, it.lastBound);
  const hits = await search(it.batch + 1, range);
  const scores = (hits.columns.get(SCORE) as Extract<Column, { kind: 'float' }> | undefined)?.data;
  let page = hits;
  if (scores && hits.numRows > it.batch) {
    const last = scores[it.batch - 1]!;
    let end = it.batch;
    if (scores[it.batch] === last) {
      end = it.batch - 1;
      while (end > 0 && scores[end - 1] === last) end--;
    }
    if (end > 0) page = takeBatch(hits, Array.from({ length: end }, (_, i) => i));
    else {
      // The whole page is one score: return every row with it.
      const key = scoreKey(last, metric);
      page = await search(MAX_TIE, { ...range, hi: key, hiOpen: false });
      if (page.numRows >= MAX_TIE) {
        throw new KiteError('ParameterInvalid', `the search iterator met more than ${MAX_TIE} rows with the same score ${last}; it cannot page through them exactly`);
      }
    }
  }
  const pageScores = (page.columns.get(SCORE) as Extract<Column, { kind: 'float' }> | undefined)?.data;
  const lastBound = pageScores && page.numRows > 0 ? pageScores[page.numRows - 1]! : (it.lastBound ?? 0);
  return { page, lastBound };
}
