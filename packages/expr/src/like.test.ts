import { likeMatcher, planLike } from './like';
import { evaluate, parseExpr, type ColumnBatch, type SchemaInfo } from './index';

/**
 * The reference: LIKE by dynamic programming over code points, straight from the definition (`%` any run, `_` one
 * character, backslash quotes the next character, a final backslash is literal). O(n·m) and obviously right.
 */
function reference(s: string, pattern: string): boolean {
  const toks: { wild?: '%' | '_'; lit?: string }[] = [];
  const p = Array.from(pattern);
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '\\' && i + 1 < p.length) toks.push({ lit: p[++i] });
    else if (p[i] === '%' || p[i] === '_') toks.push({ wild: p[i] as '%' | '_' });
    else toks.push({ lit: p[i] });
  }
  const str = Array.from(s);
  // can[k]: the tokens seen so far can match str[0..k)
  let can = new Array<boolean>(str.length + 1).fill(false);
  can[0] = true;
  for (const t of toks) {
    const next = new Array<boolean>(str.length + 1).fill(false);
    for (let k = 0; k <= str.length; k++) {
      if (t.wild === '%') next[k] = can[k] === true || (k > 0 && next[k - 1] === true);
      else if (k > 0 && can[k - 1] === true) next[k] = t.wild === '_' || str[k - 1] === t.lit;
    }
    can = next;
  }
  return can[str.length] === true;
}

/** xorshift32, seeded: failures reproduce. */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

describe('LIKE semantics', () => {
  it.each<[string, string, boolean]>([
    ['abc', 'abc', true],
    ['abc', 'ab', false],
    ['abc', 'ab%', true],
    ['abc', '%bc', true],
    ['abc', '%b%', true],
    ['abc', '%', true],
    ['', '%', true],
    ['', '', true],
    ['', '_', false],
    ['abc', 'a_c', true],
    ['abc', '___', true],
    ['abc', '__', false],
    ['abc', '%a%b%c%', true],
    ['abc', '%c%b%', false],
    ['a%c', 'a\\%c', true],
    ['abc', 'a\\%c', false],
    ['a_c', 'a\\_c', true],
    ['abc', 'a\\_c', false],
    ['a\\c', 'a\\\\c', true],
    ['ab\\', 'ab\\', true], // a final backslash is literal
    ['aXbYb', 'a%b', true],
    ['ab', 'a%b%b', false],
    ['abab', 'a%b%b', true],
    ['日本語', '日_語', true], // `_` is one character, not one UTF-16 unit or byte
    ['a😀b', 'a_b', true],
    ['a😀b', 'a__b', false],
    ['😀😀', '%😀', true],
    ['x\nyz', 'x%z', true], // `%` crosses line breaks
    ['x\ny', 'x_y', true],
  ])('%j like %j is %s', (s, pattern, want) => {
    expect(likeMatcher(pattern)(s)).toBe(want);
    expect(reference(s, pattern)).toBe(want);
  });

  it('uses plain string operations for exact, prefix, suffix and infix patterns, as Milvus does', () => {
    expect(planLike('abc')).toEqual({ kind: 'equal', text: 'abc' });
    expect(planLike('a\\%c')).toEqual({ kind: 'equal', text: 'a%c' });
    expect(planLike('ab%%')).toEqual({ kind: 'startsWith', text: 'ab' });
    expect(planLike('%ab')).toEqual({ kind: 'endsWith', text: 'ab' });
    expect(planLike('%a\\_b%')).toEqual({ kind: 'includes', text: 'a_b' });
    expect(planLike('a%b').kind).toBe('scan');
    expect(planLike('a_').kind).toBe('scan');
  });

  it('does not match half of a surrogate pair', () => {
    const pair = '😀'; // \uD83D\uDE00
    const high = pair[0] as string;
    const low = pair[1] as string;
    for (const pattern of [`%${low}`, `${high}%`, `%${low}%`, `%${high}%`, `_${low}`, `%${low}_%`]) {
      expect([pattern, likeMatcher(pattern)(`a${pair}b`)]).toEqual([pattern, reference(`a${pair}b`, pattern)]);
    }
    expect(likeMatcher(`%${low}`)(`a${low}`)).toBe(true); // a lone surrogate is a character of its own
  });

  it('agrees with the reference on random small patterns and strings', () => {
    const next = rng(20240611);
    // Whole and lone halves of a surrogate pair, so character boundaries are exercised too.
    const alphabet = ['a', 'b', 'c', '%', '_', '\\', '😀', '日', '\uD83D', '\uDE00'];
    const patternAlphabet = [...alphabet, '%', '%', '_', '\\%', '\\_', '\\\\'];
    let matches = 0;
    for (let i = 0; i < 30000; i++) {
      let s = '';
      for (let k = next(9); k > 0; k--) s += alphabet[next(alphabet.length)];
      let pattern = '';
      for (let k = next(7); k > 0; k--) pattern += patternAlphabet[next(patternAlphabet.length)];
      const want = reference(s, pattern);
      if (want) matches++;
      const got = likeMatcher(pattern)(s);
      if (got !== want) throw new Error(`${JSON.stringify(s)} like ${JSON.stringify(pattern)}: got ${got}, want ${want}`);
    }
    expect(matches).toBeGreaterThan(1000); // the cases are not all trivially false
  });

  it('stays linear on patterns that make a backtracking regex explode', () => {
    const long = 'a'.repeat(60000);
    const cases: [string, string, boolean][] = [
      [long, '%a%a%b', false],
      [long, '%a%b', false],
      [long, '%a%a%a%a%a%a%a%a%b%', false],
      [long + 'b', '%a%a%b', true],
      [long, '%a_a_a_a_a_a_a_a_b%', false],
      [long, `%${'_'.repeat(30000)}b`, false],
      ['ab'.repeat(30000), '%a_a_a_a%b_b_b_c%', false],
    ];
    for (const [s, pattern, want] of cases) {
      const t0 = process.hrtime.bigint();
      expect(likeMatcher(pattern)(s)).toBe(want);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      // A backtracking regex needs minutes for the first case; the scan needs about a millisecond.
      expect([pattern, ms < 200]).toEqual([pattern, true]);
    }
  });

  it('evaluates a pathological LIKE filter on a 60,000-character VarChar quickly', () => {
    const schema: SchemaInfo = { enableDynamicField: false, fields: [{ name: 'id', type: 'Int64', isPrimaryKey: true }, { name: 's', type: 'VarChar' }] };
    const batch: ColumnBatch = { numRows: 2, column: (n) => (n === 's' ? { kind: 'string', data: ['a'.repeat(60000), 'a'.repeat(59999) + 'b'] } : undefined) };
    const t0 = Date.now();
    expect(Array.from(evaluate(parseExpr('s like "%a%a%b"', schema), batch))).toEqual([0b10]);
    expect(Array.from(evaluate(parseExpr('s like "%a%b"', schema), batch))).toEqual([0b10]);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
