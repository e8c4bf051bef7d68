"""Kite standalone through pymilvus's MilvusClient, unchanged: the quick-setup path most Python users take.

Expectations are Milvus's documented behaviour; search results are checked against brute-force cosine similarity
(quick setup indexes the vector with AUTOINDEX and COSINE).
"""

from __future__ import annotations

import math
import random

import pytest
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

DIM = 16
COLORS = ["red", "green", "blue"]


def make_rows(n: int, seed: int, start: int = 0) -> list[dict]:
    rnd = random.Random(seed)
    centres = [[rnd.uniform(-1, 1) for _ in range(DIM)] for _ in range(8)]
    rows = []
    for i in range(start, start + n):
        c = centres[rnd.randrange(len(centres))]
        rows.append(
            {
                "id": i,
                "vector": [x + rnd.gauss(0, 0.2) for x in c],
                # Not in the quick-setup schema: stored in the dynamic field.
                "color": COLORS[i % 3],
                "n": i,
                "tags": {"even": i % 2 == 0},
            }
        )
    return rows


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb)


def top_k(rows: list[dict], q: list[float], k: int, keep=lambda r: True) -> list[int]:
    scored = sorted(((cosine(q, r["vector"]), r["id"]) for r in rows if keep(r)), reverse=True)
    return [i for _, i in scored[:k]]


def setup_collection(client: MilvusClient, name: str, rows: list[dict]) -> None:
    client.create_collection(name, dimension=DIM, consistency_level="Strong")
    res = client.insert(name, rows)
    assert res["insert_count"] == len(rows)
    assert list(res["ids"]) == [r["id"] for r in rows]


def test_quick_setup_create_collection(client: MilvusClient, collection_name: str):
    client.create_collection(collection_name, dimension=DIM, consistency_level="Strong")
    assert client.has_collection(collection_name)
    assert collection_name in client.list_collections()
    desc = client.describe_collection(collection_name)
    fields = {f["name"]: f for f in desc["fields"]}
    assert fields["id"]["is_primary"] is True
    assert fields["vector"]["params"]["dim"] == DIM
    assert desc["enable_dynamic_field"] is True
    assert client.list_indexes(collection_name, field_name="vector")
    state = client.get_load_state(collection_name)
    assert str(state["state"]).endswith("Loaded"), state


def test_insert_and_search_with_filter(client: MilvusClient, collection_name: str):
    rows = make_rows(300, seed=1)
    setup_collection(client, collection_name, rows)
    rnd = random.Random(2)
    queries = [[x + rnd.gauss(0, 0.05) for x in rows[rnd.randrange(len(rows))]["vector"]] for _ in range(4)]

    plain = client.search(collection_name, data=queries, limit=10, output_fields=["color", "n"])
    assert len(plain) == len(queries)
    hits_total = 0
    found_total = 0
    for q, hits in zip(queries, plain):
        assert len(hits) == 10
        truth = top_k(rows, q, 10)
        got = [h["id"] for h in hits]
        found_total += len(set(got) & set(truth))
        hits_total += len(truth)
        for h in hits:
            row = rows[h["id"]]
            assert h["entity"]["color"] == row["color"]
            assert h["entity"]["n"] == row["n"]
            assert h["distance"] == pytest.approx(cosine(q, row["vector"]), abs=2e-3)
        distances = [h["distance"] for h in hits]
        assert distances == sorted(distances, reverse=True)
    assert found_total / hits_total >= 0.9

    flt = 'n >= 100 and color == "red"'
    filtered = client.search(collection_name, data=queries, limit=5, filter=flt, output_fields=["color", "n"])
    for q, hits in zip(queries, filtered):
        assert hits, "the filter matches 67 rows: expected hits"
        for h in hits:
            assert h["entity"]["n"] >= 100 and h["entity"]["color"] == "red", h
        truth = top_k(rows, q, 5, keep=lambda r: r["n"] >= 100 and r["color"] == "red")
        assert len(set(h["id"] for h in hits) & set(truth)) >= 4


def test_query_and_get(client: MilvusClient, collection_name: str):
    rows = make_rows(200, seed=3)
    setup_collection(client, collection_name, rows)

    res = client.query(collection_name, filter='color == "green"', output_fields=["id", "color", "n"])
    assert sorted(r["id"] for r in res) == [r["id"] for r in rows if r["color"] == "green"]
    assert all(r["color"] == "green" and r["n"] == r["id"] for r in res)

    limited = client.query(collection_name, filter="n >= 50", output_fields=["id", "n"], limit=7)
    assert len(limited) == 7 and all(r["n"] >= 50 for r in limited)

    count = client.query(collection_name, filter="", output_fields=["count(*)"])
    assert count[0]["count(*)"] == len(rows)
    count = client.query(collection_name, filter="tags['even'] == true", output_fields=["count(*)"])
    assert count[0]["count(*)"] == len(rows) // 2

    got = client.get(collection_name, ids=[5, 77, 199], output_fields=["id", "vector", "color", "tags"])
    assert sorted(r["id"] for r in got) == [5, 77, 199]
    for r in got:
        want = rows[r["id"]]
        assert r["color"] == want["color"]
        assert r["tags"] == want["tags"]
        assert r["vector"] == pytest.approx(want["vector"], abs=1e-6)


def test_delete_by_ids_and_filter(client: MilvusClient, collection_name: str):
    rows = make_rows(150, seed=4)
    setup_collection(client, collection_name, rows)

    res = client.delete(collection_name, ids=[0, 1, 2])
    assert res["delete_count"] == 3
    res = client.delete(collection_name, filter="n >= 140")
    assert res["delete_count"] == 10
    left = {r["id"] for r in client.query(collection_name, filter="n >= 0", output_fields=["id"])}
    assert left == {r["id"] for r in rows} - {0, 1, 2} - set(range(140, 150))
    assert client.get(collection_name, ids=[0, 145]) == []
    hits = client.search(collection_name, data=[rows[1]["vector"], rows[145]["vector"]], limit=5)
    for h in hits[0] + hits[1]:
        assert h["id"] in left


def test_upsert(client: MilvusClient, collection_name: str):
    rows = make_rows(100, seed=5)
    setup_collection(client, collection_name, rows)

    changed = [dict(r, color="purple", vector=[-x for x in r["vector"]]) for r in rows[:10]]
    added = make_rows(5, seed=6, start=1000)
    res = client.upsert(collection_name, changed + added)
    assert res["upsert_count"] == 15

    got = client.get(collection_name, ids=[0, 9, 10, 1000], output_fields=["id", "color", "vector"])
    by_id = {r["id"]: r for r in got}
    assert set(by_id) == {0, 9, 10, 1000}
    assert by_id[0]["color"] == "purple" and by_id[9]["color"] == "purple"
    assert by_id[10]["color"] == rows[10]["color"]
    assert by_id[0]["vector"] == pytest.approx(changed[0]["vector"], abs=1e-6)
    count = client.query(collection_name, filter="", output_fields=["count(*)"])
    assert count[0]["count(*)"] == 105

    hits = client.search(collection_name, data=[changed[3]["vector"]], limit=1)
    assert hits[0][0]["id"] == 3
    assert hits[0][0]["distance"] == pytest.approx(1.0, abs=1e-4)


def test_drop_collection(client: MilvusClient, collection_name: str):
    setup_collection(client, collection_name, make_rows(10, seed=7))
    client.drop_collection(collection_name)
    assert not client.has_collection(collection_name)
    assert collection_name not in client.list_collections()
    with pytest.raises(MilvusException):
        client.query(collection_name, filter="id >= 0")


def test_errors_are_reported_and_server_keeps_answering(client: MilvusClient, collection_name: str):
    setup_collection(client, collection_name, make_rows(20, seed=8))
    with pytest.raises(MilvusException):
        client.search("py_no_such_collection", data=[[0.0] * DIM], limit=3)
    with pytest.raises(MilvusException):
        client.search(collection_name, data=[[0.1] * (DIM - 1)], limit=3)
    with pytest.raises(MilvusException) as bad_expr:
        client.query(collection_name, filter="n >>> 3")
    assert any(ch.isdigit() for ch in str(bad_expr.value.message))
    # Still serving.
    assert client.query(collection_name, filter="", output_fields=["count(*)"])[0]["count(*)"] == 20
