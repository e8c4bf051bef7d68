"""Real Milvus 2.3.5 (the `milvus` PyPI package's embedded standalone server) as the reference side of differential
tests.

`start_milvus(data_dir)` starts it from a virtualenv holding `milvus==2.3.5` (KITE_MILVUS_VENV, default
.cache/milvus-venv; scripts/install-milvus-venv.sh creates it) and returns a `KiteServer` handle (conftest's: `uri`,
`stop()`, `log_file`), ready once pymilvus can connect and read the server version. `milvus_235` (conftest) is the
session fixture that uses it; tests that need it skip, naming the path, when the virtualenv is missing.

Ports: the package's `milvus-server` takes the proxy and coordinator ports from its flags, but its embedded etcd
listens on 2379/2380 and its HTTP/metrics server on the first free port from 9091, so two servers (or another etcd)
on the machine collide. The server is therefore started through a small bootstrap run by the virtualenv's Python:
every listening port, the metrics port and the embedded etcd's client and peer URLs (an etcd config file given as
`etcd.config.path`) are free ports picked here, so parallel runs do not meet.

Run `python test/python/milvus_ref.py [DIR]` (with the test virtualenv) to start one by hand; it prints the URI and
serves until interrupted.
"""

from __future__ import annotations

import atexit
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 240
MILVUS_VERSION = "2.3.5"

# The component ports `milvus-server` exposes as configuration (see the package's config template).
_PORT_KEYS = [
    "root_coord_port", "proxy_port", "proxy_internal_port", "query_coord_port", "query_node_port", "index_coord_port",
    "index_node_port", "data_coord_port", "data_node_port",
]

# Runs inside the Milvus virtualenv: argv = data dir, metrics port, etcd client port, etcd peer port, then
# key=port pairs for the components.
_BOOTSTRAP = r"""
import signal, sys
from milvus import MilvusServer
data_dir, metrics, etcd_client, etcd_peer = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ports = dict(kv.split("=") for kv in sys.argv[5:])
etcd_conf = f"{data_dir}/etcd.yaml"
with open(etcd_conf, "w") as f:
    f.write(
        "name: default\n"
        f"listen-client-urls: http://127.0.0.1:{etcd_client}\n"
        f"advertise-client-urls: http://127.0.0.1:{etcd_client}\n"
        f"listen-peer-urls: http://127.0.0.1:{etcd_peer}\n"
        f"initial-advertise-peer-urls: http://127.0.0.1:{etcd_peer}\n"
        f"initial-cluster: default=http://127.0.0.1:{etcd_peer}\n"
    )
server = MilvusServer()
server.set_base_dir(data_dir)
server.config.set("etcd_port", etcd_client)
for key, port in ports.items():
    server.config.set(key, int(port))
# etcd.config.path is not in the package's template: add it next to etcd.use.embed.
server.config.template_text = server.config.template_text.replace(
    "  use:\n    embed: true", f"  config:\n    path: {etcd_conf}\n  use:\n    embed: true", 1
)
server.webservice_port = metrics
signal.signal(signal.SIGTERM, lambda *_: (server.stop(), sys.exit(0)))
server.start()
print(f"milvus {server.listen_port} ready", flush=True)
server.wait()
"""


def milvus_venv() -> Path:
    return Path(os.environ.get("KITE_MILVUS_VENV") or REPO / ".cache" / "milvus-venv")


def milvus_python() -> Path | None:
    """The Python of a virtualenv holding the milvus package, or None."""
    py = milvus_venv() / "bin" / "python"
    if not py.exists():
        return None
    site = list((milvus_venv() / "lib").glob("python*/site-packages/milvus/__init__.py"))
    return py if site else None


def missing_reason() -> str:
    return (
        f"real Milvus {MILVUS_VERSION} is not installed in {milvus_venv()} (KITE_MILVUS_VENV): run "
        f"scripts/install-milvus-venv.sh (make test-vs-milvus does)"
    )


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def start_milvus(data_dir: Path):
    """Starts Milvus 2.3.5 with its data (and logs) under `data_dir`; returns conftest's server handle."""
    from conftest import KiteServer, _spawn, _wait_ready  # conftest is loaded by then (pytest or __main__)
    import conftest

    py = milvus_python()
    if py is None:
        raise RuntimeError(missing_reason())
    ports = _free_ports(len(_PORT_KEYS) + 3)
    metrics, etcd_client, etcd_peer = ports[-3:]
    pairs = [f"{k}={p}" for k, p in zip(_PORT_KEYS, ports)]
    proxy = ports[_PORT_KEYS.index("proxy_port")]
    data_dir.mkdir(parents=True, exist_ok=True)
    log_file = data_dir / "milvus-2.3.5.test.log"
    cmd = [str(py), "-c", _BOOTSTRAP, str(data_dir), str(metrics), str(etcd_client), str(etcd_peer), *pairs]
    proc = _spawn(cmd, log_file)
    server = KiteServer(proc, proxy, metrics, data_dir, log_file, name=f"milvus {MILVUS_VERSION}")
    atexit.register(server.stop)
    saved = conftest.READY_TIMEOUT_S
    conftest.READY_TIMEOUT_S = READY_TIMEOUT_S  # a cold start on a busy 2-core machine takes a while
    try:
        _wait_ready(server)
    finally:
        conftest.READY_TIMEOUT_S = saved
    return server


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the server on SIGTERM too
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="milvus-ref-"))
    srv = start_milvus(target)
    print(f"{srv.uri} (data and logs in {target}); Ctrl-C stops it", flush=True)
    try:
        while srv.running:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
