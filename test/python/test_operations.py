"""Operations RPCs through pymilvus, unchanged: MilvusClient.flush_all() (which waits on GetFlushAllState), the
stored segments (GetPersistentSegmentInfo), utility.get_query_segment_info(), utility.load_balance() refusals on
a one-node standalone, and get_server_version().
"""

from __future__ import annotations

import random
import time
import uuid

import pytest
from pymilvus import DataType, MilvusClient, connections, utility
from pymilvus.exceptions import MilvusException

DIM = 4
ROWS = 120


@pytest.fixture(scope="module")
def orm(kite_server):
    alias = f"ops_{uuid.uuid4().hex[:8]}"
    connections.connect(alias=alias, uri=kite_server.uri, timeout=60)
    try:
        yield alias
    finally:
        connections.disconnect(alias)


def _create(client: MilvusClient, name: str) -> None:
    s = MilvusClient.create_schema(auto_id=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    idx = client.prepare_index_params()
    idx.add_index("v", index_type="FLAT", metric_type="L2", index_name="v_idx")
    client.create_collection(name, schema=s, index_params=idx, consistency_level="Strong")
    rnd = random.Random(7)
    client.insert(name, [{"id": i, "v": [rnd.random() for _ in range(DIM)]} for i in range(ROWS)])


def test_flush_all_then_segments(client: MilvusClient, collection_name: str, orm: str):
    _create(client, collection_name)
    # Returns once GetFlushAllState reports everything written before the call flushed.
    client.flush_all(timeout=120)
    handler = connections._fetch_handler(orm)
    stored = handler.get_persistent_segment_infos(collection_name, timeout=30)
    assert sum(s.num_rows for s in stored) == ROWS
    assert all(s.state == 4 for s in stored)  # common.SegmentState.Flushed
    client.load_collection(collection_name)
    # The flushed segments replace the growing rows on the query node shortly after the flush.
    deadline = time.monotonic() + 60
    infos = utility.get_query_segment_info(collection_name, using=orm)
    while len(infos) < len(stored) and time.monotonic() < deadline:
        time.sleep(0.25)
        infos = utility.get_query_segment_info(collection_name, using=orm)
    assert sorted(i.segmentID for i in infos) == sorted(s.segmentID for s in stored)
    assert sum(i.num_rows for i in infos) == ROWS
    for i in infos:
        assert i.index_name == "v_idx"
        assert i.nodeID > 0 and i.nodeID in list(i.nodeIds)
        assert i.state == 3  # common.SegmentState.Sealed

    # Standalone has one query node: nowhere to move to, and bad ids are refused naming the field.
    node = infos[0].nodeID
    with pytest.raises(MilvusException, match="no other active query node"):
        utility.load_balance(collection_name, node, using=orm)
    with pytest.raises(MilvusException, match="dst_nodeIDs: node 987654"):
        utility.load_balance(collection_name, node, [987654], using=orm)
    with pytest.raises(MilvusException, match="src_nodeID 987654"):
        utility.load_balance(collection_name, 987654, using=orm)
    with pytest.raises(MilvusException, match="collection not found"):
        utility.load_balance("no_such_collection", node, using=orm)


def test_query_segment_info_of_unknown_or_unloaded(client: MilvusClient, collection_name: str, orm: str):
    with pytest.raises(MilvusException, match="collection not found"):
        utility.get_query_segment_info("no_such_collection", using=orm)
    _create(client, collection_name)
    client.release_collection(collection_name)
    with pytest.raises(MilvusException, match="not loaded"):
        utility.get_query_segment_info(collection_name, using=orm)


def test_server_version(client: MilvusClient, orm: str):
    assert "kite" in client.get_server_version()
    assert "kite" in utility.get_server_version(using=orm)
