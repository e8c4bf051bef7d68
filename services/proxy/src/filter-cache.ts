import { createHash } from 'node:crypto';
import { checkSyntax, encodePlan, parseSyntaxTree, type Expr, type FilterSyntax, type ParseOptions } from '@kite/expr';
import type { CollectionMeta } from '@kite/segment';
import { schemaInfo } from './util';

/**
 * Filters longer than this are parsed every time rather than kept: a checked filter takes some 13 bytes of heap per
 * character of an id list (about 50 KB at this length, 3 KB for a short comparison), so this bounds the cache at
 * about filterCacheSize x 50 KB, and long filters are rarely sent twice.
 */
export const MAX_CACHED_LENGTH = 4096;

/** A filter without template parameters, checked: the same for every request until the schema changes. */
interface Checked {
  expr: Expr;
  plan: string;
}

/**
 * The filters the proxy parsed and checked, kept by proxy.filterCacheSize (least recently used out first):
 * - without template parameters, the checked filter and its plan, keyed by the collection's schema and the text, so
 *   a schema change (a field added, altered or renamed: a new catalogue entry, hence a new key) never finds an
 *   entry made for the old schema;
 * - with template parameters, the parsed syntax (it does not depend on the schema or on the values), checked per
 *   request with that request's values.
 * Errors are not kept: a bad filter is parsed again (and fails again) each time.
 *
 * A Map keeps insertion order, which makes it a least-recently-used list (a hit moves the entry to the end); that
 * is all this needs, so no LRU library.
 */
export class FilterCache {
  private readonly entries = new Map<string, Checked | FilterSyntax>();
  /** The schema part of the key of each catalogue entry (entries are replaced, never changed, on a schema change). */
  private readonly schemaKeys = new WeakMap<CollectionMeta, string>();

  constructor(
    private readonly capacity: number,
    private readonly parseOptions: ParseOptions,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The checked filter `text` of collection `c` with template parameters `params` (throws ExprError). */
  check(c: CollectionMeta, text: string, params: Record<string, unknown> | undefined): { expr: Expr; plan: string } {
    if (this.capacity === 0 || text.length > MAX_CACHED_LENGTH) {
      const expr = checkSyntax(parseSyntaxTree(text, this.parseOptions), schemaInfo(c), params);
      return { expr, plan: encodePlan(expr) };
    }
    if (params === undefined) {
      const key = `${this.schemaKey(c)}\u0000${text}`;
      const hit = this.take(key) as Checked | undefined;
      if (hit) return hit;
      const expr = checkSyntax(parseSyntaxTree(text, this.parseOptions), schemaInfo(c), undefined);
      const made = { expr, plan: encodePlan(expr) };
      this.put(key, made);
      return made;
    }
    // The syntax alone, whatever the schema: the values are bound (and checked against the schema) per request.
    const key = `\u0000syntax\u0000${text}`;
    let syntax = this.take(key) as FilterSyntax | undefined;
    if (!syntax) this.put(key, (syntax = parseSyntaxTree(text, this.parseOptions)));
    const expr = checkSyntax(syntax, schemaInfo(c), params);
    return { expr, plan: encodePlan(expr) };
  }

  private take(key: string): Checked | FilterSyntax | undefined {
    const v = this.entries.get(key);
    if (v !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, v);
    }
    return v;
  }

  private put(key: string, v: Checked | FilterSyntax): void {
    this.entries.set(key, v);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  /** The collection's id and a digest of what a filter is checked against (fields, types, dynamic field). */
  private schemaKey(c: CollectionMeta): string {
    let k = this.schemaKeys.get(c);
    if (k === undefined) {
      k = `${c.collectionID}:${createHash('sha1').update(JSON.stringify(schemaInfo(c))).digest('base64')}`;
      this.schemaKeys.set(c, k);
    }
    return k;
  }
}
