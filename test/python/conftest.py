"""Starts Kite standalone (`node bin/kite standalone`) for the pymilvus end-to-end tests, and milvus-lite for the
differential ones.

One server per test session, on free 127.0.0.1 ports, with a fresh data directory (kept, with its log file
`standalone.test.log`, when KITE_KEEP_TEST_DATA is set). It is ready once pymilvus can connect and read the server
version. The server is stopped at the end of the session, also when tests fail or pytest is interrupted; a watchdog
shell kills it if pytest itself dies without running its hooks. `milvus_lite_server` starts `milvus-lite server` the
same way; `target_server` is the server the differential, LangChain and LlamaIndex tests check (Kite, or a second
milvus-lite with KITE_TEST_TARGET=milvus-lite).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from pymilvus import MilvusClient

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 90
STOP_GRACE_S = 15


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _tail(path: Path, size: int = 4000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-size:].decode("utf-8", "replace")


@dataclass
class KiteServer:
    process: subprocess.Popen
    port: int
    metrics_port: int
    data_dir: Path
    log_file: Path
    scheme: str = "http"
    name: str = "kite standalone"

    @property
    def uri(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if not self.running:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass


def _spawn(cmd: list[str], log_file: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Starts `cmd` in its own process group with its output in `log_file`; a watchdog shell kills the group if
    pytest dies without running its hooks."""
    with open(log_file, "ab") as log:
        log.write(f"[kite-test] starting: {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    watchdog = (
        f"while kill -0 {os.getpid()} 2>/dev/null && kill -0 {proc.pid} 2>/dev/null; do sleep 1; done; "
        f"kill -0 {os.getpid()} 2>/dev/null || kill -KILL -{proc.pid} 2>/dev/null"
    )
    subprocess.Popen(
        ["/bin/sh", "-c", watchdog],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return proc


def _wait_ready(server: "KiteServer", client_kwargs: dict | None = None) -> None:
    """Polls until pymilvus can connect and read the server version; stops the server and raises with its log tail
    if it exits or is not ready within READY_TIMEOUT_S."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    last_error = "port not open"
    while time.monotonic() < deadline:
        if not server.running:
            raise RuntimeError(
                f"{server.name} exited with code {server.process.returncode} before it was ready\n"
                f"--- log tail ---\n{_tail(server.log_file)}"
            )
        if _port_open(server.port):
            try:
                probe = MilvusClient(uri=server.uri, timeout=5, **(client_kwargs or {}))
                try:
                    if probe.get_server_version():
                        return
                finally:
                    probe.close()
            except Exception as err:  # not ready yet: keep polling
                last_error = str(err)
        time.sleep(0.25)
    server.stop()
    raise RuntimeError(
        f"{server.name} not ready after {READY_TIMEOUT_S} s ({last_error})\n--- log tail ---\n{_tail(server.log_file)}"
    )


def _start(data_dir: Path, env: dict[str, str] | None = None, client_kwargs: dict | None = None) -> KiteServer:
    """Starts a server; `env` is added to its environment (e.g. KITE_TLS_*), `client_kwargs` go to the readiness
    probe's MilvusClient (e.g. TLS options; `https` when they are given)."""
    port = _free_port()
    metrics_port = _free_port()
    while metrics_port == port:
        metrics_port = _free_port()
    log_file = data_dir / "standalone.test.log"
    cmd = [
        "node",
        str(REPO / "bin" / "kite"),
        "standalone",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--metrics-port",
        str(metrics_port),
    ]
    proc = _spawn(cmd, log_file, env)
    server = KiteServer(proc, port, metrics_port, data_dir, log_file, "https" if client_kwargs else "http")
    atexit.register(server.stop)
    _wait_ready(server, client_kwargs)
    return server


def _start_milvus_lite(data_dir: Path) -> KiteServer:
    """Starts `milvus-lite server` (the console script of the milvus-lite package in this virtualenv) on a free
    127.0.0.1 port with `data_dir` as its data directory."""
    exe = Path(sys.executable).parent / "milvus-lite"
    port = _free_port()
    log_file = data_dir / "milvus-lite.test.log"
    cmd = [str(exe), "server", "--data-dir", str(data_dir / "data"), "--host", "127.0.0.1", "--port", str(port)]
    proc = _spawn(cmd, log_file)
    server = KiteServer(proc, port, 0, data_dir, log_file, name="milvus-lite")
    atexit.register(server.stop)
    _wait_ready(server)
    return server


def _serve(env: dict[str, str] | None = None, start=None):
    data_dir = Path(tempfile.mkdtemp(prefix="kite-pytest-"))
    server = start(data_dir) if start else _start(data_dir, env)
    try:
        yield server
    finally:
        alive = server.running
        server.stop()
        if not alive:
            print(f"\n{server.name} died during the session; log tail:\n{_tail(server.log_file)}")
        if not os.environ.get("KITE_KEEP_TEST_DATA"):
            shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def kite_server():
    # Without automatic compaction: tests that read expired rows again after raising the TTL (read-time expiry, as on
    # Milvus until compaction purges them) would otherwise race the purge. test_compaction.py covers compaction.
    yield from _serve({"KITE_COMPACTION_ENABLED": "false"})


@pytest.fixture(scope="session")
def auth_server():
    """A second server with security.authorizationEnabled on (root's password is the default, "Milvus")."""
    yield from _serve({"KITE_SECURITY_AUTHORIZATION_ENABLED": "true"})


@pytest.fixture(scope="session")
def client(kite_server):
    c = MilvusClient(uri=kite_server.uri, timeout=60)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def collection_name(client):
    """A fresh collection name; the collection is dropped after the test if it still exists."""
    name = f"py_{uuid.uuid4().hex[:12]}"
    yield name
    try:
        if client.has_collection(name):
            client.drop_collection(name)
    except Exception:
        pass


@pytest.fixture(scope="session")
def milvus_lite_server():
    """A milvus-lite 3.x server (test/python/requirements-milvus-lite.txt), the reference side of the differential
    tests; the tests that use it skip, naming pip's error, where milvus-lite could not be installed."""
    from optional_packages import require

    require("milvus-lite", "milvus_lite")
    yield from _serve(start=_start_milvus_lite)


@pytest.fixture(scope="session")
def target_server(request):
    """The server under test in the differential, LangChain and LlamaIndex tests: Kite standalone, or, with
    KITE_TEST_TARGET=milvus-lite, a second milvus-lite server. The latter only checks the tests themselves (their
    reference computations and the comparison) against an independent implementation; see
    docs/milvus-wire-notes.md for the places where milvus-lite departs from Milvus and such a run fails."""
    target = os.environ.get("KITE_TEST_TARGET", "kite")
    if target == "kite":
        yield request.getfixturevalue("kite_server")
    elif target == "milvus-lite":
        from optional_packages import require

        require("milvus-lite", "milvus_lite")
        yield from _serve(start=_start_milvus_lite)
    else:
        raise pytest.UsageError(f"KITE_TEST_TARGET={target!r}: use 'kite' (the default) or 'milvus-lite'")


@pytest.fixture(scope="session")
def milvus_235():
    """Real Milvus 2.3.5 (milvus_ref.py), the reference side of test_vs_milvus.py; skips, naming the path, when its
    virtualenv is missing. KITE_MILVUS_URI points at an already running one instead (it is then left running)."""
    from milvus_ref import milvus_python, missing_reason, start_milvus

    uri = os.environ.get("KITE_MILVUS_URI")
    if uri:
        yield _Attached(uri)
        return
    if milvus_python() is None:
        pytest.skip(missing_reason())
    yield from _serve(start=start_milvus)


@dataclass
class _Attached:
    """A server started elsewhere (KITE_MILVUS_URI)."""

    uri: str
    running: bool = True

    def stop(self) -> None:
        pass
