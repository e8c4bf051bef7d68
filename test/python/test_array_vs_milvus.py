"""Array fields on Kite against real Milvus 2.3.5: the same pymilvus script, run against both servers, must give the
same answers.

Run as a script (`python test_array_vs_milvus.py URI`) it runs every case against the server at URI and prints one JSON
object: case name -> {"ok": result} or {"error": message}. Collected by pytest, `test_array_matches_milvus` starts
Kite (conftest's server) and Milvus 2.3.5 (`milvus-server` of the Milvus virtualenv, KITE_MILVUS_VENV, default
.cache/milvus-venv, on free ports), runs this file as a script with that virtualenv's pymilvus (2.3.7, the client of
that Milvus) against each, and compares case by case: results equal, or both refused (Kite's message must contain
Milvus's where the case says so). The comparison is written to KITE_ARRAY_DIFF_OUT when set. Milvus's own documented
semantics win where they differ; the cases where Kite knowingly differs are listed in KNOWN_DIFFERENCES with the reason.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N_SEALED = 200
N_GROWING = 100
DIM = 4

# Filters evaluated on both servers (ids compared as sets).
FILTERS = [
    "array_contains(ai, 3)",
    "ARRAY_CONTAINS(ai, 3)",
    "array_contains_all(ai, [1, 2])",
    "ARRAY_CONTAINS_ALL(ai, [1, 2])",
    "array_contains_any(ai, [7, 9])",
    "ARRAY_CONTAINS_ANY(ai, [7, 9])",
    "array_contains_all(ai, [])",
    "array_contains_any(ai, [])",
    "not array_contains(ai, 3)",
    'array_contains(av, "b")',
    'array_contains_any(av, ["dd", "eee"])',
    'array_contains_all(av, ["a", "c"])',
    "array_contains(a8, -5)",
    "array_contains(af, 0.5)",
    "array_contains(ab, true)",
    "array_length(ai) == 2",
    "ARRAY_LENGTH(ai) == 2",
    "array_length(ai) != 0",
    "json_contains(ai, 3)",
    "json_contains_any(av, [\"a\", \"b\"])",
    "array_length(ai) > 3",
    "array_length(av) == 0",
    "ai[0] == 1",
    "ai[0] in [1, 2]",
    "ai[0] not in [1, 2]",
    "ai[5] > 0",
    "ai[0] > 4 and ai[1] < 3",
    "ai[0] != 4",
    "ai[3] != 1",
    "ai[0] + 1 != 3",
    "not (ai[0] == 4)",
    "a8[0] < 0",
    "af[0] > 0.5",
    "ad[1] <= 1.25",
    "ab[0] == true",
    'av[0] == "a"',
    'av[1] like "d%"',
    "ai[0] + 1 == 3",
    "ai[0] * 2 > 10",
    'array_contains(meta["list"], 2)',
    'json_contains(meta["list"], 2)',
    'json_contains_any(meta["list"], [1, 8])',
    'json_contains_all(meta["list"], [1, 2])',
    # Refused by both (type mismatches, misuse).
    'array_contains(ai, "x")',
    'ai[0] == "x"',
    "ai == 1",
    "ai > [1]",
    'av[0] > 1',
    "array_contains(id, 1)",
]

# Where Kite knowingly differs from Milvus 2.3.5: case -> (why, Kite's expected result). Filters' expected results are
# computed by brute force over the inserted rows; the test checks Kite gives exactly that.
KNOWN_DIFFERENCES: dict[str, tuple[str, object]] = {
    "insert_varchar_too_long": (
        "Milvus 2.3.5 stores VarChar elements longer than max_length; Milvus 2.4+ refuses them (max_length applies to "
        "each element, as its documentation says), and so does Kite",
        "error",
    ),
    "filter: array_contains_all(ai, [])": (
        "Milvus 2.3.5's grammar has no empty list; Kite reads it: every row contains all of no values",
        lambda r: True,
    ),
    "filter: array_contains_any(ai, [])": (
        "Milvus 2.3.5's grammar has no empty list; Kite reads it: no row contains any of no values",
        lambda r: False,
    ),
    "filter: array_length(ai) > 3": (
        "Milvus 2.3.5 compares array_length only with == and != ('GreaterThan is not supported in execution backend'); "
        "Milvus 2.4+ takes every comparison, as Kite does",
        lambda r: len(r["ai"]) > 3,
    ),
    "filter: ai[0] * 2 > 10": (
        "Milvus 2.3.5 compares arithmetic only with == and !=; Milvus 2.4+ takes every comparison, as Kite does",
        lambda r: len(r["ai"]) > 0 and r["ai"][0] * 2 > 10,
    ),
}


def expected_known(name: str):
    """Kite's expected result for a known difference: "error", or the sorted ids a filter selects."""
    want = KNOWN_DIFFERENCES[name][1]
    if want == "error":
        return want
    return sorted(r["id"] for r in rows(0, N_SEALED, 1) + rows(N_SEALED, N_GROWING, 2) if want(r))


def rows(start: int, n: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for i in range(start, start + n):
        out.append({
            "id": i,
            "v": [rnd.uniform(-1, 1) for _ in range(DIM)],
            "ai": [rnd.randrange(10) for _ in range(rnd.randrange(7))],
            "a8": [rnd.randrange(-5, 6) for _ in range(rnd.randrange(5))],
            "av": [rnd.choice(["a", "b", "c", "dd", "eee"]) for _ in range(rnd.randrange(5))],
            "af": [rnd.randrange(-4, 5) / 4 for _ in range(rnd.randrange(4))],
            "ad": [rnd.randrange(-8, 9) / 4 for _ in range(rnd.randrange(4))],
            "ab": [rnd.random() < 0.5 for _ in range(rnd.randrange(4))],
            "meta": {"list": [rnd.randrange(10) for _ in range(rnd.randrange(4))]},
        })
    return out


def run_cases(uri: str) -> dict:
    from pymilvus import Collection, CollectionSchema, DataType, FieldSchema, connections, utility

    connections.connect(uri=uri)
    res: dict = {}

    def case(name, fn):
        try:
            res[name] = {"ok": fn()}
        except Exception as err:  # the server's refusal is the result
            res[name] = {"error": str(getattr(err, "message", err))}

    pk = FieldSchema("id", DataType.INT64, is_primary=True)
    vec = FieldSchema("v", DataType.FLOAT_VECTOR, dim=DIM)

    def create(name, extra, pkf=None):
        if utility.has_collection(name):
            utility.drop_collection(name)
        Collection(name, CollectionSchema([pkf or pk, vec, *extra]))
        fields = [f.to_dict() for f in Collection(name).schema.fields]
        utility.drop_collection(name)
        return [{"name": f["name"], "type": str(f["type"]), "params": {k: str(v) for k, v in (f.get("params") or {}).items()},
                 "element_type": str(f.get("element_type"))} for f in fields]

    arr = lambda name, et, **kw: FieldSchema(name, DataType.ARRAY, element_type=et, **kw)  # noqa: E731
    case("schema_ok", lambda: create("arr_schema_ok", [arr("a", DataType.INT64, max_capacity=5), arr("s", DataType.VARCHAR, max_capacity=3, max_length=10)]))
    case("schema_no_capacity", lambda: create("arr_s1", [arr("a", DataType.INT64)]))
    case("schema_capacity_0", lambda: create("arr_s2", [arr("a", DataType.INT64, max_capacity=0)]))
    case("schema_capacity_4096", lambda: create("arr_s3", [arr("a", DataType.INT64, max_capacity=4096)]))
    case("schema_capacity_4097", lambda: create("arr_s4", [arr("a", DataType.INT64, max_capacity=4097)]))
    case("schema_capacity_text", lambda: create("arr_s5", [arr("a", DataType.INT64, max_capacity="x")]))
    case("schema_varchar_no_max_length", lambda: create("arr_s6", [arr("a", DataType.VARCHAR, max_capacity=5)]))
    case("schema_element_json", lambda: create("arr_s7", [arr("a", DataType.JSON, max_capacity=5)]))
    case("schema_element_array", lambda: create("arr_s8", [arr("a", DataType.ARRAY, max_capacity=5)]))
    case("schema_element_vector", lambda: create("arr_s9", [arr("a", DataType.FLOAT_VECTOR, max_capacity=5)]))
    for et in ["BOOL", "INT8", "INT16", "INT32", "FLOAT", "DOUBLE"]:
        case(f"schema_element_{et.lower()}", lambda et=et: create(f"arr_e_{et.lower()}", [arr("a", getattr(DataType, et), max_capacity=2)]))

    name = "arr_diff"
    for old in (name, "arr_diff_bad"):
        if utility.has_collection(old):
            utility.drop_collection(old)
    schema = CollectionSchema([
        pk, vec,
        arr("ai", DataType.INT64, max_capacity=6),
        arr("a8", DataType.INT8, max_capacity=4),
        arr("av", DataType.VARCHAR, max_capacity=4, max_length=8),
        arr("af", DataType.FLOAT, max_capacity=3),
        arr("ad", DataType.DOUBLE, max_capacity=3),
        arr("ab", DataType.BOOL, max_capacity=3),
        FieldSchema("meta", DataType.JSON),
    ])
    c = Collection(name, schema, consistency_level="Strong")
    sealed = rows(0, N_SEALED, 1)
    growing = rows(N_SEALED, N_GROWING, 2)
    c.insert(sealed)
    c.flush()
    c.create_index("v", {"index_type": "FLAT", "metric_type": "L2", "params": {}})
    c.load()
    c.insert(growing)

    # Refused rows go to a collection of their own, so a row one server takes and the other refuses cannot change
    # the answers below.
    bad = Collection("arr_diff_bad", schema)

    def bad_insert(row_change):
        r = rows(10_000, 1, 3)[0]
        r.update(row_change)
        bad.insert([r])
        return "inserted"

    case("insert_over_capacity", lambda: bad_insert({"ai": list(range(7))}))
    case("insert_varchar_too_long", lambda: bad_insert({"av": ["123456789"]}))
    case("insert_int8_out_of_range", lambda: bad_insert({"a8": [200]}))
    case("insert_wrong_element_type", lambda: bad_insert({"ai": ["x"]}))

    out_fields = ["ai", "a8", "av", "af", "ad", "ab"]

    def query(expr):
        got = c.query(expr, output_fields=["id"], limit=16384)
        return sorted(r["id"] for r in got)

    for f in FILTERS:
        case(f"filter: {f}", lambda f=f: query(f))

    def outputs(expr):
        got = c.query(expr, output_fields=out_fields, limit=16384)
        return sorted(([r["id"]] + [list(r[k]) for k in out_fields] for r in got), key=lambda x: x[0])

    case("output: sealed and growing rows", lambda: outputs("id in [0, 1, 2, 3, 199, 200, 201, 299]"))

    def search():
        hits = c.search([[0.1, 0.2, 0.3, 0.4]], "v", {"metric_type": "L2", "params": {}}, limit=10,
                        expr="array_contains_any(ai, [1, 2])", output_fields=["ai", "av"])
        return [[h.id, list(h.entity.get("ai")), list(h.entity.get("av"))] for h in hits[0]]

    case("search with array filter and outputs", search)

    def upsert():
        r = rows(5, 1, 9)[0]
        r.update({"id": 5, "ai": [42, 43], "av": ["zz"]})
        c.upsert([r])
        return [query("array_contains(ai, 42)"), outputs("id == 5")[0][1:4]]

    case("upsert replaces arrays", upsert)

    def index_on_array():
        c.create_index("ai", {"index_type": "INVERTED"})
        return "created"

    case("inverted index on an Array field", index_on_array)
    utility.drop_collection(name)
    utility.drop_collection("arr_diff_bad")
    return res


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


PORT_FLAGS = ["--proxy-port", "--etcd-port", "--root-coord-port", "--proxy-internal-port", "--query-coord-port",
              "--query-node-port", "--index-coord-port", "--index-node-port", "--data-coord-port", "--data-node-port"]


def start_milvus(venv: Path, data_dir: Path) -> tuple[subprocess.Popen, str]:
    """Starts Milvus 2.3.5 (`milvus-server`) with every port on a free one (its web port, 9091 by default, it moves
    to a free one itself); ready once its proxy answers a version request."""
    ports = _free_ports(len(PORT_FLAGS))
    cmd = [str(venv / "bin" / "milvus-server"), "--data", str(data_dir)]
    for flag, port in zip(PORT_FLAGS, ports):
        cmd += [flag, str(port)]
    log = open(data_dir.parent / "milvus-server.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    uri = f"http://127.0.0.1:{ports[0]}"
    probe = "from pymilvus import connections, utility; connections.connect(uri=%r, timeout=5); print(utility.get_server_version())" % uri
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"milvus-server exited with {proc.returncode}; see {data_dir.parent / 'milvus-server.log'}")
        ok = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, timeout=60)
        if ok.returncode == 0:
            return proc, uri
        time.sleep(1)
    raise RuntimeError("milvus-server not ready after 180 s")


def stop_group(proc: subprocess.Popen, grace_s: float = 15) -> None:
    """SIGTERM to the launcher's process group (it and the `milvus` binary it runs), SIGKILL to what is left after
    `grace_s`; returns once no process of the group is left."""
    def alive() -> bool:
        try:
            os.killpg(proc.pid, 0)
            return True
        except ProcessLookupError:
            return False

    if alive():
        os.killpg(proc.pid, 15)
    deadline = time.monotonic() + grace_s
    while alive() and time.monotonic() < deadline:
        proc.poll()
        time.sleep(0.2)
    if alive():
        os.killpg(proc.pid, 9)
        while alive():
            proc.poll()
            time.sleep(0.2)
    proc.wait()


def compare(milvus: dict, kite: dict) -> dict:
    """Per case: 'agree' (same result, or both refused), or what differs."""
    out = {}
    for name, want in milvus.items():
        got = kite.get(name)
        if got == want or ("error" in want and got is not None and "error" in got):
            out[name] = "agree"
        else:
            out[name] = {"milvus": want, "kite": got}
    return out


def _run(venv: Path, uri: str) -> dict:
    p = subprocess.run([str(venv / "bin" / "python"), __file__, uri], capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise RuntimeError(f"cases against {uri} failed:\n{p.stderr[-4000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_array_matches_milvus(kite_server):
    import pytest

    venv = Path(os.environ.get("KITE_MILVUS_VENV", Path(__file__).resolve().parents[2] / ".cache" / "milvus-venv"))
    if not (venv / "bin" / "milvus-server").exists():
        pytest.skip(f"no milvus-server in {venv} (set KITE_MILVUS_VENV to a virtualenv with milvus==2.3.5)")
    tmp = Path(tempfile.mkdtemp(prefix="kite-array-milvus-"))
    proc, uri = start_milvus(venv, tmp / "data")
    try:
        milvus = _run(venv, uri)
    finally:
        stop_group(proc)
        if not os.environ.get("KITE_KEEP_TEST_DATA"):
            shutil.rmtree(tmp, ignore_errors=True)
    kite = _run(venv, kite_server.uri)
    diff = compare(milvus, kite)
    if os.environ.get("KITE_ARRAY_DIFF_OUT"):
        Path(os.environ["KITE_ARRAY_DIFF_OUT"]).write_text(json.dumps({"milvus": milvus, "kite": kite, "diff": diff}, indent=1, default=str))
    bad = {k: v for k, v in diff.items() if v != "agree" and k not in KNOWN_DIFFERENCES}
    assert not bad, json.dumps(bad, indent=1, default=str)
    # Schema errors and the index refusal carry Milvus's message (Kite adds the field and the fix after it).
    for name, want in milvus.items():
        if (name.startswith("schema_") or name.startswith("inverted index")) and "error" in want:
            assert want["error"].split(":")[0] in kite[name]["error"], (name, want, kite[name])
    for name in KNOWN_DIFFERENCES:
        want = expected_known(name)
        got = kite[name]
        if want == "error":
            assert "error" in got, (name, got)
        else:
            assert got == {"ok": want}, (name, got)
    agree = sum(1 for v in diff.values() if v == "agree")
    print(f"Array cases: {agree} of {len(diff)} agree with Milvus 2.3.5; known differences: {sorted(set(diff) - {k for k, v in diff.items() if v == 'agree'})}")


if __name__ == "__main__":
    print(json.dumps(run_cases(sys.argv[1]), default=str))
