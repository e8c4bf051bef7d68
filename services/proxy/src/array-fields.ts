import { KiteError, clip } from '@kite/common';
import type { DataTypeName, FieldMeta } from '@kite/segment';

/** Element types an Array field may hold (Milvus: every scalar type but JSON and Array). */
export const ARRAY_ELEMENT_TYPES: readonly DataTypeName[] = ['Bool', 'Int8', 'Int16', 'Int32', 'Int64', 'Float', 'Double', 'VarChar'];

/** Milvus's bound on max_capacity (defaultMaxArrayCapacity): an Array field holds 1..4096 elements a row. */
export const MAX_ARRAY_CAPACITY = 4096;

/**
 * Checks an Array field's schema as Milvus's proxy does (validateElementType, validateMaxCapacityPerRow,
 * validateMaxLengthPerRow), with Milvus's messages followed by the field and the fix, and returns its element type.
 * `params` are the field's type params; max_capacity is required, and max_length for VarChar elements.
 */
export function checkArrayField(
  collection: string,
  f: { name: string; element_type?: unknown; is_primary_key?: boolean },
  params: Record<string, string>,
): DataTypeName {
  const raw = f.element_type;
  const elem = ARRAY_ELEMENT_TYPES.find((t) => t === raw);
  if (elem === undefined) {
    const fix = `field "${f.name}" is an Array; set element_type to one of ${ARRAY_ELEMENT_TYPES.join(', ')}`;
    if (raw === undefined || raw === '' || raw === 0 || raw === 'None') throw new KiteError('IllegalSchema', `element data type None is not valid: ${fix}`);
    throw new KiteError('IllegalSchema', `element type ${clip(String(raw), 32)} is not supported: ${fix}`);
  }
  if (f.is_primary_key) {
    throw new KiteError('IllegalSchema', `the data type of primary key should be Int64 or VarChar: field "${f.name}" is an Array`);
  }
  const cap = params.max_capacity;
  if (cap === undefined) {
    throw new KiteError('IllegalSchema', `type param(max_capacity) should be specified for array field of collection ${collection}: field "${f.name}" needs max_capacity between 1 and ${MAX_ARRAY_CAPACITY}`);
  }
  if (!/^\s*-?\d+\s*$/.test(cap)) {
    throw new KiteError('IllegalSchema', `the value of max_capacity must be an integer: field "${f.name}" has max_capacity "${clip(cap, 32)}"`);
  }
  const n = Number(cap);
  if (n <= 0 || n > MAX_ARRAY_CAPACITY) {
    throw new KiteError('IllegalSchema', `the maximum capacity specified for a Array should be in (0, ${MAX_ARRAY_CAPACITY}]: field "${f.name}" has max_capacity ${clip(cap.trim(), 32)}`);
  }
  params.max_capacity = String(n);
  if (elem === 'VarChar') {
    const len = params.max_length;
    if (len === undefined) {
      throw new KiteError('IllegalSchema', `type param(max_length) should be specified for varChar field of collection ${collection}: Array field "${f.name}" of VarChar elements needs max_length between 1 and 65535`);
    }
    const m = Number(len);
    if (!/^\s*\d+\s*$/.test(len) || m < 1 || m > 65535) {
      throw new KiteError('IllegalSchema', `the maximum length specified for a VarChar should be in (0, 65535]: Array field "${f.name}" has max_length ${clip(len, 32)}`);
    }
    params.max_length = String(m);
  } else {
    // Milvus keeps a max_length given for other element types but never uses it; Kite drops it.
    delete params.max_length;
  }
  return elem;
}

/**
 * AlterCollectionField's max_capacity (Milvus 2.5+): only on an Array field, 1..4096; later rows are checked against
 * the new value, stored rows stay as they are. Normalises `props.max_capacity`.
 */
export function checkAlteredCapacity(f: Pick<FieldMeta, 'name' | 'dataType'>, props: Record<string, string>): void {
  if (f.dataType !== 'Array') throw new KiteError('ParameterInvalid', `max_capacity can only be altered on an Array field; ${f.name} is ${f.dataType}`);
  const raw = props.max_capacity ?? '';
  const n = Number(raw);
  if (!/^\s*\d+\s*$/.test(raw) || n < 1 || n > MAX_ARRAY_CAPACITY) {
    throw new KiteError('ParameterInvalid', `the maximum capacity specified for a Array should be in (0, ${MAX_ARRAY_CAPACITY}]: field ${f.name}, got "${clip(raw, 32)}"`);
  }
  props.max_capacity = String(n);
}
