"""Nullable fields, default values and add_collection_field through pymilvus 2.6, unchanged, checked against a brute
force over the rows the test inserted: NULLs read back as None on every scalar type and JSON (sealed and growing
rows), `is null` / `is not null` and comparisons with NULL operands (never true, `!=` and `not` included), default
values filled in and described back, Milvus's refusals, and a nullable field added to a loaded collection."""

from __future__ import annotations

import math
import time

import pytest
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

N = 240

# name, type, value of row i, extra field params; each column is NULL in a different third of the rows.
NULLABLE = [
    ("b", DataType.BOOL, lambda i: i % 2 == 0, {}),
    ("i8", DataType.INT8, lambda i: (i % 200) - 100, {}),
    ("i16", DataType.INT16, lambda i: i * 7 - 500, {}),
    ("i32", DataType.INT32, lambda i: i % 50, {}),
    ("i64", DataType.INT64, lambda i: i * 3, {}),
    ("f", DataType.FLOAT, lambda i: i / 4, {}),
    ("d", DataType.DOUBLE, lambda i: i / 8 - 10, {}),
    ("s", DataType.VARCHAR, lambda i: f"{'abc'[i % 3]}{i}", {"max_length": 32}),
    ("j", DataType.JSON, lambda i: {"k": i % 5}, {}),
]
ALL = [n for n, *_ in NULLABLE] + ["dv", "ds"]


def _row(i: int) -> dict:
    r = {"id": i, "vector": [math.sin(i), math.cos(i), (i % 17) / 17, (i % 5) / 5]}
    for k, (name, _, value, _) in enumerate(NULLABLE):
        r[name] = None if (i + k) % 3 == 0 else value(i)
    if i % 4 != 0:
        r["dv"] = i
    r["ds"] = None if i % 5 == 0 else f"t{i % 3}"
    return r


def _expected(r: dict) -> dict:
    e = dict(r)
    e["dv"] = r.get("dv", 42)
    e["ds"] = "none" if r["ds"] is None else r["ds"]
    return e


def _cmp(v, test):
    return None if v is None else test(v)


def _not(t):
    return None if t is None else not t


def _and(a, b):
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


FILTERS = [
    ("i32 is null", lambda r: r["i32"] is None),
    ("i32 IS NOT NULL", lambda r: r["i32"] is not None),
    ("j is null", lambda r: r["j"] is None),
    ("i32 > 40", lambda r: _cmp(r["i32"], lambda x: x > 40)),
    ("i32 != 5", lambda r: _cmp(r["i32"], lambda x: x != 5)),
    ("not (i32 > 40)", lambda r: _not(_cmp(r["i32"], lambda x: x > 40))),
    ("i64 in [0, 3, 6, 9, 600]", lambda r: _cmp(r["i64"], lambda x: x in (0, 3, 6, 9, 600))),
    ("i64 >= 100 and i64 < 400", lambda r: _and(_cmp(r["i64"], lambda x: x >= 100), _cmp(r["i64"], lambda x: x < 400))),
    ('s like "a%"', lambda r: _cmp(r["s"], lambda x: x.startswith("a"))),
    ("d + 1 > 5", lambda r: _cmp(r["d"], lambda x: x + 1 > 5)),
    ("b == true", lambda r: _cmp(r["b"], lambda x: x)),
    ('j["k"] == 2', lambda r: _cmp(r["j"], lambda x: x["k"] == 2)),
    ("dv == 42", lambda r: r["dv"] == 42),
    ('ds == "none"', lambda r: r["ds"] == "none"),
]


def _schema(client: MilvusClient):
    s = client.create_schema(auto_id=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    for name, dtype, _, extra in NULLABLE:
        s.add_field(name, dtype, nullable=True, **extra)
    s.add_field("dv", DataType.INT64, default_value=42)
    s.add_field("ds", DataType.VARCHAR, max_length=8, nullable=True, default_value="none")
    return s


def _same(got, want) -> bool:
    if want is None or got is None:
        return got is None and want is None
    if isinstance(want, float):
        return math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-6)
    return got == want


def test_nulls_and_defaults_on_every_scalar_type_against_brute_force(client: MilvusClient, collection_name: str):
    ip = client.prepare_index_params()
    ip.add_index("vector", index_type="FLAT", metric_type="L2")
    ip.add_index("i64", index_type="STL_SORT")
    ip.add_index("s", index_type="INVERTED")
    client.create_collection(collection_name, schema=_schema(client), index_params=ip, consistency_level="Strong")
    fields = {f["name"]: f for f in client.describe_collection(collection_name)["fields"]}
    assert all(fields[n].get("nullable") for n, *_ in NULLABLE)
    assert fields["dv"]["default_value"].long_data == 42 and not fields["dv"].get("nullable")
    assert fields["ds"]["default_value"].string_data == "none"

    rows = [_row(i) for i in range(N)]
    client.insert(collection_name, rows[:160])
    client.flush(collection_name)
    client.insert(collection_name, rows[160:])
    want = {r["id"]: _expected(r) for r in rows}

    got = client.query(collection_name, filter="id >= 0", output_fields=ALL, limit=N + 10)
    assert len(got) == N
    for g in got:
        w = want[g["id"]]
        for name in ALL:
            assert _same(g[name], w[name]), (g["id"], name, g[name], w[name])

    for expr, pred in FILTERS:
        ids = sorted(r["id"] for r in client.query(collection_name, filter=expr, output_fields=["id"], limit=N + 10))
        truth = sorted(i for i, r in want.items() if pred(r) is True)
        assert ids == truth, expr

    q = [0.3, 0.9, 0.2, 0.4]
    hits = client.search(collection_name, [q], limit=8, filter="i32 is not null and s is null", output_fields=["i32", "s", "j"])[0]
    dist = lambda r: sum((a - b) ** 2 for a, b in zip(q, r["vector"]))  # noqa: E731
    truth = sorted((r for r in want.values() if r["i32"] is not None and r["s"] is None), key=dist)[:8]
    assert [h["id"] for h in hits] == [r["id"] for r in truth]
    for h in hits:
        assert h["entity"]["s"] is None and h["entity"]["i32"] == want[h["id"]]["i32"] and h["entity"]["j"] == want[h["id"]]["j"]


def test_group_by_a_nullable_field_is_refused(client: MilvusClient, collection_name: str):
    s = client.create_schema(auto_id=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    s.add_field("g", DataType.INT64, nullable=True)
    ip = client.prepare_index_params()
    ip.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_collection(collection_name, schema=s, index_params=ip, consistency_level="Strong")
    client.insert(collection_name, [{"id": i, "vector": [i, 0, 0, 0], "g": None if i % 2 else i % 3} for i in range(10)])
    with pytest.raises(MilvusException, match="group_by_field g is nullable"):
        client.search(collection_name, [[0, 0, 0, 0]], limit=3, group_by_field="g")


@pytest.mark.parametrize(
    "field, message",
    [
        (dict(field_name="id2", datatype=DataType.INT64, nullable=True), "primary field not support null"),
        (dict(field_name="v", datatype=DataType.FLOAT_VECTOR, dim=4, nullable=True), "vector type not support null, type:FloatVector, fieldName:v"),
        (dict(field_name="k", datatype=DataType.INT64, is_partition_key=True, nullable=True), "partition key field not support nullable"),
        (dict(field_name="s", datatype=DataType.VARCHAR, max_length=2, default_value="abcd"), r"the length \(4\) of string exceeds max length \(2\)"),
        (dict(field_name="j", datatype=DataType.JSON, default_value=3), "type not support default_value, type:JSON, name:j"),
        (dict(field_name="x", datatype=DataType.INT32, default_value=3), r"type \(Int32\) of field \(x\) is not equal to the type\(DataType_Int64\) of default_value"),
    ],
)
def test_refusals_with_milvus_messages(client: MilvusClient, collection_name: str, field, message):
    s = client.create_schema(auto_id=False)
    if field["field_name"] == "id2":
        s.add_field(**field, is_primary=True)
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    else:
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
        s.add_field(**field)
    with pytest.raises(MilvusException, match=message):
        client.create_collection(collection_name, schema=s)


def test_add_collection_field_to_a_loaded_collection(client: MilvusClient, collection_name: str):
    client.create_collection(collection_name, dimension=4, consistency_level="Strong")
    vec = lambda i: [float(i), 1.0, 0.0, 0.0]  # noqa: E731
    client.insert(collection_name, [{"id": i, "vector": vec(i)} for i in range(40)])
    client.flush(collection_name)
    client.insert(collection_name, [{"id": i, "vector": vec(i)} for i in range(40, 60)])

    with pytest.raises(MilvusException, match="added field must be nullable, please check it, field name = x"):
        client.add_collection_field(collection_name, "x", DataType.INT64)
    with pytest.raises(MilvusException, match="not support to add vector field, field name = v2"):
        client.add_collection_field(collection_name, "v2", DataType.FLOAT_VECTOR, dim=4, nullable=True)
    client.add_collection_field(collection_name, "tag", DataType.VARCHAR, max_length=16, nullable=True)
    client.add_collection_field(collection_name, "level", DataType.INT64, nullable=True, default_value=7)
    fields = {f["name"]: f for f in client.describe_collection(collection_name)["fields"]}
    assert fields["tag"].get("nullable") and fields["level"]["default_value"].long_data == 7

    new = [{"id": 100 + i, "vector": vec(100 + i), "tag": None if i % 3 == 0 else f"t{i % 2}", **({"level": i} if i % 4 else {})} for i in range(20)]
    client.insert(collection_name, new[:10])
    client.flush(collection_name)
    client.insert(collection_name, new[10:])
    truth = {i: (None, 7) for i in range(60)}
    truth.update({r["id"]: (r["tag"], r.get("level", 7)) for r in new})

    got = client.query(collection_name, filter="id >= 0", output_fields=["tag", "level"], limit=1000)
    assert {g["id"]: (g["tag"], g["level"]) for g in got} == truth
    for expr, pred in [
        ("tag is null", lambda t: t[0] is None),
        ('tag != "t1"', lambda t: t[0] is not None and t[0] != "t1"),
        ("level == 7", lambda t: t[1] == 7),
        ("level > 7", lambda t: t[1] > 7),
    ]:
        ids = sorted(r["id"] for r in client.query(collection_name, filter=expr, output_fields=["id"], limit=1000))
        assert ids == sorted(i for i, t in truth.items() if pred(t)), expr
    hit = client.search(collection_name, [vec(3)], limit=1, output_fields=["tag", "level"])[0][0]
    assert (hit["id"], hit["entity"]["tag"], hit["entity"]["level"]) == (3, None, 7)

    # Scalar indexes on the added fields, built over segments written before the field existed (their rows: NULL,
    # or the default), give the scan's answers.
    client.release_collection(collection_name)
    ip = client.prepare_index_params()
    ip.add_index("level", index_type="STL_SORT")
    ip.add_index("tag", index_type="INVERTED")
    client.create_index(collection_name, ip)
    deadline = time.monotonic() + 120
    while not all(client.describe_index(collection_name, f).get("state") == "Finished" for f in ("level", "tag")):
        assert time.monotonic() < deadline, [client.describe_index(collection_name, f) for f in ("level", "tag")]
        time.sleep(0.3)
    client.load_collection(collection_name)
    for expr, pred in [
        ("level == 7", lambda t: t[1] == 7),
        ("level != 7", lambda t: t[1] != 7),
        ("level < 5", lambda t: t[1] < 5),
        ('tag == "t1"', lambda t: t[0] == "t1"),
        ("tag is null", lambda t: t[0] is None),
    ]:
        ids = sorted(r["id"] for r in client.query(collection_name, filter=expr, output_fields=["id"], limit=1000))
        assert ids == sorted(i for i, t in truth.items() if pred(t)), f"indexed: {expr}"


def test_recreate_with_other_nullability_or_default_is_refused(client: MilvusClient, collection_name: str):
    def schema(nullable: bool, default):
        s = client.create_schema(auto_id=False)
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
        s.add_field("n", DataType.INT64, nullable=nullable, **({} if default is None else {"default_value": default}))
        return s

    client.create_collection(collection_name, schema=schema(True, 1))
    client.create_collection(collection_name, schema=schema(True, 1))  # identical: accepted, as Milvus does
    for nullable, default in ((False, 1), (True, 2), (True, None)):
        with pytest.raises(MilvusException, match="already exists with a different schema"):
            client.create_collection(collection_name, schema=schema(nullable, default))
