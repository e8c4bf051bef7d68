"""Scalar indexes through pymilvus, unchanged: INVERTED, STL_SORT, Trie, BITMAP and AUTOINDEX on scalar fields
created with prepare_index_params / create_index, built on flushed segments, described and listed, answering filters
as brute force over the inserted rows does; dropped after a release; and Milvus's errors for an index of the wrong type.
"""

from __future__ import annotations

import random
import time

import pytest
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

N = 2000
WORDS = ["apple", "apricot", "banana", "band", "cherry", "", "zebra"]

INDEXES = [
    ("b", "BITMAP", {}),
    ("i16", "BITMAP", {"bitmap_cardinality_limit": 50}),
    ("i32", "STL_SORT", {}),
    ("i64", "INVERTED", {}),
    ("f", "INVERTED", {}),
    ("d", "AUTOINDEX", {}),
    ("s", "Trie", {}),
    ("s2", "INVERTED", {}),
]


def _rows(seed: int) -> list[dict]:
    rnd = random.Random(seed)
    return [
        {
            "id": i,
            "b": rnd.random() < 0.3,
            "i16": rnd.randrange(5),
            "i32": rnd.randrange(1000),
            "i64": rnd.randrange(-(2**62), 2**62),
            "f": rnd.randrange(-400, 400) / 4,
            "d": rnd.randrange(80) / 4,
            "s": f"w{rnd.randrange(50)}",
            "s2": rnd.choice(WORDS),
            "vector": [rnd.random() for _ in range(4)],
        }
        for i in range(N)
    ]


def _schema(client: MilvusClient):
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("b", DataType.BOOL)
    schema.add_field("i16", DataType.INT16)
    schema.add_field("i32", DataType.INT32)
    schema.add_field("i64", DataType.INT64)
    schema.add_field("f", DataType.FLOAT)
    schema.add_field("d", DataType.DOUBLE)
    schema.add_field("s", DataType.VARCHAR, max_length=64)
    schema.add_field("s2", DataType.VARCHAR, max_length=64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    return schema


def _ids(client: MilvusClient, name: str, flt: str) -> list[int]:
    rows = client.query(name, filter=flt, output_fields=["id"], limit=16384, consistency_level="Strong")
    return sorted(int(r["id"]) for r in rows)


# A filter and the same condition in Python, for brute force over the inserted rows.
FILTERS = [
    ("i32 == 17", lambda r: r["i32"] == 17),
    ("i32 >= 100 and i32 < 110", lambda r: 100 <= r["i32"] < 110),
    ("i32 in [1, 5, 999, 4000]", lambda r: r["i32"] in (1, 5, 999, 4000)),
    ("i32 not in [1, 2, 3]", lambda r: r["i32"] not in (1, 2, 3)),
    ("i16 == 2", lambda r: r["i16"] == 2),
    ("b == true and i16 != 1", lambda r: r["b"] and r["i16"] != 1),
    ("i64 > 4000000000000000000", lambda r: r["i64"] > 4000000000000000000),
    ("f < -90.5", lambda r: r["f"] < -90.5),
    ("f == 0.75", lambda r: r["f"] == 0.75),
    ("d > 10.5 and d <= 11", lambda r: 10.5 < r["d"] <= 11),
    ('s == "w7"', lambda r: r["s"] == "w7"),
    ('s like "w1%"', lambda r: r["s"].startswith("w1")),
    ('s in ["w3", "w49", "nope"]', lambda r: r["s"] in ("w3", "w49", "nope")),
    ('s2 like "ban%"', lambda r: r["s2"].startswith("ban")),
    ('s2 == ""', lambda r: r["s2"] == ""),
    ('not (s2 like "ap%") and i32 < 50', lambda r: not r["s2"].startswith("ap") and r["i32"] < 50),
]


def _wait_built(client: MilvusClient, name: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        infos = [client.describe_index(name, index_name=i) for i in client.list_indexes(name)]
        if all(int(x.get("indexed_rows", 0)) == N and x.get("state") == "Finished" for x in infos):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"scalar indexes of {name} not built within {timeout_s} s: {infos}")
        time.sleep(0.2)


def test_scalar_indexes_answer_filters_as_brute_force(client: MilvusClient, collection_name: str):
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
    for field, kind, params in INDEXES:
        index.add_index(field_name=field, index_type=kind, index_name=f"{field}_idx", **({"params": params} if params else {}))
    client.create_collection(collection_name, schema=_schema(client), index_params=index, consistency_level="Strong")
    rows = _rows(7)
    client.insert(collection_name, rows)
    client.flush(collection_name)
    _wait_built(client, collection_name)

    for flt, test in FILTERS:
        assert _ids(client, collection_name, flt) == sorted(r["id"] for r in rows if test(r)), flt
    # A filtered search returns only rows that pass the filter.
    hits = client.search(collection_name, data=[rows[5]["vector"]], limit=10, filter='s like "w1%"', output_fields=["s"])[0]
    assert hits and all(h["entity"]["s"].startswith("w1") for h in hits)

    assert sorted(client.list_indexes(collection_name)) == sorted([f"{f}_idx" for f, _, _ in INDEXES] + ["vector"])
    d = client.describe_index(collection_name, index_name="i16_idx")
    assert d["index_type"] == "BITMAP" and d["field_name"] == "i16" and str(d["bitmap_cardinality_limit"]) == "50"
    assert "metric_type" not in d
    assert client.describe_index(collection_name, index_name="d_idx")["index_type"] == "AUTOINDEX"

    client.release_collection(collection_name)
    client.drop_index(collection_name, index_name="i32_idx")
    assert "i32_idx" not in client.list_indexes(collection_name)
    client.load_collection(collection_name)
    assert _ids(client, collection_name, "i32 >= 100 and i32 < 110") == sorted(r["id"] for r in rows if 100 <= r["i32"] < 110)


@pytest.mark.parametrize(
    "field,kind,params,message",
    [
        ("s", "STL_SORT", {}, "STL_SORT are only supported on numeric field"),
        ("i64", "Trie", {}, "TRIE are only supported on varchar field"),
        ("f", "BITMAP", {}, "bitmap index are only supported on bool, int, string and array field"),
        ("id", "BITMAP", {}, "create bitmap index on primary key not supported"),
        ("i16", "BITMAP", {"bitmap_cardinality_limit": 5000}, "failed to check bitmap cardinality limit"),
    ],
)
def test_wrong_index_type_is_refused(client: MilvusClient, collection_name: str, field, kind, params, message):
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
    client.create_collection(collection_name, schema=_schema(client), index_params=index, consistency_level="Strong")
    bad = client.prepare_index_params()
    bad.add_index(field_name=field, index_type=kind, **({"params": params} if params else {}))
    with pytest.raises(MilvusException) as e:
        client.create_index(collection_name, bad)
    assert e.value.code == 1100
    assert message in e.value.message and field in e.value.message


# JSON path indexes (Milvus 2.5: json_path and json_cast_type in the index params).
JSON_VALUES = [None, 3, -2, 7.5, 12, "band", "banana", "apple", "", True, False, {"x": 4}, [1, 2]]


def _json_rows(seed: int) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for i in range(N):
        meta = {}
        for key in ("a", "flag"):
            if rnd.random() < 0.85:
                meta[key] = rnd.choice(JSON_VALUES)
        if rnd.random() < 0.6:
            meta["n"] = {"x": rnd.choice(JSON_VALUES)}
        out.append({"id": i, "meta": meta, "vector": [rnd.random() for _ in range(4)]})
    return out


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _at(meta: dict, *path: str):
    cur = meta
    for k in path:
        if not isinstance(cur, dict) or k not in cur:
            return None
        cur = cur[k]
    return cur


JSON_FILTERS = [
    ('meta["a"] == 3', lambda m: _num(_at(m, "a")) and _at(m, "a") == 3),
    ('meta["a"] > 0 and meta["a"] < 10', lambda m: _num(_at(m, "a")) and 0 < _at(m, "a") < 10),
    ('meta["a"] in [3, 12, 99]', lambda m: _num(_at(m, "a")) and _at(m, "a") in (3, 12, 99)),
    ('meta["a"] == "band"', lambda m: _at(m, "a") == "band"),
    ('meta["a"] like "ban%"', lambda m: isinstance(_at(m, "a"), str) and _at(m, "a").startswith("ban")),
    ('meta["a"] in ["apple", ""]', lambda m: isinstance(_at(m, "a"), str) and _at(m, "a") in ("apple", "")),
    ('meta["flag"] == true', lambda m: _at(m, "flag") is True),
    ('meta["n"]["x"] >= 4', lambda m: _num(_at(m, "n", "x")) and _at(m, "n", "x") >= 4),
]


def test_json_path_indexes_answer_filters_as_brute_force(client: MilvusClient, collection_name: str):
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("meta", DataType.JSON)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
    index.add_index(field_name="meta", index_type="INVERTED", index_name="a_num", params={"json_path": 'meta["a"]', "json_cast_type": "double"})
    index.add_index(field_name="meta", index_type="INVERTED", index_name="a_str", params={"json_path": "meta['a']", "json_cast_type": "varchar"})
    index.add_index(field_name="meta", index_type="AUTOINDEX", index_name="flag", params={"json_path": 'meta["flag"]', "json_cast_type": "BOOL"})
    index.add_index(field_name="meta", index_type="INVERTED", index_name="n_x", params={"json_path": 'meta["n"]["x"]', "json_cast_type": "DOUBLE"})
    client.create_collection(collection_name, schema=schema, index_params=index, consistency_level="Strong")
    rows = _json_rows(11)
    client.insert(collection_name, rows)
    client.flush(collection_name)
    _wait_built(client, collection_name)

    for flt, test in JSON_FILTERS:
        assert _ids(client, collection_name, flt) == sorted(r["id"] for r in rows if test(r["meta"])), flt
    hits = client.search(collection_name, data=[rows[5]["vector"]], limit=10, filter='meta["a"] like "ban%"', output_fields=["meta"])[0]
    assert hits and all(str(h["entity"]["meta"]["a"]).startswith("ban") for h in hits)

    assert sorted(client.list_indexes(collection_name, field_name="meta")) == ["a_num", "a_str", "flag", "n_x"]
    d = client.describe_index(collection_name, index_name="a_str")
    assert d["field_name"] == "meta" and d["index_type"] == "INVERTED"
    # Described back as given (Milvus 2.5 takes the cast type in lower case).
    assert d["json_path"] == "meta['a']" and d["json_cast_type"] == "varchar"


@pytest.mark.parametrize(
    "params,message",
    [
        ({"json_path": 'meta["a"]'}, "json_cast_type is required for an index on JSON field meta"),
        ({"json_path": 'meta["a"]', "json_cast_type": "ARRAY_DOUBLE"}, "Kite builds BOOL, DOUBLE, VARCHAR"),
        ({"json_path": 'nope["a"]', "json_cast_type": "double"}, "is not a path into JSON field meta"),
    ],
)
def test_bad_json_path_index_is_refused(client: MilvusClient, collection_name: str, params, message):
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("meta", DataType.JSON)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    client.create_collection(collection_name, schema=schema, consistency_level="Strong")
    bad = client.prepare_index_params()
    bad.add_index(field_name="meta", index_type="INVERTED", index_name="x", params=params)
    with pytest.raises(MilvusException) as e:
        client.create_index(collection_name, bad)
    assert e.value.code == 1100
    assert message in e.value.message
