/** Reading a JSON path index's `json_path` param (kept apart from json-index.ts, which the evaluator imports). */
import { irOf, parseExpr } from './expr';
import type { PathKey } from './ir';

/**
 * The keys of a `json_path` such as `meta["a"]["b"]`, `meta['a']` or `meta["list"][0]` on JSON field `field`, read
 * by the filter parser itself (so a path means in an index what it means in a filter). Throws an Error naming the
 * problem when the text is not a path into that field.
 */
export function parseJsonPath(text: string, field: string): PathKey[] {
  let ir;
  try {
    ir = irOf(parseExpr(`${text} is null`, { enableDynamicField: false, fields: [{ name: field, type: 'JSON' }] }));
  } catch (e) {
    throw new Error(`json_path ${JSON.stringify(text)} is not a path into JSON field ${field} (such as ${field}["key"]["nested"]): ${(e as Error).message.split('\n')[0]}`);
  }
  if (ir.k !== 'isnull' || ir.a.k !== 'dyn' || ir.a.field !== field || ir.a.elem !== undefined) {
    throw new Error(`json_path ${JSON.stringify(text)} is not a path into JSON field ${field}: write it as ${field}["key"]["nested"]`);
  }
  return ir.a.path;
}
