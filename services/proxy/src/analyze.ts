import { analyzerEnabled, analyzerOfField, createAnalyzer, type Analyzer } from '@kite/analyzer';
import { KiteError, clip } from '@kite/common';
import type { AnalyzerResult, AnalyzerToken, RunAnalyzerRequest } from '@kite/proto';
import type { Handlers, ProxyCore } from './core';
import type { RequestContext } from './request';
import { OK } from './status';

/**
 * RunAnalyzer: the tokens an analyzer makes of each text, as Milvus returns them. The analyzer is the one
 * `analyzer_params` describe (empty: the standard analyzer), or a collection field's (`collection_name` and
 * `field_name`; the field must have enable_analyzer). Tokens carry UTF-8 byte offsets, the tokenizer's position and
 * position length with `with_detail`, and the term id BM25 uses with `with_hash`. Milvus checks no privilege for it.
 */
export function analyzeHandlers(core: ProxyCore): Handlers {
  return {
    async RunAnalyzer(r, ctx) {
      const analyzer = await analyzerOf(core, r, ctx);
      const results: AnalyzerResult[] = [];
      for (const text of r.placeholder ?? []) {
        if (Date.now() > ctx.deadline) {
          throw new KiteError('DeadlineExceeded', `RunAnalyzer did not finish within the request's deadline (${results.length} of ${r.placeholder.length} texts analyzed); send fewer or shorter texts per call`);
        }
        const tokens = analyzer.analyze(Buffer.from(text).toString('utf8')).map((t): AnalyzerToken => {
          const out: AnalyzerToken = { token: t.token };
          if (r.with_detail) {
            out.start_offset = t.startOffset;
            out.end_offset = t.endOffset;
            out.position = t.position;
            out.position_length = t.positionLength;
          }
          if (r.with_hash) out.hash = t.hash;
          return out;
        });
        results.push({ tokens });
      }
      return { status: OK, results };
    },
  };
}

async function analyzerOf(core: ProxyCore, r: RunAnalyzerRequest, ctx: RequestContext): Promise<Analyzer> {
  if ((r.analyzer_names ?? []).length > 0) {
    throw new KiteError('ParameterInvalid', 'analyzer_names selects an analyzer of a multi-analyzer field, which Kite does not support; drop analyzer_names');
  }
  if (!r.collection_name) {
    if (r.field_name) throw new KiteError('ParameterInvalid', `field_name "${clip(r.field_name, 128)}" needs collection_name too: give both, or analyzer_params instead`);
    return createAnalyzer(r.analyzer_params);
  }
  if (r.analyzer_params) {
    throw new KiteError('ParameterInvalid', 'give either analyzer_params or a collection field (collection_name and field_name), not both');
  }
  const c = await core.collection(r.collection_name, ctx);
  if (!r.field_name) throw new KiteError('ParameterInvalid', `field_name is empty: name the analyzer-enabled VarChar field of collection "${clip(c.name, 128)}" to analyze with`);
  const field = c.fields.find((f) => f.name === r.field_name && !f.isDynamic);
  if (!field) throw new KiteError('ParameterInvalid', `field "${clip(r.field_name, 128)}" not found in collection "${clip(c.name, 128)}"`);
  if (field.dataType !== 'VarChar' || !analyzerEnabled(field)) {
    throw new KiteError('ParameterInvalid', `field "${field.name}" of collection "${c.name}" has no analyzer: create it as a VarChar field with enable_analyzer=True, or pass analyzer_params instead`);
  }
  return analyzerOfField(field);
}
