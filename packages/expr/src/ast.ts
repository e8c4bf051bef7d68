/**
 * The parse tree the generated parser (grammar.peggy) returns: syntax only, no schema knowledge. The checker
 * (check.ts) turns it into the typed IR (ir.ts). Every node carries the source span it came from, so type errors
 * can point at it.
 */

export interface Position {
  /** 0-based character offset into the expression text. */
  offset: number;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
}

export interface Span {
  start: Position;
  end: Position;
}

export type CmpOp = '==' | '!=' | '<' | '<=' | '>' | '>=';
export type ArithOp = '+' | '-' | '*' | '/' | '%' | '**';

export type Node =
  | { type: 'or'; args: Node[]; loc: Span }
  | { type: 'and'; args: Node[]; loc: Span }
  | { type: 'not'; arg: Node; loc: Span }
  /** `a < b`, or a chain `1 < a <= 5` (ops.length === operands.length - 1). */
  | { type: 'cmp'; ops: CmpOp[]; opLocs: Span[]; operands: Node[]; loc: Span }
  | { type: 'in'; value: Node; list: Node; negated: boolean; loc: Span }
  | { type: 'like'; value: Node; pattern: Node; loc: Span }
  | { type: 'isnull'; value: Node; negated: boolean; loc: Span }
  | { type: 'exists'; value: Node; loc: Span }
  | { type: 'binary'; op: ArithOp; left: Node; right: Node; opLoc: Span; loc: Span }
  | { type: 'unary'; op: '-' | '+'; arg: Node; loc: Span }
  /** Integer literal; kept as bigint (unbounded here, range-checked by the checker after folding a minus). */
  | { type: 'int'; value: bigint; loc: Span }
  | { type: 'float'; value: number; loc: Span }
  | { type: 'string'; value: string; loc: Span }
  | { type: 'bool'; value: boolean; loc: Span }
  | { type: 'array'; items: Node[]; loc: Span }
  /** A field name, or `$meta`. */
  | { type: 'ident'; name: string; loc: Span }
  /** `base["key"]` or `base[0]`. */
  | { type: 'index'; base: Node; key: string | bigint; loc: Span }
  | { type: 'call'; name: string; args: Node[]; loc: Span }
  /** `name=value` among a call's arguments. */
  | { type: 'named'; name: string; value: Node; loc: Span }
  /** `{name}`, bound from expr_params. */
  | { type: 'param'; name: string; loc: Span };
