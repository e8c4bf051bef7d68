/**
 * The checker: resolves field names against the schema, binds template parameters, folds constants and
 * type-checks, turning the syntax tree (ast.ts) into the IR (ir.ts). Every error names the field or operator
 * and the fix, and points at the node it is about.
 */
import type { ArithOp, CmpOp, Node, Span } from './ast';
import { CheckError } from './errors';
import type { ColType, Lit, NumMode, PathKey, Pred, Val } from './ir';
import { DYNAMIC_FIELD, type FieldInfo, type ScalarType, type SchemaInfo } from './types';

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
/** The i53 arithmetic path is used when every intermediate result provably stays within this bound. */
const I53_BOUND = 1n << 51n;
const INT32_BOUNDS: [bigint, bigint] = [-(1n << 31n), (1n << 31n) - 1n];

type Category = 'num' | 'string' | 'bool' | 'json' | 'array' | 'list';

type ContainsMode = 'one' | 'all' | 'any';
const CONTAINS_FUNCS: Record<string, ContainsMode> = {
  json_contains: 'one',
  array_contains: 'one',
  json_contains_all: 'all',
  array_contains_all: 'all',
  json_contains_any: 'any',
  array_contains_any: 'any',
};
/** Milvus functions Kite does not evaluate (named so the error can say so rather than "unknown"). */
const UNSUPPORTED_FUNCS = new Set([
  'random_sample',
  'element_filter',
  'match_all',
  'match_any',
  'match_least',
  'match_most',
  'match_exact',
  'st_equals',
  'st_touches',
  'st_overlaps',
  'st_crosses',
  'st_contains',
  'st_intersects',
  'st_within',
  'st_dwithin',
  'st_isvalid',
]);

const FLIP: Record<CmpOp, CmpOp> = { '==': '==', '!=': '!=', '<': '>', '<=': '>=', '>': '<', '>=': '<=' };

/** Milvus spells functions in lower or upper case only (json_contains / JSON_CONTAINS). */
function canonicalFunction(name: string): string | undefined {
  const lower = name.toLowerCase();
  return name === lower || name === name.toUpperCase() ? lower : undefined;
}

function colTypeOf(type: ScalarType): ColType | undefined {
  switch (type) {
    case 'Bool':
      return 'bool';
    case 'Int8':
    case 'Int16':
    case 'Int32':
      return 'int';
    case 'Int64':
      return 'int64';
    case 'Float':
      return 'float';
    case 'Double':
      return 'double';
    case 'VarChar':
      return 'string';
    default:
      return undefined;
  }
}

const categoryOfCol = (t: ColType): Category => (t === 'bool' ? 'bool' : t === 'string' ? 'string' : 'num');

function categoryOfLit(v: Lit): Category {
  if (typeof v === 'bigint' || typeof v === 'number') return 'num';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  return 'list';
}

function categoryOf(v: Val): Category {
  switch (v.k) {
    case 'lit':
      return categoryOfLit(v.v);
    case 'col':
      return categoryOfCol(v.type);
    case 'dyn':
      return v.elem === undefined ? 'json' : categoryOfCol(v.elem);
    case 'array':
      return 'array';
    case 'arith':
    case 'neg':
    case 'len':
      return 'num';
  }
}

/** True when the value is only known per row from JSON/Array data (so it may only be compared with constants). */
export function isDynamic(v: Val): boolean {
  switch (v.k) {
    case 'dyn':
      return true;
    case 'arith':
    case 'neg':
      return v.mode === 'dyn';
    case 'len':
      return v.a.k === 'dyn';
    default:
      return false;
  }
}

function litText(v: Lit): string {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(litText).join(', ')}]`;
  return String(v);
}

function pathText(field: string, path: PathKey[]): string {
  return field + path.map((k) => (typeof k === 'number' ? `[${k}]` : `[${JSON.stringify(k)}]`)).join('');
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] as number;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] as number;
      prev[j] = Math.min(up + 1, (prev[j - 1] as number) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length] as number;
}

export class Checker {
  private readonly fields = new Map<string, FieldInfo>();
  readonly used = new Set<string>();

  constructor(
    private readonly schema: SchemaInfo,
    private readonly params: Record<string, unknown> | undefined,
    /** Deepest array nesting accepted in a template parameter (the syntax tree is bounded by parseExpr). */
    private readonly maxDepth: number,
  ) {
    for (const f of schema.fields) this.fields.set(f.name, f);
  }

  // ---- conditions -------------------------------------------------------------------------------------------

  pred(node: Node): Pred {
    switch (node.type) {
      case 'or':
      case 'and': {
        const args: Pred[] = [];
        for (const a of node.args) {
          const p = this.pred(a);
          // One at a time: spreading a list of 100,000 alternatives into push() would overflow the stack.
          if (p.k === node.type) for (const x of p.args) args.push(x);
          else args.push(p);
        }
        return { k: node.type, args };
      }
      case 'not':
        return { k: 'not', arg: this.pred(node.arg) };
      case 'cmp':
        return this.comparisonChain(node);
      case 'in':
        return this.inList(node);
      case 'like':
        return this.like(node);
      case 'isnull': {
        const a = this.value(node.value);
        if (a.k !== 'col' && a.k !== 'dyn' && a.k !== 'array') {
          throw new CheckError(`'is ${node.negated ? 'not ' : ''}null' applies to a field or JSON key, not to ${this.describe(a)}`, node.value.loc);
        }
        const p: Pred = { k: 'isnull', a };
        return node.negated ? { k: 'not', arg: p } : p;
      }
      case 'exists': {
        const a = this.value(node.value);
        if (a.k !== 'dyn' || a.elem !== undefined) {
          throw new CheckError(`'exists' applies to a JSON key such as meta["key"], not to ${this.describe(a)}`, node.value.loc);
        }
        return { k: 'exists', a };
      }
      case 'call':
        return this.callPred(node);
      case 'bool':
        return { k: 'const', v: node.value };
      case 'param': {
        const v = this.param(node.name, node.loc);
        if (typeof v !== 'boolean') {
          throw new CheckError(`parameter {${node.name}} is used as a condition, so it must be a boolean, not ${litText(v)}`, node.loc);
        }
        return { k: 'const', v };
      }
      case 'ident':
      case 'index': {
        const a = this.value(node);
        const cat = categoryOf(a);
        if (cat === 'bool' || cat === 'json') return { k: 'truthy', a };
        throw new CheckError(
          `${this.describe(a)} is not a condition; compare it with a value (for example ${this.exampleFor(a)})`,
          node.loc,
        );
      }
      default:
        throw new CheckError(
          `this ${node.type === 'binary' || node.type === 'unary' ? 'arithmetic expression' : 'value'} is not a condition; compare it with a value using ==, !=, <, <=, > or >=`,
          node.loc,
        );
    }
  }

  private comparisonChain(node: Extract<Node, { type: 'cmp' }>): Pred {
    const vals = node.operands.map((o) => this.value(o));
    const locs = node.operands.map((o) => o.loc);
    if (node.ops.length === 1) {
      return this.compare(node.ops[0] as CmpOp, vals[0] as Val, vals[1] as Val, locs[0] as Span, locs[1] as Span, node.opLocs[0] as Span);
    }
    const ascending = node.ops.every((op) => op === '<' || op === '<=');
    const descending = node.ops.every((op) => op === '>' || op === '>=');
    if (node.ops.length > 2 || (!ascending && !descending)) {
      throw new CheckError(
        `comparisons can only be chained as a range, like 1 < x <= 5 or 10 >= x > 2; join other comparisons with 'and'`,
        node.opLocs[1],
      );
    }
    return {
      k: 'and',
      args: [0, 1].map((i) =>
        this.compare(node.ops[i] as CmpOp, vals[i] as Val, vals[i + 1] as Val, locs[i] as Span, locs[i + 1] as Span, node.opLocs[i] as Span),
      ),
    };
  }

  private compare(op: CmpOp, a: Val, b: Val, locA: Span, locB: Span, opLoc: Span): Pred {
    if (a.k === 'lit' && b.k === 'lit') return { k: 'const', v: this.foldCompare(op, a.v, b.v, opLoc) };
    if (a.k === 'lit') return this.compare(FLIP[op], b, a, locB, locA, opLoc);

    const ca = categoryOf(a);
    const cb = categoryOf(b);
    const ordering = op !== '==' && op !== '!=';
    const mismatch = (): never => {
      throw new CheckError(`cannot compare ${this.describe(a)} with ${this.describe(b)}${this.hint(a, b)}`, locB);
    };

    if (b.k !== 'lit' && (isDynamic(a) || isDynamic(b))) {
      throw new CheckError(
        `cannot compare ${this.describe(a)} with ${this.describe(b)}: JSON keys and Array elements can only be compared with constants`,
        opLoc,
      );
    }
    if (ca === 'array') {
      if (cb !== 'list' || ordering || a.k !== 'array') {
        throw new CheckError(
          `${this.describe(a)} can only be compared with == or != to an array constant; use array_contains(${a.k === 'array' ? a.field : 'field'}, value) or index it, e.g. ${a.k === 'array' ? a.field : 'field'}[0]`,
          opLoc,
        );
      }
      this.checkElements(a, b.k === 'lit' ? (b.v as Lit[]) : [], locB);
      return { k: 'cmp', op, a, b };
    }
    if (cb === 'list' && ca !== 'json') mismatch();
    if (ca === 'json') {
      if ((cb === 'list' || cb === 'bool') && ordering) {
        throw new CheckError(`operator '${op}' cannot order ${cb === 'list' ? 'arrays' : 'booleans'}; use == or !=`, opLoc);
      }
      return { k: 'cmp', op, a, b };
    }
    if (ca !== cb) mismatch();
    if (ca === 'bool' && ordering) {
      throw new CheckError(`operator '${op}' cannot order booleans (${this.describe(a)}); use == or !=`, opLoc);
    }
    return { k: 'cmp', op, a, b };
  }

  private foldCompare(op: CmpOp, x: Lit, y: Lit, loc: Span): boolean {
    const cx = categoryOfLit(x);
    const cy = categoryOfLit(y);
    if (cx !== cy || cx === 'list' || (cx === 'bool' && op !== '==' && op !== '!=')) {
      throw new CheckError(`cannot compare ${this.describe({ k: 'lit', v: x })} with ${this.describe({ k: 'lit', v: y })}`, loc);
    }
    const a = x as number | bigint | string | boolean;
    const b = y as number | bigint | string | boolean;
    switch (op) {
      case '==':
        return a == b; // eslint-disable-line eqeqeq -- bigint == number compares exactly
      case '!=':
        return a != b; // eslint-disable-line eqeqeq
      case '<':
        return a < b;
      case '<=':
        return a <= b;
      case '>':
        return a > b;
      case '>=':
        return a >= b;
    }
  }

  private inList(node: Extract<Node, { type: 'in' }>): Pred {
    const a = this.value(node.value);
    const list = this.value(node.list);
    const keyword = node.negated ? 'not in' : 'in';
    if (list.k !== 'lit' || !Array.isArray(list.v)) {
      throw new CheckError(`the right side of '${keyword}' must be an array constant, e.g. [1, 2, 3], not ${this.describe(list)}`, node.list.loc);
    }
    const cat = categoryOf(a);
    if (cat === 'array' || cat === 'list') {
      throw new CheckError(
        `'${keyword}' tests a single value; for ${this.describe(a)} use array_contains_any(field, [...])`,
        node.value.loc,
      );
    }
    if (cat !== 'json') {
      for (const item of list.v) {
        if (categoryOfLit(item) !== cat) {
          throw new CheckError(
            `'${keyword}' list holds ${this.describe({ k: 'lit', v: item })}, which cannot be compared with ${this.describe(a)}; every element must be ${cat === 'num' ? 'a number' : cat === 'string' ? 'a string' : 'a boolean'}`,
            node.list.loc,
          );
        }
      }
    }
    const p: Pred = { k: 'in', a, values: list.v };
    return node.negated ? { k: 'not', arg: p } : p;
  }

  private like(node: Extract<Node, { type: 'like' }>): Pred {
    const a = this.value(node.value);
    const cat = categoryOf(a);
    if (cat !== 'string' && cat !== 'json') {
      throw new CheckError(`'like' matches strings, but ${this.describe(a)} is not a string; use it on a VarChar field or JSON key`, node.value.loc);
    }
    const pattern = this.value(node.pattern);
    if (pattern.k !== 'lit' || typeof pattern.v !== 'string') {
      throw new CheckError(`the pattern after 'like' must be a string constant such as "prefix%", not ${this.describe(pattern)}`, node.pattern.loc);
    }
    return { k: 'like', a, pattern: pattern.v };
  }

  private callPred(node: Extract<Node, { type: 'call' }>): Pred {
    // Milvus's grammar takes these two in any letter case.
    const lower = node.name.toLowerCase();
    if (lower === 'text_match' || lower === 'phrase_match') return this.textMatch(node, lower);
    const name = canonicalFunction(node.name);
    const mode = name === undefined ? undefined : CONTAINS_FUNCS[name];
    if (mode === undefined) {
      if (name === 'array_length') {
        throw new CheckError(`array_length(...) is a number, not a condition; compare it, e.g. array_length(x) > 0`, node.loc);
      }
      throw this.unknownFunction(node);
    }
    if (node.args.length !== 2) {
      throw new CheckError(`${node.name} takes 2 arguments (a JSON key or Array field, then a value), got ${node.args.length}`, node.loc);
    }
    const a = this.value(node.args[0] as Node);
    if (a.k !== 'array' && !(a.k === 'dyn' && a.elem === undefined)) {
      throw new CheckError(`the first argument of ${node.name} must be an Array field or a JSON key, not ${this.describe(a)}`, (node.args[0] as Node).loc);
    }
    const argNode = node.args[1] as Node;
    const v = this.value(argNode);
    if (v.k !== 'lit') {
      throw new CheckError(`the second argument of ${node.name} must be a constant, not ${this.describe(v)}`, argNode.loc);
    }
    let values: Lit[];
    if (mode === 'one') {
      values = [v.v];
    } else {
      if (!Array.isArray(v.v)) {
        throw new CheckError(`the second argument of ${node.name} must be an array constant, e.g. [1, 2]`, argNode.loc);
      }
      values = v.v;
    }
    if (a.k === 'array') this.checkElements(a, values, argNode.loc);
    return { k: 'contains', mode, a, values };
  }

  /**
   * text_match(field, "text"[, minimum_should_match=N]) / phrase_match(field, "text"[, slop]): the field must be a
   * VarChar field with enable_match (Milvus builds its text index only for those), the text a string constant.
   */
  private textMatch(node: Extract<Node, { type: 'call' }>, fn: 'text_match' | 'phrase_match'): Pred {
    const positional = node.args.filter((a) => a.type !== 'named');
    const named = node.args.filter((a): a is Extract<Node, { type: 'named' }> => a.type === 'named');
    const usage = fn === 'text_match' ? 'text_match(field, "text") or text_match(field, "text", minimum_should_match=N)' : 'phrase_match(field, "text") or phrase_match(field, "text", slop)';
    const most = fn === 'text_match' ? 2 : 3;
    if (positional.length < 2 || positional.length > most) {
      throw new CheckError(`${node.name} takes ${fn === 'text_match' ? '2 arguments' : '2 or 3 arguments'}: ${usage}; got ${positional.length}`, node.loc);
    }
    const fieldNode = positional[0] as Node;
    if (fieldNode.type !== 'ident' || fieldNode.name === DYNAMIC_FIELD) {
      throw new CheckError(`the first argument of ${node.name} must be the name of a VarChar field with enable_match, e.g. ${usage}`, fieldNode.loc);
    }
    const f = this.fields.get(fieldNode.name);
    if (f === undefined) {
      throw new CheckError(`field "${fieldNode.name}" does not exist in the collection schema${this.suggest(fieldNode.name)}; ${node.name} needs a VarChar field with enable_match`, fieldNode.loc);
    }
    const enabled = (key: string): boolean => (f.typeParams?.[key] ?? '').toLowerCase() === 'true';
    if (f.type !== 'VarChar') {
      throw new CheckError(`${node.name} matches text, but field "${f.name}" is ${f.type}; use a VarChar field created with enable_analyzer=True and enable_match=True`, fieldNode.loc);
    }
    if (!enabled('enable_match') || !enabled('enable_analyzer')) {
      throw new CheckError(`field "${f.name}" does not enable match: ${node.name} needs a VarChar field created with enable_analyzer=True and enable_match=True (Milvus builds the text index only for those)`, fieldNode.loc);
    }
    this.used.add(f.name);
    const textNode = positional[1] as Node;
    const text = this.value(textNode);
    if (text.k !== 'lit' || typeof text.v !== 'string') {
      throw new CheckError(`the second argument of ${node.name} must be a string constant (the text to match), not ${this.describe(text)}`, textNode.loc);
    }
    const pred: Extract<Pred, { k: 'text' }> = { k: 'text', field: f.name, analyzer: f.typeParams?.analyzer_params ?? '', query: text.v };
    const wholeNumber = (n: Node, what: string, min: number, max: number): number => {
      const v = this.value(n);
      const x = v.k === 'lit' && (typeof v.v === 'bigint' || (typeof v.v === 'number' && Number.isInteger(v.v))) ? Number(v.v) : undefined;
      if (x === undefined || x < min || x > max) {
        throw new CheckError(`${what} of ${node.name} must be an integer between ${min} and ${max}, not ${this.describe(v)}`, n.loc);
      }
      return x;
    };
    if (fn === 'phrase_match') {
      if (named.length > 0) throw new CheckError(`phrase_match takes no named arguments (${(named[0] as { name: string }).name}=...); give the slop as the third argument: ${usage}`, (named[0] as Node).loc);
      pred.slop = positional[2] === undefined ? 0 : wholeNumber(positional[2], 'the slop (third argument)', 0, 0xffffffff);
      return pred;
    }
    for (const a of named) {
      if (a.name.toLowerCase() !== 'minimum_should_match' || named.length > 1) {
        throw new CheckError(`text_match takes one named argument, minimum_should_match=N, not ${a.name}=...`, a.loc);
      }
      pred.minShouldMatch = wholeNumber(a.value, 'minimum_should_match', 1, 1000);
    }
    return pred;
  }

  private checkElements(a: Extract<Val, { k: 'array' }>, values: Lit[], loc: Span): void {
    const want = categoryOfCol(a.elem);
    for (const item of values) {
      if (categoryOfLit(item) !== want) {
        throw new CheckError(
          `${this.describe({ k: 'lit', v: item })} cannot be compared with the elements of ${this.describe(a)}, which are ${want === 'num' ? 'numbers' : want === 'string' ? 'strings' : 'booleans'}`,
          loc,
        );
      }
    }
  }

  private unknownFunction(node: Extract<Node, { type: 'call' }>): CheckError {
    const lower = node.name.toLowerCase();
    if (UNSUPPORTED_FUNCS.has(lower)) return new CheckError(`function ${node.name} is not supported by Kite`, node.loc);
    const known = [...Object.keys(CONTAINS_FUNCS), 'array_length', 'text_match', 'phrase_match'];
    const caseHint = known.includes(lower) ? ` (write it ${lower} or ${lower.toUpperCase()})` : '';
    return new CheckError(`unknown function ${node.name}${caseHint}; supported functions: ${known.join(', ')}`, node.loc);
  }

  // ---- values ---------------------------------------------------------------------------------------------

  value(node: Node): Val {
    switch (node.type) {
      case 'int':
        return { k: 'lit', v: this.intLit(node.value, node.loc) };
      case 'float':
        if (!Number.isFinite(node.value)) throw new CheckError(`number out of range for a double`, node.loc);
        return { k: 'lit', v: node.value };
      case 'string':
      case 'bool':
        return { k: 'lit', v: node.value };
      case 'array': {
        const items: Lit[] = [];
        for (const item of node.items) {
          const v = this.value(item);
          if (v.k !== 'lit') throw new CheckError(`array elements must be constants, not ${this.describe(v)}`, item.loc);
          items.push(v.v);
        }
        return { k: 'lit', v: items };
      }
      case 'param':
        return { k: 'lit', v: this.param(node.name, node.loc) };
      case 'ident':
        return this.ident(node.name, node.loc);
      case 'index':
        return this.index(node);
      case 'binary':
        return this.arith(node);
      case 'unary': {
        if (node.arg.type === 'int' && node.op === '-') return { k: 'lit', v: this.intLit(-node.arg.value, node.loc) };
        const a = this.value(node.arg);
        const cat = categoryOf(a);
        if (cat !== 'num' && cat !== 'json') {
          throw new CheckError(`unary '${node.op}' needs a number, but ${this.describe(a)} is not numeric`, node.loc);
        }
        if (node.op === '+') return a;
        if (a.k === 'lit') return { k: 'lit', v: typeof a.v === 'bigint' ? this.intLit(-a.v, node.loc) : -(a.v as number) };
        const partial: Val = { k: 'neg', a, mode: 'f64' };
        return { ...partial, mode: this.modeOf(partial) };
      }
      case 'call': {
        const name = canonicalFunction(node.name);
        if (name === 'array_length') {
          if (node.args.length !== 1) throw new CheckError(`array_length takes 1 argument, got ${node.args.length}`, node.loc);
          const a = this.value(node.args[0] as Node);
          if (a.k !== 'array' && !(a.k === 'dyn' && a.elem === undefined)) {
            throw new CheckError(`array_length needs an Array field or a JSON key, not ${this.describe(a)}`, (node.args[0] as Node).loc);
          }
          return { k: 'len', a };
        }
        if ((name !== undefined && CONTAINS_FUNCS[name] !== undefined) || ['text_match', 'phrase_match'].includes(node.name.toLowerCase())) {
          throw new CheckError(`${node.name}(...) is a condition, not a value; use it on its own or combine it with and/or`, node.loc);
        }
        throw this.unknownFunction(node);
      }
      case 'named':
        throw new CheckError(`${node.name}=... is a named argument, which only text_match takes (minimum_should_match=N)`, node.loc);
      default:
        throw new CheckError(`a condition cannot be used as a value here; parenthesize arithmetic and compare values with ==, <, ...`, node.loc);
    }
  }

  private intLit(v: bigint, loc: Span): bigint {
    if (v < INT64_MIN || v > INT64_MAX) throw new CheckError(`integer ${v} is out of the int64 range`, loc);
    return v;
  }

  private param(name: string, loc: Span): Lit {
    if (this.params === undefined || !Object.prototype.hasOwnProperty.call(this.params, name)) {
      throw new CheckError(`template parameter {${name}} has no value; pass it in expr_params`, loc);
    }
    const convert = (v: unknown, depth: number): Lit => {
      if (typeof v === 'bigint') return this.intLit(v, loc);
      if (typeof v === 'number') {
        if (!Number.isFinite(v)) throw new CheckError(`template parameter {${name}} is not a finite number`, loc);
        return Number.isInteger(v) && Number.isSafeInteger(v) ? BigInt(v) : v;
      }
      if (typeof v === 'string' || typeof v === 'boolean') return v;
      if (Array.isArray(v)) {
        if (depth >= this.maxDepth) {
          throw new CheckError(`template parameter {${name}} nests arrays more than ${this.maxDepth} levels deep, the limit`, loc);
        }
        return v.map((x) => convert(x, depth + 1));
      }
      throw new CheckError(`template parameter {${name}} must be a number, string, boolean or array, not ${v === null ? 'null' : typeof v}`, loc);
    };
    return convert(this.params[name], 0);
  }

  private ident(name: string, loc: Span): Val {
    if (name === DYNAMIC_FIELD) {
      if (!this.schema.enableDynamicField) {
        throw new CheckError(`$meta is the dynamic field, but this collection does not enable the dynamic field`, loc);
      }
      this.used.add(DYNAMIC_FIELD);
      return { k: 'dyn', field: DYNAMIC_FIELD, path: [] };
    }
    const f = this.fields.get(name);
    if (f === undefined) {
      if (this.schema.enableDynamicField) {
        this.used.add(DYNAMIC_FIELD);
        return { k: 'dyn', field: DYNAMIC_FIELD, path: [name] };
      }
      throw new CheckError(
        `field "${name}" does not exist in the collection schema${this.suggest(name)}; filter on a schema field, or enable the dynamic field to filter on keys of $meta`,
        loc,
      );
    }
    this.used.add(f.name);
    const type = colTypeOf(f.type);
    if (type !== undefined) return { k: 'col', field: f.name, type };
    if (f.type === 'JSON') return { k: 'dyn', field: f.name, path: [] };
    if (f.type === 'Array') {
      const elem = f.elementType === undefined ? undefined : colTypeOf(f.elementType);
      if (elem === undefined) throw new CheckError(`Array field "${name}" has no usable element type in the schema`, loc);
      return { k: 'array', field: f.name, elem };
    }
    throw new CheckError(`field "${name}" is a vector field (${f.type}); filters apply to scalar fields only`, loc);
  }

  private index(node: Extract<Node, { type: 'index' }>): Val {
    if (node.base.type !== 'ident' && node.base.type !== 'index') {
      throw new CheckError(`only fields can be indexed with [...], e.g. meta["key"] or tags[0]`, node.loc);
    }
    const base = this.value(node.base);
    if (base.k === 'dyn' && base.elem === undefined) {
      const key: PathKey = typeof node.key === 'bigint' ? this.indexNumber(node.key, node.loc) : node.key;
      return { k: 'dyn', field: base.field, path: [...base.path, key] };
    }
    if (base.k === 'array') {
      if (typeof node.key !== 'bigint') {
        throw new CheckError(`Array field "${base.field}" is indexed by position, e.g. ${base.field}[0], not by key`, node.loc);
      }
      return { k: 'dyn', field: base.field, path: [this.indexNumber(node.key, node.loc)], elem: base.elem };
    }
    if (base.k === 'dyn') {
      throw new CheckError(`an element of Array field "${base.field}" is a scalar and cannot be indexed again`, node.loc);
    }
    throw new CheckError(
      `${this.describe(base)} cannot be indexed; only JSON fields (meta["key"]) and Array fields (tags[0]) take [...]`,
      node.loc,
    );
  }

  private indexNumber(key: bigint, loc: Span): number {
    if (key > 0x7fffffffn) throw new CheckError(`index ${key} is too large`, loc);
    return Number(key);
  }

  private arith(node: Extract<Node, { type: 'binary' }>): Val {
    const a = this.value(node.left);
    const b = this.value(node.right);
    const op = node.op;
    for (const [v, n] of [
      [a, node.left],
      [b, node.right],
    ] as const) {
      const cat = categoryOf(v);
      if (cat !== 'num' && cat !== 'json') {
        throw new CheckError(`operator '${op}' needs numbers, but ${this.describe(v)} is not numeric`, n.loc);
      }
    }
    const isFloatLit = (v: Val): boolean => v.k === 'lit' && typeof v.v === 'number';
    if (op === '%' && (isFloatLit(a) || isFloatLit(b) || this.isFloatTyped(a) || this.isFloatTyped(b))) {
      throw new CheckError(`operator '%' applies to integers only`, node.opLoc);
    }
    if ((op === '/' || op === '%') && b.k !== 'lit') {
      throw new CheckError(`the divisor of '${op}' must be a constant, not ${this.describe(b)}`, node.right.loc);
    }
    if ((op === '/' || op === '%') && b.k === 'lit' && (b.v === 0n || b.v === 0)) {
      throw new CheckError(`division by zero`, node.right.loc);
    }
    if (a.k === 'lit' && b.k === 'lit') return { k: 'lit', v: this.foldArith(op, a.v as number | bigint, b.v as number | bigint, node.loc) };
    if ((isDynamic(a) && b.k !== 'lit') || (isDynamic(b) && a.k !== 'lit')) {
      throw new CheckError(`JSON keys and Array elements can only be combined with constants in arithmetic`, node.opLoc);
    }
    const partial: Val = { k: 'arith', op, a, b, mode: 'f64' };
    return { ...partial, mode: this.modeOf(partial) };
  }

  private foldArith(op: ArithOp, x: number | bigint, y: number | bigint, loc: Span): Lit {
    if (op === '**') return Math.pow(Number(x), Number(y));
    if (typeof x === 'bigint' && typeof y === 'bigint') {
      let r: bigint;
      switch (op) {
        case '+':
          r = x + y;
          break;
        case '-':
          r = x - y;
          break;
        case '*':
          r = x * y;
          break;
        case '/':
          r = x / y;
          break;
        case '%':
          r = x % y;
          break;
      }
      if (r < INT64_MIN || r > INT64_MAX) throw new CheckError(`integer overflow in constant arithmetic`, loc);
      return r;
    }
    const a = Number(x);
    const b = Number(y);
    switch (op) {
      case '+':
        return a + b;
      case '-':
        return a - b;
      case '*':
        return a * b;
      case '/':
        return a / b;
      case '%':
        return a % b;
    }
  }

  private isFloatTyped(v: Val): boolean {
    if (v.k === 'col') return v.type === 'float' || v.type === 'double';
    if (v.k === 'dyn') return v.elem === 'float' || v.elem === 'double';
    if (v.k === 'arith' || v.k === 'neg') return v.mode === 'f32' || v.mode === 'f64';
    return false;
  }

  /** Chooses how an arithmetic node (or a negation) is computed; see NumMode. */
  private modeOf(v: Val): NumMode {
    const dynamicOperand = v.k === 'arith' ? isDynamic(v.a) || isDynamic(v.b) : v.k === 'neg' ? isDynamic(v.a) : isDynamic(v);
    if (dynamicOperand) return 'dyn';
    const leaves: Val[] = [];
    const collect = (x: Val): void => {
      if (x.k === 'arith') {
        collect(x.a);
        collect(x.b);
      } else if (x.k === 'neg') collect(x.a);
      else leaves.push(x);
    };
    collect(v);
    const hasPow = (x: Val): boolean => (x.k === 'arith' && (x.op === '**' || hasPow(x.a) || hasPow(x.b))) || (x.k === 'neg' && hasPow(x.a));
    const floaty = leaves.some((l) => (l.k === 'lit' && typeof l.v === 'number') || this.isFloatTyped(l)) || hasPow(v);
    if (floaty) {
      const columns = leaves.filter((l) => l.k !== 'lit');
      return columns.length > 0 && columns.every((l) => l.k === 'col' && l.type === 'float') ? 'f32' : 'f64';
    }
    return this.fitsI53(v) ? 'i53' : 'i64';
  }

  /** Every intermediate result (not just the final one) provably within ±I53_BOUND, so doubles stay exact. */
  private fitsI53(v: Val): boolean {
    if (v.k !== 'arith' && v.k !== 'neg') return true;
    const range = this.bounds(v);
    if (range === undefined || range[0] < -I53_BOUND || range[1] > I53_BOUND) return false;
    return v.k === 'neg' ? this.fitsI53(v.a) : this.fitsI53(v.a) && this.fitsI53(v.b);
  }

  /** Integer bounds of an integer-typed value; undefined when it may need all of int64. */
  private bounds(v: Val): [bigint, bigint] | undefined {
    switch (v.k) {
      case 'lit':
        return typeof v.v === 'bigint' ? [v.v, v.v] : undefined;
      case 'col':
        return v.type === 'int' ? INT32_BOUNDS : undefined;
      case 'len':
        return [0n, INT32_BOUNDS[1]];
      case 'neg': {
        const r = this.bounds(v.a);
        return r === undefined ? undefined : [-r[1], -r[0]];
      }
      case 'arith': {
        const a = this.bounds(v.a);
        const b = this.bounds(v.b);
        if (a === undefined || b === undefined) return undefined;
        const abs = (x: bigint): bigint => (x < 0n ? -x : x);
        switch (v.op) {
          case '+':
            return [a[0] + b[0], a[1] + b[1]];
          case '-':
            return [a[0] - b[1], a[1] - b[0]];
          case '*': {
            const p = [a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]];
            return [p.reduce((x, y) => (y < x ? y : x)), p.reduce((x, y) => (y > x ? y : x))];
          }
          case '/': {
            const m = abs(a[0]) > abs(a[1]) ? abs(a[0]) : abs(a[1]);
            return [-m, m];
          }
          case '%': {
            const m = abs(b[0]) > abs(b[1]) ? abs(b[0]) : abs(b[1]);
            return [-m, m];
          }
          default:
            return undefined;
        }
      }
      default:
        return undefined;
    }
  }

  // ---- messages -----------------------------------------------------------------------------------------------

  describe(v: Val): string {
    switch (v.k) {
      case 'lit': {
        const x = v.v;
        if (typeof x === 'bigint' || typeof x === 'number') return `the number ${litText(x)}`;
        if (typeof x === 'string') return `the string ${litText(x)}`;
        if (typeof x === 'boolean') return `the boolean ${x}`;
        return `the array ${litText(x)}`;
      }
      case 'col':
        return `${this.fields.get(v.field)?.type ?? v.type} field "${v.field}"`;
      case 'dyn':
        if (v.elem !== undefined) return `element ${pathText(v.field, v.path)} of Array field "${v.field}"`;
        if (v.field === DYNAMIC_FIELD && v.path.length > 0 && typeof v.path[0] === 'string') {
          return `dynamic field key ${pathText(v.path[0], v.path.slice(1))}`;
        }
        return v.path.length === 0 ? `JSON field "${v.field}"` : `JSON key ${pathText(v.field, v.path)}`;
      case 'array':
        return `Array field "${v.field}"`;
      case 'arith':
      case 'neg':
        return `an arithmetic expression`;
      case 'len':
        return `array_length(...)`;
    }
  }

  private hint(a: Val, b: Val): string {
    const ca = categoryOf(a);
    const cb = categoryOf(b);
    if (ca === 'string' && cb === 'num' && b.k === 'lit') return `; quote the value to compare strings, e.g. == "${litText(b.v)}"`;
    if (ca === 'num' && cb === 'string' && b.k === 'lit') return `; compare with a number, without quotes`;
    if (cb === 'list') return `; to test membership use 'in [...]'`;
    return '';
  }

  private exampleFor(v: Val): string {
    const name = v.k === 'col' || v.k === 'array' ? v.field : v.k === 'dyn' ? pathText(v.field, v.path) : 'x';
    const cat = categoryOf(v);
    if (cat === 'string') return `${name} == "text"`;
    if (cat === 'array') return `array_length(${name}) > 0`;
    return `${name} > 0`;
  }

  private suggest(name: string): string {
    let best: string | undefined;
    let bestDistance = Infinity;
    for (const f of this.fields.keys()) {
      const d = f.toLowerCase() === name.toLowerCase() ? 0 : editDistance(f, name);
      if (d < bestDistance) {
        bestDistance = d;
        best = f;
      }
    }
    return best !== undefined && bestDistance <= Math.max(1, Math.floor(name.length / 3)) ? ` (did you mean "${best}"?)` : '';
  }
}
