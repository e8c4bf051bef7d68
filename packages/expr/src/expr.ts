import { createAnalyzer, TextIndex } from '@kite/analyzer';
import { KiteError } from '@kite/common';
import type { Node, Position } from './ast';
import { Checker } from './check';
import { compilePred, EvalContext, type PredFn } from './compile';
import { CheckError, ExprError } from './errors';
import { answeredByIndexes } from './indexed';
import { parse as parseSyntax, PeggySyntaxError } from './grammar.generated';
import type { Lit, Pred } from './ir';
import { wordsToBytes } from './kernels';
import type { BatchColumn, ColumnBatch, FieldInfo, SchemaInfo } from './types';

/** A parsed, type-checked filter. Build with parseExpr; evaluate with evaluate(). */
export interface Expr {
  /** The expression as the user wrote it. */
  readonly text: string;
  /** Columns the filter reads ('$meta' for dynamic-field keys), in order of first use. */
  readonly fields: string[];
  /** The typed form (for engines that want to inspect it, e.g. to prune segments by statistics). */
  readonly ir: Pred;
}

class CompiledExpr implements Expr {
  constructor(
    readonly text: string,
    readonly fields: string[],
    readonly ir: Pred,
    readonly run: PredFn,
    readonly primaryKey: FieldInfo | undefined,
  ) {}
}

function positionAt(text: string, offset: number): Position {
  let line = 1;
  let column = 1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      column = 1;
    } else column++;
  }
  return { offset, line, column };
}

/** Finds an unbalanced ( ) or [ ] outside string literals, for a clearer message than the parser's. */
function bracketProblem(text: string): { message: string; offset: number } | undefined {
  const stack: { ch: string; offset: number }[] = [];
  const closing: Record<string, string> = { ')': '(', ']': '[' };
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '"' || c === "'") {
      for (i++; i < text.length && text[i] !== c; i++) if (text[i] === '\\') i++;
      continue;
    }
    if (c === '(' || c === '[') stack.push({ ch: c, offset: i });
    else if (c === ')' || c === ']') {
      const top = stack.pop();
      if (top === undefined) return { message: `unbalanced '${c}': no matching '${closing[c]}' before it`, offset: i };
      if (top.ch !== closing[c]) return { message: `'${c}' closes the '${top.ch}' opened at column ${positionAt(text, top.offset).column}`, offset: i };
    }
  }
  const open = stack.pop();
  if (open !== undefined) {
    return { message: `unbalanced '${open.ch}': add the closing '${open.ch === '(' ? ')' : ']'}'`, offset: open.offset };
  }
  return undefined;
}

function syntaxError(text: string, e: PeggySyntaxError): ExprError {
  if (e.expected === null) return new ExprError(e.message, text, e.location.start);
  const brackets = bracketProblem(text);
  if (brackets !== undefined) return new ExprError(brackets.message, text, positionAt(text, brackets.offset));
  const found = e.found === null ? 'end of input' : JSON.stringify(e.found);
  const expected = [...new Set(e.expected.filter((x) => x.type === 'literal').map((x) => x.text ?? ''))].filter((x) => x !== '');
  const wanted = expected.length > 0 && expected.length <= 8 ? `; expected ${expected.map((x) => `'${x}'`).join(', ')}` : '';
  const what = e.found === null ? 'the expression ends too early' : `unexpected ${found}`;
  return new ExprError(`syntax error: ${what}${wanted}`, text, e.location.start);
}

/**
 * The deepest nesting parseExpr accepts: brackets inside brackets (parentheses, array literals, function calls),
 * and operators inside operators (`not not ...`, `-(-(...))`, `a + b + ...` chains, `j["a"]["b"]...` paths,
 * template arrays inside arrays). Parsing, checking and compiling recurse once per level, so without a bound a
 * filter of a few thousand levels overflows the stack. Older Milvus releases crash the same way; newer ones bound
 * it (proxy.maxExpressionDepth, under which 100 levels of parentheses or `not` parse by default). Real filters
 * nest a handful of levels.
 */
export const MAX_EXPR_DEPTH = 256;

export interface ParseOptions {
  /**
   * The longest expression accepted, in characters (UTF-16 code units), checked before anything else is done with
   * it. No limit when absent. The proxy passes proxy.maxFilterLength.
   */
  maxLength?: number;
}

const DEPTH_HINT = 'simplify the expression (a long list of alternatives is shorter as "x in [...]")';

/**
 * Bracket nesting outside string literals, checked before parsing (the parser recurses once per bracket). Throws
 * at the first bracket that goes deeper than the limit.
 */
function checkBrackets(text: string): void {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 || c === 0x27) {
      // a string literal: skip to its closing quote; a backslash always takes the next character with it
      for (i++; i < text.length && text.charCodeAt(i) !== c; i++) if (text.charCodeAt(i) === 0x5c) i++;
    } else if (c === 0x28 || c === 0x5b) {
      if (++depth > MAX_EXPR_DEPTH) {
        throw new ExprError(`brackets are nested more than ${MAX_EXPR_DEPTH} levels deep, the limit; ${DEPTH_HINT}`, text, positionAt(text, i));
      }
    } else if ((c === 0x29 || c === 0x5d) && depth > 0) depth--;
  }
}

function children(n: Node): Node[] {
  switch (n.type) {
    case 'or':
    case 'and':
      return n.args;
    case 'not':
    case 'unary':
      return [n.arg];
    case 'cmp':
      return n.operands;
    case 'in':
      return [n.value, n.list];
    case 'like':
      return [n.value, n.pattern];
    case 'isnull':
    case 'exists':
      return [n.value];
    case 'binary':
      return [n.left, n.right];
    case 'array':
      return n.items;
    case 'index':
      return [n.base];
    case 'call':
      return n.args;
    case 'named':
      return [n.value];
    default:
      return [];
  }
}

/** The depth of the syntax tree, walked without recursion; throws at the first node deeper than the limit. */
function checkDepth(text: string, root: Node): void {
  const stack: [Node, number][] = [[root, 1]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [node, depth] = top;
    if (depth > MAX_EXPR_DEPTH) {
      throw new ExprError(`the expression nests operators more than ${MAX_EXPR_DEPTH} levels deep, the limit; ${DEPTH_HINT}`, text, node.loc.start);
    }
    for (const child of children(node)) stack.push([child, depth + 1]);
  }
}

/**
 * Parses and type-checks a Milvus filter expression against a schema, binding `{name}` template parameters from
 * `params` (Milvus expr_params). Throws ExprError (a KiteError of kind ExpressionInvalid) with the position of the
 * problem: also for an expression longer than options.maxLength or nested deeper than MAX_EXPR_DEPTH. An empty
 * expression is an error: callers treat an empty filter as "no filter" before calling this.
 */
export function parseExpr(text: string, schema: SchemaInfo, params?: Record<string, unknown>, options: ParseOptions = {}): Expr {
  return checkSyntax(parseSyntaxTree(text, options), schema, params);
}

/**
 * A filter's syntax, parsed but not checked against a schema or bound to parameters: what parseExpr's parser
 * produces, for a caller that keeps it to check again with other template values (checkSyntax). Read-only.
 */
export interface FilterSyntax {
  readonly text: string;
  /** @internal */
  readonly tree: Node;
}

/** The first half of parseExpr: the length, emptiness, brackets, grammar and depth checks (throws ExprError). */
export function parseSyntaxTree(text: string, options: ParseOptions = {}): FilterSyntax {
  const { maxLength } = options;
  if (maxLength !== undefined && text.length > maxLength) {
    throw new ExprError(
      `the expression is ${text.length} characters long, more than the limit of ${maxLength} (proxy.maxFilterLength); pass long lists of values as a template parameter instead, e.g. "id in {ids}" with the list in expr_params`,
      text,
    );
  }
  if (text.trim() === '') throw new ExprError('the expression is empty', text);
  checkBrackets(text);
  let tree;
  try {
    tree = parseSyntax(text);
  } catch (e) {
    if (e instanceof PeggySyntaxError) throw syntaxError(text, e);
    throw e;
  }
  checkDepth(text, tree);
  return { text, tree };
}

/** The second half of parseExpr: checks `syntax` against `schema`, binding `params` (throws ExprError). */
export function checkSyntax(syntax: FilterSyntax, schema: SchemaInfo, params?: Record<string, unknown>): Expr {
  const { text, tree } = syntax;
  const checker = new Checker(schema, params, MAX_EXPR_DEPTH);
  let ir: Pred;
  try {
    ir = checker.pred(tree);
  } catch (e) {
    if (e instanceof CheckError) throw new ExprError(e.message, text, e.loc?.start);
    throw e;
  }
  const pk = schema.fields.find((f) => f.isPrimaryKey === true);
  return new CompiledExpr(text, [...checker.used], ir, compilePred(ir), pk);
}

/**
 * An Expr from an already checked typed form (a plan made by parseExpr elsewhere, see plan.ts): compiled here, not
 * parsed or checked again.
 */
export function exprFromIr(text: string, fields: string[], ir: Pred, schema: SchemaInfo): Expr {
  const pk = schema.fields.find((f) => f.isPrimaryKey === true);
  return new CompiledExpr(text, fields, ir, compilePred(ir), pk);
}

/** The typed form of an expression from parseExpr (for code of this package reading it, e.g. json-index.ts). */
export function irOf(expr: Expr): Pred {
  return compiled(expr).ir;
}

function compiled(expr: Expr): CompiledExpr {
  if (!(expr instanceof CompiledExpr)) throw new TypeError('expected an Expr returned by parseExpr()');
  return expr;
}

/** Returns a bitmap with bit i (byte i>>3, bit i&7, LSB first) set when row i satisfies the expression. */
export function evaluate(expr: Expr, batch: ColumnBatch): Uint8Array {
  const ctx = new EvalContext(batch);
  const mask = compiled(expr).run(ctx);
  return wordsToBytes(mask.t, ctx.n);
}

export interface EvaluateOptions {
  /**
   * Filter work, in milliseconds, per turn of the event loop (default 10), shared by the evaluations in progress.
   * Short slices keep other requests and health checks on the same process answered while heavy filters run.
   */
  sliceMs?: number;
  /** Date.now() value after which evaluation stops with a DeadlineExceeded error; none when absent. */
  deadline?: number;
}

/** Rows [start, end) of a batch: typed arrays as views, row arrays copied (references only). */
function sliceBatch(batch: ColumnBatch, start: number, end: number): ColumnBatch {
  const cache = new Map<string, BatchColumn | undefined>();
  const cut = (c: BatchColumn): BatchColumn => {
    const valid = c.valid?.subarray(start, end);
    const withValid = <T extends BatchColumn>(x: T): T => (valid === undefined ? x : { ...x, valid });
    switch (c.kind) {
      case 'array':
        // Offsets index the flat values, so rows [start, end) are offsets [start, end]; the values are shared.
        return withValid({ ...c, offsets: c.offsets.subarray(start, end + 1) });
      case 'string':
        return withValid({ kind: 'string', data: c.data.slice(start, end) });
      case 'json':
        return withValid({ kind: 'json', data: c.data.slice(start, end) });
      case 'bool':
        return withValid({ kind: 'bool', data: c.data.subarray(start, end) });
      case 'int':
        return withValid({ kind: 'int', data: c.data.subarray(start, end) });
      case 'int64':
        return withValid({ kind: 'int64', data: c.data.subarray(start, end) });
      case 'float':
        return withValid({ kind: 'float', data: c.data.subarray(start, end) });
    }
  };
  const { textIndex, scalarIndex } = batch;
  return {
    numRows: end - start,
    column(name) {
      if (!cache.has(name)) {
        const c = batch.column(name);
        cache.set(name, c === undefined ? undefined : cut(c));
      }
      return cache.get(name);
    },
    // The slice's rows are the whole batch's rows from `start` on, so its index is the batch's, shifted.
    ...(textIndex === undefined
      ? {}
      : {
          textIndex(field: string, analyzerParams: string) {
            const t = textIndex.call(batch, field, analyzerParams);
            return t === undefined ? undefined : { index: t.index, firstRow: t.firstRow + start };
          },
        }),
    ...(scalarIndex === undefined
      ? {}
      : {
          scalarIndex(field: string) {
            const t = scalarIndex.call(batch, field);
            return t === undefined ? undefined : { index: t.index, firstRow: t.firstRow + start };
          },
        }),
  };
}

/**
 * The batch with a text index per VarChar field it is asked for (built on first use over the whole column), unless it
 * offers its own: so that evaluating in slices indexes each column once rather than once per slice.
 */
function withTextIndexes(batch: ColumnBatch): ColumnBatch {
  if (batch.textIndex !== undefined) return batch;
  const built = new Map<string, TextIndex | undefined>();
  return {
    numRows: batch.numRows,
    column: (name) => batch.column(name),
    ...(batch.scalarIndex === undefined ? {} : { scalarIndex: (field: string) => batch.scalarIndex?.(field) }),
    textIndex(field, analyzerParams) {
      const key = `${field}\u0000${analyzerParams}`;
      if (!built.has(key)) {
        const c = batch.column(field);
        let index: TextIndex | undefined;
        if (c !== undefined && c.kind === 'string') {
          index = new TextIndex(createAnalyzer(analyzerParams));
          index.addRows(c.data);
        }
        built.set(key, index);
      }
      const index = built.get(key);
      return index === undefined ? undefined : { index, firstRow: 0 };
    },
  };
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Copies the first `len` bits of `bits` into `out` from bit `start` on (out's bits there are still 0). */
function putBits(out: Uint8Array, bits: Uint8Array, start: number, len: number): void {
  if ((start & 7) === 0) {
    out.set(bits.subarray(0, (len + 7) >>> 3), start >>> 3);
    return;
  }
  for (let i = 0; i < len; i++) {
    if (((bits[i >>> 3] as number) >>> (i & 7)) & 1) out[(start + i) >>> 3] = (out[(start + i) >>> 3] as number) | (1 << ((start + i) & 7));
  }
}

/** evaluateAsync calls in progress in this process: they share one slice of work per turn of the event loop. */
let running = 0;

/**
 * Whether a scalar index of `batch` answers every condition of `expr` (no column is scanned): what evaluate() will
 * do, for metrics and plans. Text matches and conditions on unindexed fields make it false.
 */
export function answeredByScalarIndexes(expr: Expr, batch: ColumnBatch): boolean {
  return answeredByIndexes(compiled(expr).ir, batch);
}

/**
 * evaluate(), in slices of rows that return to the event loop, so one heavy filter (long strings, many rows) does
 * not hold up everything else on the process. The evaluations in progress share options.sliceMs of work per turn
 * of the event loop (each gets sliceMs divided by their number). Slices start at one row (a row of a long string
 * can take milliseconds) and double while a slice takes under a quarter of its share (up to 65,536 rows) or halve
 * when one takes longer. A filter that the first row shows to be cheap runs over the whole batch in one piece, and
 * the rows left once a slice of 64 or more shows them to fit in the turn's share run in one piece too.
 * Stops with KiteError DeadlineExceeded once options.deadline has passed.
 */
export async function evaluateAsync(expr: Expr, whole: ColumnBatch, options: EvaluateOptions = {}): Promise<Uint8Array> {
  const sliceMs = options.sliceMs ?? 10;
  const batch = usesText(compiled(expr).ir) ? withTextIndexes(whole) : whole;
  const n = batch.numRows;
  // A filter a scalar index answers whole costs little per row: one piece, without slices (and their copies).
  if (n <= 1 || answeredByIndexes(compiled(expr).ir, batch)) return evaluate(expr, batch);
  running++;
  try {
    const out = new Uint8Array((n + 7) >>> 3);
    let sliceStart = performance.now();
    putBits(out, evaluate(expr, sliceBatch(batch, 0, 1)), 0, 1);
    // A filter cheap enough to finish within one slice runs over the whole batch at once (no copies of row arrays).
    if ((performance.now() - sliceStart) * n < sliceMs / running) return evaluate(expr, batch);
    let rows = 2;
    for (let start = 1; start < n; ) {
      let end = Math.min(n, start + rows);
      if (end < n && rows >= 16) end &= ~7; // slices end on whole bytes once they are larger than a few rows
      const t0 = performance.now();
      putBits(out, evaluate(expr, sliceBatch(batch, start, end)), start, end - start);
      const t1 = performance.now();
      const perRow = (t1 - t0) / (end - start);
      start = end;
      const share = sliceMs / running;
      // The rest fits in this turn's share at the rate just measured: one piece (the first rows also paid one-time
      // work, such as a scalar index's answer for the whole column, so the rate is read from the later slices).
      if (start < n && rows >= 64 && perRow * (n - start) < share / 2 && t1 - sliceStart + perRow * (n - start) < share) {
        putBits(out, evaluate(expr, sliceBatch(batch, start, n)), start, n - start);
        break;
      }
      if (t1 - t0 < share / 4 && rows < 65536) rows *= 2;
      else if (t1 - t0 > share && rows > 1) rows = Math.max(1, rows >>> 1);
      if (start < n && t1 - sliceStart >= share) {
        if (options.deadline !== undefined && Date.now() > options.deadline) {
          throw new KiteError('DeadlineExceeded', `the filter ${JSON.stringify(expr.text.slice(0, 200))} did not finish within the request's deadline (${start} of ${n} rows evaluated)`);
        }
        await yieldToEventLoop();
        sliceStart = performance.now();
      }
    }
    return out;
  } finally {
    running--;
  }
}

/**
 * The text indexes an expression reads (text_match / phrase_match): field and analyzer_params, without repeats. An
 * engine can build them ahead of evaluation (in slices that yield) so that evaluation only looks them up.
 */
export function textIndexesOf(expr: Expr): { field: string; analyzer: string }[] {
  const out = new Map<string, { field: string; analyzer: string }>();
  const walk = (p: Pred): void => {
    if (p.k === 'text') out.set(`${p.field}\u0000${p.analyzer}`, { field: p.field, analyzer: p.analyzer });
    else if (p.k === 'and' || p.k === 'or') p.args.forEach(walk);
    else if (p.k === 'not') walk(p.arg);
  };
  walk(compiled(expr).ir);
  return [...out.values()];
}

function usesText(p: Pred): boolean {
  switch (p.k) {
    case 'text':
      return true;
    case 'and':
    case 'or':
      return p.args.some(usesText);
    case 'not':
      return usesText(p.arg);
    default:
      return false;
  }
}

/** Number of rows set in a bitmap from evaluate(). */
export function countMatches(bitmap: Uint8Array): number {
  let count = 0;
  for (let i = 0; i < bitmap.length; i++) {
    let b = bitmap[i] as number;
    while (b !== 0) {
      b &= b - 1;
      count++;
    }
  }
  return count;
}

/**
 * Fast path the engine uses for Delete/Get by primary key: when the expression is `pk in [...]`, `pk == v`, or an
 * `or` of those, the keys (bigint for an Int64 key, string for a VarChar key; duplicates removed, values that no
 * key can equal dropped). Otherwise undefined.
 */
export function primaryKeyTerms(expr: Expr): (bigint | string)[] | undefined {
  const { primaryKey: pk, ir } = compiled(expr);
  if (pk === undefined) return undefined;
  const out: (bigint | string)[] = [];
  const key = (v: Lit): void => {
    if (pk.type === 'VarChar') {
      if (typeof v === 'string') out.push(v);
    } else if (typeof v === 'bigint') out.push(v);
    else if (typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 63) out.push(BigInt(v));
  };
  const collect = (p: Pred): boolean => {
    if (p.k === 'in' && p.a.k === 'col' && p.a.field === pk.name) {
      p.values.forEach(key);
      return true;
    }
    if (p.k === 'cmp' && p.op === '==' && p.a.k === 'col' && p.a.field === pk.name && p.b.k === 'lit') {
      key(p.b.v);
      return true;
    }
    if (p.k === 'or') return p.args.every(collect);
    return false;
  };
  if (!collect(ir)) return undefined;
  return [...new Set(out)];
}
