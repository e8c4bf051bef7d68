/**
 * A reference BM25 for the tests: Milvus's formula (IDF ln(1 + (N - df + 0.5) / (df + 0.5)), term frequency
 * saturated by k1 and normalised by b against the average document length), computed over the documents the test
 * knows to be live, and the check that a server's hits rank as the reference does.
 */

/** The standard analyzer on these texts (plain lowercase words): lowercase, split on anything but letters and digits. */
export const standardTerms = (text: string): string[] => text.toLowerCase().split(/[^a-z0-9]+/).filter((t) => t !== '');

/** Reference BM25 over `docs` (id -> terms): Milvus's formula with the query's term counts as weights. */
export function bm25Reference(docs: Map<number, string[]>, query: string[], k1: number, b: number, k: number): { id: number; score: number }[] {
  const n = docs.size;
  let total = 0;
  for (const d of docs.values()) total += d.length;
  const avgdl = total / n;
  const qCount = new Map<string, number>();
  for (const t of query) qCount.set(t, (qCount.get(t) ?? 0) + 1);
  const df = new Map<string, number>();
  for (const t of qCount.keys()) df.set(t, [...docs.values()].filter((d) => d.includes(t)).length);
  const out: { id: number; score: number }[] = [];
  for (const [id, d] of docs) {
    let score = 0;
    let hit = false;
    for (const [t, qc] of qCount) {
      const tf = d.filter((x) => x === t).length;
      if (tf === 0) continue;
      hit = true;
      const idf = Math.log(1 + (n - df.get(t)! + 0.5) / (df.get(t)! + 0.5));
      score += qc * idf * (tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * d.length) / avgdl));
    }
    if (hit) out.push({ id, score });
  }
  return out.sort((x, y) => y.score - x.score || x.id - y.id).slice(0, k);
}

/**
 * The server's hits are the reference's: the same scores rank by rank, and each hit scores as the reference scores
 * that document (documents with equal scores may come in any order, as in Milvus).
 */
export function expectSameRanking(what: string, got: { id: number; score: number }[], want: { id: number; score: number }[], all: { id: number; score: number }[]): void {
  expect({ what, n: got.length }).toEqual({ what, n: want.length });
  const byId = new Map(all.map((h) => [h.id, h.score]));
  got.forEach((h, j) => {
    expect({ what, rank: j, score: Number(h.score.toFixed(4)) }).toEqual({ what, rank: j, score: Number(want[j]!.score.toFixed(4)) });
    expect({ what, id: h.id, score: Number(h.score.toFixed(4)) }).toEqual({ what, id: h.id, score: Number((byId.get(h.id) ?? NaN).toFixed(4)) });
  });
  expect(new Set(got.map((h) => h.id)).size).toBe(got.length);
}

