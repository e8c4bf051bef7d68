"""LangChain's Milvus vector store (langchain-milvus 0.4 with pymilvus 3, test/python/requirements-langchain.txt,
run by scripts/test-python.sh in its own virtualenv) against the server under test, in its hybrid mode: a dense field filled from an embedding model and a sparse field filled by Milvus's BM25
function (`BM25BuiltInFunction`), searched together with an RRF or a weighted ranker.

No network model: DeterministicFakeEmbedding maps each text to a fixed pseudo-random vector, so the dense side finds a
text exactly (distance 0) and nothing else by meaning; the BM25 side finds the documents that share words with the
query. What LangChain sends (read from langchain_milvus 0.4.0): CreateCollection with a VarChar primary key `pk`, a
VarChar `text` with enable_analyzer, FloatVector `dense`, SparseFloatVector `sparse`, the metadata keys as fields and a
BM25 function text -> sparse; CreateIndex AUTOINDEX/L2 on dense and AUTOINDEX/BM25 on sparse; DescribeCollection,
DescribeIndex, LoadCollection; Insert; HybridSearch with one AnnSearchRequest per field (dense: the query embedding,
sparse: the raw query text; limit fetch_k, the same expr on both) and RRFRanker(k) or WeightedRanker(w1, w2); Search on
the sparse field with the raw text when BM25 is the only field; Delete with `pk in [...]`; Query.
"""

from __future__ import annotations

import uuid

import pytest

from optional_packages import require

require("langchain", "langchain_milvus", "langchain_core")

from langchain_core.embeddings import DeterministicFakeEmbedding  # noqa: E402
from langchain_milvus import BM25BuiltInFunction, Milvus  # noqa: E402

TEXTS = [
    ("Kite stores vectors in segments and replays its write-ahead log after a crash", "docs"),
    ("The quick brown fox jumps over the lazy dog", "misc"),
    ("Hybrid search fuses dense and sparse results with reciprocal rank fusion", "docs"),
    ("BM25 ranks documents by term frequency and inverse document frequency", "docs"),
    ("Bananas are rich in potassium and taste sweet", "misc"),
    ("An etcd cluster keeps the coordinator metadata consistent", "ops"),
]


def lite_params(target_server, dense: bool) -> dict:
    """LangChain's defaults (AUTOINDEX on both fields), except against milvus-lite, which refuses AUTOINDEX on sparse
    fields (docs/milvus-wire-notes.md): there the index is named, with search params given, since LangChain's
    defaults for SPARSE_INVERTED_INDEX carry drop_ratio_build, which milvus-lite refuses at search time."""
    if target_server.name != "milvus-lite":
        return {}
    bm25 = {"metric_type": "BM25", "index_type": "SPARSE_INVERTED_INDEX", "params": {}}
    dense_index = {"metric_type": "L2", "index_type": "AUTOINDEX", "params": {}}
    search = [{"metric_type": "L2", "params": {}}, {"metric_type": "BM25", "params": {}}]
    if dense:
        return {"index_params": [dense_index, bm25], "search_params": search}
    return {"index_params": bm25, "search_params": search[1]}


@pytest.fixture
def store(target_server):
    name = f"lc_{uuid.uuid4().hex[:12]}"
    s = Milvus(
        embedding_function=DeterministicFakeEmbedding(size=16),
        builtin_function=BM25BuiltInFunction(),
        vector_field=["dense", "sparse"],
        **lite_params(target_server, True),
        connection_args={"uri": target_server.uri},
        collection_name=name,
        drop_old=True,
    )
    ids = s.add_texts([t for t, _ in TEXTS], metadatas=[{"source": src} for _, src in TEXTS],
                      ids=[f"doc-{i}" for i in range(len(TEXTS))])
    assert ids == [f"doc-{i}" for i in range(len(TEXTS))]
    try:
        yield s
    finally:
        try:
            s.client.drop_collection(name)
        except Exception:
            pass


@pytest.mark.parametrize(
    "ranker_type,ranker_params", [("rrf", {"k": 60}), ("rrf", {}), ("weighted", {"weights": [0.5, 0.5]})],
    ids=["rrf60", "rrf-default", "weighted"],
)
def test_langchain_hybrid_search_finds_the_exact_and_the_keyword_document(store: Milvus, ranker_type, ranker_params):
    # The exact text of a document: first on both sides, so first after fusion.
    query = TEXTS[2][0]
    docs = store.similarity_search(query, k=3, ranker_type=ranker_type, ranker_params=ranker_params)
    assert docs[0].page_content == query
    assert docs[0].metadata["source"] == "docs"
    assert len(docs) == 3
    assert len({d.metadata["pk"] for d in docs}) == 3

    # A keyword only one document holds, in a query no document equals: only BM25 finds it; with the sparse side
    # weighted over the (meaningless) dense side it comes first.
    docs = store.similarity_search("potassium", k=2, ranker_type="weighted", ranker_params={"weights": [0.1, 1.0]})
    assert docs[0].metadata["pk"] == "doc-4"

    # The same expression filters both requests.
    docs = store.similarity_search("frequency fusion segments", k=6, expr='source == "docs"',
                                   ranker_type=ranker_type, ranker_params=ranker_params)
    assert {d.metadata["pk"] for d in docs} == {"doc-0", "doc-2", "doc-3"}

    with_scores = store.similarity_search_with_score(query, k=2, ranker_type=ranker_type, ranker_params=ranker_params)
    assert with_scores[0][0].page_content == query
    assert with_scores[0][1] >= with_scores[1][1]  # fused scores, larger is better


def test_langchain_delete(store: Milvus):
    query = TEXTS[3][0]
    assert store.similarity_search(query, k=1, ranker_type="rrf")[0].metadata["pk"] == "doc-3"
    store.delete(ids=["doc-3"])
    # The BM25 side (fetch_k = 4 per request) still finds the three other documents with the word "and".
    docs = store.similarity_search(query, k=6, ranker_type="rrf")
    pks = {d.metadata["pk"] for d in docs}
    assert "doc-3" not in pks
    assert {"doc-0", "doc-2", "doc-4"} <= pks

    # Lookups by expression (Query) no longer see it either.
    assert sorted(store.get_pks('pk in ["doc-0", "doc-3"]')) == ["doc-0"]
    # With its default fields LangChain asks Query for every schema field, the BM25 output included, which Milvus
    # refuses ("not allowed to retrieve raw data of field sparse"; LangChain logs it and returns nothing): name them.
    found = store.search_by_metadata('source == "docs"', fields=["pk", "source", "text"])
    assert {d.metadata["pk"] for d in found} == {"doc-0", "doc-2"}


def test_langchain_full_text_only_store(target_server):
    """BM25 as the only field: LangChain searches the sparse field with the raw query text (Search, metric BM25)."""
    name = f"lc_{uuid.uuid4().hex[:12]}"
    s = Milvus(
        embedding_function=None,
        builtin_function=BM25BuiltInFunction(),
        vector_field="sparse",
        **lite_params(target_server, False),
        connection_args={"uri": target_server.uri},
        collection_name=name,
        drop_old=True,
    )
    try:
        s.add_texts([t for t, _ in TEXTS], metadatas=[{"source": src} for _, src in TEXTS],
                    ids=[f"doc-{i}" for i in range(len(TEXTS))])
        docs = s.similarity_search("inverse document frequency", k=2)
        assert docs[0].metadata["pk"] == "doc-3"
        docs = s.similarity_search("etcd coordinator", k=3)
        assert [d.metadata["pk"] for d in docs] == ["doc-5"]  # only rows sharing a term come back
    finally:
        try:
            s.client.drop_collection(name)
        except Exception:
            pass
