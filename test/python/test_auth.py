"""Authentication and permissions through pymilvus against Kite with security.authorizationEnabled on."""

from __future__ import annotations

import grpc
import pytest
from pymilvus import DataType, MilvusClient, MilvusException


def _schema(client: MilvusClient):
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    return schema


@pytest.fixture(scope="module")
def root(auth_server):
    c = MilvusClient(uri=auth_server.uri, token="root:Milvus", timeout=60)
    try:
        yield c
    finally:
        c.close()


def test_root_logs_in_with_the_default_password(root):
    assert isinstance(root.list_collections(), list)


def test_wrong_password_is_refused(auth_server):
    # pymilvus logs in with Connect and reports any failure of it as "illegal connection params"; the gRPC error it
    # chains is Milvus's: UNAUTHENTICATED with Milvus's message.
    with pytest.raises(MilvusException, match="illegal connection params") as err:
        MilvusClient(uri=auth_server.uri, user="root", password="not-the-password", timeout=30)
    cause = err.value.__cause__
    assert isinstance(cause, grpc.RpcError)
    assert cause.code() == grpc.StatusCode.UNAUTHENTICATED
    assert cause.details() == "auth check failure, please check username and password are correct"


def test_user_without_insert_is_refused_until_granted_and_after_revoked(auth_server, root):
    root.create_collection("py_auth", schema=_schema(root))
    root.create_user(user_name="frank", password="frank-pw-1")
    assert "frank" in root.list_users()
    frank = MilvusClient(uri=auth_server.uri, user="frank", password="frank-pw-1", timeout=30)
    try:
        # A call without the privilege fails with gRPC PERMISSION_DENIED, which pymilvus raises as it is.
        with pytest.raises(grpc.RpcError) as err:
            frank.insert("py_auth", [{"id": 1, "v": [1.0, 2.0, 3.0, 4.0]}])
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert err.value.details() == "PrivilegeInsert: permission deny to frank in the `default` database"

        root.create_role("py_writer")
        root.grant_privilege(role_name="py_writer", object_type="Collection", privilege="Insert", object_name="py_auth")
        root.grant_role(user_name="frank", role_name="py_writer")
        assert frank.insert("py_auth", [{"id": 2, "v": [1.0, 2.0, 3.0, 4.0]}])["insert_count"] == 1
        assert root.describe_role("py_writer")["privileges"][0]["privilege"] == "Insert"

        root.revoke_privilege(role_name="py_writer", object_type="Collection", privilege="Insert", object_name="py_auth")
        with pytest.raises(grpc.RpcError, match="permission deny to frank"):
            frank.insert("py_auth", [{"id": 3, "v": [1.0, 2.0, 3.0, 4.0]}])
    finally:
        frank.close()
