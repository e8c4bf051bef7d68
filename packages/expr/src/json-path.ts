/** Reading a JSON path index's `json_path` param (kept apart from json-index.ts, which the evaluator imports). */
import { irOf, parseExpr } from './expr';
import type { PathKey } from './ir';
import { jsonIndexKey, type JsonCastType } from './json-index';

/**
 * The keys of a `json_path` such as `meta["a"]["b"]`, `meta['a']` or `meta["list"][0]` on JSON field `field`, read
 * by the filter parser itself (so a path means in an index what it means in a filter). Throws an Error naming the
 * problem when the text is not a path into that field.
 */
export function parseJsonPath(text: string, field: string): PathKey[] {
  const wrong = (): Error => new Error(`json_path ${text.length > 200 ? `${text.slice(0, 200)}...` : text} is not a path into JSON field ${field}: write it as ${field}["key"] or ${field}["key"]["nested"]`);
  let ir;
  try {
    ir = irOf(parseExpr(`${text} is null`, { enableDynamicField: false, fields: [{ name: field, type: 'JSON' }] }));
  } catch {
    throw wrong();
  }
  if (ir.k !== 'isnull' || ir.a.k !== 'dyn' || ir.a.field !== field || ir.a.elem !== undefined) throw wrong();
  return ir.a.path;
}

/**
 * The key under which a batch offers a scalar index built with these index params (ColumnBatch.scalarIndex): the
 * field's name, or for a JSON path index (params json_path and json_cast_type, as the coordinator keeps them) its
 * jsonIndexKey. Throws when a JSON path index's params do not read.
 */
export function scalarIndexKey(field: string, params: Record<string, string>): string {
  if (params.json_path === undefined) return field;
  return jsonIndexKey(field, parseJsonPath(params.json_path, field), (params.json_cast_type ?? '').toUpperCase() as JsonCastType);
}
