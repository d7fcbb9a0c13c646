"""Records are stored compressed, and records an older release stored as plain JSON still read
the same through every reader: show (both paths), search, export, similar, history, diff."""

from __future__ import annotations

import json
import sqlite3

import sqlalchemy as sa

from harvester.catalogue import Catalogue, recordcodec
from harvester.catalogue import tables as t
from harvester.catalogue.canonical import fingerprint
from harvester.catalogue.engine import schema_version
from harvester.catalogue.location import SCHEMA_VERSION, sqlite_file
from harvester.catalogue.quick import QuickReader
from tests.conftest import FIXTURES, trials

V = t.Version.__table__  # type: ignore[attr-defined]
STUDIES = FIXTURES / "ctgov-v2-json" / "studies"
HISTORY = FIXTURES / "ctgov-history" / "api-v2-snapshots"


def test_pack_and_unpack() -> None:
    text = json.dumps({"nct_id": "NCT00000001", "brief_title": "Café " * 200},
                      ensure_ascii=False, separators=(",", ":"))
    stored = recordcodec.pack(text)
    assert stored[:1] == b"\x78" and len(stored) < len(text.encode()) / 10
    assert recordcodec.unpack(stored) == text.encode()
    assert recordcodec.unpack(memoryview(stored)) == text.encode()
    assert recordcodec.unpack(recordcodec.pack(text.encode())) == text.encode()
    # plain JSON, as releases before schema 11 stored it, passes through as it is
    assert recordcodec.unpack(text) == text
    assert recordcodec.unpack(text.encode()) == text.encode()
    assert recordcodec.contains(stored, "NCT00000001")
    assert recordcodec.contains(text, "NCT00000001")
    assert not recordcodec.contains(stored, "NCT00000002")


def test_records_are_stored_compressed(db_url: str) -> None:
    assert trials(db_url, "import", STUDIES).exit_code == 0
    with Catalogue.open(db_url) as catalogue, catalogue.engine.connect() as conn:
        rows = conn.execute(sa.select(V.c.id, V.c.record)).all()
        assert len(rows) >= 25
        for row in rows:
            plain = fingerprint(catalogue.record(row.id)).record_json
            assert isinstance(row.record, bytes) and row.record[:1] == b"\x78"
            assert recordcodec.unpack(row.record) == plain
            assert len(row.record) < len(plain) / 2


def _outputs(db_url: str) -> list[str]:
    """What the record readers print, for one comparison."""
    commands = [["show", "NCT06203210", "--format", "json"], ["history", "NCT06203210"],
                ["diff", "NCT06203210"], ["search", "cancer", "--format", "json"],
                ["export", "--format", "jsonl"], ["similar", "NCT06203210", "--format", "json"]]
    out = []
    for command in commands:
        result = trials(db_url, *command)
        assert result.exit_code == 0, (command, result.output)
        out.append(result.stdout)
    return out


def _store_plain(db_url: str) -> None:
    """Rewrite the catalogue as schema version 10 held it: every record as plain JSON text."""
    with Catalogue.open(db_url) as catalogue, catalogue.engine.begin() as conn:
        plain = [(row.id, recordcodec.unpack(row.record).decode())  # type: ignore[union-attr]
                 for row in conn.execute(sa.select(V.c.id, V.c.record))]
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("ALTER TABLE version ALTER COLUMN record TYPE text USING ''"))
        version = sa.table("version", sa.column("id"), sa.column("record"))
        for version_id, text in plain:
            conn.execute(sa.update(version).where(version.c.id == version_id)
                         .values(record=text))
        conn.execute(sa.text("UPDATE schema_info SET value = '10' "
                             "WHERE key = 'schema_version'"))


def test_plain_records_of_an_older_release_read_as_before(db_url: str) -> None:
    for source in (STUDIES, *sorted(HISTORY.glob("NCT06203210__vh*"))):
        assert trials(db_url, "import", source).exit_code == 0
    before = _outputs(db_url)
    _store_plain(db_url)
    with Catalogue.open(db_url) as catalogue, catalogue.engine.connect() as conn:
        assert schema_version(conn) == SCHEMA_VERSION >= 11
        stored = conn.execute(sa.select(V.c.record).limit(1)).scalar_one()
        assert stored[:1] in ("{", b"{")  # the migration left the old rows as they were
    assert _outputs(db_url) == before
    path = sqlite_file(db_url)
    if path is not None:  # `trials show`'s quick path reads the plain rows too
        with QuickReader.open(db_url) as quick, Catalogue.open(db_url) as catalogue:
            assert quick is not None
            info = catalogue.current("NCT06203210")
            assert info is not None and quick.record(info.id) == catalogue.record(info.id)
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT typeof(record) FROM version LIMIT 1").fetchone() == (
                "text",)
    # new versions beside old ones: compressed, and both kinds read
    assert trials(db_url, "import", FIXTURES / "constructed" /
                  "NCT00557986__ctgov-partial.json").exit_code == 0
    with Catalogue.open(db_url) as catalogue, catalogue.engine.connect() as conn:
        kinds = {bytes(r[:1]) if not isinstance(r, str) else r[:1]
                 for r in conn.execute(sa.select(V.c.record)).scalars()}
        assert kinds == {b"{" if conn.dialect.name == "postgresql" else "{", b"\x78"}
        for version_id in conn.execute(sa.select(V.c.id)).scalars():
            assert catalogue.record(version_id).nct_id
