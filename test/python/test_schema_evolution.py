"""Schema evolution through pymilvus 2.6, unchanged: rename (also into another database, aliases kept), truncate,
drop_collection_properties, the collection TTL enforced on reads, and clear refusals of what Kite lacks."""

from __future__ import annotations

import time

import pytest
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException


def _rows(ids):
    return [{"id": i, "vector": [float(i), 0.0, 0.0, 0.0]} for i in ids]


def _count(client: MilvusClient, name: str) -> int:
    return client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"]


def _ids(client: MilvusClient, name: str) -> list[int]:
    return sorted(r["id"] for r in client.query(name, filter="id >= 0", output_fields=["id"], consistency_level="Strong"))


def _until(what, check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        v = check()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def other_db(client: MilvusClient):
    yield "py_evo_db"
    client.use_database("default")
    if "py_evo_db" in client.list_databases():
        client.use_database("py_evo_db")
        for c in client.list_collections():
            client.drop_collection(c)
        client.use_database("default")
        client.drop_database("py_evo_db")


def test_rename_keeps_rows_load_state_and_aliases(client, collection_name):
    client.create_collection(collection_name, dimension=4, consistency_level="Strong")
    client.insert(collection_name, _rows(range(10)))
    alias = f"{collection_name}_a"
    client.create_alias(collection_name, alias)
    new = f"{collection_name}_r"
    try:
        client.rename_collection(collection_name, new)
        assert not client.has_collection(collection_name)
        assert str(client.get_load_state(new)["state"]) == "Loaded"
        assert _ids(client, new) == list(range(10))
        assert client.describe_alias(alias)["collection_name"] == new
        assert _ids(client, alias) == list(range(10))
        client.insert(alias, _rows([10]))
        assert _count(client, new) == 11
        with pytest.raises(MilvusException, match="duplicated new collection name"):
            client.create_collection(collection_name, dimension=4)
            client.rename_collection(collection_name, new)
    finally:
        client.drop_alias(alias)
        for n in (new, collection_name):
            if client.has_collection(n):
                client.drop_collection(n)


def test_rename_into_another_database(client, collection_name, other_db):
    client.create_database(other_db)
    client.create_collection(collection_name, dimension=4, consistency_level="Strong")
    client.insert(collection_name, _rows(range(5)))
    alias = f"{collection_name}_a"
    client.create_alias(collection_name, alias)
    with pytest.raises(MilvusException, match="has aliases"):
        client.rename_collection(collection_name, "moved", target_db=other_db)
    client.drop_alias(alias)
    client.rename_collection(collection_name, "moved", target_db=other_db)
    assert not client.has_collection(collection_name)
    client.use_database(other_db)
    assert client.list_collections() == ["moved"]
    assert _ids(client, "moved") == list(range(5))
    client.use_database("default")
    assert not client.has_collection("moved")


def test_truncate_drops_rows_keeps_schema_index_and_load(client, collection_name):
    client.create_collection(collection_name, dimension=4, consistency_level="Strong")
    client.insert(collection_name, _rows(range(100)))
    client.flush(collection_name)
    client.insert(collection_name, _rows(range(100, 150)))
    assert _count(client, collection_name) == 150
    client.truncate_collection(collection_name)
    assert _count(client, collection_name) == 0
    assert client.search(collection_name, [[1.0, 0.0, 0.0, 0.0]], limit=5)[0] == []
    assert str(client.get_load_state(collection_name)["state"]) == "Loaded"
    assert client.list_indexes(collection_name)
    assert int(client.get_collection_stats(collection_name)["row_count"]) == 0
    client.insert(collection_name, _rows([7, 8]))
    assert _ids(client, collection_name) == [7, 8]
    assert [h["id"] for h in client.search(collection_name, [[7.0, 0.0, 0.0, 0.0]], limit=5)[0]] == [7, 8]


def test_drop_collection_properties_really_drops(client, collection_name):
    client.create_collection(collection_name, dimension=4)
    client.alter_collection_properties(collection_name, {"mmap.enabled": "true", "collection.ttl.seconds": "0"})
    props = client.describe_collection(collection_name)["properties"]
    assert props.get("mmap.enabled") == "true" and "collection.ttl.seconds" in props
    client.drop_collection_properties(collection_name, ["mmap.enabled", "collection.ttl.seconds"])
    props = client.describe_collection(collection_name)["properties"]
    assert "mmap.enabled" not in props and "collection.ttl.seconds" not in props


def test_ttl_hides_expired_rows_from_every_read(client, collection_name):
    client.create_collection(collection_name, dimension=4, consistency_level="Strong", properties={"collection.ttl.seconds": "3"})
    client.insert(collection_name, _rows(range(20)))
    client.flush(collection_name)
    client.insert(collection_name, _rows(range(20, 30)))
    # Visible right after the insert unless the machine was slow enough for them to expire already.
    assert _count(client, collection_name) in (30, 0)
    _until("rows expire", lambda: _count(client, collection_name) == 0, timeout=60)
    assert client.query(collection_name, filter="id >= 0", output_fields=["id"]) == []
    assert client.search(collection_name, [[1.0, 0.0, 0.0, 0.0]], limit=5)[0] == []
    assert int(client.get_collection_stats(collection_name)["row_count"]) == 0
    # Expiry is judged at read time with the current TTL (as Milvus does until compaction purges the rows): a
    # longer TTL makes the stored rows read again, together with new ones.
    client.alter_collection_properties(collection_name, {"collection.ttl.seconds": "3600"})
    client.insert(collection_name, _rows([100]))
    assert _ids(client, collection_name) == list(range(30)) + [100]


def test_alter_collection_field(client, collection_name):
    s = MilvusClient.create_schema(auto_id=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("t", DataType.VARCHAR, max_length=4)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    client.create_collection(collection_name, schema=s, consistency_level="Strong")
    row = {"id": 1, "t": "longer", "vector": [1.0, 0.0, 0.0, 0.0]}
    with pytest.raises(MilvusException, match="max_length|length"):
        client.insert(collection_name, [row])
    client.alter_collection_field(collection_name, "t", field_params={"max_length": 16, "mmap.enabled": True})
    field = next(f for f in client.describe_collection(collection_name)["fields"] if f["name"] == "t")
    assert int(field["params"]["max_length"]) == 16
    assert field["params"]["mmap_enabled"] is True  # pymilvus's name for the mmap.enabled type param
    client.insert(collection_name, [row])
    ip = client.prepare_index_params()
    ip.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_index(collection_name, ip)
    client.load_collection(collection_name)
    assert client.query(collection_name, filter="id == 1", output_fields=["t"])[0]["t"] == "longer"
    with pytest.raises(MilvusException, match="cannot be altered in Kite"):
        client.alter_collection_field(collection_name, "t", field_params={"analyzer_params": "{}"})
    with pytest.raises(MilvusException, match="max_length can only be altered on a VarChar field"):
        client.alter_collection_field(collection_name, "id", field_params={"max_length": 8})


def test_add_collection_field_refuses_a_field_that_is_not_nullable(client, collection_name):
    # test_nullable.py covers adding nullable fields.
    client.create_collection(collection_name, dimension=4)
    with pytest.raises(MilvusException, match="added field must be nullable, please check it, field name = extra"):
        client.add_collection_field(collection_name, "extra", DataType.INT64)
