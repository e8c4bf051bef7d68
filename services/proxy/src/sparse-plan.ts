import { analyzerOfField } from '@kite/analyzer';
import { KiteError, clip } from '@kite/common';
import type { PlaceholderValue } from '@kite/proto';
import { parseSparseRow, type CollectionMeta, type FieldMeta, type SparseRow } from '@kite/segment';
import { termFrequencies } from './bm25';

/**
 * Search planning for SparseFloatVector fields: metric, search parameters and the query vectors. A plain sparse
 * field is searched with IP and sparse query vectors; the output field of a BM25 function with BM25 and query text
 * (analysed into term frequencies, see bm25.ts).
 */

/** Whether a field is the output of one of the collection's BM25 functions. */
export function bm25FunctionOf(c: CollectionMeta, field: string): NonNullable<CollectionMeta['functions']>[number] | undefined {
  return (c.functions ?? []).find((f) => f.type === 'BM25' && f.outputFieldNames.includes(field));
}

/** The metric a search on a sparse field uses: the requested one if it is the field's, else an error naming both. */
export function sparseMetric(c: CollectionMeta, field: FieldMeta, requested: string): string {
  const index = c.indexes.find((i) => i.fieldName === field.name);
  const want = index?.metricType ?? (bm25FunctionOf(c, field.name) ? 'BM25' : 'IP');
  if (requested && requested !== want) {
    throw new KiteError('ParameterInvalid', `metric type not match: invalid parameter[expected=${want}][actual=${clip(requested, 32)}]: field ${field.name} is searched with ${want}; leave metric_type empty or set it to ${want}`);
  }
  return want;
}

/** drop_ratio_search, checked (Milvus: a float in [0, 1)); absent when not set. */
export function sparseSearchParams(field: FieldMeta, params: Record<string, unknown>, sp: Record<string, string>): Record<string, string> {
  const raw = params.drop_ratio_search ?? sp.drop_ratio_search;
  if (raw === undefined || raw === null || raw === '') return {};
  const v = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isFinite(v) || v < 0 || v >= 1) {
    throw new KiteError('ParameterInvalid', `search param drop_ratio_search ${clip(JSON.stringify(raw), 64)} for field ${field.name} is invalid: it must be in range [0, 1)`);
  }
  return { drop_ratio_search: String(v) };
}

/**
 * The query vectors of a search on a sparse field. A plain field takes sparse vectors (placeholder type
 * SparseFloatVector), each checked as inserted rows are. A BM25 function's output takes text: pymilvus sends it as
 * a VarChar placeholder, the Node SDK as UTF-8 values of a SparseFloatVector placeholder; either way each text is
 * cut by the input field's analyzer into term frequencies, as the rows' texts were on insert.
 */
export function sparseQueries(c: CollectionMeta, field: FieldMeta, ph: PlaceholderValue): SparseRow[] {
  const fn = bm25FunctionOf(c, field.name);
  if (fn) {
    if (ph.type !== 'VarChar' && ph.type !== 21 && ph.type !== 'SparseFloatVector' && ph.type !== 104) {
      throw new KiteError('ParameterInvalid', `placeholder type ${String(ph.type)} does not match field ${field.name}, the output of BM25 function "${fn.name}": search it with query text`);
    }
    const input = c.fields.find((f) => f.name === fn.inputFieldNames[0]);
    if (!input) throw new KiteError('Internal', `function ${fn.name}: input field ${fn.inputFieldNames[0]} is missing`);
    const analyzer = analyzerOfField(input);
    return (ph.values ?? []).map((v) => termFrequencies(analyzer.terms(Buffer.from(v).toString('utf8'))));
  }
  if (ph.type !== 'SparseFloatVector' && ph.type !== 104) {
    throw new KiteError('ParameterInvalid', `placeholder type ${String(ph.type)} does not match field ${field.name} (SparseFloatVector): send sparse vectors`);
  }
  return (ph.values ?? []).map((v, i) => parseSparseRow(v, field.name, `query vector ${i}`));
}
