/**
 * LIKE patterns, matched without regular expressions. `%` matches any run of characters (possibly empty), `_`
 * exactly one character (a code point), and a backslash makes the next character literal (`\%`, `\_`, `\\`; a
 * backslash at the very end stands for itself). Milvus turns exact, prefix (`ab%`), suffix (`%ab`) and infix
 * (`%ab%`) patterns into plain string operations and runs every other pattern as a regular expression; Kite does
 * the same for the first four and matches the rest with the scan below instead of a backtracking regex, whose
 * time grows with the length of the text to the power of the number of `%` (`%a%a%b` over 60,000 characters ran
 * for minutes).
 *
 * The scan splits the pattern at its `%` runs into segments of literal text and `_`. The first segment must
 * match at the start and the last one at the end (unless the pattern starts or ends with `%`); every segment in
 * between is matched at its leftmost place after the previous one. Taking the leftmost place is never wrong: a
 * segment has a fixed length in characters, so the leftmost match also ends first and leaves the most room for
 * the rest. A segment of plain text is found with String.prototype.indexOf. A segment with `_` is found with a
 * regular expression of literal characters and `.` only, which V8 runs as native code: with no quantifier and no
 * alternative there is nothing to backtrack into, so each place it tries costs at most the segment's length. A
 * match therefore costs at worst O(n·m) character comparisons for a text of length n and a pattern of length m
 * (and O(n) string searches for patterns without `_`), never more.
 */

/** How a LIKE pattern is tested: a plain string operation when possible, else the segment scan. */
export type LikePlan =
  | { kind: 'equal'; text: string }
  | { kind: 'startsWith' | 'endsWith' | 'includes'; text: string }
  | { kind: 'scan'; test: (s: string) => boolean };

/** A piece of a segment: literal text, or `_` (one code point). */
type Piece = string | null;

interface Token {
  /** '%' or '_' for a wildcard; otherwise the literal code point. */
  wild?: '%' | '_';
  lit?: string;
}

function tokenize(pattern: string): Token[] {
  const tokens: Token[] = [];
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    if (c === '\\' && i + 1 < chars.length) tokens.push({ lit: chars[++i] as string });
    else if (c === '%' || c === '_') tokens.push({ wild: c });
    else tokens.push({ lit: c });
  }
  return tokens;
}

const isHigh = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;

/** True when offset i of s is not inside a surrogate pair (so a character starts or ends there). */
function boundary(s: string, i: number): boolean {
  return i <= 0 || i >= s.length || !(isHigh(s.charCodeAt(i - 1)) && isLow(s.charCodeAt(i)));
}

/** Literal text that could match half of a surrogate pair in the data, so its ends must be checked. */
const unsafeEdges = (lit: string): boolean => lit.length > 0 && (isLow(lit.charCodeAt(0)) || isHigh(lit.charCodeAt(lit.length - 1)));

/** Offset of the code point that ends at i. */
const prevChar = (s: string, i: number): number => (i >= 2 && isLow(s.charCodeAt(i - 1)) && isHigh(s.charCodeAt(i - 2)) ? i - 2 : i - 1);

const REGEX_SYNTAX = /[\\^$.*+?()[\]{}|/]/g;

/** A `%`-free run of pattern: literal text and `_`, with what the scan needs to place it. */
class Segment {
  /** Pieces: literal strings and null for `_`; adjacent literals are joined. */
  readonly pieces: Piece[];
  /** Any literal needs its ends checked against surrogate pairs (segments of plain text only). */
  readonly unsafe: boolean;
  /** A segment with `_`: the segment as a regular expression, to search for ('g') and to test at a place ('y'). */
  private readonly search: RegExp | undefined;
  private readonly sticky: RegExp | undefined;

  constructor(tokens: Token[]) {
    const pieces: Piece[] = [];
    for (const t of tokens) {
      const last = pieces[pieces.length - 1];
      if (t.wild === '_') pieces.push(null);
      else if (typeof last === 'string') pieces[pieces.length - 1] = last + (t.lit as string);
      else pieces.push(t.lit as string);
    }
    this.pieces = pieces;
    this.unsafe = pieces.some((p) => p !== null && unsafeEdges(p));
    if (pieces.includes(null)) {
      // 'u': `.` is one code point and literals never match half of a surrogate pair; 's': `.` matches newlines.
      const source = pieces.map((p) => (p === null ? '.' : p.replace(REGEX_SYNTAX, '\\$&'))).join('');
      this.search = new RegExp(source, 'gsu');
      this.sticky = new RegExp(source, 'ysu');
    }
  }

  /** End offset when the segment matches s at offset p (a character boundary), else -1. */
  matchAt(s: string, p: number): number {
    if (this.sticky !== undefined) {
      this.sticky.lastIndex = p;
      return this.sticky.test(s) ? this.sticky.lastIndex : -1;
    }
    const lit = this.pieces[0] as string;
    if (!s.startsWith(lit, p)) return -1;
    const end = p + lit.length;
    return !this.unsafe || boundary(s, end) ? end : -1;
  }

  /** Start offset when the segment matches s ending at offset e (a character boundary), else -1. */
  matchBefore(s: string, e: number): number {
    for (let i = this.pieces.length - 1; i >= 0; i--) {
      const piece = this.pieces[i] as Piece;
      if (piece === null) {
        if (e <= 0) return -1;
        e = prevChar(s, e);
      } else {
        if (e < piece.length || !s.endsWith(piece, e)) return -1;
        e -= piece.length;
        if (this.unsafe && !boundary(s, e)) return -1;
      }
    }
    return e;
  }

  /** End offset of the leftmost match that starts at or after `from` and ends at or before `limit`, else -1. */
  findFrom(s: string, from: number, limit: number): number {
    if (this.search !== undefined) {
      this.search.lastIndex = from;
      const m = this.search.exec(limit < s.length ? s.slice(0, limit) : s);
      return m === null ? -1 : m.index + m[0].length;
    }
    const lit = this.pieces[0] as string;
    for (let at = s.indexOf(lit, from); at >= 0 && at + lit.length <= limit; at = s.indexOf(lit, at + 1)) {
      if (!this.unsafe || (boundary(s, at) && boundary(s, at + lit.length))) return at + lit.length;
    }
    return -1;
  }
}

/** The segment scan for a pattern with at least one `_`, a `%` between literals, or lone surrogates. */
function scanner(tokens: Token[]): (s: string) => boolean {
  const segments: Token[][] = [[]];
  let leading = false;
  let trailing = false;
  tokens.forEach((t, i) => {
    if (t.wild !== '%') {
      (segments[segments.length - 1] as Token[]).push(t);
      return;
    }
    if (i === 0) leading = true;
    if (i === tokens.length - 1) trailing = true;
    if ((segments[segments.length - 1] as Token[]).length > 0) segments.push([]);
  });
  if (segments.length > 1 && (segments[segments.length - 1] as Token[]).length === 0) segments.pop();
  const segs = segments.map((t) => new Segment(t));
  // Fewest characters any match needs; a text with fewer UTF-16 units has fewer characters still.
  const minLength = tokens.filter((t) => t.wild !== '%').length;
  const hasPercent = tokens.some((t) => t.wild === '%');
  const first = leading ? undefined : segs[0];
  const last = trailing || !hasPercent ? undefined : segs[segs.length - 1];
  const middle = segs.slice(first === undefined ? 0 : 1, last === undefined ? segs.length : segs.length - 1);

  if (!hasPercent) {
    const only = segs[0] as Segment;
    return (s) => s.length >= minLength && only.matchAt(s, 0) === s.length;
  }
  return (s) => {
    if (s.length < minLength) return false;
    let pos = 0;
    let end = s.length;
    if (first !== undefined) {
      pos = first.matchAt(s, 0);
      if (pos < 0) return false;
    }
    if (last !== undefined) {
      end = last.matchBefore(s, s.length);
      if (end < pos) return false;
    }
    for (const seg of middle) {
      pos = seg.findFrom(s, pos, end);
      if (pos < 0) return false;
    }
    return true;
  };
}

/** Plans a LIKE pattern (see the file comment). */
export function planLike(pattern: string): LikePlan {
  const tokens = tokenize(pattern);
  const isPercent = (t: Token | undefined): boolean => t?.wild === '%';
  let lead = 0;
  while (lead < tokens.length && isPercent(tokens[lead])) lead++;
  let trail = 0;
  while (trail < tokens.length - lead && isPercent(tokens[tokens.length - 1 - trail])) trail++;
  const core = tokens.slice(lead, tokens.length - trail);
  if (core.every((t) => t.wild === undefined)) {
    const text = core.map((t) => t.lit as string).join('');
    // Literal text that starts or ends with half a surrogate pair could match inside a pair with the plain
    // string operations; the scan checks character boundaries.
    if (!unsafeEdges(text) || (lead === 0 && trail === 0)) {
      if (lead === 0 && trail === 0) return { kind: 'equal', text };
      if (lead === 0) return { kind: 'startsWith', text };
      if (trail === 0) return { kind: 'endsWith', text };
      return { kind: 'includes', text };
    }
  }
  return { kind: 'scan', test: scanner(tokens) };
}

/** A LIKE pattern as a string predicate (see planLike). */
export function likeMatcher(pattern: string): (s: string) => boolean {
  const plan = planLike(pattern);
  switch (plan.kind) {
    case 'equal':
      return (s) => s === plan.text;
    case 'startsWith':
      return (s) => s.startsWith(plan.text);
    case 'endsWith':
      return (s) => s.endsWith(plan.text);
    case 'includes':
      return (s) => s.includes(plan.text);
    case 'scan':
      return plan.test;
  }
}
