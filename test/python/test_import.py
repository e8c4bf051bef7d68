"""Bulk import through pymilvus, unchanged: pymilvus's LocalBulkWriter writes JSON and Parquet files (BulkFileType.JSON
and PARQUET) into Kite standalone's object store (its local directory, `<data dir>/objects`), utility.do_bulk_insert
imports them, get_bulk_insert_state is polled until the task completes, and query and search then return the rows
that were written (primary keys, scalars, JSON, arrays, vectors, dynamic keys), as do list_bulk_insert_tasks. A
file with a bad row fails the task with a reason naming the file, the row and the field, and none of its rows are
visible.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest
from conftest import _serve
from optional_packages import require
from pymilvus import BulkInsertState, Collection, DataType, MilvusClient, connections, utility

(bulk_writer,) = require("bulk-writer", "pymilvus.bulk_writer")

DIM = 16
ROWS = 1500


@pytest.fixture(scope="module")
def import_server():
    yield from _serve({"KITE_BULK_IMPORT_CHECK_INTERVAL_MS": "200"})


@pytest.fixture(scope="module")
def iclient(import_server):
    c = MilvusClient(uri=import_server.uri, timeout=60)
    connections.connect(alias="import", uri=import_server.uri, timeout=60)
    try:
        yield c
    finally:
        connections.disconnect("import")
        c.close()


def _schema() -> object:
    s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    s.add_field("title", DataType.VARCHAR, max_length=64)
    s.add_field("price", DataType.DOUBLE)
    s.add_field("flag", DataType.BOOL)
    s.add_field("info", DataType.JSON)
    s.add_field("tags", DataType.ARRAY, element_type=DataType.INT32, max_capacity=8)
    return s


def _rows(start: int, n: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    return [
        {
            "id": start + i,
            "vec": [rnd.uniform(-1, 1) for _ in range(DIM)],
            "title": f"title-{start + i}",
            "price": round(rnd.uniform(0, 1000), 3),
            "flag": (start + i) % 2 == 0,
            "info": {"k": (start + i) % 10, "name": f"n{start + i}"},
            "tags": [(start + i) % 5, 7],
            "extra": f"dyn-{start + i}",
        }
        for i in range(n)
    ]


def _write(server, schema, rows: list[dict], file_type) -> list[str]:
    """Writes rows with LocalBulkWriter into the server's object store; returns the object keys of the files."""
    objects = Path(server.data_dir) / "objects"
    root = objects / "bulk"
    writer = bulk_writer.LocalBulkWriter(schema=schema, local_path=str(root), file_type=file_type, chunk_size=64 * 1024 * 1024)
    for r in rows:
        writer.append_row(r)
    writer.commit()
    files = [f for batch in writer.batch_files for f in batch]
    assert files, "the bulk writer wrote no file"
    return [str(Path(f).relative_to(objects)) for f in files]


def _wait(task_id: int, timeout_s: float = 180) -> BulkInsertState:
    deadline = time.time() + timeout_s
    while True:
        st = utility.get_bulk_insert_state(task_id, using="import")
        if st.state in (BulkInsertState.ImportCompleted, BulkInsertState.ImportFailed):
            return st
        assert time.time() < deadline, f"import task {task_id} not done after {timeout_s} s: {st}"
        time.sleep(0.25)


def _wait_count(client: MilvusClient, name: str, n: int, timeout_s: float = 120) -> None:
    deadline = time.time() + timeout_s
    while True:
        got = client.query(name, output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"]
        if got == n:
            return
        assert time.time() < deadline, f"{name} serves {got} rows, expected {n}"
        time.sleep(0.25)


def _create(client: MilvusClient, name: str) -> None:
    client.create_collection(name, schema=_schema(), consistency_level="Strong")
    ip = client.prepare_index_params()
    ip.add_index("vec", index_type="FLAT", metric_type="L2")
    client.create_index(name, ip)
    client.load_collection(name)


@pytest.mark.parametrize("kind", ["JSON", "PARQUET"])
def test_bulk_writer_files_import(import_server, iclient, kind):
    name = f"bulk_{kind.lower()}"
    _create(iclient, name)
    rows = _rows(0, ROWS, 11)
    files = _write(import_server, _schema(), rows, getattr(bulk_writer.BulkFileType, kind))
    task = utility.do_bulk_insert(collection_name=name, files=files, using="import")
    st = _wait(task)
    assert st.state == BulkInsertState.ImportCompleted, st.infos.get("failed_reason")
    assert st.row_count == ROWS
    assert st.progress == 100
    assert st.infos["collection"] == name
    _wait_count(iclient, name, ROWS)

    got = {
        r["id"]: r
        for r in iclient.query(
            name, filter="id in [0, 1, 733, 1499]", output_fields=["*"], consistency_level="Strong"
        )
    }
    for i in (0, 1, 733, 1499):
        want, row = rows[i], got[i]
        assert row["title"] == want["title"]
        assert row["price"] == pytest.approx(want["price"])
        assert row["flag"] == want["flag"]
        assert row["info"] == want["info"]
        assert list(row["tags"]) == want["tags"]
        assert row["extra"] == want["extra"]
        assert row["vec"] == pytest.approx(want["vec"], abs=1e-6)
    odd = iclient.query(name, filter='info["k"] == 3 and extra like "dyn-1%"', output_fields=["id"], consistency_level="Strong")
    assert sorted(r["id"] for r in odd) == sorted(r["id"] for r in rows if r["info"]["k"] == 3 and r["extra"].startswith("dyn-1"))
    hits = iclient.search(name, data=[rows[900]["vec"]], limit=3, output_fields=["title"], consistency_level="Strong")[0]
    assert hits[0]["id"] == 900 and hits[0]["entity"]["title"] == "title-900"

    tasks = utility.list_bulk_insert_tasks(collection_name=name, using="import")
    assert [t.task_id for t in tasks] == [task]
    assert tasks[0].state == BulkInsertState.ImportCompleted


def test_bad_row_fails_the_task_naming_it(import_server, iclient):
    name = "bulk_bad"
    _create(iclient, name)
    rows = _rows(0, 50, 12)
    objects = Path(import_server.data_dir) / "objects"
    path = objects / "bulk-bad" / "rows.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows[23]["title"] = "x" * 100  # longer than max_length 64
    path.write_text(json.dumps({"rows": rows}))
    task = utility.do_bulk_insert(collection_name=name, files=["bulk-bad/rows.json"], using="import")
    st = _wait(task)
    assert st.state == BulkInsertState.ImportFailed
    reason = st.infos["failed_reason"]
    assert "bulk-bad/rows.json" in reason and "row 23" in reason and '"title"' in reason and "max_length" in reason, reason
    assert iclient.query(name, output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"] == 0
    Collection(name, using="import")  # the collection is still usable
