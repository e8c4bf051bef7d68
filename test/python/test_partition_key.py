"""Partition key through pymilvus, unchanged: routing by Milvus's hash, pruning, and Milvus's refusals.

The expected partitions are what real Milvus 2.3.5 chose for the same keys with 16 partitions, read the same way
(get_partition_stats after inserting 2**j rows for the j-th key, so each partition's row count names its keys).
"""

from __future__ import annotations

import re
import time
import urllib.request

import pytest
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

INT_KEYS = [0, 1, 2, 3, 7, 42, -1, -12345, 1000003, 2**40 + 5, -(2**63), 2**63 - 1]
INT_MILVUS = [12, 4, 4, 3, 3, 14, 8, 7, 13, 0, 5, 15]
STR_KEYS = ["", "a", "b", "apple", "Zürich", "user_42", "x" * 150, "x" * 100 + "y"]
STR_MILVUS = [0, 3, 9, 0, 14, 13, 15, 15]


def _create(client: MilvusClient, name: str, key_type: DataType, **kw) -> None:
    s = MilvusClient.create_schema(auto_id=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    if key_type == DataType.VARCHAR:
        s.add_field("k", DataType.VARCHAR, max_length=200, is_partition_key=True)
    else:
        s.add_field("k", DataType.INT64, is_partition_key=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    client.create_collection(name, schema=s, consistency_level="Strong", **kw)
    ip = client.prepare_index_params()
    ip.add_index("v", index_type="FLAT", metric_type="L2")
    client.create_index(name, ip)
    client.load_collection(name)


def _fill(client: MilvusClient, name: str, keys: list) -> None:
    rows = []
    for j, k in enumerate(keys):
        rows += [{"id": len(rows) + t, "k": k, "v": [float(j), float(t)]} for t in range(2**j)]
    client.insert(name, rows)


def _where(client: MilvusClient, name: str, keys: list) -> list[int]:
    where = [-1] * len(keys)
    for p in client.list_partitions(name):
        n = int(client.get_partition_stats(name, p)["row_count"])
        for j in range(len(keys)):
            if n >> j & 1:
                where[j] = int(p.rsplit("_", 1)[1])
    return where


@pytest.mark.parametrize("key_type,keys,expected", [(DataType.INT64, INT_KEYS, INT_MILVUS), (DataType.VARCHAR, STR_KEYS, STR_MILVUS)])
def test_rows_land_where_milvus_puts_them(client, collection_name, key_type, keys, expected):
    _create(client, collection_name, key_type)
    assert client.list_partitions(collection_name) == [f"_default_{i}" for i in range(16)]
    _fill(client, collection_name, keys)
    assert _where(client, collection_name, keys) == expected
    d = client.describe_collection(collection_name)
    assert d["num_partitions"] == 16
    assert [f["name"] for f in d["fields"] if f.get("is_partition_key")] == ["k"]


def test_num_partitions_and_schema_rules(client, collection_name):
    _create(client, collection_name, DataType.INT64, num_partitions=5)
    assert len(client.list_partitions(collection_name)) == 5
    client.drop_collection(collection_name)
    with pytest.raises(MilvusException, match=r"exceeds max configuration \(1024\)"):
        _create(client, collection_name, DataType.INT64, num_partitions=1025)
    with pytest.raises(MilvusException, match="num_partitions should only be specified with partition key"):
        client.create_collection(collection_name, dimension=2, num_partitions=4)


def test_manual_partitions_refused(client, collection_name):
    _create(client, collection_name, DataType.INT64)
    _fill(client, collection_name, [1, 2])
    manual = "not support manually specifying the partition names if partition key mode is used"
    with pytest.raises(MilvusException, match="disable create partition if partition key mode is used"):
        client.create_partition(collection_name, "p1")
    with pytest.raises(MilvusException, match="disable drop partition if partition key mode is used"):
        client.drop_partition(collection_name, "_default_1")
    with pytest.raises(MilvusException, match=manual):
        client.insert(collection_name, [{"id": 99, "k": 1, "v": [0.0, 0.0]}], partition_name="_default_1")
    with pytest.raises(MilvusException, match=manual):
        client.query(collection_name, filter="id >= 0", partition_names=["_default_1"])
    with pytest.raises(MilvusException, match=manual):
        client.search(collection_name, [[0.0, 0.0]], limit=3, partition_names=["_default_1"])
    with pytest.raises(MilvusException, match=manual):
        client.delete(collection_name, filter="id >= 0", partition_name="_default_1")


def _partitions_read(server, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10).read().decode()
    m = re.search(r'^kite_proxy_partition_key_partitions_read_total\{collection="%s"\} (\S+)$' % re.escape(name), text, re.M)
    return float(m.group(1)) if m else 0.0


def test_pruning_gives_the_same_results_reading_fewer_partitions(kite_server, client, collection_name):
    _create(client, collection_name, DataType.INT64)
    rows = [{"id": i, "k": i % 40, "v": [float(i % 13), float(i % 7)]} for i in range(2000)]
    client.insert(collection_name, rows)
    client.flush(collection_name)
    for flt, brute in [
        ("k == 7", lambda r: r["k"] == 7),
        ("k in [3, 7, 11] and id > 500", lambda r: r["k"] in (3, 7, 11) and r["id"] > 500),
        ("id < 900 and (k == 1 or k == 39)", lambda r: r["id"] < 900 and r["k"] in (1, 39)),
        ("k in [1, 2] and k == 5", lambda r: False),
    ]:
        want = sorted(r["id"] for r in rows if brute(r))
        before = _partitions_read(kite_server, collection_name)
        got = sorted(r["id"] for r in client.query(collection_name, filter=flt, output_fields=["id"]))
        pruned_reads = _partitions_read(kite_server, collection_name) - before
        assert got == want, flt
        assert pruned_reads < 16, (flt, pruned_reads)
        # The same filter with a term the pruning cannot use (k >= -1 holds for every row) reads all partitions.
        before = _partitions_read(kite_server, collection_name)
        unpruned = sorted(r["id"] for r in client.query(collection_name, filter=f"({flt}) or k < -1", output_fields=["id"]))
        assert _partitions_read(kite_server, collection_name) - before == 16
        assert unpruned == want, flt
        hits = client.search(collection_name, [[3.0, 2.0]], limit=50, filter=flt)[0]
        everywhere = client.search(collection_name, [[3.0, 2.0]], limit=50, filter=f"({flt}) or k < -1")[0]
        assert [(h["id"], h["distance"]) for h in hits] == [(h["id"], h["distance"]) for h in everywhere]
        assert {h["id"] for h in hits} <= set(want) and len(hits) == min(50, len(want))
    assert client.query(collection_name, filter="k == 7", output_fields=["count(*)"])[0]["count(*)"] == 50


def test_upsert_and_delete_by_key(client, collection_name):
    _create(client, collection_name, DataType.VARCHAR)
    client.insert(collection_name, [{"id": i, "k": f"t{i % 5}", "v": [float(i), 0.0]} for i in range(100)])
    # An upsert that moves a row to another key (so another partition) leaves one version of it.
    client.upsert(collection_name, [{"id": 3, "k": "t4", "v": [3.0, 1.0]}])
    assert client.query(collection_name, filter="id == 3", output_fields=["k"]) == [{"id": 3, "k": "t4"}]
    assert client.query(collection_name, filter='k == "t3"', output_fields=["count(*)"])[0]["count(*)"] == 19
    client.delete(collection_name, filter='k in ["t4"]')
    assert client.query(collection_name, filter='k == "t4"', output_fields=["count(*)"])[0]["count(*)"] == 0
    assert client.query(collection_name, filter="id >= 0", output_fields=["count(*)"])[0]["count(*)"] == 79


def test_clustering_key_and_isolation_accepted(client, collection_name):
    s = MilvusClient.create_schema(auto_id=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("k", DataType.INT64, is_partition_key=True)
    s.add_field("c", DataType.INT64, is_clustering_key=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    client.create_collection(collection_name, schema=s, properties={"partitionkey.isolation": "true"})
    d = client.describe_collection(collection_name)
    assert [f["name"] for f in d["fields"] if f.get("is_clustering_key")] == ["c"]
    assert d["properties"].get("partitionkey.isolation") == "true"
    with pytest.raises(MilvusException, match="partition key isolation mode is enabled but no partition key field is set"):
        client.create_collection(f"{collection_name}_n", dimension=2, properties={"partitionkey.isolation": "true"})


def _metric(server, name: str, labels: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10).read().decode()
    m = re.search(r"^%s\{%s\} (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else 0.0


def test_segments_of_other_partitions_are_skipped(kite_server, client, collection_name):
    _create(client, collection_name, DataType.INT64)
    # One flush per key: each sealed segment holds the rows of one partition (keys 3 and 1 hash to different ones).
    for key, base in ((3, 0), (1, 100), (42, 200)):
        client.insert(collection_name, [{"id": base + i, "k": key, "v": [float(i), 0.0]} for i in range(20)])
        client.flush(collection_name)
    skipped = 'reason="partition"'
    # Sealed segments reach the query nodes asynchronously after the flush: read until two of the three are
    # skipped by each read (results checked on every round), within a deadline.
    deadline = time.monotonic() + 90
    while True:
        before = _metric(kite_server, "kite_querynode_segments_skipped_total", skipped)
        assert sorted(r["id"] for r in client.query(collection_name, filter="k == 1", output_fields=["id"])) == list(range(100, 120))
        hits = client.search(collection_name, [[0.0, 0.0]], limit=5, filter="k == 42")[0]
        assert sorted(h["id"] for h in hits) == [200, 201, 202, 203, 204]
        if _metric(kite_server, "kite_querynode_segments_skipped_total", skipped) - before >= 4:
            break
        assert time.monotonic() < deadline, "sealed segments of other partitions were never skipped"
        time.sleep(0.5)
