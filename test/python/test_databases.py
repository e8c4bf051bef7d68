"""Databases through pymilvus, unchanged: MilvusClient(db_name=...), use_database/using_database, the database DDL.

The same collection name in two databases is two collections: rows, search and query stay in their database.
"""

from __future__ import annotations

import pytest
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

DIM = 4
NAME = "py_shared"


def _rows(ids):
    return [{"id": i, "vector": [float(i), 0.0, 0.0, 0.0]} for i in ids]


def _ids(client: MilvusClient, **kw) -> list[int]:
    rows = client.query(NAME, filter="id >= 0", output_fields=["id"], consistency_level="Strong", **kw)
    return sorted(int(r["id"]) for r in rows)


def _seed(client: MilvusClient, ids) -> None:
    client.create_collection(NAME, dimension=DIM, consistency_level="Strong")
    client.insert(NAME, _rows(ids))


@pytest.fixture
def databases(client: MilvusClient):
    yield ("py_db_a", "py_db_b")
    for db in ("py_db_a", "py_db_b"):
        if db in client.list_databases():
            client.use_database(db)
            for c in client.list_collections():
                client.drop_collection(c)
            client.use_database("default")
            client.drop_database(db)
    client.use_database("default")


def test_two_databases_same_collection_name_isolated(kite_server, client: MilvusClient, databases):
    db_a, db_b = databases
    client.create_database(db_a)
    client.create_database(db_b, properties={"database.max.collections": 4})
    assert {"default", db_a, db_b} <= set(client.list_databases())
    with pytest.raises(MilvusException) as dup:
        client.create_database(db_a)
    assert "database already exist" in str(dup.value.message)

    a = MilvusClient(uri=kite_server.uri, db_name=db_a, timeout=30)
    try:
        _seed(a, [1, 2, 3])
        client.using_database(db_b)  # the older name, still what many applications call
        _seed(client, [10, 20])
        assert _ids(a) == [1, 2, 3]
        assert _ids(client) == [10, 20]
        hits = a.search(NAME, data=[[0.0, 0.0, 0.0, 0.0]], limit=10, output_fields=["id"], consistency_level="Strong")
        assert sorted(int(h["id"]) for h in hits[0]) == [1, 2, 3]
        hits = client.search(NAME, data=[[0.0, 0.0, 0.0, 0.0]], limit=10, output_fields=["id"], consistency_level="Strong")
        assert sorted(int(h["id"]) for h in hits[0]) == [10, 20]
        assert client.describe_collection(NAME)["collection_id"] != a.describe_collection(NAME)["collection_id"]

        client.use_database("default")
        assert not client.has_collection(NAME)

        desc = client.describe_database(db_b)
        assert desc["name"] == db_b
        assert desc["database.max.collections"] == "4"
        client.alter_database_properties(db_a, {"database.max.collections": 3})
        assert client.describe_database(db_a)["database.max.collections"] == "3"
        client.drop_database_properties(db_a, ["database.max.collections"])
        assert "database.max.collections" not in client.describe_database(db_a)
        with pytest.raises(MilvusException) as unknown:
            client.alter_database_properties(db_a, {"database.replica.number": 2})
        assert "database.replica.number" in str(unknown.value.message)

        with pytest.raises(MilvusException) as not_empty:
            client.drop_database(db_a)
        assert "not empty" in str(not_empty.value.message)
        with pytest.raises(MilvusException) as default:
            client.drop_database("default")
        assert "default" in str(default.value.message)

        a.drop_collection(NAME)
        client.drop_database(db_a)
        assert db_a not in client.list_databases()
        client.use_database(db_b)
        assert _ids(client) == [10, 20]
    finally:
        a.close()


def test_unknown_database_refused(kite_server, client: MilvusClient, collection_name: str):
    client.create_collection(collection_name, dimension=DIM)
    with pytest.raises(MilvusException) as err:
        other = MilvusClient(uri=kite_server.uri, db_name="no_such_db", timeout=30)
        try:
            other.has_collection(collection_name)
        finally:
            other.close()
    assert err.value.code == 800
    assert "database not found[database=no_such_db]" in str(err.value.message)
    same = MilvusClient(uri=kite_server.uri, db_name="default", timeout=30)
    try:
        assert same.has_collection(collection_name)
    finally:
        same.close()
