"""LlamaIndex's Milvus vector store (llama-index-vector-stores-milvus, test/python/requirements-llamaindex.txt) against
the server under test with enable_sparse=True, in its hybrid query mode.

With enable_sparse=True and no sparse_embedding_function, llama-index-vector-stores-milvus 1.2.0 uses its own
BM25BuiltInFunction (Milvus's BM25 function on `text`, output `sparse_embedding`). What it sends: CreateCollection
with enable_dynamic_field, a VarChar primary key `id`, VarChar `doc_id`, VarChar `text` with enable_analyzer,
FloatVector `embedding`, SparseFloatVector `sparse_embedding` and the BM25 function, and the indexes with it (FLAT with
the dense metric, IP by default; SPARSE_INVERTED_INDEX/BM25); Insert (node metadata in the dynamic field); HybridSearch
with a dense AnnSearchRequest (metric IP, params from search_config) and a BM25 one with the raw query text (limit
similarity_top_k each, the metadata filter as expr on both) and RRFRanker(k=60) or WeightedRanker(w1, w2); Query then
Delete by doc_id (`doc_id in ["..."]`). No network model: the nodes carry their embeddings, or MockEmbedding gives
every text the same vector.
"""

from __future__ import annotations

import uuid

import pytest

from optional_packages import require

require("llamaindex", "llama_index.vector_stores.milvus", "llama_index.core")

from llama_index.core import StorageContext, VectorStoreIndex  # noqa: E402
from llama_index.core.embeddings import MockEmbedding  # noqa: E402
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode  # noqa: E402
from llama_index.core.vector_stores.types import (  # noqa: E402
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from llama_index.vector_stores.milvus import MilvusVectorStore  # noqa: E402

DIM = 8
TEXTS = [
    ("Kite stores vectors in segments and replays its write-ahead log after a crash", "docs"),
    ("The quick brown fox jumps over the lazy dog", "misc"),
    ("Hybrid search fuses dense and sparse results with reciprocal rank fusion", "docs"),
    ("BM25 ranks documents by term frequency and inverse document frequency", "docs"),
    ("Bananas are rich in potassium and taste sweet", "misc"),
    ("An etcd cluster keeps the coordinator metadata consistent", "ops"),
]


def one_hot(i: int) -> list[float]:
    v = [0.05] * DIM
    v[i % DIM] = 1.0
    return v


def make_store(target_server, **kwargs) -> MilvusVectorStore:
    return MilvusVectorStore(
        uri=target_server.uri,
        collection_name=f"li_{uuid.uuid4().hex[:12]}",
        dim=DIM,
        overwrite=True,
        enable_sparse=True,
        use_async_client=False,
        **kwargs,
    )


def nodes() -> list[TextNode]:
    out = []
    for i, (text, source) in enumerate(TEXTS):
        node = TextNode(text=text, id_=f"node-{i}", embedding=one_hot(i), metadata={"source": source})
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=f"doc-{i}")
        out.append(node)
    return out


@pytest.mark.parametrize(
    "ranker,params", [("RRFRanker", {}), ("RRFRanker", {"k": 10}), ("WeightedRanker", {"weights": [0.5, 0.5]})],
    ids=["rrf-default", "rrf10", "weighted"],
)
def test_llamaindex_hybrid_query_and_delete(target_server, ranker, params):
    store = make_store(target_server, hybrid_ranker=ranker, hybrid_ranker_params=dict(params))
    try:
        assert store.add(nodes()) == [f"node-{i}" for i in range(len(TEXTS))]

        # Dense and BM25 agree on node-3 (its own embedding; its words).
        q = VectorStoreQuery(query_str="inverse document frequency", query_embedding=one_hot(3),
                             similarity_top_k=3, mode=VectorStoreQueryMode.HYBRID)
        res = store.query(q)
        assert res.ids[0] == "node-3"
        assert res.nodes[0].get_content() == TEXTS[3][0]
        assert len(res.ids) == len(set(res.ids)) <= 3
        assert res.similarities == sorted(res.similarities, reverse=True)

        # A metadata filter goes to both requests.
        q = VectorStoreQuery(query_str="segments fusion frequency", query_embedding=one_hot(1), similarity_top_k=6,
                             mode=VectorStoreQueryMode.HYBRID,
                             filters=MetadataFilters(filters=[MetadataFilter(key="source", value="docs",
                                                                             operator=FilterOperator.EQ)]))
        assert set(store.query(q).ids) == {"node-0", "node-2", "node-3"}

        # Delete by the source document's id.
        store.delete("doc-3")
        q = VectorStoreQuery(query_str="inverse document frequency", query_embedding=one_hot(3),
                             similarity_top_k=6, mode=VectorStoreQueryMode.HYBRID)
        assert "node-3" not in store.query(q).ids
    finally:
        store.client.drop_collection(store.collection_name)


def test_llamaindex_index_with_mock_embedding_hybrid_retriever(target_server):
    """Through VectorStoreIndex with MockEmbedding (every text the same vector): the BM25 side decides, so the only
    document holding the query word comes first under RRF."""
    store = make_store(target_server)
    try:
        index = VectorStoreIndex(
            nodes=[TextNode(text=t, id_=f"n{i}", metadata={"source": s}) for i, (t, s) in enumerate(TEXTS)],
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=MockEmbedding(embed_dim=DIM),
        )
        retriever = index.as_retriever(vector_store_query_mode="hybrid", similarity_top_k=len(TEXTS))
        got = retriever.retrieve("potassium")
        assert got[0].node.node_id == "n4"
        assert got[0].node.metadata["source"] == "misc"
    finally:
        store.client.drop_collection(store.collection_name)
