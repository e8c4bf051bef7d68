import { KiteError } from '@kite/common';
import type { ArrayElementType, Column, ScalarColumn } from './columns';
import type { FieldMeta } from './meta';

/**
 * Array fields on the wire, as both SDKs send and read them: ScalarField.array_data = ArrayArray { data: one
 * ScalarField per row, element_type }, each row's ScalarField holding the elements in the member of the element type
 * (bool_data, int_data for Int8/16/32, long_data, float_data, double_data, string_data). A row without a member set
 * is an empty array (proto3 leaves the oneof unset when an SDK sends no elements).
 */

/** One row of an ArrayArray as decoded (enums as names, longs as strings). */
export interface WireArrayRow {
  data?: string;
  bool_data?: { data: boolean[] };
  int_data?: { data: number[] };
  long_data?: { data: (string | number)[] };
  float_data?: { data: number[] };
  double_data?: { data: number[] };
  string_data?: { data: string[] };
  json_data?: { data: Buffer[] };
}

export interface WireArrayArray {
  element_type?: string | number;
  data?: WireArrayRow[];
}

/** The wire member that carries each element type. */
const MEMBER: Record<ArrayElementType, keyof WireArrayRow> = {
  Bool: 'bool_data', Int8: 'int_data', Int16: 'int_data', Int32: 'int_data', Int64: 'long_data', Float: 'float_data', Double: 'double_data', VarChar: 'string_data',
};

const RANGE: Partial<Record<ArrayElementType, [number, number]>> = {
  Int8: [-128, 127], Int16: [-32768, 32767], Int32: [-2147483648, 2147483647],
};

const bad = (field: string, msg: string): KiteError => new KiteError('ParameterInvalid', `field "${field}": ${msg}`);

/** The members of a row that hold elements (a set oneof, or any member with values). */
function setMembers(row: WireArrayRow): (keyof WireArrayRow)[] {
  const out: (keyof WireArrayRow)[] = [];
  for (const k of ['bool_data', 'int_data', 'long_data', 'float_data', 'double_data', 'string_data', 'json_data'] as const) {
    const v = row[k];
    if (v !== undefined && v !== null && (row.data === k || (Array.isArray(v.data) && v.data.length > 0))) out.push(k);
  }
  return out;
}

/**
 * Converts an inbound ArrayArray of `numRows` rows into an 'array' column of `field`, checking each row as Milvus
 * does: at most max_capacity elements, the elements of the field's element type (integers in range, finite floats,
 * VarChar elements within max_length). Errors name the field and the row.
 */
export function arrayDataToColumn(a: WireArrayArray, field: FieldMeta, numRows: number): Column {
  const name = field.name;
  const elem = (field.elementType ?? 'Int64') as ArrayElementType;
  const member = MEMBER[elem];
  const rows = a.data ?? [];
  if (rows.length !== numRows) throw bad(name, `has ${rows.length} values but the request has ${numRows} rows; every field needs one value per row`);
  const cap = Number(field.typeParams.max_capacity ?? 4096);
  const maxLen = Number(field.typeParams.max_length ?? 65535);
  const offsets = new Uint32Array(numRows + 1);
  const parts: unknown[][] = [];
  for (let i = 0; i < numRows; i++) {
    const row = rows[i]!;
    const set = setMembers(row);
    const other = set.find((k) => k !== member);
    if (other !== undefined) {
      throw bad(name, `row ${i} holds ${other} but the field's element type is ${elem}; send ${elem} elements (${member})`);
    }
    const values = ((row[member] as { data?: unknown[] } | undefined)?.data ?? []) as unknown[];
    if (values.length > cap) throw bad(name, `the length (${values.length}) of ${i}th array exceeds max capacity (${cap}); send at most ${cap} elements or raise max_capacity`);
    const range = RANGE[elem];
    for (let j = 0; j < values.length; j++) {
      const v = values[j];
      if (range && (typeof v !== 'number' || !Number.isInteger(v) || v < range[0] || v > range[1])) {
        throw bad(name, `row ${i}, element ${j}: value ${String(v)} is out of range for ${elem} [${range[0]}, ${range[1]}]`);
      }
      if ((elem === 'Float' || elem === 'Double') && (typeof v !== 'number' || !Number.isFinite(v))) {
        throw bad(name, `row ${i}, element ${j}: value ${String(v)} is not a finite ${elem}: NaN and Infinity are not stored`);
      }
      if (elem === 'VarChar') {
        const bytes = Buffer.byteLength(String(v), 'utf8');
        if (bytes > maxLen) {
          throw bad(name, `length of element ${j} of row ${i} is ${bytes} bytes, exceeding max_length ${maxLen}; shorten it or raise max_length`);
        }
      }
    }
    offsets[i + 1] = offsets[i]! + values.length;
    parts.push(values);
  }
  const total = offsets[numRows]!;
  const flat = parts.flat();
  let values: ScalarColumn;
  switch (elem) {
    case 'Bool':
      values = { kind: 'bool', data: Uint8Array.from(flat, (b) => (b ? 1 : 0)) };
      break;
    case 'Int8':
    case 'Int16':
    case 'Int32':
      values = { kind: 'int', data: Int32Array.from(flat as number[]) };
      break;
    case 'Int64': {
      const d = new BigInt64Array(total);
      for (let j = 0; j < total; j++) {
        const v = flat[j] as string | number;
        let b: bigint;
        try {
          b = BigInt(v);
        } catch {
          throw bad(name, `element ${String(v)} is not an Int64`);
        }
        if (b < -(2n ** 63n) || b >= 2n ** 63n) throw bad(name, `element ${String(v)} is out of range for Int64`);
        d[j] = b;
      }
      values = { kind: 'int64', data: d };
      break;
    }
    case 'Float':
      values = { kind: 'float', data: Float32Array.from(flat as number[]) };
      break;
    case 'Double':
      values = { kind: 'float', data: Float64Array.from(flat as number[]) };
      break;
    case 'VarChar':
      values = { kind: 'string', data: (flat as unknown[]).map(String) };
      break;
  }
  return { kind: 'array', elem, offsets, values };
}

/** Row i of an 'array' column as plain JS values (Int64 elements as bigint). */
export function arrayRow(c: Extract<Column, { kind: 'array' }>, i: number): (boolean | number | bigint | string)[] {
  const start = c.offsets[i]!;
  const end = c.offsets[i + 1]!;
  const v = c.values;
  const out = new Array<boolean | number | bigint | string>(end - start);
  for (let j = start; j < end; j++) out[j - start] = v.kind === 'bool' ? v.data[j] !== 0 : v.data[j]!;
  return out;
}

/**
 * An 'array' column in the shape the expression evaluator reads Array fields (@kite/expr ArrayColumn): the same
 * offsets and flat values, no copy; Bool elements flagged (their values are 0/1 bytes).
 */
export function arrayForFilter(c: Extract<Column, { kind: 'array' }>): { kind: 'array'; offsets: Uint32Array; values: ScalarColumn['data']; bool: boolean } {
  return { kind: 'array', offsets: c.offsets, values: c.values.data, bool: c.values.kind === 'bool' };
}

/** An outbound ArrayArray: one ScalarField per row with the element type's member set (also for an empty row). */
export function columnToArrayData(c: Extract<Column, { kind: 'array' }>): { element_type: string; data: Record<string, unknown>[] } {
  const member = MEMBER[c.elem];
  const n = c.offsets.length - 1;
  const data = new Array<Record<string, unknown>>(n);
  for (let i = 0; i < n; i++) {
    const row = arrayRow(c, i);
    const values = c.elem === 'Int64' ? row.map((v) => (v as bigint).toString()) : row;
    data[i] = { data: member, [member]: { data: values } };
  }
  return { element_type: c.elem, data };
}

/** An empty 'array' column of an Array field. */
export function emptyArrayColumn(field: FieldMeta): Column {
  const elem = (field.elementType ?? 'Int64') as ArrayElementType;
  const values: ScalarColumn =
    elem === 'Bool' ? { kind: 'bool', data: new Uint8Array(0) }
      : elem === 'Int64' ? { kind: 'int64', data: new BigInt64Array(0) }
        : elem === 'Float' ? { kind: 'float', data: new Float32Array(0) }
          : elem === 'Double' ? { kind: 'float', data: new Float64Array(0) }
            : elem === 'VarChar' ? { kind: 'string', data: [] }
              : { kind: 'int', data: new Int32Array(0) };
  return { kind: 'array', elem, offsets: new Uint32Array(1), values };
}
