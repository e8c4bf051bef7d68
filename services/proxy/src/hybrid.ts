import { KiteError, clip, toKiteError } from '@kite/common';
import { histogram } from '@kite/observe';
import type { SearchRequest } from '@kite/proto';
import type { CollectionMeta } from '@kite/segment';
import type { Handlers, ProxyCore } from './core';
import { checkVectorReplySize, outputsOf, primaryField, withPrimaryKey } from './output';
import { checkFilter, consistency, ensureLoaded, minOffsets, readPartitions } from './read';
import { MAX_TOPK, planSearch, type SearchPlan } from './read-plan';
import { functionScoreOf, rankParamsOf, rrfRanker } from './rerank';
import { fusedResults, runSearch, withRankInput } from './search';

/** Milvus's bound on the search requests of one hybrid search (defaultMaxSearchRequest). */
export const MAX_HYBRID_REQUESTS = 1024;

const subRequests = histogram('kite_proxy_hybrid_search_requests', 'search requests per HybridSearch', [], [1, 2, 3, 4, 6, 8, 16, 64, 1024]);

/**
 * A hybrid search's sub-request planned as a Search: its own anns_field, vectors, filter, params and limit. Its
 * offset is ignored (Milvus pages only the fused list; both SDKs copy the request's offset into every sub-request),
 * and a sub-request without a limit gets the fused list's limit + offset.
 */
function planSubSearch(c: CollectionMeta, sub: SearchRequest, i: number, fusedTopk: number, maxResults: number): SearchPlan {
  if (sub.function_score?.functions?.length || sub.function_score?.params?.length) {
    throw new KiteError('ParameterInvalid', `${subName(sub, i)} carries a function_score: set the ranker on the hybrid search itself (rank_params or its function_score)`);
  }
  const params = (sub.search_params ?? []).filter((kv) => kv.key !== 'offset');
  if (!params.some((kv) => kv.key === 'topk' || kv.key === 'limit')) params.push({ key: 'topk', value: String(fusedTopk) });
  const plan = naming(sub, i, () => planSearch(c, { ...sub, search_params: params }, maxResults));
  const extra = plan.ids ? 'search by primary keys (ids)' : plan.extras.group ? 'group_by_field' : plan.extras.iterator ? 'a search iterator' : '';
  if (extra) throw new KiteError('ParameterInvalid', `${subName(sub, i)}: ${extra} is not supported in a hybrid search request by Kite yet; remove it from the request`);
  return plan;
}

/** "search request 1 (anns_field dense)": how errors name a sub-request. */
function subName(sub: SearchRequest, i: number): string {
  const field = sub.search_params?.find((kv) => kv.key === 'anns_field')?.value;
  return `search request ${i}${field ? ` (anns_field ${clip(field, 128)})` : ''}`;
}

/** Runs `fn`, prefixing the message of what it throws with the sub-request it was about. */
function naming<T>(sub: SearchRequest, i: number, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const k = toKiteError(e);
    throw new KiteError(k.kind, `${subName(sub, i)}: ${k.message}`, { cause: e, retriable: k.retriable });
  }
}

/**
 * HybridSearch: each sub-request runs through the Search path (runSearch) with its own field, filter, params and
 * limit; the hits are fused per query vector by the ranker (rank_params strategy rrf | weighted, or function_score;
 * RRF with k = 60 when neither names one), then the fused list is paged by the request's offset and limit. Output
 * fields are carried from the sub-search that first returned each hit.
 */
export function hybridHandlers(core: ProxyCore): Handlers {
  const { cfg } = core;
  return {
    async HybridSearch(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      ensureLoaded(c);
      const requests = r.requests ?? [];
      if (requests.length === 0) throw new KiteError('ParameterInvalid', 'a hybrid search needs at least one search request (requests is empty)');
      if (requests.length > MAX_HYBRID_REQUESTS) {
        throw new KiteError('ParameterInvalid', `maximum of ann search requests is ${MAX_HYBRID_REQUESTS}, got ${requests.length}`);
      }
      subRequests.observe(requests.length);
      const rank = rankParamsOf(r.rank_params ?? [], MAX_TOPK);
      const fromFunction = functionScoreOf(c, r.function_score);
      if (fromFunction && rank.reranker) {
        throw new KiteError('ParameterInvalid', 'the hybrid search names a ranker twice (rank_params strategy and function_score): keep one of them');
      }
      const reranker = fromFunction ?? rank.reranker ?? rrfRanker();
      if (reranker.inputs !== undefined && reranker.inputs !== requests.length) {
        throw new KiteError('ParameterInvalid', `the length of weights param mismatch with ann search requests: ${reranker.inputs} weights for ${requests.length} search requests; give one weight per request`);
      }
      const { limit, offset, roundDecimal } = rank;
      const maxResults = cfg.proxy.maxSearchResults;
      const plans = requests.map((sub, i) => planSubSearch(c, sub, i, limit + offset, maxResults));
      const nq = plans[0]!.nq;
      plans.forEach((p, i) => {
        if (p.nq !== nq) throw new KiteError('ParameterInvalid', `search request ${i} has ${p.nq} query vectors and search request 0 has ${nq}: every search request of a hybrid search needs the same nq`);
      });
      // The proxy holds every sub-search's hits at once: bound them together, as one search's are.
      const held = plans.reduce((n, p) => n + p.nq * p.topk, 0);
      if (held > maxResults) {
        throw new KiteError('ParameterInvalid', `the search requests ask for ${held} hits in all (nq x limit summed over requests): a hybrid search holds at most ${maxResults} (proxy.maxSearchResults); lower the requests' limits or send fewer query vectors`);
      }
      if (nq * (limit + offset) > maxResults) {
        throw new KiteError('ParameterInvalid', `nq x (limit + offset) is ${nq * (limit + offset)}: one search returns at most ${maxResults} hits (proxy.maxSearchResults); send fewer queries per request or a smaller limit`);
      }
      const filters = plans.map((p, i) => naming(requests[i]!, i, () => checkFilter(core, c, p.filter, requests[i]!.expr_template_values).shipped));
      const partitions = readPartitions(core, c, r.partition_names);
      const out = outputsOf(c, r.output_fields ?? [], true);
      const pkf = primaryField(c);
      withPrimaryKey(out, pkf.name);
      // Every sub-search carries the output columns of its hits.
      checkVectorReplySize(c, out.columns, nq * Math.max(limit, ...plans.map((p) => p.topk)), cfg.proxy.maxSendMessageBytes);
      const deadline = ctx.deadline;
      const offsets = await minOffsets(core, c, consistency(c, r), deadline);
      const columns = withRankInput(out.columns, reranker);
      const hits = await Promise.all(plans.map((plan, i) => runSearch(core, c, plan, { filter: filters[i]!, partitions, columns, offsets, deadline, range: plan.extras.range })));
      return fusedResults(
        c,
        plans.map((p, i) => ({ hits: hits[i]!, metric: p.metric, roundDecimal: p.roundDecimal })),
        { nq, limit, offset, roundDecimal, reranker },
        out,
        pkf,
      );
    },
  };
}
