/**
 * The best k (row, score) pairs offered: higher scores first, and of equal scores the lower row first. A bounded
 * heap with the worst kept pair at its root.
 */
export class TopK {
  private readonly rows: number[] = [];
  private readonly scores: number[] = [];

  constructor(readonly k: number) {}

  get full(): boolean {
    return this.rows.length >= this.k;
  }

  /** The score of the worst pair kept (meaningful once full). */
  get worstScore(): number {
    return this.scores[0] ?? -Infinity;
  }

  /** Whether pair a ranks below pair b. */
  private worse(a: number, b: number): boolean {
    const sa = this.scores[a]!;
    const sb = this.scores[b]!;
    return sa < sb || (sa === sb && this.rows[a]! > this.rows[b]!);
  }

  private swap(a: number, b: number): void {
    [this.rows[a], this.rows[b]] = [this.rows[b]!, this.rows[a]!];
    [this.scores[a], this.scores[b]] = [this.scores[b]!, this.scores[a]!];
  }

  offer(row: number, score: number): void {
    if (this.rows.length < this.k) {
      this.rows.push(row);
      this.scores.push(score);
      for (let i = this.rows.length - 1; i > 0; ) {
        const p = (i - 1) >> 1;
        if (!this.worse(i, p)) break;
        this.swap(i, p);
        i = p;
      }
      return;
    }
    const s0 = this.scores[0]!;
    if (score < s0 || (score === s0 && row > this.rows[0]!)) return;
    this.rows[0] = row;
    this.scores[0] = score;
    const n = this.rows.length;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.worse(l, m)) m = l;
      if (r < n && this.worse(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }

  /** The kept pairs, best first. */
  sorted(): { row: number; score: number }[] {
    return this.rows
      .map((row, i) => ({ row, score: this.scores[i]! }))
      .sort((a, b) => b.score - a.score || a.row - b.row);
  }
}
