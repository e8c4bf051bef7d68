"""Array fields through pymilvus, unchanged: a schema with Array fields of every element type (described back with
element_type and max_capacity / max_length), rows inserted as Python lists, flushed (sealed) and not (growing),
filtered with array_contains / array_contains_all / array_contains_any / array_length / element access, checked
against brute force over the inserted rows; Array fields returned in query and search output as lists; upsert
replacing arrays; Milvus's errors for bad schemas and bad rows (naming the field and row).
"""

from __future__ import annotations

import random

import pytest
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

N_SEALED = 400
N_GROWING = 200
WORDS = ["a", "b", "c", "dd", "eee", "héllo"]

# filter -> brute force over a row (dict as inserted).
FILTERS = {
    "array_contains(ai, 3)": lambda r: 3 in r["ai"],
    "ARRAY_CONTAINS(ai, 3)": lambda r: 3 in r["ai"],
    "array_contains_all(ai, [1, 2])": lambda r: 1 in r["ai"] and 2 in r["ai"],
    "array_contains_any(ai, [7, 9])": lambda r: 7 in r["ai"] or 9 in r["ai"],
    "ARRAY_CONTAINS_ANY(ai, [7, 9])": lambda r: 7 in r["ai"] or 9 in r["ai"],
    "not array_contains(ai, 3)": lambda r: 3 not in r["ai"],
    'array_contains(av, "héllo")': lambda r: "héllo" in r["av"],
    'array_contains_all(av, ["a", "c"])': lambda r: "a" in r["av"] and "c" in r["av"],
    "array_contains(a16, -300)": lambda r: -300 in r["a16"],
    "array_contains(a32, 7)": lambda r: 7 in r["a32"],
    "array_contains(af, 0.5)": lambda r: 0.5 in r["af"],
    "array_contains(ab, false)": lambda r: False in r["ab"],
    "array_length(ai) == 2": lambda r: len(r["ai"]) == 2,
    "array_length(ai) >= 4": lambda r: len(r["ai"]) >= 4,
    "array_length(av) == 0": lambda r: len(r["av"]) == 0,
    "ai[0] == 1": lambda r: r["ai"][:1] == [1],
    "ai[0] in [1, 2]": lambda r: r["ai"][:1] in ([1], [2]),
    "ai[5] > 0": lambda r: len(r["ai"]) > 5 and r["ai"][5] > 0,
    "ai[1] != 4": lambda r: len(r["ai"]) > 1 and r["ai"][1] != 4,
    "ai[0] + ai_off > 0": None,  # refused: elements combine with constants only
    "ai[0] * 2 > 10": lambda r: len(r["ai"]) > 0 and r["ai"][0] * 2 > 10,
    "a8[0] < 0 and array_contains(av, \"a\")": lambda r: len(r["a8"]) > 0 and r["a8"][0] < 0 and "a" in r["av"],
    "af[0] > 0.5 or ad[1] <= -1.25": lambda r: (len(r["af"]) > 0 and r["af"][0] > 0.5) or (len(r["ad"]) > 1 and r["ad"][1] <= -1.25),
    "ab[0] == true": lambda r: r["ab"][:1] == [True],
    'av[1] like "d%"': lambda r: len(r["av"]) > 1 and r["av"][1].startswith("d"),
    "a64[0] == 9007199254740993": lambda r: r["a64"][:1] == [9007199254740993],
    'json_contains(meta["list"], 2)': lambda r: 2 in r["meta"]["list"],
    'array_contains(meta["list"], 2)': lambda r: 2 in r["meta"]["list"],
}

ARRAYS = ["ai", "a8", "a16", "a32", "a64", "af", "ad", "ab", "av"]


def make_rows(start: int, n: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    return [
        {
            "id": i,
            "vector": [rnd.uniform(-1, 1) for _ in range(4)],
            "ai": [rnd.randrange(10) for _ in range(rnd.randrange(7))],
            "a8": [rnd.randrange(-128, 128) for _ in range(rnd.randrange(5))],
            "a16": [rnd.choice([-300, 300, 1]) for _ in range(rnd.randrange(3))],
            "a32": [rnd.randrange(10) for _ in range(rnd.randrange(3))],
            "a64": [rnd.choice([9007199254740993, -(2**63), 2**63 - 1, 5]) for _ in range(rnd.randrange(3))],
            "af": [rnd.randrange(-4, 5) / 4 for _ in range(rnd.randrange(4))],
            "ad": [rnd.randrange(-8, 9) / 4 for _ in range(rnd.randrange(4))],
            "ab": [rnd.random() < 0.5 for _ in range(rnd.randrange(4))],
            "av": [rnd.choice(WORDS) for _ in range(rnd.randrange(5))],
            "meta": {"list": [rnd.randrange(10) for _ in range(rnd.randrange(4))]},
        }
        for i in range(start, start + n)
    ]


def schema_of(client: MilvusClient):
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    s.add_field("ai", DataType.ARRAY, element_type=DataType.INT64, max_capacity=6)
    s.add_field("a8", DataType.ARRAY, element_type=DataType.INT8, max_capacity=4)
    s.add_field("a16", DataType.ARRAY, element_type=DataType.INT16, max_capacity=4)
    s.add_field("a32", DataType.ARRAY, element_type=DataType.INT32, max_capacity=4)
    s.add_field("a64", DataType.ARRAY, element_type=DataType.INT64, max_capacity=4)
    s.add_field("af", DataType.ARRAY, element_type=DataType.FLOAT, max_capacity=3)
    s.add_field("ad", DataType.ARRAY, element_type=DataType.DOUBLE, max_capacity=3)
    s.add_field("ab", DataType.ARRAY, element_type=DataType.BOOL, max_capacity=3)
    s.add_field("av", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4, max_length=6)
    s.add_field("meta", DataType.JSON)
    return s


def test_array_fields(client: MilvusClient, collection_name: str):
    name = collection_name
    client.create_collection(name, schema=schema_of(client), consistency_level="Strong")
    desc = {f["name"]: f for f in client.describe_collection(name)["fields"]}
    assert desc["ai"]["type"] == DataType.ARRAY and desc["ai"]["element_type"] == DataType.INT64
    assert desc["ai"]["params"]["max_capacity"] == 6
    assert desc["av"]["element_type"] == DataType.VARCHAR and desc["av"]["params"]["max_length"] == 6
    assert desc["ab"]["element_type"] == DataType.BOOL

    sealed = make_rows(0, N_SEALED, 1)
    growing = make_rows(N_SEALED, N_GROWING, 2)
    client.insert(name, sealed)
    client.flush(name)
    idx = client.prepare_index_params()
    idx.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_index(name, idx)
    client.load_collection(name)
    client.insert(name, growing)
    every = sealed + growing

    for expr, brute in FILTERS.items():
        if brute is None:
            with pytest.raises(MilvusException):
                client.query(name, filter=expr, output_fields=["id"], limit=16384)
            continue
        got = sorted(r["id"] for r in client.query(name, filter=expr, output_fields=["id"], limit=16384))
        want = sorted(r["id"] for r in every if brute(r))
        assert got == want, expr
        assert want, f"{expr} selects no row: the case checks nothing"

    # Output fields: lists, on sealed and growing rows.
    ids = [0, 1, 2, 3, N_SEALED - 1, N_SEALED, N_SEALED + 1, N_SEALED + N_GROWING - 1]
    got = {r["id"]: r for r in client.query(name, filter=f"id in {ids}", output_fields=ARRAYS)}
    for i in ids:
        for f in ARRAYS:
            assert list(got[i][f]) == every[i][f], (i, f)

    # `*` includes the Array fields; a template parameter fills an Array filter.
    star = client.query(name, filter="id in [0, 450]", output_fields=["*"])
    assert sorted((r["id"], list(r["ai"]), list(r["av"])) for r in star) == [(i, every[i]["ai"], every[i]["av"]) for i in (0, 450)]
    got = sorted(r["id"] for r in client.query(name, filter="array_contains_any(ai, {vals})", filter_params={"vals": [7, 9]}, output_fields=["id"], limit=16384))
    assert got == sorted(r["id"] for r in every if 7 in r["ai"] or 9 in r["ai"])

    # Search with an Array filter and Array outputs: exact (FLAT) against brute force.
    q = [0.1, -0.2, 0.3, 0.4]
    hits = client.search(name, [q], anns_field="vector", limit=10, filter="array_contains_any(ai, [1, 2])", output_fields=["ai", "av"],
                         search_params={"metric_type": "L2"})[0]
    cand = [r for r in every if 1 in r["ai"] or 2 in r["ai"]]
    dist = {r["id"]: sum((a - b) ** 2 for a, b in zip(r["vector"], q)) for r in cand}
    assert [h["id"] for h in hits] == sorted(dist, key=lambda i: (dist[i], i))[:10]
    for h in hits:
        assert list(h["entity"]["ai"]) == every[h["id"]]["ai"] and list(h["entity"]["av"]) == every[h["id"]]["av"]

    # Upsert replaces a sealed row's arrays and a growing row's.
    for i in (5, N_SEALED + 5):
        row = dict(every[i], ai=[42, 43], av=["zz"])
        client.upsert(name, [row])
    assert sorted(r["id"] for r in client.query(name, filter="array_contains(ai, 42)", output_fields=["id"])) == [5, N_SEALED + 5]
    got = client.query(name, filter=f"id in [5, {N_SEALED + 5}]", output_fields=["ai", "av"])
    assert sorted((r["id"], list(r["ai"]), list(r["av"])) for r in got) == [(5, [42, 43], ["zz"]), (N_SEALED + 5, [42, 43], ["zz"])]

    # After a flush the upserted rows are sealed too and still answer the same.
    client.flush(name)
    assert sorted(r["id"] for r in client.query(name, filter="array_length(av) == 1 and av[0] == \"zz\"", output_fields=["id"])) == [5, N_SEALED + 5]

    # Delete by an Array filter: those rows are gone, the rest stay.
    doomed = sorted(r["id"] for r in client.query(name, filter="array_contains_all(ai, [8, 9])", output_fields=["id"], limit=16384))
    assert doomed
    client.delete(name, filter="array_contains_all(ai, [8, 9])")
    assert client.query(name, filter="array_contains_all(ai, [8, 9])", output_fields=["id"]) == []
    left = client.query(name, filter="array_length(ai) >= 0", output_fields=["id"], limit=16384)
    assert len(left) == N_SEALED + N_GROWING - len(doomed)

    # Bad rows: refused with the field and the row named; nothing is inserted.
    bad_rows = [
        ({"ai": list(range(7))}, r'field "ai": the length \(7\) of 0th array exceeds max capacity \(6\)'),
        ({"a8": [1, 200]}, r'field "a8": row 0, element 1: value 200 is out of range for Int8'),
        ({"av": ["toolong"]}, r'field "av": length of element 0 of row 0 is 7 bytes, exceeding max_length 6'),
    ]
    for change, msg in bad_rows:
        with pytest.raises(MilvusException, match=msg):
            client.insert(name, [dict(make_rows(10_000, 1, 3)[0], **change)])
    assert client.query(name, filter="id == 10000", output_fields=["id"]) == []
    # Empty results with Array outputs.
    assert client.query(name, filter="id == 10000", output_fields=ARRAYS) == []
    none = client.search(name, [q], anns_field="vector", limit=5, filter="array_length(ai) > 6", output_fields=ARRAYS, search_params={"metric_type": "L2"})
    assert len(none[0]) == 0

    # Type mismatches are refused when the filter is checked.
    for expr, msg in [
        ('array_contains(ai, "x")', "ai"),
        ('ai[0] == "x"', "ai"),
        ("ai > [1]", "ai"),
        ("array_contains(id, 1)", "id"),
    ]:
        with pytest.raises(MilvusException, match=msg):
            client.query(name, filter=expr, output_fields=["id"])

    # AlterCollectionField: a larger max_capacity and max_length take effect for the next rows.
    with pytest.raises(MilvusException, match="the length \\(7\\) of 0th array exceeds max capacity \\(6\\)"):
        client.insert(name, [dict(make_rows(20_000, 1, 4)[0], ai=list(range(7)))])
    client.alter_collection_field(name, field_name="ai", field_params={"max_capacity": 8})
    client.alter_collection_field(name, field_name="av", field_params={"max_length": 7})
    client.insert(name, [dict(make_rows(20_000, 1, 4)[0], ai=list(range(7)), av=["toolong"])])
    got = client.query(name, filter="id == 20000", output_fields=["ai", "av"])
    assert [(list(r["ai"]), list(r["av"])) for r in got] == [(list(range(7)), ["toolong"])]
    desc = {f["name"]: f for f in client.describe_collection(name)["fields"]}
    assert desc["ai"]["params"]["max_capacity"] == 8 and desc["av"]["params"]["max_length"] == 7
    with pytest.raises(MilvusException, match="max_capacity can only be altered on an Array field"):
        client.alter_collection_field(name, field_name="id", field_params={"max_capacity": 8})
    with pytest.raises(MilvusException, match="should be in \\(0, 4096\\]"):
        client.alter_collection_field(name, field_name="ai", field_params={"max_capacity": 5000})

    # No index on an Array field (as Milvus 2.3/2.4).
    idx = client.prepare_index_params()
    idx.add_index("ai", index_type="INVERTED")
    with pytest.raises(MilvusException, match="create index on Array field is not supported"):
        client.create_index(name, idx)


@pytest.mark.parametrize(
    "add,msg",
    [
        (dict(element_type=DataType.INT64), "type param\\(max_capacity\\) should be specified for array field"),
        (dict(element_type=DataType.INT64, max_capacity=0), "the maximum capacity specified for a Array should be in \\(0, 4096\\]"),
        (dict(element_type=DataType.INT64, max_capacity=4097), "the maximum capacity specified for a Array should be in \\(0, 4096\\]"),
        (dict(element_type=DataType.VARCHAR, max_capacity=4), "type param\\(max_length\\) should be specified for varChar field"),
        (dict(element_type=DataType.JSON, max_capacity=4), "element type JSON is not supported"),
    ],
)
def test_array_schema_errors(client: MilvusClient, collection_name: str, add: dict, msg: str):
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    s.add_field("arr", DataType.ARRAY, **add)
    with pytest.raises(MilvusException, match=msg):
        client.create_collection(collection_name, schema=s)
