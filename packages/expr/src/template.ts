/**
 * Template parameters (`{name}` in a filter): converting Milvus's wire form (expr_template_values) into the
 * values parseExpr binds, and carrying them between processes as text.
 */
import { KiteError } from '@kite/common';
import { MAX_EXPR_DEPTH } from './expr';

type Long = string | number | bigint;

/**
 * One element list of Milvus's TemplateArrayValue, as @grpc/proto-loader decodes it with `longs: String` and
 * `oneofs: true` (`data` names the member that is set).
 */
export interface TemplateArrayValueWire {
  data?: string | null;
  bool_data?: { data?: boolean[] } | null;
  long_data?: { data?: Long[] } | null;
  double_data?: { data?: number[] } | null;
  string_data?: { data?: string[] } | null;
  array_data?: { data?: TemplateArrayValueWire[] } | null;
  json_data?: { data?: (Uint8Array | string)[] } | null;
}

/** Milvus's TemplateValue as decoded the same way (`val` names the member that is set). */
export interface TemplateValueWire {
  val?: string | null;
  bool_val?: boolean;
  int64_val?: Long;
  float_val?: number;
  string_val?: string;
  array_val?: TemplateArrayValueWire | null;
}

const SCALAR_MEMBERS = ['bool_val', 'int64_val', 'float_val', 'string_val', 'array_val'] as const;
const ARRAY_MEMBERS = ['bool_data', 'long_data', 'double_data', 'string_data', 'array_data', 'json_data'] as const;

/** The oneof member that is set: the `val`/`data` discriminator when the decoder gave one, else the only member present. */
function member<T extends string>(discriminator: string | null | undefined, o: object, names: readonly T[]): T | undefined {
  if (discriminator !== undefined && discriminator !== null) return (names as readonly string[]).includes(discriminator) ? (discriminator as T) : undefined;
  const present = names.filter((n) => (o as Record<string, unknown>)[n] !== undefined && (o as Record<string, unknown>)[n] !== null);
  return present.length === 1 ? present[0] : undefined;
}

function int64(name: string, v: Long): bigint {
  try {
    const b = typeof v === 'bigint' ? v : BigInt(v);
    if (b === BigInt.asIntN(64, b)) return b;
  } catch {
    // not an integer: reported below
  }
  throw new KiteError('ParameterInvalid', `template parameter {${name}}: ${String(v)} is not an int64`);
}

function jsonElement(name: string, v: Uint8Array | string): unknown {
  const text = typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new KiteError('ParameterInvalid', `template parameter {${name}}: json_data element ${JSON.stringify(text.slice(0, 100))} is not JSON`);
  }
}

function arrayValues(name: string, a: TemplateArrayValueWire | null | undefined, depth: number): unknown[] {
  if (a === null || a === undefined) return [];
  if (depth > MAX_EXPR_DEPTH) {
    throw new KiteError('ParameterInvalid', `template parameter {${name}} nests arrays more than ${MAX_EXPR_DEPTH} levels deep, the limit`);
  }
  switch (member(a.data, a, ARRAY_MEMBERS)) {
    case 'bool_data':
      return a.bool_data?.data ?? [];
    case 'long_data':
      // Int64 lists arrive as decimal strings (longs: String): they are numbers, not text.
      return (a.long_data?.data ?? []).map((x) => int64(name, x));
    case 'double_data':
      return a.double_data?.data ?? [];
    case 'string_data':
      return a.string_data?.data ?? [];
    case 'array_data':
      return (a.array_data?.data ?? []).map((x) => arrayValues(name, x, depth + 1));
    case 'json_data':
      return (a.json_data?.data ?? []).map((x) => jsonElement(name, x));
    default:
      return [];
  }
}

/**
 * Converts Milvus expr_template_values into parseExpr's params: int64 values (single or in lists) become bigint,
 * so they stay exact and count as numbers; floats, strings, booleans and arrays of them keep their type; JSON
 * elements are parsed. Undefined when there are none. Throws KiteError ParameterInvalid for a malformed value.
 */
export function templateParams(values: Record<string, TemplateValueWire | null | undefined> | null | undefined): Record<string, unknown> | undefined {
  if (values === null || values === undefined) return undefined;
  const entries = Object.entries(values);
  if (entries.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const [name, t] of entries) {
    if (t === null || t === undefined) continue;
    switch (member(t.val, t, SCALAR_MEMBERS)) {
      case 'bool_val':
        out[name] = t.bool_val;
        break;
      case 'int64_val':
        out[name] = int64(name, t.int64_val ?? 0);
        break;
      case 'float_val':
        out[name] = t.float_val;
        break;
      case 'string_val':
        out[name] = t.string_val;
        break;
      case 'array_val':
        out[name] = arrayValues(name, t.array_val, 1);
        break;
      default:
        // No value set: left out, so a filter that uses it says the parameter has no value.
        break;
    }
  }
  return out;
}

const INT64_KEY = '$int64';

/**
 * Template parameters as text for the internal RPCs: JSON, with each bigint written as {"$int64": "<digits>"}
 * (JSON has no integers beyond 2^53, and parameters never hold objects, so the form is unambiguous). '' for none.
 */
export function encodeParams(params: Record<string, unknown> | undefined): string {
  if (params === undefined) return '';
  return JSON.stringify(params, (_key, v: unknown) => (typeof v === 'bigint' ? { [INT64_KEY]: v.toString() } : v));
}

/** The inverse of encodeParams (plain JSON reads as it is); undefined for ''. */
export function decodeParams(text: string): Record<string, unknown> | undefined {
  if (text === '') return undefined;
  return JSON.parse(text, (_key, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const box = v as Record<string, unknown>;
      const keys = Object.keys(box);
      if (keys.length === 1 && keys[0] === INT64_KEY && typeof box[INT64_KEY] === 'string') return BigInt(box[INT64_KEY]);
    }
    return v;
  }) as Record<string, unknown>;
}
