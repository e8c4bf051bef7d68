import { KiteError } from '@kite/common';
import { nullColumnLike, validOf, type Column } from './columns';
import type { DataTypeName, FieldMeta } from './meta';

/**
 * NULLs and default values (Milvus 2.5+): a nullable scalar field's column carries `valid` (0 = NULL); a field with a
 * default value gets it in every row sent without a value (the field left out, or the row's value null). Rows written
 * before a field was added to the collection hold no column for it and read as NULL, or as its default value.
 */

/** A field's default value as kept in FieldMeta: Int64 as decimal text, the other types as their JS value. */
export type DefaultValue = boolean | number | string;

/** The ValueField member Milvus expects for each type (schemapb.ValueField), and the name its messages use. */
const DEFAULT_KEY: Partial<Record<DataTypeName, { key: string; wire: string }>> = {
  Bool: { key: 'bool_data', wire: 'DataType_Bool' },
  Int8: { key: 'int_data', wire: 'DataType_Int' },
  Int16: { key: 'int_data', wire: 'DataType_Int' },
  Int32: { key: 'int_data', wire: 'DataType_Int' },
  Int64: { key: 'long_data', wire: 'DataType_Int64' },
  Float: { key: 'float_data', wire: 'DataType_Float' },
  Double: { key: 'double_data', wire: 'DataType_Double' },
  VarChar: { key: 'string_data', wire: 'DataType_VarChar' },
};

const WIRE_NAME: Record<string, string> = {
  bool_data: 'DataType_Bool',
  int_data: 'DataType_Int',
  long_data: 'DataType_Int64',
  float_data: 'DataType_Float',
  double_data: 'DataType_Double',
  string_data: 'DataType_VarChar',
  bytes_data: 'DataType_Bytes',
  timestamptz_data: 'DataType_Timestamptz',
};

const INT_RANGE: Partial<Record<DataTypeName, [number, number]>> = {
  Int8: [-128, 127],
  Int16: [-32768, 32767],
  Int32: [-2147483648, 2147483647],
};

/** The wire's ValueField as the loader decodes it (oneof name in `data`, int64 as text). */
export interface WireValueField {
  data?: string;
  [key: string]: unknown;
}

/**
 * Checks a field's default value as Milvus does (not on the primary key, vectors or JSON; the ValueField member must
 * match the field's type; integers within the type's range; a VarChar default within max_length) and returns it as
 * kept in FieldMeta. Undefined when the field has none.
 */
export function defaultFromWire(
  f: { name: string; dataType: DataTypeName; isPrimaryKey: boolean; typeParams: Record<string, string> },
  v: WireValueField | null | undefined,
): DefaultValue | undefined {
  const member = v?.data;
  if (v === null || v === undefined || member === undefined || member === '') return undefined;
  if (f.isPrimaryKey) throw new KiteError('ParameterInvalid', 'primary field not support default_value');
  const want = DEFAULT_KEY[f.dataType];
  if (want === undefined) throw new KiteError('ParameterInvalid', `type not support default_value, type:${f.dataType}, name:${f.name}`);
  if (member !== want.key) {
    throw new KiteError('ParameterInvalid', `type (${f.dataType}) of field (${f.name}) is not equal to the type(${WIRE_NAME[member] ?? member}) of default_value`);
  }
  const raw = v[member];
  switch (f.dataType) {
    case 'Bool':
      return raw === true;
    case 'Int8':
    case 'Int16':
    case 'Int32': {
      const n = Number(raw);
      const [lo, hi] = INT_RANGE[f.dataType]!;
      if (!Number.isInteger(n) || n < lo || n > hi) throw new KiteError('ParameterInvalid', `default value of field ${f.name} is out of range: [${String(raw)} out of range ${lo} <= value <= ${hi}]`);
      return n;
    }
    case 'Int64':
      return BigInt(String(raw ?? '0')).toString();
    case 'Float':
    case 'Double': {
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new KiteError('ParameterInvalid', `default value of field ${f.name} must be a finite number, got ${String(raw)}`);
      return f.dataType === 'Float' ? Math.fround(n) : n;
    }
    case 'VarChar': {
      const s = String(raw ?? '');
      const max = Number(f.typeParams.max_length ?? 65535);
      const len = Buffer.byteLength(s, 'utf8');
      if (len > max) throw new KiteError('ParameterInvalid', `the length (${len}) of string exceeds max length (${max})`);
      return s;
    }
    default:
      throw new KiteError('ParameterInvalid', `type not support default_value, type:${f.dataType}, name:${f.name}`);
  }
}

/** A field's default value as the wire's ValueField (DescribeCollection), or null. */
export function defaultToWire(f: Pick<FieldMeta, 'dataType' | 'defaultValue'>): Record<string, unknown> | null {
  const d = f.defaultValue;
  const want = DEFAULT_KEY[f.dataType];
  if (d === undefined || want === undefined) return null;
  return { [want.key]: d };
}

/**
 * Expands values sent for the valid rows only (both SDKs leave NULL rows out of the data arrays) to one slot a row,
 * NULL rows holding a placeholder, and attaches `valid`. A column already one value a row keeps its values.
 */
export function expandColumn(compact: Column, valid: Uint8Array): Column {
  if (compact.kind === 'array' || !('data' in compact)) {
    throw new KiteError('ParameterInvalid', `valid_data was sent for a ${compact.kind} column, which cannot hold NULL: send valid_data only for nullable scalar fields`);
  }
  const n = valid.length;
  const out = nullColumnLike(compact, n) as Column & { valid?: Uint8Array };
  out.valid = valid;
  const len = compact.data.length;
  const full = len === n;
  let j = 0;
  for (let i = 0; i < n; i++) {
    if (!full && valid[i] === 0) continue;
    const at = full ? i : j++;
    ((out as { data: unknown }).data as unknown[])[i] = (compact.data as unknown as unknown[])[at];
  }
  return out;
}

/** The default value in the column's representation. */
function slotValue(c: Column, d: DefaultValue): unknown {
  if (c.kind === 'bool') return d === true ? 1 : 0;
  if (c.kind === 'int64') return BigInt(String(d));
  return d;
}

/**
 * Fills the NULL rows of a column with the field's default value (they become valid); without a default, returns the
 * column as it is.
 */
export function applyDefault(c: Column, f: Pick<FieldMeta, 'defaultValue'>): Column {
  const valid = validOf(c);
  if (valid === undefined || f.defaultValue === undefined || c.kind === 'vector' || c.kind === 'packed' || c.kind === 'binary' || c.kind === 'sparse' || c.kind === 'array') return c;
  const v = slotValue(c, f.defaultValue);
  const data = (c.data as unknown as { slice(): unknown[] }).slice();
  for (let i = 0; i < valid.length; i++) if (valid[i] === 0) data[i] = v;
  const { valid: _drop, ...rest } = c as Column & { valid?: Uint8Array };
  void _drop;
  return { ...rest, data } as unknown as Column;
}

/** The column kind of a scalar field's type with `n` placeholder rows, all NULL. */
function nullColumnFor(f: Pick<FieldMeta, 'dataType' | 'name'>, n: number): Column {
  switch (f.dataType) {
    case 'Bool':
      return nullColumnLike({ kind: 'bool', data: new Uint8Array(0) }, n);
    case 'Int8':
    case 'Int16':
    case 'Int32':
      return nullColumnLike({ kind: 'int', data: new Int32Array(0) }, n);
    case 'Int64':
      return nullColumnLike({ kind: 'int64', data: new BigInt64Array(0) }, n);
    case 'Float':
      return nullColumnLike({ kind: 'float', data: new Float32Array(0) }, n);
    case 'Double':
      return nullColumnLike({ kind: 'float', data: new Float64Array(0) }, n);
    case 'VarChar':
      return nullColumnLike({ kind: 'string', data: [] }, n);
    case 'JSON':
      return nullColumnLike({ kind: 'json', data: [] }, n);
    default:
      throw new KiteError('Internal', `field ${f.name}: a ${f.dataType} column cannot be NULL`);
  }
}

/**
 * The column of `n` rows that rows written before `f` was added to the collection hold: its default value, or NULL.
 */
export function absentFieldColumn(f: Pick<FieldMeta, 'dataType' | 'name' | 'defaultValue'>, n: number): Column {
  return applyDefault(nullColumnFor(f, n), f);
}

/**
 * Milvus's refusals of `nullable` on a field (primary key, vectors, partition key); `kind` says what the field's type
 * is. Types Kite keeps no validity for ('other') are refused naming the field.
 */
export function checkNullable(f: { name: string; dataType: DataTypeName; isPrimaryKey: boolean; isPartitionKey: boolean; nullable: boolean }, kind: 'scalar' | 'vector' | 'other'): void {
  if (!f.nullable) return;
  if (f.isPrimaryKey) throw new KiteError('ParameterInvalid', 'primary field not support null');
  if (kind === 'vector') throw new KiteError('ParameterInvalid', `vector type not support null, type:${f.dataType}, fieldName:${f.name}`);
  if (kind === 'other') throw new KiteError('ParameterInvalid', `field "${f.name}": nullable ${f.dataType} fields are not supported by Kite; make it not nullable`);
  if (f.isPartitionKey) throw new KiteError('ParameterInvalid', 'partition key field not support nullable');
}
