"""Hybrid search and rerank functions through pymilvus, unchanged.

A collection with two dense vector fields, each with its own index (FLAT / L2 and HNSW / IP), sealed and growing
rows in two partitions. `hybrid_search` with AnnSearchRequests fused by RRFRanker, WeightedRanker (with and without
norm_score) and a Function ranker, and `search` with a decay Function ranker, are compared with a brute-force run of
each sub-search fused here by Milvus's formulas (float32 as Milvus computes them, ties by primary key).
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from pymilvus import AnnSearchRequest, DataType, Function, FunctionScore, FunctionType, MilvusClient, RRFRanker, WeightedRanker
from pymilvus.client.abstract import BaseRanker
from pymilvus.exceptions import MilvusException

DIM_A = 8
DIM_B = 6
N_SEALED = 150
N_GROWING = 50
METRICS = {"dense_a": "L2", "dense_b": "IP"}
HNSW = {"ef": 400}
f32 = np.float32


def make_rows() -> list[dict]:
    rnd = random.Random(7)
    centres_a = [[rnd.uniform(-1, 1) for _ in range(DIM_A)] for _ in range(5)]
    centres_b = [[rnd.uniform(-1, 1) for _ in range(DIM_B)] for _ in range(5)]
    rows = []
    for i in range(N_SEALED + N_GROWING):
        a = centres_a[rnd.randrange(5)]
        b = centres_b[rnd.randrange(5)]
        rows.append(
            {
                "id": i + 1,
                "grp": i % 4,
                "ts": (i * 13) % 300,
                # float32 values, so that the server's copy and ours are equal bit for bit
                "dense_a": [float(f32(x + rnd.gauss(0, 0.3))) for x in a],
                "dense_b": [float(f32(x + rnd.gauss(0, 0.3))) for x in b],
                "partition": "p1" if i % 3 == 0 else "_default",
            }
        )
    return rows


ROWS = make_rows()
BY_ID = {r["id"]: r for r in ROWS}


def score(metric: str, q: list[float], v: list[float]) -> float:
    a = np.asarray(q, dtype=np.float64)
    b = np.asarray(v, dtype=np.float64)
    if metric == "L2":
        return float(f32(np.sum((a - b) ** 2)))
    return float(f32(np.dot(a, b)))


def sub_search(field: str, q: list[float], limit: int, keep=lambda r: True, partitions=None) -> tuple[str, list[tuple[int, float]]]:
    metric = METRICS[field]
    hits = [
        (r["id"], score(metric, q, r[field]))
        for r in ROWS
        if keep(r) and (partitions is None or r["partition"] in partitions)
    ]
    hits.sort(key=lambda h: (h[1] if metric == "L2" else -h[1], h[0]))
    return metric, hits[:limit]


def larger(metric: str) -> bool:
    return metric != "L2"


def atan01(d: float) -> float:
    return float(f32(1) - f32(f32(2) * f32(math.atan(d))) / f32(math.pi))


def norm(metric: str, s: float) -> float:
    if metric == "COSINE":
        return float(f32(f32(1) + f32(s)) * f32(0.5))
    if metric == "IP":
        return float(f32(0.5) + f32(f32(math.atan(s)) / f32(math.pi)))
    return atan01(s)


def fuse(lists, term, descending: bool, limit: int, offset: int) -> list[tuple[int, float]]:
    sums: dict[int, np.float32] = {}
    for i, (metric, hits) in enumerate(lists):
        for rank, (pk, s) in enumerate(hits):
            t = f32(term(i, metric, rank, s))
            sums[pk] = f32(sums[pk] + t) if pk in sums else t
    out = sorted(sums.items(), key=lambda kv: ((-kv[1] if descending else kv[1]), kv[0]))
    return [(pk, float(s)) for pk, s in out[offset : offset + limit]]


def rrf(lists, k: float, limit: int, offset: int = 0):
    return fuse(lists, lambda i, m, rank, s: f32(1) / f32(f32(k) + f32(rank + 1)), True, limit, offset)


def weighted(lists, weights, norm_score: bool, limit: int, offset: int = 0):
    n_larger = sum(1 for m, _ in lists if larger(m))
    mixed = 0 < n_larger < len(lists)

    def f(m, s):
        if norm_score:
            return norm(m, s)
        if mixed and not larger(m):
            return atan01(s)
        return float(f32(s))

    return fuse(lists, lambda i, m, rank, s: f32(weights[i]) * f32(f(m, s)), norm_score or mixed or n_larger == len(lists), limit, offset)


def check(got: list[dict], want: list[tuple[int, float]], what: str, tol: float = 1e-6) -> None:
    assert [h["id"] for h in got] == [pk for pk, _ in want], what
    for h, (_, s) in zip(got, want):
        assert abs(h["distance"] - s) <= tol, f"{what}: id {h['id']} score {h['distance']} != {s}"


@pytest.fixture(scope="module")
def hybrid(client: MilvusClient):
    name = "py_hybrid_multi_vector"
    if client.has_collection(name):
        client.drop_collection(name)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("grp", DataType.INT64)
    schema.add_field("ts", DataType.DOUBLE)
    schema.add_field("dense_a", DataType.FLOAT_VECTOR, dim=DIM_A)
    schema.add_field("dense_b", DataType.FLOAT_VECTOR, dim=DIM_B)
    client.create_collection(name, schema=schema, consistency_level="Strong")
    client.create_partition(name, "p1")

    def insert(rows):
        for part in ("_default", "p1"):
            data = [{k: v for k, v in r.items() if k != "partition"} for r in rows if r["partition"] == part]
            if data:
                client.insert(name, data, partition_name=part)

    insert(ROWS[:N_SEALED])
    client.flush(name)
    index = client.prepare_index_params()
    index.add_index("dense_a", index_type="FLAT", metric_type="L2")
    index.add_index("dense_b", index_type="HNSW", metric_type="IP", params={"M": 16, "efConstruction": 200})
    client.create_index(name, index, sync=True)
    client.load_collection(name)
    insert(ROWS[N_SEALED:])  # growing rows, searched with the sealed ones under Strong consistency
    yield name
    client.drop_collection(name)


QA = [float(f32(x + 0.05)) for x in ROWS[17]["dense_a"]]
QB = [float(f32(x - 0.05)) for x in ROWS[17]["dense_b"]]


def reqs(limit_a=10, limit_b=10, expr_a=None, expr_b=None, expr_params_b=None):
    return [
        AnnSearchRequest([QA], "dense_a", {"metric_type": "L2", "params": {}}, limit_a, expr=expr_a),
        AnnSearchRequest([QB], "dense_b", {"metric_type": "IP", "params": HNSW}, limit_b, expr=expr_b, expr_params=expr_params_b),
    ]


def test_each_field_has_its_own_index(client: MilvusClient, hybrid: str):
    assert sorted(client.list_indexes(hybrid)) == ["dense_a", "dense_b"]
    for field, q in (("dense_a", QA), ("dense_b", QB)):
        info = client.describe_index(hybrid, field)
        assert info["field_name"] == field and info["metric_type"] == METRICS[field]
        res = client.search(hybrid, [q], anns_field=field, limit=5, search_params={"params": HNSW if field == "dense_b" else {}})
        assert [h["id"] for h in res[0]] == [pk for pk, _ in sub_search(field, q, 5)[1]]


def test_rrf_with_filters_offset_and_output_fields(client: MilvusClient, hybrid: str):
    res = client.hybrid_search(
        hybrid,
        reqs(12, 9, "grp != 3", "ts >= {lo}", {"lo": 60}),
        RRFRanker(40),
        limit=6,
        offset=3,
        output_fields=["grp", "ts"],
        consistency_level="Strong",
    )
    want = rrf(
        [
            sub_search("dense_a", QA, 12, lambda r: r["grp"] != 3),
            sub_search("dense_b", QB, 9, lambda r: r["ts"] >= 60),
        ],
        40,
        6,
        3,
    )
    check(res[0], want, "RRFRanker(40)")
    for h in res[0]:
        row = BY_ID[h["id"]]
        assert (h["entity"]["grp"], h["entity"]["ts"]) == (row["grp"], row["ts"])


def test_weighted_ranker_normalises_by_default(client: MilvusClient, hybrid: str):
    res = client.hybrid_search(hybrid, reqs(15, 15), WeightedRanker(0.4, 0.9), limit=10)
    lists = [sub_search("dense_a", QA, 15), sub_search("dense_b", QB, 15)]
    check(res[0], weighted(lists, [0.4, 0.9], True, 10), "WeightedRanker(0.4, 0.9)")


def test_weighted_ranker_without_norm_score(client: MilvusClient, hybrid: str):
    res = client.hybrid_search(hybrid, reqs(10, 10), WeightedRanker(0.7, 0.2, norm_score=False), limit=8)
    lists = [sub_search("dense_a", QA, 10), sub_search("dense_b", QB, 10)]
    check(res[0], weighted(lists, [0.7, 0.2], False, 8), "WeightedRanker(norm_score=False)", tol=1e-5)


def test_partitions_and_round_decimal(client: MilvusClient, hybrid: str):
    res = client.hybrid_search(hybrid, reqs(8, 8), RRFRanker(), limit=5, partition_names=["p1"], round_decimal=3)
    want = rrf([sub_search("dense_a", QA, 8, partitions=["p1"]), sub_search("dense_b", QB, 8, partitions=["p1"])], 60, 5)
    assert [h["id"] for h in res[0]] == [pk for pk, _ in want]
    for h, (_, s) in zip(res[0], want):
        assert BY_ID[h["id"]]["partition"] == "p1"
        assert abs(h["distance"] - math.floor(s * 1000 + 0.5) / 1000) < 1e-6


def test_function_rankers(client: MilvusClient, hybrid: str):
    fn = Function(name="fused", function_type=FunctionType.RERANK, input_field_names=[], params={"reranker": "rrf", "k": 20})
    res = client.hybrid_search(hybrid, reqs(10, 10), fn, limit=7)
    check(res[0], rrf([sub_search("dense_a", QA, 10), sub_search("dense_b", QB, 10)], 20, 7), "Function rrf")

    fn = Function(
        name="weights",
        function_type=FunctionType.RERANK,
        input_field_names=[],
        params={"reranker": "weighted", "weights": [0.5, 0.5], "norm_score": True},
    )
    res = client.hybrid_search(hybrid, reqs(10, 10), fn, limit=7)
    lists = [sub_search("dense_a", QA, 10), sub_search("dense_b", QB, 10)]
    check(res[0], weighted(lists, [0.5, 0.5], True, 7), "Function weighted")


def test_decay_function_on_search(client: MilvusClient, hybrid: str):
    params = {"reranker": "decay", "function": "exp", "origin": 150, "scale": 60, "offset": 10, "decay": 0.4}
    fn = Function(name="recent", function_type=FunctionType.RERANK, input_field_names=["ts"], params=params)
    res = client.search(hybrid, [QA], anns_field="dense_a", limit=6, ranker=fn, output_fields=["ts"], offset=2)

    def factor(ts: float) -> float:
        d = max(0.0, abs(ts - params["origin"]) - params["offset"])
        return math.exp(math.log(params["decay"]) / params["scale"] * d)

    _, hits = sub_search("dense_a", QA, 8)  # Milvus reranks the first limit + offset hits, then pages
    fused = sorted(((pk, float(f32(f32(factor(BY_ID[pk]["ts"])) * f32(atan01(s))))) for pk, s in hits), key=lambda h: (-h[1], h[0]))
    check(res[0], fused[2:8], "decay exp", tol=1e-5)
    for h in res[0]:
        assert h["entity"]["ts"] == BY_ID[h["id"]]["ts"]
    # The same function wrapped in a FunctionScore, as pymilvus also takes it.
    again = client.search(hybrid, [QA], anns_field="dense_a", limit=6, ranker=FunctionScore(fn), output_fields=["ts"], offset=2)
    assert [(h["id"], h["distance"]) for h in again[0]] == [(h["id"], h["distance"]) for h in res[0]]


class BordaRanker(BaseRanker):
    def dict(self):
        return {"strategy": "borda", "params": {}}


@pytest.mark.parametrize(
    "ranker, pattern",
    [
        (WeightedRanker(0.2, 0.3, 0.5), "weights"),
        (WeightedRanker(0.2, 1.5), r"weights\[1\]"),
        (BordaRanker(), "borda"),
        (RRFRanker(0), r"\bk\b"),
        (RRFRanker(20000), r"\bk\b"),
        (Function(name="m", function_type=FunctionType.RERANK, input_field_names=["ts"], params={"reranker": "model", "provider": "tei"}), "model"),
        (Function(name="d", function_type=FunctionType.RERANK, input_field_names=["ts"], params={"reranker": "decay", "function": "exp", "origin": 1, "scale": 2, "sigma": 3}), "sigma"),
    ],
    ids=["weights-mismatch", "weight-range", "unknown-strategy", "k-zero", "k-too-large", "model", "unknown-decay-param"],
)
def test_bad_rankers_are_refused_by_name(client: MilvusClient, hybrid: str, ranker, pattern):
    with pytest.raises(MilvusException, match=pattern):
        client.hybrid_search(hybrid, reqs(5, 5), ranker, limit=5)
