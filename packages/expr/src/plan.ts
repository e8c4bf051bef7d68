import { ExprError } from './errors';
import { exprFromIr, type Expr } from './expr';
import type { Pred } from './ir';
import { DYNAMIC_FIELD, type SchemaInfo } from './types';

/**
 * A filter's checked plan as text, so that the proxy parses and checks a filter once and the query nodes only
 * compile it: JSON of the typed form (ir.ts) and the columns it reads. JSON lacks 64-bit integers and non-finite
 * numbers, so a bigint is written {"$i": "<digits>"} and NaN, ±Infinity and -0 as {"$f": "<text>"} (the typed form
 * holds no other objects with those keys: its values are literals, arrays and nodes tagged `k`).
 */
const PLAN_VERSION = 1;

interface PlanText {
  v: number;
  fields: string[];
  ir: Pred;
}

const special = (v: number): boolean => !Number.isFinite(v) || Object.is(v, -0);

/** The plan of a parsed filter (for decodePlan on another process). */
export function encodePlan(expr: Expr): string {
  const plan: PlanText = { v: PLAN_VERSION, fields: expr.fields, ir: expr.ir };
  return JSON.stringify(plan, (_key, v: unknown) => {
    if (typeof v === 'bigint') return { $i: v.toString() };
    if (typeof v === 'number' && special(v)) return { $f: Object.is(v, -0) ? '-0' : String(v) };
    return v;
  });
}

function revive(_key: string, v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  const keys = Object.keys(v);
  if (keys.length !== 1) return v;
  const box = v as Record<string, unknown>;
  if (typeof box.$i === 'string' && /^-?\d+$/.test(box.$i)) return BigInt(box.$i);
  if (typeof box.$f === 'string') return Number(box.$f);
  return v;
}

/**
 * The Expr a plan from encodePlan describes, compiled for `schema` (the collection's schema on this process).
 * `text` is the filter as the user wrote it (for messages). Throws ExprError (ExpressionInvalid) when the plan is
 * not one encodePlan wrote for this schema: another version's, or one naming a field the schema lacks.
 */
export function decodePlan(plan: string, schema: SchemaInfo, text: string): Expr {
  let parsed: unknown;
  try {
    parsed = JSON.parse(plan, revive);
  } catch (e) {
    throw new ExprError(`the filter plan is not valid JSON: ${(e as Error).message}`, text);
  }
  const p = parsed as Partial<PlanText> | null;
  if (p === null || typeof p !== 'object' || p.v !== PLAN_VERSION) {
    throw new ExprError(`the filter plan has version ${String(p?.v)}, this process reads version ${PLAN_VERSION}`, text);
  }
  if (!Array.isArray(p.fields) || !p.fields.every((f) => typeof f === 'string') || p.ir === null || typeof p.ir !== 'object' || typeof p.ir.k !== 'string') {
    throw new ExprError('the filter plan is malformed (fields or ir missing)', text);
  }
  const known = new Set(schema.fields.map((f) => f.name));
  if (schema.enableDynamicField) known.add(DYNAMIC_FIELD);
  const missing = p.fields.find((f) => !known.has(f));
  if (missing !== undefined) throw new ExprError(`the filter plan reads field ${JSON.stringify(missing)}, which the collection's schema here does not have`, text);
  return exprFromIr(text, p.fields, p.ir, schema);
}
