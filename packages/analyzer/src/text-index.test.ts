import { createAnalyzer } from './analyzer';
import { TextIndex } from './text-index';

const bitsToRows = (bits: Uint8Array, n: number): number[] => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (((bits[i >>> 3] as number) >>> (i & 7)) & 1) out.push(i);
  return out;
};

/** A small deterministic generator, so that failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('TextIndex', () => {
  const english = createAnalyzer({ type: 'english' });
  const docs = [
    'Machine learning boosts efficiency',
    'Learning machine models are here',
    'machine deep learning',
    'The robotics machine learning models',
    '',
    'machines learn; learned machines',
    'deep machine very deep learning',
  ];

  it('matches any of the analyzed query terms (stemmed, lowercased, stop words dropped)', () => {
    const idx = new TextIndex(english);
    idx.addRows(docs);
    expect(idx.numRows).toBe(docs.length);
    expect(bitsToRows(idx.matchAny('MACHINES'), docs.length)).toEqual([0, 1, 2, 3, 5, 6]);
    expect(bitsToRows(idx.matchAny('robotics efficiency'), docs.length)).toEqual([0, 3]);
    expect(bitsToRows(idx.matchAny('the a'), docs.length)).toEqual([]);
    expect(bitsToRows(idx.matchAny(''), docs.length)).toEqual([]);
  });

  it('matches phrases in order with Tantivy slop semantics', () => {
    const idx = new TextIndex(english);
    idx.addRows(docs);
    const phrase = (q: string, slop: number) => bitsToRows(idx.matchPhrase(q, slop), docs.length);
    expect(phrase('machine learning', 0)).toEqual([0, 3, 5]);
    expect(phrase('machine learning', 1)).toEqual([0, 2, 3, 5]);
    // Out of order never matches, whatever the slop.
    expect(phrase('learning machine', 5)).toEqual([1, 5]);
    expect(phrase('machine learning', 2)).toEqual([0, 2, 3, 5, 6]);
    expect(phrase('robotics machine learning', 0)).toEqual([3]);
    expect(phrase('machine', 0)).toEqual([0, 1, 2, 3, 5, 6]);
    expect(phrase('unknown words', 3)).toEqual([]);
  });

  it('keeps stop-word gaps of the query and of the rows', () => {
    const idx = new TextIndex(english);
    idx.addRows(['king of the hill', 'king hill', 'king of hill']);
    // "king of the hill": king@0 hill@3 in both the query and row 0.
    expect(bitsToRows(idx.matchPhrase('king of the hill', 0), 3)).toEqual([0]);
    expect(bitsToRows(idx.matchPhrase('king hill', 0), 3)).toEqual([1]);
    expect(bitsToRows(idx.matchPhrase('king hill', 2), 3)).toEqual([0, 1, 2]);
  });

  it('extends incrementally and recomputes a remembered result when rows were added', () => {
    const idx = new TextIndex(english);
    idx.addRows(['red apple']);
    expect(bitsToRows(idx.matchAny('apple'), 1)).toEqual([0]);
    idx.addRows([null, undefined, 'green apple']);
    expect(bitsToRows(idx.matchAny('apple'), 4)).toEqual([0, 3]);
    expect(idx.matchAny('apple')).toBe(idx.matchAny('apple'));
  });

  it('agrees with a naive scan on random texts', () => {
    const words = ['alpha', 'beta', 'gamma', 'delta', 'the', 'of', 'alphas', 'Beta', 'eps'];
    const next = rng(42);
    const pick = (): string => words[Math.floor(next() * words.length)] as string;
    const std = createAnalyzer({ type: 'english' });
    const texts = Array.from({ length: 400 }, () => Array.from({ length: Math.floor(next() * 12) }, pick).join(' '));
    const idx = new TextIndex(std);
    for (let i = 0; i < texts.length; i += 37) idx.addRows(texts.slice(i, i + 37));
    const rows = texts.map((t) => std.termsWithPositions(t));

    const naiveAny = (q: string): number[] => {
      const want = new Set(std.terms(q));
      return rows.flatMap((r, i) => (r.terms.some((t) => want.has(t)) ? [i] : []));
    };
    // Naive phrase: try every choice of one position per query term.
    const naivePhrase = (q: string, slop: number): number[] => {
      const qq = std.termsWithPositions(q);
      if (qq.terms.length === 0) return [];
      return rows.flatMap((r, row) => {
        const options = qq.terms.map((t, i) => r.terms.flatMap((u, j) => (u === t ? [(r.positions[j] as number) - (qq.positions[i] as number)] : [])));
        const search = (i: number, prev: number): boolean =>
          i === options.length || (options[i] as number[]).some((x) => (i === 0 || (x >= prev && x - prev <= slop)) && search(i + 1, x));
        return search(0, 0) ? [row] : [];
      });
    };
    for (let k = 0; k < 60; k++) {
      const q = Array.from({ length: 1 + Math.floor(next() * 4) }, pick).join(' ');
      expect(bitsToRows(idx.matchAny(q), texts.length)).toEqual(naiveAny(q));
      for (const slop of [0, 1, 3]) expect({ q, slop, rows: bitsToRows(idx.matchPhrase(q, slop), texts.length) }).toEqual({ q, slop, rows: naivePhrase(q, slop) });
    }
  });
});
