"""TLS on Kite's public port (tls.mode, Milvus's modes) through pymilvus's own options, unchanged.

Mode 1 (one-way): `uri="https://..."` with `server_pem_path` (here the CA that signed the server certificate) works,
plaintext is refused. Mode 2 (mutual): `client_pem_path`, `client_key_path`, `ca_pem_path` work; a client without a
certificate, or with one signed by another CA, is refused. Certificates are made here with openssl. Every client is
`dedicated`: pymilvus otherwise shares one connection per address and token, whatever the TLS options.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from pymilvus import MilvusClient, MilvusException

from conftest import _start


def _openssl(cwd: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _ca(cwd: Path, name: str) -> None:
    _openssl(cwd, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
             "-keyout", f"{name}.key", "-out", f"{name}.pem")


def _signed(cwd: Path, name: str, ca: str, ext: str) -> None:
    (cwd / f"{name}.ext").write_text(ext)
    _openssl(cwd, "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
             "-out", f"{name}.csr")
    _openssl(cwd, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem")


@pytest.fixture(scope="module")
def certs():
    d = Path(tempfile.mkdtemp(prefix="kite-tls-"))
    _ca(d, "ca")
    _ca(d, "other-ca")
    _signed(d, "server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    _signed(d, "client", "ca", "extendedKeyUsage=clientAuth\n")
    _signed(d, "stranger", "other-ca", "extendedKeyUsage=clientAuth\n")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _server(certs: Path, mode: int, client_kwargs: dict):
    data_dir = Path(tempfile.mkdtemp(prefix="kite-pytest-tls-"))
    env = {
        "KITE_TLS_MODE": str(mode),
        "KITE_TLS_SERVER_PEM_PATH": str(certs / "server.pem"),
        "KITE_TLS_SERVER_KEY_PATH": str(certs / "server.key"),
        "KITE_TLS_CA_PEM_PATH": str(certs / "ca.pem"),
    }
    return _start(data_dir, env=env, client_kwargs=client_kwargs), data_dir


def _one_way(certs: Path) -> dict:
    return {"server_pem_path": str(certs / "ca.pem"), "server_name": "localhost"}


def _mutual(certs: Path, name: str = "client") -> dict:
    return {
        "client_pem_path": str(certs / f"{name}.pem"),
        "client_key_path": str(certs / f"{name}.key"),
        "ca_pem_path": str(certs / "ca.pem"),
        "server_name": "localhost",
    }


def _works(uri: str, kwargs: dict) -> None:
    c = MilvusClient(uri=uri, timeout=30, dedicated=True, **kwargs)
    try:
        name = f"py_tls_{uuid.uuid4().hex[:8]}"
        c.create_collection(name, dimension=4)
        res = c.insert(name, [{"id": 1, "vector": [1.0, 0, 0, 0]}, {"id": 2, "vector": [0, 1.0, 0, 0]}])
        assert res["insert_count"] == 2
        assert c.has_collection(name)
    finally:
        c.close()


def _refused(uri: str, kwargs: dict) -> None:
    with pytest.raises(MilvusException):
        c = MilvusClient(uri=uri, timeout=5, dedicated=True, **kwargs)
        try:
            c.list_collections()
        finally:
            c.close()


def _stop(server, data_dir: Path) -> None:
    server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


def test_one_way_tls(certs):
    server, data_dir = _server(certs, 1, _one_way(certs))
    try:
        _works(server.uri, _one_way(certs))
        _refused(f"http://127.0.0.1:{server.port}", {})
    finally:
        _stop(server, data_dir)


def test_mutual_tls(certs):
    server, data_dir = _server(certs, 2, _mutual(certs))
    try:
        _works(server.uri, _mutual(certs))
        _refused(server.uri, _one_way(certs))
        _refused(server.uri, _mutual(certs, "stranger"))
        _refused(f"http://127.0.0.1:{server.port}", {})
    finally:
        _stop(server, data_dir)
