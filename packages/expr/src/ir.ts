/**
 * The typed, schema-resolved form of a filter (what check.ts produces and compile.ts turns into closures).
 * Parameters are bound, constants folded, `not in` / `is not null` / chained comparisons expanded.
 */
import type { ArithOp, CmpOp } from './ast';

export type { ArithOp, CmpOp };

/**
 * A constant. Integers are bigint, floats are number (a float literal stays a float even when integer-valued,
 * e.g. `2.0`), and arrays hold constants.
 */
export type Lit = bigint | number | string | boolean | Lit[];

/** Static type of a scalar column, as read from a batch. */
export type ColType = 'bool' | 'int' | 'int64' | 'float' | 'double' | 'string';

/** Static element type of an Array field (evaluated dynamically per row). */
export type ElemType = ColType;

/**
 * How an arithmetic expression is computed:
 * - 'i53': integer semantics (truncating `/`) on doubles; the checker proved every result stays within ±2^51,
 *   so doubles are exact;
 * - 'i64': integer semantics on BigInt, wrapping at 64 bits like Milvus's int64 arithmetic;
 * - 'f64' / 'f32': floating point; 'f32' rounds every result to float32 (arithmetic on Float fields);
 * - 'dyn': a JSON value combined with constants, typed per row.
 */
export type NumMode = 'i53' | 'i64' | 'f64' | 'f32' | 'dyn';

/** A JSON path step: an object key, or an array index. */
export type PathKey = string | number;

export type Val =
  | { k: 'lit'; v: Lit }
  /** A scalar column. */
  | { k: 'col'; field: string; type: ColType }
  /**
   * A value read per row from a JSON column (a JSON field or '$meta') or from an element of an Array field.
   * Missing keys and out-of-range indexes read as `undefined`. `elem` is set for Array elements.
   */
  | { k: 'dyn'; field: string; path: PathKey[]; elem?: ElemType }
  /** A whole Array field. */
  | { k: 'array'; field: string; elem: ElemType }
  | { k: 'arith'; op: ArithOp; a: Val; b: Val; mode: NumMode }
  | { k: 'neg'; a: Val; mode: NumMode }
  /** array_length(x): NaN (unequal to everything) when x is not an array. */
  | { k: 'len'; a: Val };

export type Pred =
  | { k: 'const'; v: boolean }
  | { k: 'and'; args: Pred[] }
  | { k: 'or'; args: Pred[] }
  | { k: 'not'; arg: Pred }
  /** `a op b`; at most one side is a literal, and then it is `b`. */
  | { k: 'cmp'; op: CmpOp; a: Val; b: Val }
  | { k: 'in'; a: Val; values: Lit[] }
  | { k: 'like'; a: Val; pattern: string }
  /** True for SQL NULL rows; for JSON paths also when the key is missing or holds JSON null. Never unknown. */
  | { k: 'isnull'; a: Val }
  /** `exists json["k"]`: the key is present (even when it holds JSON null). */
  | { k: 'exists'; a: Val }
  /** json_contains / array_contains (one value), *_all, *_any. */
  | { k: 'contains'; mode: 'one' | 'all' | 'any'; a: Val; values: Lit[] }
  /** A bare Bool field or JSON path used as a condition: true when the value is boolean true. */
  | { k: 'truthy'; a: Val }
  /**
   * text_match / phrase_match on an analyzer-enabled VarChar field. `analyzer` is the field's analyzer_params (JSON
   * text, '' for the standard analyzer), so a plan evaluates the same wherever it runs. Without `slop`: rows holding
   * at least `minShouldMatch` (default 1) of the query's distinct terms; with `slop`: the query as a phrase.
   */
  | { k: 'text'; field: string; analyzer: string; query: string; slop?: number; minShouldMatch?: number };
