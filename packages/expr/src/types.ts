/** Schema and column shapes the expression package works on. */
import type { TextIndex } from '@kite/analyzer';
import type { ScalarIndex } from './scalar-index';

export type ScalarType =
  | 'Bool'
  | 'Int8'
  | 'Int16'
  | 'Int32'
  | 'Int64'
  | 'Float'
  | 'Double'
  | 'VarChar'
  | 'JSON'
  | 'Array'
  | 'FloatVector'
  | 'Float16Vector'
  | 'BFloat16Vector'
  | 'BinaryVector'
  | 'Int8Vector'
  | 'SparseFloatVector';

export interface FieldInfo {
  name: string;
  type: ScalarType;
  isPrimaryKey?: boolean;
  /** Element type of an Array field. */
  elementType?: ScalarType;
  /** The field accepts nulls (Milvus 2.5+); rows whose Column.valid byte is 0 are SQL NULL. */
  nullable?: boolean;
  /** Milvus's type params (enable_analyzer, enable_match, analyzer_params, ...), for text_match / phrase_match. */
  typeParams?: Record<string, string>;
}

/** The collection schema as the parser needs it. The dynamic field's column is named '$meta'. */
export interface SchemaInfo {
  fields: FieldInfo[];
  enableDynamicField: boolean;
}

/** Name of the column that holds a collection's dynamic field (a JSON object per row). */
export const DYNAMIC_FIELD = '$meta';

/**
 * One column of a batch. `valid`, when present, has one byte per row: 0 marks a SQL NULL (nullable fields).
 * Array fields arrive as kind 'array' (row i's elements are values[offsets[i] .. offsets[i + 1]); Bool elements as
 * 0/1 bytes with `bool` set), or as kind 'json' whose values are JS arrays (numbers, bigints, strings or booleans).
 */
export type Column =
  | { kind: 'bool'; data: Uint8Array; valid?: Uint8Array } // 0/1
  | { kind: 'int'; data: Int32Array; valid?: Uint8Array } // Int8/16/32
  | { kind: 'int64'; data: BigInt64Array; valid?: Uint8Array }
  | { kind: 'float'; data: Float32Array | Float64Array; valid?: Uint8Array }
  | { kind: 'string'; data: string[]; valid?: Uint8Array }
  | { kind: 'json'; data: unknown[]; valid?: Uint8Array }; // parsed JSON values (undefined/null when absent)

/** An Array field's column: row i holds values[offsets[i] .. offsets[i + 1]) (offsets index the flat values). */
export interface ArrayColumn {
  kind: 'array';
  offsets: Uint32Array;
  values: ArrayValues;
  /** Bool elements: `values` holds 0/1 bytes. */
  bool?: boolean;
  valid?: Uint8Array;
}

/** What a batch holds per field: a scalar or JSON column, or an Array field's column. */
export type BatchColumn = Column | ArrayColumn;

/** The flat elements of an 'array' column. */
export type ArrayValues = Uint8Array | Int32Array | BigInt64Array | Float32Array | Float64Array | string[];

export interface ColumnBatch {
  numRows: number;
  column(name: string): BatchColumn | undefined;
  /**
   * A text index over a VarChar field built with the given analyzer_params, when the engine keeps one (query nodes
   * cache one per segment and field): row i of this batch is the index's row `firstRow + i`. Without it,
   * text_match / phrase_match index the batch's column on the spot.
   */
  textIndex?(field: string, analyzerParams: string): { index: TextIndex; firstRow: number } | undefined;
  /**
   * A scalar index over a field (INVERTED, STL_SORT, Trie, BITMAP), when the engine keeps one for these rows: row i
   * of this batch is the index's row `firstRow + i`. Comparisons with constants, `in` and prefix `like` on the field
   * are then answered from it; without it they scan the column (same results).
   */
  scalarIndex?(field: string): { index: ScalarIndex; firstRow: number } | undefined;
}
