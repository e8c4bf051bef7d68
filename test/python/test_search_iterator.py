"""search_iterator (v2, with its token and last bound; and the v1 path pymilvus's ORM Collection uses, range search
with the last distance and a primary-key exclusion) and query_iterator through pymilvus, unchanged.

Every visible row must come exactly once, in score order, across two shards, sealed and growing rows and deletes;
the data holds runs of equal scores longer than a page, which is where paging by the last score goes wrong.
"""

from __future__ import annotations

import numpy as np
import pytest
from pymilvus import Collection, DataType, MilvusClient, connections
from pymilvus.orm.iterator import SearchIterator

DIM = 8
N = 900
TIE = 40  # rows with the same vector: a run of equal scores longer than a page


def scores_of(metric: str, data: np.ndarray, q: np.ndarray) -> np.ndarray:
    if metric == "L2":
        return ((data - q) ** 2).sum(axis=1)
    if metric == "IP":
        return data @ q
    dn = data / np.linalg.norm(data, axis=1, keepdims=True)
    return dn @ (q / np.linalg.norm(q))


def make(client: MilvusClient, name: str, index_type: str, metric: str, params: dict, pk_type=DataType.INT64):
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    if pk_type == DataType.VARCHAR:
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=32)
    else:
        schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("n", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type=index_type, metric_type=metric, params=params)
    client.create_collection(name, schema=schema, index_params=index, num_shards=2, consistency_level="Strong")
    rnd = np.random.default_rng(5)
    vecs = rnd.normal(size=(N, DIM)).astype(np.float32)
    vecs[100 : 100 + TIE] = vecs[100]  # one long run of ties
    for i in range(300, 400, 2):
        vecs[i + 1] = vecs[i]  # many pairs of ties
    key = (lambda i: f"k{(i * 7919) % 10007}") if pk_type == DataType.VARCHAR else (lambda i: i * 3 - 700)
    rows = [{"pk": key(i), "n": i, "vector": vecs[i].tolist()} for i in range(N)]
    order = list(range(N))
    rnd.shuffle(order)
    half = N // 2
    client.insert(name, [rows[i] for i in order[:half]])
    client.flush(name)
    client.insert(name, [rows[i] for i in order[half:]])
    deleted = [i for i in range(N) if i % 17 == 3]
    client.delete(name, ids=[key(i) for i in deleted])
    client.load_collection(name)
    alive = np.array([i for i in range(N) if i % 17 != 3])
    return vecs, alive, key


def drain(it, batch: int) -> list:
    out = []
    try:
        while True:
            page = it.next()
            if not page:
                break
            assert len(page) <= batch or len({round(h.distance, 5) for h in page}) == 1, "a page larger than the batch must be one run of ties"
            out.extend((h.id, h.distance, h.get("n") if hasattr(h, "get") else None) for h in page)
    finally:
        it.close()
    return out


def check_order(metric: str, got: list, vecs, alive, key, q, exact: bool):
    ids = [g[0] for g in got]
    dups = len(ids) - len(set(ids))
    assert dups == 0, f"{dups} rows returned more than once"
    want = {key(int(i)) for i in alive}
    missing = want - set(ids)
    if exact:
        assert not missing, f"{len(missing)} rows never returned"
    else:
        assert len(missing) <= len(want) * 0.02, f"{len(missing)} rows never returned"
    assert set(ids) <= want, "a deleted row was returned"
    dist = [g[1] for g in got]
    if metric == "L2":
        assert all(a <= b for a, b in zip(dist, dist[1:])), "not in distance order"
    else:
        assert all(a >= b for a, b in zip(dist, dist[1:])), "not in score order"
    if exact:
        s = np.sort(scores_of(metric, vecs[alive].astype(np.float64), q.astype(np.float64)))
        if metric != "L2":
            s = s[::-1]
        assert np.allclose(dist, s, atol=1e-4)


CASES = [
    ("FLAT", "L2", {}, {}, True),
    ("FLAT", "IP", {}, {}, True),
    ("HNSW", "COSINE", {"M": 16, "efConstruction": 200}, {"ef": 32}, False),
    ("IVF_FLAT", "L2", {"nlist": 8}, {"nprobe": 8}, True),
]


@pytest.mark.parametrize("index_type,metric,build,search,exact", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
@pytest.mark.parametrize("batch", [16, 100])
def test_search_iterator_v2_every_row_once_in_order(client: MilvusClient, collection_name: str, index_type, metric, build, search, exact, batch):
    vecs, alive, key = make(client, collection_name, index_type, metric, build)
    q = vecs[100] + np.float32(0.01)  # the run of ties comes first
    it = client.search_iterator(
        collection_name, data=[q.tolist()], batch_size=batch, output_fields=["n"],
        search_params={"metric_type": metric, "params": search},
    )
    got = drain(it, batch)
    check_order(metric, got, vecs, alive, key, q, exact)
    # Another query: the ties somewhere in the middle.
    q2 = vecs[7] + np.float32(0.3)
    got = drain(client.search_iterator(collection_name, data=[q2.tolist()], batch_size=batch, search_params={"metric_type": metric, "params": search}), batch)
    check_order(metric, got, vecs, alive, key, q2, exact)


def test_search_iterator_v2_filter_limit_range_varchar(client: MilvusClient, collection_name: str):
    vecs, alive, key = make(client, collection_name, "FLAT", "L2", {}, DataType.VARCHAR)
    q = vecs[300]
    s = scores_of("L2", vecs.astype(np.float64), q.astype(np.float64))
    got = drain(client.search_iterator(collection_name, data=[q.tolist()], batch_size=7, filter="n % 2 == 0", output_fields=["n"]), 7)
    assert all(g[2] % 2 == 0 for g in got)
    check_order("L2", got, vecs, np.array([i for i in alive if i % 2 == 0]), key, q, True)
    # An overall limit.
    got = drain(client.search_iterator(collection_name, data=[q.tolist()], batch_size=7, limit=50), 7)
    want = [key(int(alive[i])) for i in np.argsort(s[alive], kind="stable")[:50]]
    assert len(got) == 50
    assert sorted(g[0] for g in got[:48]) == sorted(want[:48])
    # A range: only rows with distance < radius.
    radius = float(np.sort(s[alive])[200] + 1e-3)
    got = drain(client.search_iterator(collection_name, data=[q.tolist()], batch_size=16, search_params={"metric_type": "L2", "params": {"radius": radius}}), 16)
    assert {g[0] for g in got} == {key(int(i)) for i in alive if s[i] < radius}


@pytest.mark.parametrize("metric", ["L2", "IP"])
def test_search_iterator_v1_orm(client: MilvusClient, kite_server, collection_name: str, metric):
    vecs, alive, key = make(client, collection_name, "FLAT", metric, {})
    alias = f"orm_{collection_name}"
    connections.connect(alias=alias, uri=kite_server.uri)
    try:
        coll = Collection(collection_name, using=alias)
        q = vecs[11] + np.float32(0.2)
        it = coll.search_iterator(data=[q.tolist()], anns_field="vector", param={"metric_type": metric, "params": {}}, batch_size=32, output_fields=["n"])
        assert isinstance(it, SearchIterator)
        got = drain(it, 32)
        check_order(metric, got, vecs, alive, key, q, True)
    finally:
        connections.disconnect(alias)


@pytest.mark.parametrize("pk_type", [DataType.INT64, DataType.VARCHAR], ids=["int64", "varchar"])
def test_query_iterator_with_deletes_shards_sealed_and_growing(client: MilvusClient, kite_server, collection_name: str, pk_type):
    vecs, alive, key = make(client, collection_name, "FLAT", "L2", {}, pk_type)
    want = {key(int(i)) for i in alive}
    for batch in (1, 64, 1000):
        it = client.query_iterator(collection_name, batch_size=batch, filter="n >= 0", output_fields=["pk"])
        seen = []
        try:
            while True:
                page = it.next()
                if not page:
                    break
                seen.extend(r["pk"] for r in page)
        finally:
            it.close()
        assert len(seen) == len(set(seen)), f"batch {batch}: rows returned more than once"
        assert set(seen) == want
        assert seen == sorted(seen), "query_iterator pages in primary-key order"
    # The ORM form.
    alias = f"orm_{collection_name}"
    connections.connect(alias=alias, uri=kite_server.uri)
    try:
        it = Collection(collection_name, using=alias).query_iterator(batch_size=50, expr="n >= 0", output_fields=["pk"])
        seen = []
        while True:
            page = it.next()
            if not page:
                break
            seen.extend(r["pk"] for r in page)
        it.close()
        assert len(seen) == len(set(seen)) and set(seen) == want
    finally:
        connections.disconnect(alias)
