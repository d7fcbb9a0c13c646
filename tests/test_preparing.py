"""Preparing in workers (harvester.ingest.preparing): what a batch carries back."""

from __future__ import annotations

import hashlib
import json
import pickle
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields
from pathlib import Path

from harvester.catalogue.prepared import Prepared
from harvester.ingest.preparing import PreparedBatch, prepare_page, prepare_payloads
from harvester.ingest.workers import process_pool
from parsers import MAX_PAYLOAD_BYTES
from tests.conftest import FIXTURES


def _fixture_batch() -> PreparedBatch:
    paths = sorted(p for kind in ("ctgov-v2-json", "ctgov-xml", "constructed")
                   for p in (FIXTURES / kind).rglob("*") if p.suffix in (".json", ".xml"))
    payloads = [(str(p), data, hashlib.sha256(data).hexdigest(), None, None)
                for p in paths for data in [p.read_bytes()]]
    return prepare_payloads(list(payloads), None, MAX_PAYLOAD_BYTES)


def _shape(value: object) -> object:
    """The value with the type of every part, so that a tuple never passes for a list."""
    if isinstance(value, (list, tuple)):
        return type(value), [_shape(v) for v in value]
    if isinstance(value, dict):
        return dict, {k: _shape(v) for k, v in value.items()}
    return type(value), value


def test_a_batch_arrives_from_a_worker_as_it_was_prepared() -> None:
    batch = _fixture_batch()
    assert len(batch.versions) > 60 and batch.problems
    arrived = pickle.loads(pickle.dumps(batch))  # as the pool sends it
    assert arrived == batch
    for sent, got in zip(batch.versions, arrived.versions, strict=True):
        assert type(got) is Prepared
        for field in fields(Prepared):
            assert _shape(getattr(got, field.name)) == _shape(getattr(sent, field.name)), \
                (sent.nct_id, field.name)


def test_a_batch_travels_as_one_string_and_the_values_it_keeps_as_they_are() -> None:
    batch = _fixture_batch()
    function, (light, kept, problems, notes) = batch.__reduce__()
    assert isinstance(light, bytes) and b"record_stored" in light
    assert [k[:2] for k in kept] == [(v.record_stored, v.payload_stored) for v in batch.versions]
    assert (problems, notes) == (batch.problems, batch.warnings)
    assert function(light, kept, problems, notes) == batch


def test_place_values_shared_by_sites_stay_shared_on_arrival() -> None:
    # The place cache gives every site of one place the same tuple; a batch's copy in the
    # main process keeps them shared (its memory as before), as pickle always did.
    batch = _fixture_batch()
    places = [p for v in batch.versions for p in v.places]
    arrived = [p for v in pickle.loads(pickle.dumps(batch)).versions for p in v.places]
    assert arrived == places
    assert len({id(p) for p in arrived}) == len({id(p) for p in places}) < len(places)


def test_a_page_prepared_in_a_worker_process_is_the_page_prepared_here() -> None:
    raw = sorted((FIXTURES / "ctgov-v2-json" / "studies").glob("*.json"))[:8]
    studies = [(i, data, hashlib.sha256(data).hexdigest())
               for i, data in enumerate(p.read_bytes() for p in raw)]
    here, _ = prepare_page("http://x", 1, studies)
    assert len(here.versions) == 8 and not here.problems
    pool: ProcessPoolExecutor
    with process_pool(1) as pool:
        there, _ = pool.submit(prepare_page, "http://x", 1, studies).result()
    assert there == here


def _odd_study(path: Path, status: str) -> bytes:
    study = json.loads(path.read_bytes())
    study["protocolSection"]["statusModule"]["overallStatus"] = status
    return json.dumps(study).encode()


def test_warnings_are_told_for_the_payload_that_raised_them() -> None:
    paths = sorted((FIXTURES / "ctgov-v2-json" / "studies").glob("*.json"))[:3]
    payloads = [_odd_study(paths[0], "PAUSED_FOREVER"), paths[1].read_bytes(),
                _odd_study(paths[2], "ON_A_BREAK")]
    batch = prepare_payloads([(f"p{i}", data, hashlib.sha256(data).hexdigest(), None, None)
                              for i, data in enumerate(payloads)], None, MAX_PAYLOAD_BYTES)
    assert len(batch.versions) == 3 and not batch.problems
    assert [note.split(":")[0] for note in batch.warnings] == ["p0", "p2"]
    assert "PAUSED_FOREVER" in batch.warnings[0] and "ON_A_BREAK" in batch.warnings[1]
