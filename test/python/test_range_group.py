"""Range search, grouping search and search by primary keys through pymilvus, unchanged.

Every answer is compared with a brute-force computation in numpy over the rows that should be visible: two shards,
sealed and growing rows, and deletes. FLAT must be exact; IVF and HNSW must return only hits inside the range, best
first, with a high recall.
"""

from __future__ import annotations

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

DIM = 8
N = 1200


def higher_is_better(metric: str) -> bool:
    return metric != "L2"


def scores_of(metric: str, data: np.ndarray, q: np.ndarray) -> np.ndarray:
    if metric == "L2":
        return ((data - q) ** 2).sum(axis=1)
    if metric == "IP":
        return data @ q
    dn = data / np.linalg.norm(data, axis=1, keepdims=True)
    return dn @ (q / np.linalg.norm(q))


def make(client: MilvusClient, name: str, index_type: str, metric: str, params: dict):
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("g", DataType.INT64)
    schema.add_field("tag", DataType.VARCHAR, max_length=16)
    schema.add_field("flag", DataType.BOOL)
    schema.add_field("f", DataType.FLOAT)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type=index_type, metric_type=metric, params=params)
    client.create_collection(name, schema=schema, index_params=index, num_shards=2, consistency_level="Strong")
    rnd = np.random.default_rng(7)
    vecs = rnd.normal(size=(N, DIM)).astype(np.float32)
    rows = [
        {"pk": i, "g": i % 37, "tag": f"t{i % 11}", "flag": i % 2 == 0, "f": float(i), "vector": vecs[i].tolist()}
        for i in range(N)
    ]
    half = N // 2
    client.insert(name, rows[:half])
    client.flush(name)  # sealed segments, then growing rows
    client.insert(name, rows[half:])
    deleted = list(range(0, N, 13))
    client.delete(name, ids=deleted)
    client.load_collection(name)
    alive = np.array([i for i in range(N) if i % 13 != 0])
    return vecs, alive


CASES = [
    ("FLAT", "L2", {}, {}),
    ("FLAT", "IP", {}, {}),
    ("FLAT", "COSINE", {}, {}),
    ("HNSW", "L2", {"M": 16, "efConstruction": 200}, {"ef": 64}),
    ("IVF_FLAT", "IP", {"nlist": 16}, {"nprobe": 16}),
    ("HNSW", "COSINE", {"M": 16, "efConstruction": 200}, {"ef": 64}),
]


def gap_threshold(sorted_scores: np.ndarray, at: int) -> float:
    """A threshold between two neighbouring scores (so float32 vs float64 rounding cannot move a row across it)."""
    return float((sorted_scores[at] + sorted_scores[at + 1]) / 2)


@pytest.mark.parametrize("index_type,metric,build,search", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_range_search_matches_brute_force(client: MilvusClient, collection_name: str, index_type, metric, build, search):
    vecs, alive = make(client, collection_name, index_type, metric, build)
    rnd = np.random.default_rng(3)
    exact = index_type == "FLAT"
    for qi in range(3):
        q = (vecs[rnd.integers(N)] + rnd.normal(scale=0.3, size=DIM)).astype(np.float32)
        s = scores_of(metric, vecs[alive].astype(np.float64), q.astype(np.float64))
        better = higher_is_better(metric)
        order = np.argsort(-s if better else s, kind="stable")
        ranked = s[order]
        # The range keeps ranks [20, 140): range_filter excludes the 20 best, radius everything after rank 140.
        range_filter = gap_threshold(ranked, 19)
        radius = gap_threshold(ranked, 139)
        want = [int(alive[i]) for i in order[20:140]]
        for limit in (10, 120, 200):
            res = client.search(
                collection_name, data=[q.tolist()], limit=limit, output_fields=["g"],
                search_params={"metric_type": metric, "params": {"radius": radius, "range_filter": range_filter, **search}},
            )[0]
            got = [h["pk"] for h in res]
            dist = [h["distance"] for h in res]
            assert len(got) == len(set(got))
            for d in dist:
                assert (radius < d <= range_filter) if better else (range_filter <= d < radius), (d, radius, range_filter)
            assert dist == sorted(dist, reverse=better)
            assert all(i % 13 != 0 for i in got), "a deleted row was returned"
            expected = want[: min(limit, len(want))]
            if exact:
                assert got == expected, f"query {qi} limit {limit}"
            else:
                recall = len(set(got) & set(expected)) / len(expected)
                assert recall >= 0.8, f"query {qi} limit {limit}: recall {recall}"
        # radius alone: everything better than radius, best first.
        res = client.search(collection_name, data=[q.tolist()], limit=50, search_params={"metric_type": metric, "params": {"radius": radius, **search}})[0]
        if exact:
            assert [h["pk"] for h in res] == [int(alive[i]) for i in order[:50]]


def test_range_search_validation(client: MilvusClient, collection_name: str):
    make(client, collection_name, "FLAT", "L2", {})
    q = [[0.1] * DIM]
    with pytest.raises(MilvusException) as err:
        client.search(collection_name, data=q, limit=5, search_params={"params": {"radius": 1.0, "range_filter": 2.0}})
    assert "range_filter must be less than radius" in err.value.message
    with pytest.raises(MilvusException) as err:
        client.search(collection_name, data=q, limit=5, search_params={"params": {"range_filter": 2.0}})
    assert "range_filter" in err.value.message and "radius" in err.value.message
    with pytest.raises(MilvusException) as err:
        client.search(collection_name, data=q, limit=5, search_params={"params": {"radius": "far"}})
    assert "radius" in err.value.message


def test_range_search_ip_validation(client: MilvusClient, collection_name: str):
    make(client, collection_name, "FLAT", "IP", {})
    with pytest.raises(MilvusException) as err:
        client.search(collection_name, data=[[0.1] * DIM], limit=5, search_params={"params": {"radius": 2.0, "range_filter": 1.0}})
    assert "range_filter must be greater than radius" in err.value.message


def brute_groups(metric, vecs, alive, q, field_of, limit, size, offset=0):
    s = scores_of(metric, vecs[alive].astype(np.float64), q.astype(np.float64))
    order = np.argsort(-s if higher_is_better(metric) else s, kind="stable")
    groups: dict = {}
    for i in order:
        pk = int(alive[i])
        v = field_of(pk)
        if v not in groups:
            if len(groups) >= limit + offset:
                continue
            groups[v] = []
        if len(groups[v]) < size:
            groups[v].append(pk)
    return list(groups.items())[offset:]


@pytest.mark.parametrize("field,of", [("g", lambda pk: pk % 37), ("tag", lambda pk: f"t{pk % 11}"), ("flag", lambda pk: pk % 2 == 0)], ids=["int64", "varchar", "bool"])
@pytest.mark.parametrize("metric", ["L2", "IP"])
def test_grouping_search_matches_brute_force(client: MilvusClient, collection_name: str, field, of, metric):
    vecs, alive = make(client, collection_name, "FLAT", metric, {})
    q = vecs[5] + 0.1
    for limit, size, offset, strict in ((5, 1, 0, False), (4, 3, 0, True), (3, 2, 2, False), (50, 2, 0, True)):
        kwargs = {"group_by_field": field, "group_size": size, "strict_group_size": strict}
        if offset:
            kwargs["offset"] = offset
        res = client.search(collection_name, data=[q.tolist()], limit=limit, output_fields=[field], **kwargs)[0]
        want = brute_groups(metric, vecs, alive, q, of, limit, size, offset)
        got: dict = {}
        for h in res:
            got.setdefault(h["entity"][field], []).append(h["pk"])
        assert list(got.items()) == want, (limit, size, offset)
    # Several query vectors in one request: each gets its own groups.
    qs = [vecs[5] + 0.1, vecs[900] - 0.2, vecs[77]]
    res = client.search(collection_name, data=[x.tolist() for x in qs], limit=4, output_fields=[field], group_by_field=field, group_size=3)
    assert len(res) == 3
    for x, hits in zip(qs, res):
        got = {}
        for h in hits:
            got.setdefault(h["entity"][field], []).append(h["pk"])
        assert list(got.items()) == brute_groups(metric, vecs, alive, x, of, 4, 3)


def test_grouping_search_refuses_other_field_types(client: MilvusClient, collection_name: str):
    make(client, collection_name, "FLAT", "L2", {})
    with pytest.raises(MilvusException) as err:
        client.search(collection_name, data=[[0.1] * DIM], limit=5, group_by_field="f")
    msg = err.value.message
    assert "f" in msg and "Int64" in msg and "VarChar" in msg and "Bool" in msg
    with pytest.raises(MilvusException) as err:
        client.search(collection_name, data=[[0.1] * DIM], limit=5, group_by_field="nope")
    assert "nope" in err.value.message


def test_search_by_primary_keys(client: MilvusClient, collection_name: str):
    vecs, alive = make(client, collection_name, "FLAT", "L2", {})
    ids = [int(alive[3]), int(alive[700]), int(alive[5])]
    res = client.search(collection_name, ids=ids, limit=5, output_fields=["g"])
    assert len(res) == 3
    for pk, hits in zip(ids, res):
        s = scores_of("L2", vecs[alive].astype(np.float64), vecs[pk].astype(np.float64))
        want = [int(alive[i]) for i in np.argsort(s, kind="stable")[:5]]
        assert [h["pk"] for h in hits] == want
        assert hits[0]["pk"] == pk
    with pytest.raises(MilvusException) as err:
        client.search(collection_name, ids=[13, 1], limit=5)  # 13 is deleted
    assert "13" in err.value.message


def test_search_by_varchar_primary_keys_with_filter(client: MilvusClient, collection_name: str):
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=16)
    schema.add_field("n", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="COSINE")
    client.create_collection(collection_name, schema=schema, index_params=index, num_shards=2, consistency_level="Strong")
    rnd = np.random.default_rng(9)
    vecs = rnd.normal(size=(300, DIM)).astype(np.float32)
    client.insert(collection_name, [{"pk": f"k{i}", "n": i, "vector": vecs[i].tolist()} for i in range(300)])
    client.load_collection(collection_name)
    # The filter applies to the hits, not to finding the rows whose vectors are the queries.
    res = client.search(collection_name, ids=["k7", "k250"], limit=3, filter="n % 2 == 1", output_fields=["n"])
    for pk, hits in zip([7, 250], res):
        s = scores_of("COSINE", vecs.astype(np.float64), vecs[pk].astype(np.float64))
        want = [f"k{i}" for i in np.argsort(-s, kind="stable") if i % 2 == 1][:3]
        assert [h["pk"] for h in hits] == want
    with pytest.raises(MilvusException) as err:
        client.search(collection_name, ids=["k7", "nope"], limit=3)
    assert "nope" in err.value.message
