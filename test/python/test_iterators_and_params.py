"""Iterators and parameters through pymilvus, unchanged.

query_iterator must return every matching row exactly once, on Int64 and VarChar primary keys, over one shard or
several and over sealed and growing rows alike (it pages with `pk > last` and relies on the server returning each
page in primary-key order). Search parameters Kite does not implement yet (order_by_fields, ignore_growing) must fail with a status naming them,
never answer as if they were absent.
"""

from __future__ import annotations

import random

import pytest
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

DIM = 8


def make_collection(client: MilvusClient, name: str, pk_type: DataType, shards: int) -> None:
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    if pk_type == DataType.VARCHAR:
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
    else:
        schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("n", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 64})
    client.create_collection(
        name, schema=schema, index_params=index, num_shards=shards, consistency_level="Strong"
    )


def key(pk_type: DataType, i: int):
    # VarChar keys whose string order differs from their numeric order, with a few non-ASCII ones.
    return f"k{(i * 7919) % 100003}-{'é' if i % 5 == 0 else 'x'}" if pk_type == DataType.VARCHAR else i * 37 - 5000


def fill(client: MilvusClient, name: str, pk_type: DataType, n: int) -> list:
    rnd = random.Random(11)
    order = list(range(n))
    rnd.shuffle(order)
    rows = [{"pk": key(pk_type, i), "n": i, "vector": [rnd.random() for _ in range(DIM)]} for i in order]
    half = n // 2
    client.insert(name, rows[:half])
    client.flush(name)  # the first half sealed, the rest growing
    client.insert(name, rows[half:])
    return [r["pk"] for r in rows]


@pytest.mark.parametrize("pk_type", [DataType.INT64, DataType.VARCHAR], ids=["int64", "varchar"])
@pytest.mark.parametrize("shards", [1, 3])
def test_query_iterator_returns_every_row_once(client: MilvusClient, collection_name: str, pk_type, shards):
    make_collection(client, collection_name, pk_type, shards)
    keys = fill(client, collection_name, pk_type, 1000)
    it = client.query_iterator(collection_name, batch_size=64, filter="n >= 0", output_fields=["pk", "n"])
    seen = []
    try:
        while True:
            page = it.next()
            if not page:
                break
            assert len(page) <= 64
            seen.extend(r["pk"] for r in page)
    finally:
        it.close()
    assert len(seen) == len(set(seen)), f"{len(seen) - len(set(seen))} rows returned more than once"
    assert set(seen) == set(keys)

    # A filter that matches a third of the rows, and an overall limit.
    it = client.query_iterator(collection_name, batch_size=50, limit=200, filter="n % 3 == 0", output_fields=["n"])
    got = []
    try:
        while True:
            page = it.next()
            if not page:
                break
            got.extend(r["n"] for r in page)
    finally:
        it.close()
    assert len(got) == 200 and len(set(got)) == 200
    assert all(n % 3 == 0 for n in got)


def test_query_pages_are_in_primary_key_order_with_iterator(client: MilvusClient, collection_name: str):
    make_collection(client, collection_name, DataType.VARCHAR, 2)
    keys = fill(client, collection_name, DataType.VARCHAR, 300)
    res = client.query(collection_name, filter='pk > ""', limit=40, output_fields=["pk"], iterator="True")
    got = [r["pk"] for r in res]
    assert got == sorted(keys)[:40]


def search_error(client: MilvusClient, name: str, **kwargs) -> str:
    with pytest.raises(MilvusException) as err:
        client.search(name, data=[[0.5] * DIM], limit=5, **kwargs)
    return str(err.value.message)


def test_unimplemented_search_features_are_refused_by_name(client: MilvusClient, collection_name: str):
    make_collection(client, collection_name, DataType.INT64, 1)
    fill(client, collection_name, DataType.INT64, 100)
    client.load_collection(collection_name)
    assert "order_by_fields" in search_error(client, collection_name, order_by_fields=[{"field": "n", "order": "asc"}])
    assert "ignore_growing" in search_error(client, collection_name, search_params={"ignore_growing": True})
    # The server still answers a plain search.
    assert len(client.search(collection_name, data=[[0.5] * DIM], limit=5)[0]) == 5


def test_bad_paging_and_search_params_are_refused(client: MilvusClient, collection_name: str):
    make_collection(client, collection_name, DataType.INT64, 1)
    fill(client, collection_name, DataType.INT64, 50)
    client.load_collection(collection_name)
    for bad in (-1, 0, 16385):
        with pytest.raises(MilvusException) as err:
            client.query(collection_name, filter="n >= 0", limit=bad)
        assert "limit" in str(err.value.message)
    assert "ef" in search_error(client, collection_name, search_params={"params": {"ef": 2}})
    assert "ef" in search_error(client, collection_name, search_params={"params": {"ef": 10_000_000}})
    assert "metric" in search_error(client, collection_name, search_params={"metric_type": "IP"})


@pytest.mark.parametrize(
    "index_type,metric,params",
    [("HNSW", "L2", {"M": 16, "efConstruction": 200}), ("IVF_FLAT", "IP", {"nlist": 128}), ("IVF_PQ", "L2", {"nlist": 64, "m": 4, "nbits": 8}), ("FLAT", "COSINE", {})],
)
def test_describe_index_returns_build_params_as_milvus_does(client: MilvusClient, collection_name: str, index_type, metric, params):
    schema = MilvusClient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type=index_type, metric_type=metric, params=params)
    client.create_collection(collection_name, schema=schema, index_params=index)
    desc = client.describe_index(collection_name, "vector")
    assert desc["index_type"] == index_type
    assert desc["metric_type"] == metric
    for k, v in params.items():
        assert desc[k] == str(v), f"{k}: {desc}"
    assert "params" not in desc
    assert desc["field_name"] == "vector"
