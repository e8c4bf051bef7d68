/**
 * @kite/expr — Milvus's boolean filter expressions for Search, Query and Delete: parse and type-check once
 * (parseExpr), evaluate over column batches into a row bitmap (evaluate), and extract primary keys for the
 * Delete/Get fast path (primaryKeyTerms).
 */
export {
  parseExpr,
  parseSyntaxTree,
  checkSyntax,
  type FilterSyntax,
  evaluate,
  evaluateAsync,
  answeredByScalarIndexes,
  primaryKeyTerms,
  countMatches,
  textIndexesOf,
  MAX_EXPR_DEPTH,
  type Expr,
  type ParseOptions,
  type EvaluateOptions,
} from './expr';
export { encodePlan, decodePlan } from './plan';
export { useNativeKernels, NATIVE_OPS, type NativeKernels } from './kernels';
export { ScalarIndex, type ScalarIndexKind, type JsonIndexCast } from './scalar-index';
export { JSON_CAST_TYPES, jsonCastType, jsonIndexKey, type JsonCastType } from './json-index';
export { parseJsonPath, scalarIndexKey } from './json-path';
export { ExprError } from './errors';
export {
  DYNAMIC_FIELD,
  type ScalarType,
  type FieldInfo,
  type SchemaInfo,
  type Column,
  type ArrayColumn,
  type ArrayValues,
  type BatchColumn,
  type ColumnBatch,
} from './types';
export type { Pred, Val, Lit, ColType, ElemType, NumMode, PathKey } from './ir';
export type { Position, CmpOp, ArithOp } from './ast';
export { templateParams, encodeParams, decodeParams, type TemplateValueWire, type TemplateArrayValueWire } from './template';
