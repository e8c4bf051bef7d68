"""Text analysis through pymilvus, unchanged: VarChar fields with enable_analyzer / analyzer_params / enable_match,
text_match and phrase_match filters on growing and flushed rows (alone and with other conditions), run_analyzer
with built-in, custom and a field's analyzer, and the errors that name the field and the fix.
"""

from __future__ import annotations

import json
import random

import pytest
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "the", "of", "and"]
STOP = {"the", "of", "and"}


def _docs(start: int, count: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    rows = []
    for i in range(start, start + count):
        words = [rnd.choice(WORDS) for _ in range(rnd.randint(1, 8))]
        rows.append({"id": i, "doc": " ".join(words).title(), "plain": "x", "tag": i % 5, "vector": [rnd.random() for _ in range(4)]})
    return rows


def _terms(text: str) -> list[tuple[int, str]]:
    """(position, term) as the english analyzer makes them for these words: lowercased, stop words dropped."""
    return [(p, w) for p, w in enumerate(text.lower().split()) if w not in STOP]


def _text_match(rows: list[dict], query: str) -> list[int]:
    want = {t for _, t in _terms(query)}
    return sorted(r["id"] for r in rows if want & {t for _, t in _terms(r["doc"])})


def _phrase_match(rows: list[dict], query: str, slop: int) -> list[int]:
    q = _terms(query)

    def matches(doc: str) -> bool:
        d = _terms(doc)
        options = [[p - qp for p, t in d if t == qt] for qp, qt in q]

        def chain(i: int, prev: int) -> bool:
            return i == len(options) or any((i == 0 or 0 <= x - prev <= slop) and chain(i + 1, x) for x in options[i])

        return bool(q) and chain(0, 0)

    return sorted(r["id"] for r in rows if matches(r["doc"]))


def _ids(client: MilvusClient, name: str, flt: str) -> list[int]:
    rows = client.query(name, filter=flt, output_fields=["id"], limit=16384, consistency_level="Strong")
    return sorted(int(r["id"]) for r in rows)


def _create(client: MilvusClient, name: str) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("doc", DataType.VARCHAR, max_length=1000, enable_analyzer=True, enable_match=True, analyzer_params={"type": "english"})
    schema.add_field("plain", DataType.VARCHAR, max_length=100)
    schema.add_field("tag", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")


def _check(client: MilvusClient, name: str, rows: list[dict]) -> None:
    for q in ["alpha", "Beta gamma", "the of", "EPSILON delta"]:
        assert _ids(client, name, f'text_match(doc, "{q}")') == _text_match(rows, q), q
    for q, slop in [("alpha beta", 0), ("alpha beta", 1), ("gamma of the delta", 0), ("beta alpha gamma", 2)]:
        assert _ids(client, name, f'phrase_match(doc, "{q}", {slop})') == _phrase_match(rows, q, slop), (q, slop)
    alpha = set(_text_match(rows, "alpha"))
    assert _ids(client, name, 'TEXT_MATCH(doc, "alpha") and tag >= 3') == sorted(r["id"] for r in rows if r["id"] in alpha and r["tag"] >= 3)
    assert _ids(client, name, 'not text_match(doc, "alpha") or tag == 0') == sorted(r["id"] for r in rows if r["id"] not in alpha or r["tag"] == 0)
    two = [r["id"] for r in rows if len({t for _, t in _terms(r["doc"])} & {"alpha", "beta", "gamma"}) >= 2]
    assert _ids(client, name, 'text_match(doc, "alpha beta gamma", minimum_should_match=2)') == sorted(two)
    hits = client.search(name, data=[[0.5] * 4], limit=1000, filter='text_match(doc, "delta")', output_fields=["id"], consistency_level="Strong")
    assert sorted(int(h["id"]) for h in hits[0]) == _text_match(rows, "delta")


def test_text_match_on_growing_and_flushed_rows(client: MilvusClient, collection_name: str):
    _create(client, collection_name)
    fields = {f["name"]: f for f in client.describe_collection(collection_name)["fields"]}
    assert fields["doc"]["params"]["enable_match"] == "true"
    assert json.loads(fields["doc"]["params"]["analyzer_params"]) == {"type": "english"}
    rows = _docs(0, 400, 1)
    client.insert(collection_name, rows)
    _check(client, collection_name, rows)
    client.flush(collection_name)
    _check(client, collection_name, rows)
    more = _docs(400, 150, 2)
    client.insert(collection_name, more)
    _check(client, collection_name, rows + more)


def test_text_match_errors_name_the_field(client: MilvusClient, collection_name: str):
    _create(client, collection_name)
    with pytest.raises(MilvusException) as plain:
        client.query(collection_name, filter='text_match(plain, "x")', output_fields=["id"], limit=10)
    assert 'field "plain" does not enable match' in plain.value.message
    assert "enable_analyzer=True and enable_match=True" in plain.value.message

    def bad(name: str, **extra) -> str:
        schema = client.create_schema()
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("body", DataType.VARCHAR, max_length=100, **extra)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
        with pytest.raises(MilvusException) as e:
            client.create_collection(name, schema=schema)
        return e.value.message

    msg = bad(collection_name + "_a", enable_analyzer=True, analyzer_params={"tokenizer": "standard", "filter": ["uppercase"]})
    assert 'field "body": invalid analyzer_params: filter[0] "uppercase" is not a supported filter' in msg
    assert "lowercase" in msg
    msg = bad(collection_name + "_b", enable_match=True)
    assert 'field "body" which has enable_match must also enable_analyzer' in msg
    assert not client.has_collection(collection_name + "_a")


def test_run_analyzer(client: MilvusClient, collection_name: str):
    assert list(client.run_analyzer("The Quick-Brown Fox!", analyzer_params={"type": "standard"}).tokens) == ["the", "quick", "brown", "fox"]
    results = client.run_analyzer(["The dancing stars", "Running dogs"], analyzer_params={"type": "english"})
    assert [list(r.tokens) for r in results] == [["danc", "star"], ["run", "dog"]]
    custom = {"tokenizer": "standard", "filter": ["lowercase", "asciifolding", {"type": "stop", "stop_words": ["_english_"]}, {"type": "stemmer", "language": "english"}]}
    assert list(client.run_analyzer("The Cafés are running", analyzer_params=custom).tokens) == ["cafe", "run"]
    detail = client.run_analyzer("Héllo wörld", analyzer_params={"type": "standard"}, with_detail=True, with_hash=True)
    first = detail.tokens[0]
    assert (first.token, first.start_offset, first.end_offset, first.position, first.position_length) == ("héllo", 0, 6, 0, 1)
    assert detail.tokens[1].start_offset == 7 and detail.tokens[1].position == 1
    assert isinstance(first.hash, int) and 0 <= first.hash < 2**32

    _create(client, collection_name)
    field = client.run_analyzer("The Running Robots", collection_name=collection_name, field_name="doc")
    assert list(field.tokens) == ["run", "robot"]
    with pytest.raises(MilvusException) as e:
        client.run_analyzer("x", collection_name=collection_name, field_name="plain")
    assert 'field "plain"' in e.value.message and "enable_analyzer=True" in e.value.message
    with pytest.raises(MilvusException) as e:
        client.run_analyzer("x", analyzer_params={"type": "chinese"})
    assert "chinese" in e.value.message and "not available in Kite" in e.value.message
