"""Float16Vector and BFloat16Vector through pymilvus, unchanged: rows inserted as numpy float16 arrays and as raw
bytes, searched with numpy float16 queries and with float32 lists, on growing rows (exact) and on sealed rows
(IVF_FLAT with every list probed: exact; HNSW: by recall), with filters; vectors come back in output fields as the
exact bytes inserted; after a kill -9 and restart (sealed segments reloaded, the rest replayed from the WAL) the
answers are the same. BinaryVector fields (HAMMING, JACCARD; BIN_FLAT, BIN_IVF_FLAT) are searched on growing and
sealed rows with filters and return the bytes inserted; Int8Vector fields (HNSW) likewise. Expected answers are a brute
force in numpy over the values the stored bytes encode.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

from conftest import _start

DIM = 16
NAME = "py_half_vectors"


def bf16_bytes_to_f32(b: bytes) -> np.ndarray:
    """bfloat16 bytes widened to float32 (the bfloat16 is the float32's high half)."""
    u = np.frombuffer(b, dtype="<u2").astype(np.uint32) << 16
    return u.view(np.float32)


def f32_to_bf16_bytes(v: np.ndarray) -> bytes:
    """float32 values rounded to nearest-even bfloat16, as bytes."""
    u = np.asarray(v, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype("<u2").tobytes()


def make_rows(start: int, n: int, seed: int) -> list[dict]:
    rnd = np.random.default_rng(seed)
    centres = rnd.uniform(-1, 1, size=(16, DIM))
    rows = []
    for i in range(start, start + n):
        a = centres[rnd.integers(16)] + rnd.normal(0, 0.15, DIM)
        b = centres[rnd.integers(16)] + rnd.normal(0, 0.15, DIM)
        rows.append({"id": i, "tag": i % 100, "f16": a.astype(np.float16), "bf16": f32_to_bf16_bytes(b)})
    return rows


def as_sent(r: dict) -> dict:
    """Even rows: a numpy float16 array and bfloat16 bytes; odd rows: both as bytes."""
    f16 = r["f16"] if r["id"] % 2 == 0 else r["f16"].tobytes()
    return {"id": r["id"], "tag": r["tag"], "f16": f16, "bf16": r["bf16"]}


def values(r: dict, field: str) -> np.ndarray:
    return r["f16"].astype(np.float32) if field == "f16" else bf16_bytes_to_f32(r["bf16"])


def stored_bytes(r: dict, field: str) -> bytes:
    return r["f16"].tobytes() if field == "f16" else r["bf16"]


def brute_force(rows: dict, field: str, metric: str, q: np.ndarray, k: int, keep=lambda r: True) -> list[tuple[int, float]]:
    ids = [i for i, r in rows.items() if keep(r)]
    m = np.stack([values(rows[i], field) for i in ids]).astype(np.float64)
    qq = q.astype(np.float64)
    if metric == "L2":
        s = ((m - qq) ** 2).sum(axis=1)
        order = np.argsort(s, kind="stable")
    else:
        s = (m @ qq) / (np.linalg.norm(m, axis=1) * np.linalg.norm(qq))
        order = np.argsort(-s, kind="stable")
    return [(ids[j], float(s[j])) for j in order[:k]]


QUERIES = make_rows(0, 6, 99)


def as_bytes(v) -> bytes:
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    if isinstance(v, list) and v and isinstance(v[0], (bytes, bytearray)):
        return b"".join(v)
    if isinstance(v, np.ndarray):
        return v.tobytes()
    raise AssertionError(f"unexpected vector output {type(v)}: {v!r:.200}")


@pytest.fixture(scope="module")
def server():
    data_dir = Path(tempfile.mkdtemp(prefix="kite-pytest-vt-"))
    holder = {"server": _start(data_dir)}
    try:
        yield holder
    finally:
        holder["server"].stop()
        if not os.environ.get("KITE_KEEP_TEST_DATA"):
            shutil.rmtree(data_dir, ignore_errors=True)


def wait_indexed(client: MilvusClient, field: str) -> None:
    deadline = time.time() + 120
    info = {}
    while time.time() < deadline:
        info = client.describe_index(NAME, index_name=field)
        if info.get("state") == "Finished" and int(info.get("pending_index_rows", 0)) == 0 and int(info.get("indexed_rows", 0)) > 0:
            return
        time.sleep(0.25)
    raise AssertionError(f"index on {field} not built in time: {info}")


def check(client: MilvusClient, rows: dict, field: str, metric: str, what: str, k: int = 10, flt: str = "", keep=lambda r: True, params=None, min_recall=None, float_queries=False):
    qs = [values(q, field) for q in QUERIES]
    if field == "f16" and not float_queries:
        data = [q["f16"] for q in QUERIES]
    else:
        # float32 lists: the server takes FloatVector queries on half-precision fields too
        data = [q.tolist() for q in qs]
        if field == "f16":
            qs = [np.asarray(q, dtype=np.float32) for q in qs]
    res = client.search(NAME, data=data, anns_field=field, limit=k, filter=flt, output_fields=["id"], search_params={"params": params or {}}, consistency_level="Strong")
    for i, hits in enumerate(res):
        want = brute_force(rows, field, metric, qs[i], k, keep)
        got = [h["id"] for h in hits]
        if min_recall is not None:
            r = len(set(got) & {w[0] for w in want}) / len(want)
            assert r >= min_recall, f"{what}: query {i}: recall {r}"
        else:
            # Exact: rank by rank the reference's distance, and each hit scores as the reference scores that row. Rows
            # whose distances differ by less than float32 rounding may swap places (the server ranks in float32).
            truth = dict(brute_force(rows, field, metric, qs[i], len(rows), keep))
            close = lambda a, b: abs(a - b) <= 1e-3 * max(1.0, abs(b))  # noqa: E731
            assert len(got) == len(set(got)) == len(want), f"{what}: query {i}: {got}"
            for j, (h, w) in enumerate(zip(hits, want)):
                assert close(h["distance"], w[1]), f"{what}: query {i} rank {j}: {h['distance']} vs {w[1]}"
                assert h["id"] in truth and close(h["distance"], truth[h["id"]]), f"{what}: query {i}: id {h['id']}"


def check_bytes(client: MilvusClient, rows: dict, ids: list[int], what: str) -> None:
    got = client.query(NAME, filter=f"id in {ids}", output_fields=["id", "f16", "bf16"], consistency_level="Strong")
    assert sorted(r["id"] for r in got) == sorted(ids), what
    for r in got:
        for field in ("f16", "bf16"):
            assert as_bytes(r[field]) == stored_bytes(rows[r["id"]], field), f"{what}: row {r['id']} {field}"


def test_half_precision_end_to_end(server):
    client = MilvusClient(uri=server["server"].uri, timeout=60)
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("tag", DataType.INT32)
    schema.add_field("f16", DataType.FLOAT16_VECTOR, dim=DIM)
    schema.add_field("bf16", DataType.BFLOAT16_VECTOR, dim=DIM)
    idx = client.prepare_index_params()
    idx.add_index("f16", index_type="IVF_FLAT", metric_type="L2", params={"nlist": 8})
    idx.add_index("bf16", index_type="AUTOINDEX", metric_type="COSINE")
    client.create_collection(NAME, schema=schema, index_params=idx, consistency_level="Strong")
    fields = {f["name"]: f for f in client.describe_collection(NAME)["fields"]}
    assert fields["f16"]["type"] == DataType.FLOAT16_VECTOR and fields["f16"]["params"]["dim"] == DIM
    assert fields["bf16"]["type"] == DataType.BFLOAT16_VECTOR

    rows: dict[int, dict] = {}

    def insert(batch: list[dict]) -> None:
        res = client.insert(NAME, [as_sent(r) for r in batch])
        assert res["insert_count"] == len(batch)
        rows.update({r["id"]: r for r in batch})

    insert(make_rows(0, 1500, 1))
    check(client, rows, "f16", "L2", "growing f16")
    check(client, rows, "f16", "L2", "growing f16, float32 queries", float_queries=True)
    check(client, rows, "bf16", "COSINE", "growing bf16")
    check(client, rows, "f16", "L2", "growing f16, filtered", flt="tag < 30", keep=lambda r: r["tag"] < 30)
    check_bytes(client, rows, [0, 1, 2, 777, 1499], "growing")

    client.flush(NAME)
    wait_indexed(client, "f16")
    wait_indexed(client, "bf16")
    insert(make_rows(5000, 200, 2))
    check(client, rows, "f16", "L2", "sealed IVF_FLAT + growing", params={"nprobe": 8})
    check(client, rows, "f16", "L2", "sealed IVF_FLAT, filtered", params={"nprobe": 8}, flt="tag % 3 == 0", keep=lambda r: r["tag"] % 3 == 0)
    check(client, rows, "bf16", "COSINE", "sealed HNSW + growing", params={"ef": 200}, min_recall=0.9)
    check_bytes(client, rows, [0, 1, 2, 777, 1499, 5000, 5001], "sealed")

    # kill -9 with rows only in the WAL, then a restart on the same data directory.
    insert(make_rows(8000, 100, 3))
    client.close()
    old = server["server"]
    os.killpg(old.process.pid, signal.SIGKILL)
    old.process.wait(timeout=30)
    server["server"] = _start(old.data_dir)
    client = MilvusClient(uri=server["server"].uri, timeout=60)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if client.get_load_state(NAME)["state"].name == "Loaded":
                n = client.query(NAME, filter="", output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"]
                if n == len(rows):
                    break
        except MilvusException:
            pass
        time.sleep(0.25)
    else:
        raise AssertionError("collection not served again after the restart")
    check(client, rows, "f16", "L2", "after restart f16", params={"nprobe": 8})
    check(client, rows, "bf16", "COSINE", "after restart bf16", params={"ef": 200}, min_recall=0.9)
    check_bytes(client, rows, [0, 1, 5000, 8000, 8099], "after restart")

    # Bad input names the field.
    with pytest.raises(MilvusException, match=r'field "f16": row 0 holds NaN or Infinity'):
        client.insert(NAME, [{"id": 9001, "tag": 1, "f16": np.full(DIM, np.nan, dtype=np.float16), "bf16": bytes(2 * DIM)}])
    with pytest.raises(MilvusException, match=r"query vector 0 has dimension 4, but field f16 has dim 16"):
        client.search(NAME, data=[np.zeros(4, dtype=np.float16)], anns_field="f16", limit=3)
    client.close()


def test_int8_vectors(client: MilvusClient, collection_name: str):
    dim = 16
    rnd = np.random.default_rng(9)
    centres = rnd.integers(-100, 100, size=(10, dim))
    vecs = np.clip(centres[rnd.integers(0, 10, 1200)] + rnd.integers(-20, 20, size=(1200, dim)), -128, 127).astype(np.int8)
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.INT8_VECTOR, dim=dim)
    bad = client.prepare_index_params()
    bad.add_index("v", index_type="IVF_FLAT", metric_type="L2", params={"nlist": 8})
    client.create_collection(collection_name, schema=schema, consistency_level="Strong")
    with pytest.raises(MilvusException, match=r'index_type "IVF_FLAT" is not supported for Int8Vector field v; use HNSW or AUTOINDEX'):
        client.create_index(collection_name, bad)
    idx = client.prepare_index_params()
    idx.add_index("v", index_type="AUTOINDEX", metric_type="IP")
    client.create_index(collection_name, idx)
    client.load_collection(collection_name)
    # numpy int8 arrays and raw bytes
    client.insert(collection_name, [{"id": i, "v": vecs[i] if i % 2 == 0 else vecs[i].tobytes()} for i in range(len(vecs))])
    queries = vecs[[5, 600, 1100]]

    def check(what: str, min_recall=None):
        # Inner products of int8 vectors are whole numbers: rows tie often, so a hit is right when its true score is
        # what the server reported and at least the k-th best score, and the scores are the brute force's, in order.
        got = client.search(collection_name, data=list(queries), anns_field="v", limit=10, search_params={"params": {"ef": 200}}, consistency_level="Strong")
        for i, hits in enumerate(got):
            s = vecs.astype(np.float64) @ queries[i].astype(np.float64)
            best = np.sort(s)[::-1][:10]
            good = [h for h in hits if float(s[h["id"]]) == h["distance"] and s[h["id"]] >= best[-1]]
            if min_recall is None:
                assert [h["distance"] for h in hits] == [float(x) for x in best], f"{what}: query {i}"
                assert len(good) == len(hits) == 10, f"{what}: query {i}"
            else:
                assert len(good) / 10 >= min_recall, f"{what}: query {i}"

    check("growing")
    client.flush(collection_name)
    deadline = time.time() + 120
    while time.time() < deadline:
        info = client.describe_index(collection_name, index_name="v")
        if info.get("state") == "Finished" and int(info.get("pending_index_rows", 0)) == 0 and int(info.get("indexed_rows", 0)) > 0:
            break
        time.sleep(0.25)
    check("sealed HNSW", min_recall=0.8)
    rows = client.query(collection_name, filter="id in [0, 7, 1199]", output_fields=["v"], consistency_level="Strong")
    assert {r["id"]: as_bytes(r["v"]) for r in rows} == {i: vecs[i].tobytes() for i in (0, 7, 1199)}


def popcount_rows(x: np.ndarray) -> np.ndarray:
    return np.unpackbits(x, axis=-1).sum(axis=-1)


def binary_brute_force(codes: np.ndarray, ids: np.ndarray, metric: str, q: np.ndarray, k: int) -> list[tuple[int, float]]:
    if metric == "HAMMING":
        d = popcount_rows(np.bitwise_xor(codes, q)).astype(np.float64)
    else:
        inter = popcount_rows(np.bitwise_and(codes, q)).astype(np.float64)
        union = popcount_rows(np.bitwise_or(codes, q)).astype(np.float64)
        d = np.where(union == 0, 0.0, 1.0 - inter / np.maximum(union, 1)).astype(np.float32).astype(np.float64)
    order = np.lexsort((ids, d))
    return [(int(ids[j]), float(d[j])) for j in order[:k]]


@pytest.mark.parametrize("metric,index_type", [("HAMMING", "BIN_FLAT"), ("JACCARD", "BIN_IVF_FLAT")])
def test_binary_vectors(client: MilvusClient, collection_name: str, metric: str, index_type: str):
    dim = 128
    rnd = np.random.default_rng(5)
    centres = rnd.integers(0, 256, size=(8, dim // 8), dtype=np.uint8)
    n = 1200
    flips = np.packbits(rnd.random((n, dim)) < 0.12, axis=1)
    codes = np.bitwise_xor(centres[rnd.integers(0, 8, n)], flips)
    ids = np.arange(n)

    bad = client.create_schema(auto_id=False)
    bad.add_field("id", DataType.INT64, is_primary=True)
    bad.add_field("b", DataType.BINARY_VECTOR, dim=12)
    with pytest.raises(MilvusException, match=r'field "b": invalid dimension: 12. should be multiple of 8.'):
        client.create_collection(collection_name, schema=bad)

    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("tag", DataType.INT32)
    schema.add_field("b", DataType.BINARY_VECTOR, dim=dim)
    idx = client.prepare_index_params()
    idx.add_index("b", index_type=index_type, metric_type=metric, params={"nlist": 8} if index_type == "BIN_IVF_FLAT" else {})
    client.create_collection(collection_name, schema=schema, index_params=idx, consistency_level="Strong")
    assert client.describe_collection(collection_name)["fields"][2]["type"] == DataType.BINARY_VECTOR
    res = client.insert(collection_name, [{"id": int(i), "tag": int(i % 10), "b": codes[i].tobytes()} for i in ids])
    assert res["insert_count"] == n
    queries = np.bitwise_xor(codes[[3, 500, 999]], np.packbits(rnd.random((3, dim)) < 0.05, axis=1))

    def check(what: str, flt: str = "", keep=None):
        mask = np.ones(n, dtype=bool) if keep is None else keep
        got = client.search(collection_name, data=[q.tobytes() for q in queries], anns_field="b", limit=10, filter=flt, search_params={"params": {"nprobe": 8}}, consistency_level="Strong")
        for i, hits in enumerate(got):
            want = binary_brute_force(codes[mask], ids[mask], metric, queries[i], 10)
            assert [(h["id"], round(h["distance"], 5)) for h in hits] == [(w[0], round(w[1], 5)) for w in want], f"{what}: query {i}"

    check("growing")
    check("growing, filtered", "tag == 3", ids % 10 == 3)
    client.flush(collection_name)
    deadline = time.time() + 120
    while time.time() < deadline:
        info = client.describe_index(collection_name, index_name="b")
        if info.get("state") == "Finished" and int(info.get("pending_index_rows", 0)) == 0 and int(info.get("indexed_rows", 0)) > 0:
            break
        time.sleep(0.25)
    check("sealed")
    check("sealed, filtered", "tag in [1, 2]", (ids % 10 == 1) | (ids % 10 == 2))
    rows = client.query(collection_name, filter="id in [0, 7, 1199]", output_fields=["b"], consistency_level="Strong")
    assert {r["id"]: as_bytes(r["b"]) for r in rows} == {i: codes[i].tobytes() for i in (0, 7, 1199)}
    with pytest.raises(MilvusException, match=r"metric type L2 not found or not supported for BinaryVector field b, supported: \[HAMMING JACCARD\]"):
        client.release_collection(collection_name)
        client.drop_index(collection_name, "b")
        ip = client.prepare_index_params()
        ip.add_index("b", index_type="BIN_FLAT", metric_type="L2")
        client.create_index(collection_name, ip)
