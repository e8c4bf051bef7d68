"""SparseFloatVector and BM25 full-text search through pymilvus, unchanged.

Sparse rows go in as pymilvus's forms (dict, list of (index, value) pairs, scipy CSR rows when scipy is installed);
searches on growing and sealed data, with both sparse index types, filters, deletes and drop_ratio_search, are
checked against brute force. BM25 collections are built with pymilvus's Function(FunctionType.BM25) and their
scores checked against a reference computation of Milvus's formula.
"""

from __future__ import annotations

import math
import random
import re
import time

import pytest
from pymilvus import DataType, Function, FunctionType, MilvusClient
from pymilvus.exceptions import MilvusException

VOCAB = 200


def make_sparse_rows(start: int, n: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    rows = []
    for i in range(start, start + n):
        nnz = rnd.randrange(0, 10)
        idx = rnd.sample(range(VOCAB), nnz)
        # float32-exact values, so the server's copy equals ours
        sv = {k: float(int(rnd.uniform(0.05, 1.0) * 1024) / 1024) for k in idx}
        rows.append({"id": i, "tag": i % 50, "sv": sv})
    return rows


def in_form(sv: dict, i: int):
    """Row i in one of pymilvus's sparse forms: a dict, or a list of (index, value) pairs in reverse order."""
    if i % 2 == 0:
        return dict(sv)
    return sorted(sv.items(), reverse=True)


def brute_force(rows, q: dict, k: int, keep=lambda r: True):
    out = []
    for r in rows:
        if not keep(r):
            continue
        common = set(q) & set(r["sv"])
        if common:
            out.append((r["id"], sum(q[t] * r["sv"][t] for t in common)))
    out.sort(key=lambda x: (-x[1], x[0]))
    return out[:k]


def drop_smallest(q: dict, ratio: float) -> dict:
    items = sorted(q.items())
    order = sorted(range(len(items)), key=lambda i: (abs(items[i][1]), i))
    keep = set(order[int(len(items) * ratio):])
    return {items[i][0]: items[i][1] for i in range(len(items)) if i in keep}


def wait_flushed_and_indexed(client: MilvusClient, name: str, field: str) -> None:
    client.flush(name)
    deadline = time.time() + 90
    while time.time() < deadline:
        info = client.describe_index(name, index_name=field)
        if info.get("state") == "Finished" and int(info.get("pending_index_rows", 0)) == 0:
            return
        time.sleep(0.25)
    raise AssertionError(f"index on {name}.{field} not built in time: {info}")


def assert_matches(got_hits, want, what: str) -> None:
    assert [h["id"] for h in got_hits] == [w[0] for w in want], what
    for h, w in zip(got_hits, want):
        assert math.isclose(h["distance"], w[1], rel_tol=1e-5, abs_tol=1e-5), what


def test_sparse_end_to_end(client: MilvusClient, collection_name: str):
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("tag", DataType.INT64)
    schema.add_field("sv", DataType.SPARSE_FLOAT_VECTOR)
    client.create_collection(collection_name, schema=schema, consistency_level="Strong")
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="sv", index_type="SPARSE_INVERTED_INDEX", metric_type="IP", params={"drop_ratio_build": 0})
    client.create_index(collection_name, index_params)
    client.load_collection(collection_name)

    rows = make_sparse_rows(0, 500, 1)
    client.insert(collection_name, [{**r, "sv": in_form(r["sv"], i)} for i, r in enumerate(rows)])
    live = {r["id"]: r for r in rows}
    queries = [r["sv"] for r in make_sparse_rows(0, 10, 2) if r["sv"]]

    def check(what: str, k: int = 10, flt: str = "", keep=lambda r: True, ratio: float = 0.0):
        params = {"metric_type": "IP", "params": {"drop_ratio_search": ratio}} if ratio else {"metric_type": "IP"}
        res = client.search(collection_name, data=queries, anns_field="sv", limit=k, filter=flt, search_params=params, output_fields=["id"])
        for qi, q in enumerate(queries):
            want = brute_force(live.values(), drop_smallest(q, ratio) if ratio else q, k, keep)
            assert_matches(res[qi], want, f"{what}, query {qi}")

    check("growing")
    check("growing, filtered", flt="tag < 20", keep=lambda r: r["tag"] < 20)

    wait_flushed_and_indexed(client, collection_name, "sv")
    more = make_sparse_rows(1000, 200, 3)
    client.insert(collection_name, more)
    live.update({r["id"]: r for r in more})
    check("sealed + growing")
    gone = [i for i in live if i % 5 == 0]
    client.delete(collection_name, ids=gone)
    for i in gone:
        del live[i]
    check("after deletes")
    check("drop_ratio_search 0.4", ratio=0.4)

    # The sparse field comes back as pymilvus reads it: {index: value}.
    got = client.query(collection_name, filter="id in [1, 2, 3]", output_fields=["sv"])
    for r in got:
        assert {int(k): v for k, v in r["sv"].items()} == live[r["id"]]["sv"]

    # SPARSE_WAND gives the same answer.
    client.release_collection(collection_name)
    client.drop_index(collection_name, "sv")
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="sv", index_type="SPARSE_WAND", metric_type="IP")
    client.create_index(collection_name, index_params)
    client.load_collection(collection_name)
    wait_flushed_and_indexed(client, collection_name, "sv")
    check("SPARSE_WAND")
    check("SPARSE_WAND, filtered", flt="tag >= 25", keep=lambda r: r["tag"] >= 25)

    # Bad input: the server names the field.
    with pytest.raises(MilvusException, match=r'field "sv": row 0: unsorted or same indices in sparse float vector'):
        client.insert(collection_name, [{"id": 9001, "tag": 1, "sv": [(3, 0.5), (3, 0.25)]}])
    with pytest.raises(MilvusException, match=r'field "sv": row 0: the value at index 4 is Infinity'):
        client.insert(collection_name, [{"id": 9002, "tag": 1, "sv": {4: float("inf")}}])
    with pytest.raises(MilvusException, match=r"drop_ratio_search .* must be in range \[0, 1\)"):
        client.search(collection_name, data=[queries[0]], anns_field="sv", limit=3, search_params={"params": {"drop_ratio_search": 2}})
    with pytest.raises(MilvusException, match=r"metric type not match"):
        client.search(collection_name, data=[queries[0]], anns_field="sv", limit=3, search_params={"metric_type": "COSINE"})


def test_sparse_scipy_csr_rows(client: MilvusClient, collection_name: str):
    import scipy.sparse as sp  # requirements.txt: the CSR form pymilvus accepts
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("sv", DataType.SPARSE_FLOAT_VECTOR)
    client.create_collection(collection_name, schema=schema, consistency_level="Strong")
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="sv", index_type="AUTOINDEX", metric_type="IP")
    client.create_index(collection_name, index_params)
    client.load_collection(collection_name)
    m = sp.csr_matrix(([0.5, 0.25, 1.0], ([0, 0, 1], [3, 7, 3])), shape=(2, 10))
    client.insert(collection_name, [{"id": 0, "sv": m[0]}, {"id": 1, "sv": m[1]}])
    res = client.search(collection_name, data=[{3: 1.0}], anns_field="sv", limit=5)
    assert [(h["id"], h["distance"]) for h in res[0]] == [(1, 1.0), (0, 0.5)]


# ---------------------------------------------------------------------------------------------------------- BM25

def std_terms(text: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]


def bm25_reference(docs: dict[int, list[str]], query: list[str], k1: float, b: float) -> dict[int, float]:
    n = len(docs)
    avgdl = sum(len(d) for d in docs.values()) / n
    qc: dict[str, int] = {}
    for t in query:
        qc[t] = qc.get(t, 0) + 1
    df = {t: sum(1 for d in docs.values() if t in d) for t in qc}
    scores = {}
    for i, d in docs.items():
        s = 0.0
        hit = False
        for t, c in qc.items():
            tf = d.count(t)
            if tf:
                hit = True
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                s += c * idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl))
        if hit:
            scores[i] = s
    return scores


WORDS = ["vector", "database", "search", "sparse", "dense", "hybrid", "kite", "milvus", "index", "query", "text", "score"]


def bm25_schema(client: MilvusClient, analyzer: dict | None = None):
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    kwargs = {"enable_analyzer": True}
    if analyzer is not None:
        kwargs["analyzer_params"] = analyzer
    schema.add_field("text", DataType.VARCHAR, max_length=1000, **kwargs)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="text_bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]))
    return schema


@pytest.mark.parametrize("index_type", ["SPARSE_INVERTED_INDEX", "SPARSE_WAND"])
def test_bm25_scores_match_reference(client: MilvusClient, collection_name: str, index_type: str):
    client.create_collection(collection_name, schema=bm25_schema(client), consistency_level="Strong", num_shards=2)
    desc = client.describe_collection(collection_name)
    assert [f["name"] for f in desc["functions"]] == ["text_bm25"]
    assert desc["functions"][0]["input_field_names"] == ["text"]
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="sparse", index_type=index_type, metric_type="BM25", params={"bm25_k1": 1.5, "bm25_b": 0.6})
    client.create_index(collection_name, index_params)
    client.load_collection(collection_name)

    rnd = random.Random(7)
    docs = {i: " ".join(rnd.choice(WORDS) for _ in range(rnd.randrange(2, 12))) for i in range(60)}
    client.insert(collection_name, [{"id": i, "text": t} for i, t in docs.items() if i < 35])
    wait_flushed_and_indexed(client, collection_name, "sparse")
    client.insert(collection_name, [{"id": i, "text": t} for i, t in docs.items() if i >= 35])
    for i in (2, 5, 40, 41):
        del docs[i]
    client.delete(collection_name, ids=[2, 5, 40, 41])

    tokenized = {i: std_terms(t) for i, t in docs.items()}
    for q in ["vector search", "kite milvus milvus", "hybrid sparse dense index", "absent words only"]:
        res = client.search(collection_name, data=[q], anns_field="sparse", limit=8, search_params={"metric_type": "BM25"}, output_fields=["id"])
        ref = bm25_reference(tokenized, std_terms(q), 1.5, 0.6)
        want = sorted(ref.values(), reverse=True)[:8]
        got = res[0]
        assert [round(h["distance"], 4) for h in got] == [round(s, 4) for s in want], q
        for h in got:
            assert round(h["distance"], 4) == round(ref[h["id"]], 4), (q, h)

    # The output field is filled by the function: not accepted as input, not returned.
    with pytest.raises(MilvusException, match=r"sparse"):
        client.insert(collection_name, [{"id": 999, "text": "x", "sparse": {1: 1.0}}])
    with pytest.raises(MilvusException, match=r"not allowed to retrieve raw data of field sparse"):
        client.query(collection_name, filter="id == 1", output_fields=["sparse"])


def test_bm25_english_analyzer_and_errors(client: MilvusClient, collection_name: str):
    client.create_collection(collection_name, schema=bm25_schema(client, {"type": "english"}), consistency_level="Strong")
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="sparse", index_type="AUTOINDEX", metric_type="BM25")
    client.create_index(collection_name, index_params)
    client.load_collection(collection_name)
    client.insert(collection_name, [
        {"id": 1, "text": "the runner is running"},
        {"id": 2, "text": "she runs daily"},
        {"id": 3, "text": "a walk in the park"},
    ])
    res = client.search(collection_name, data=["run"], anns_field="sparse", limit=5)
    # "running" and "runs" stem to "run"; "runner" does not.
    assert sorted(h["id"] for h in res[0]) == [1, 2]

    bad = client.create_schema(auto_id=False)
    bad.add_field("id", DataType.INT64, is_primary=True)
    bad.add_field("text", DataType.VARCHAR, max_length=100)
    bad.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    bad.add_function(Function(name="f", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]))
    with pytest.raises(MilvusException, match=r'function "f": BM25 function input field "text" must set enable_analyzer to true'):
        client.create_collection(collection_name + "_bad", schema=bad)
