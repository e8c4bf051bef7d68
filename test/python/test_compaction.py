"""Compaction through pymilvus, unchanged: compact(), get_compaction_state(), wait_for_compaction_completed(),
get_compaction_plans(), and compact(is_clustering=True) on a collection with a clustering key. Deleted rows are
purged (the stored row count shrinks) with query and search results equal to the brute force over the live rows;
after clustering compaction a filter on the key skips segments and returns the same rows.
"""

from __future__ import annotations

import random
import re
import urllib.request

import pytest
from conftest import _serve
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

DIM = 4


@pytest.fixture(scope="module")
def compaction_server():
    """A server with manual compaction only (segment counts do not depend on timing) and small clustering ranges."""
    yield from _serve({
        "KITE_COMPACTION_ENABLED": "false",
        "KITE_COMPACTION_CLUSTERING_SEGMENT_ROWS": "250",
        "KITE_COMPACTION_SOURCE_RELEASE_GRACE_MS": "1000",
        "KITE_DATANODE_SEAL_IDLE_MS": "600000",
    })


@pytest.fixture(scope="module")
def cclient(compaction_server):
    c = MilvusClient(uri=compaction_server.uri, timeout=60)
    try:
        yield c
    finally:
        c.close()


def _metric(server, pattern: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10).read().decode()
    return sum(float(m) for m in re.findall(pattern, text, re.M))


def _create(client: MilvusClient, name: str, clustering: bool) -> None:
    s = MilvusClient.create_schema(auto_id=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("k", DataType.INT64, is_clustering_key=clustering)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    client.create_collection(name, schema=s, consistency_level="Strong")
    ip = client.prepare_index_params()
    ip.add_index("v", index_type="FLAT", metric_type="L2")
    client.create_index(name, ip)
    client.load_collection(name)


def _rows(start: int, n: int, rnd: random.Random) -> list[dict]:
    return [{"id": start + i, "k": rnd.randrange(10_000), "v": [rnd.uniform(-1, 1) for _ in range(DIM)]} for i in range(n)]


def _fill(client: MilvusClient, name: str, batches: int, per: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    rows = []
    for b in range(batches):
        batch = _rows(b * per, per, rnd)
        client.insert(name, batch)
        client.flush(name)
        rows += batch
    return rows


def _segments(server, name: str) -> tuple[float, float]:
    served = _metric(server, r'^kite_querycoord_segments\{collection="%s",state="served"\} (\S+)$' % name)
    pending = _metric(server, r'^kite_querycoord_segments\{collection="%s",state="pending"\} (\S+)$' % name)
    return served, pending


def _wait(what: str, check, timeout: float = 120.0):
    import time

    deadline = time.time() + timeout
    while True:
        v = check()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"{what}: not reached in {timeout} s")
        time.sleep(0.25)


def _ids(client: MilvusClient, name: str, flt: str) -> list[int]:
    return sorted(r["id"] for r in client.query(name, filter=flt, output_fields=["id"], limit=16384))


def _brute(rows: list[dict], q: list[float], k: int, keep=lambda r: True) -> list[int]:
    d = sorted(((sum((a - b) ** 2 for a, b in zip(r["v"], q)), r["id"]) for r in rows if keep(r)))
    return [i for _, i in d[:k]]


def _check(client: MilvusClient, name: str, live: list[dict], queries: list[list[float]], filters) -> None:
    assert client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == len(live)
    assert _ids(client, name, "id >= 0") == sorted(r["id"] for r in live)
    for flt, keep in filters:
        assert _ids(client, name, flt) == sorted(r["id"] for r in live if keep(r)), flt
    for q in queries:
        got = [h["id"] for h in client.search(name, data=[q], limit=10, output_fields=["id"])[0]]
        assert got == _brute(live, q, 10)
        for flt, keep in filters:
            got = [h["id"] for h in client.search(name, data=[q], limit=10, filter=flt, output_fields=["id"])[0]]
            assert got == _brute(live, q, 10, keep), flt


def test_compact_purges_deleted_rows(compaction_server, cclient, collection_name):
    name = collection_name
    _create(cclient, name, clustering=False)
    rows = _fill(cclient, name, 3, 300, 1)
    cclient.delete(name, filter="id in [%s]" % ",".join(str(r["id"]) for r in rows if r["id"] % 4 == 0))
    cclient.flush(name)
    live = [r for r in rows if r["id"] % 4 != 0]
    rnd = random.Random(5)
    queries = [[rnd.uniform(-1, 1) for _ in range(DIM)] for _ in range(3)]
    filters = [("k < 3000", lambda r: r["k"] < 3000), ("k in [1, 2, 3] or id > 800", lambda r: r["k"] in (1, 2, 3) or r["id"] > 800)]
    _wait("3 segments served", lambda: _segments(compaction_server, name) == (3, 0))
    _check(cclient, name, live, queries, filters)
    assert int(cclient.get_collection_stats(name)["row_count"]) == 900

    job = cclient.compact(name)
    assert isinstance(job, int) and job > 0
    assert cclient.get_compaction_state(job) in ("Executing", "Completed")
    assert cclient._get_connection().wait_for_compaction_completed(job, timeout=120) is True
    assert cclient.get_compaction_state(job) == "Completed"
    plans = cclient.get_compaction_plans(job)
    assert plans.state.name == "Completed"
    assert len(plans.plans) == 1 and len(plans.plans[0].sources) == 4  # three with rows, one of deletes only
    _wait("1 segment served", lambda: _segments(compaction_server, name) == (1, 0))
    _check(cclient, name, live, queries, filters)
    assert int(cclient.get_collection_stats(name)["row_count"]) == len(live)


def test_clustering_compaction_prunes_segments_by_key(compaction_server, cclient, collection_name):
    name = collection_name
    _create(cclient, name, clustering=True)
    assert [f for f in cclient.describe_collection(name)["fields"] if f["name"] == "k"][0].get("is_clustering_key") is True
    rows = _fill(cclient, name, 4, 250, 2)
    rnd = random.Random(6)
    queries = [[rnd.uniform(-1, 1) for _ in range(DIM)] for _ in range(3)]
    filters = [("k == 4321", lambda r: r["k"] == 4321), ("k >= 7000", lambda r: r["k"] >= 7000), ("100 < k <= 900", lambda r: 100 < r["k"] <= 900)]
    _wait("4 segments served", lambda: _segments(compaction_server, name) == (4, 0))
    _check(cclient, name, rows, queries, filters)

    job = cclient.compact(name, is_clustering=True)
    assert cclient._get_connection().wait_for_compaction_completed(job, timeout=120) is True
    targets = {p.target for p in cclient.get_compaction_plans(job).plans}
    assert len(targets) == 4
    _wait("4 key-range segments served", lambda: _segments(compaction_server, name) == (4, 0))
    skipped = r'^kite_querynode_segments_skipped_total\{reason="range"\} (\S+)$'
    before = _metric(compaction_server, skipped)
    assert _ids(cclient, name, "100 < k <= 900") == sorted(r["id"] for r in rows if 100 < r["k"] <= 900)
    assert _metric(compaction_server, skipped) - before >= 3
    _check(cclient, name, rows, queries, filters)


def test_clustering_needs_a_clustering_key(cclient, collection_name):
    _create(cclient, collection_name, clustering=False)
    with pytest.raises(MilvusException, match="has no clustering key field"):
        cclient.compact(collection_name, is_clustering=True)


def test_unknown_compaction_id_reads_completed(cclient):
    assert cclient.get_compaction_state(987654321) == "Completed"


def test_varchar_clustering_key(compaction_server, cclient, collection_name):
    name = collection_name
    s = MilvusClient.create_schema(auto_id=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("t", DataType.VARCHAR, max_length=16, is_clustering_key=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    cclient.create_collection(name, schema=s, consistency_level="Strong")
    ip = cclient.prepare_index_params()
    ip.add_index("v", index_type="FLAT", metric_type="L2")
    cclient.create_index(name, ip)
    cclient.load_collection(name)
    rnd = random.Random(9)
    rows = []
    for b in range(3):
        batch = [{"id": b * 300 + i, "t": "key%04d" % rnd.randrange(2000), "v": [rnd.uniform(-1, 1) for _ in range(DIM)]} for i in range(300)]
        cclient.insert(name, batch)
        cclient.flush(name)
        rows += batch
    _wait("3 segments served", lambda: _segments(compaction_server, name) == (3, 0))
    job = cclient.compact(name, is_clustering=True)
    assert cclient._get_connection().wait_for_compaction_completed(job, timeout=120) is True
    assert len({p.target for p in cclient.get_compaction_plans(job).plans}) == 4  # 900 rows in ranges of about 250
    _wait("4 key-range segments served", lambda: _segments(compaction_server, name) == (4, 0))
    skipped = r'^kite_querynode_segments_skipped_total\{reason="range"\} (\S+)$'
    before = _metric(compaction_server, skipped)
    for flt, keep in [('t == "key0100"', lambda r: r["t"] == "key0100"), ('t >= "key1900"', lambda r: r["t"] >= "key1900"), ('t in ["key0001", "key0002"]', lambda r: r["t"] in ("key0001", "key0002"))]:
        assert _ids(cclient, name, flt) == sorted(r["id"] for r in rows if keep(r)), flt
    assert _metric(compaction_server, skipped) - before >= 9
