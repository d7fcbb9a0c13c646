"""harvester/find/similar/index.py (and the engine over it): incremental, crash-safe, consistent."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from harvester.catalogue import Catalogue
from harvester.catalogue.lock import writer_lock
from harvester.catalogue.selection import Selection
from harvester.find.similar import engine as eng
from harvester.find.similar import features as fx
from harvester.find.similar import index as ix
from harvester.find.similar.engine import SimilarityEngine
from harvester.find.similar.store import ENTRY, POSTING, TERM
from tests.conftest import FIXTURES, trials

STUDIES = FIXTURES / "ctgov-v2-json/studies"
XML = FIXTURES / "ctgov-xml"
HISTORY = sorted((FIXTURES / "ctgov-history/api-v2-snapshots").glob("NCT06203210__vh*"))


def build(db: str, *paths: Path) -> Catalogue:
    assert trials(db, "import", *paths, "--quiet").exit_code == 0
    return Catalogue.open(db)


def check_consistent(catalogue: Catalogue) -> dict[str, int]:
    """Term counts and postings are exactly what the entries' features give; returns the
    document frequencies."""
    with catalogue.engine.connect() as conn:
        features = [fx.decode(bytes(row.features)) for row in conn.execute(sa.select(ENTRY))]
        docs = dict(conn.execute(sa.select(ENTRY.c.nct_id, ENTRY.c.doc_id)).all())
        terms = {row.term: (row.id, row.df) for row in conn.execute(sa.select(TERM))}
        postings = set(conn.execute(sa.select(POSTING.c.term_id, POSTING.c.doc_id)).all())
        count = int(conn.execute(sa.text("SELECT value FROM sim_meta WHERE key = 'count'"))
                    .scalar_one())
    expected_df: Counter[str] = Counter()
    expected_postings = set()
    for f in features:
        posted, counted = fx.index_terms(f)
        expected_df.update(posted | counted)
        expected_postings |= {(terms[t][0], docs[f.nct_id or ""]) for t in posted}
    assert {t: df for t, (_, df) in terms.items() if df} == dict(expected_df)
    assert postings == expected_postings
    assert count == len(features)
    return dict(expected_df)


def current_versions(catalogue: Catalogue) -> dict[str, int]:
    with catalogue.engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT nct_id, current_version_id FROM trial")).all())


def indexed_versions(catalogue: Catalogue) -> dict[str, int]:
    with catalogue.engine.connect() as conn:
        return dict(conn.execute(sa.select(ENTRY.c.nct_id, ENTRY.c.version_id)).all())


def test_refresh_is_incremental_and_counts_stay_exact(db_url: str) -> None:
    catalogue = build(db_url, STUDIES, HISTORY[0])
    engine = SimilarityEngine(catalogue)
    assert engine.refresh() == 29 and engine.refresh() == 0
    assert indexed_versions(catalogue) == current_versions(catalogue)
    before = check_consistent(catalogue)
    assert trials(db_url, "import", *HISTORY[1:], "--quiet").exit_code == 0
    assert engine.refresh() == 1  # NCT06203210 moved on; nothing else is looked at again
    assert indexed_versions(catalogue) == current_versions(catalogue)
    after = check_consistent(catalogue)
    assert after != before  # its eligibility text changed
    assert trials(db_url, "import", XML, "--quiet").exit_code == 0
    assert engine.refresh() == 29
    check_consistent(catalogue)
    catalogue.close()


def test_a_refresh_killed_midway_leaves_a_consistent_index(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = f"sqlite:///{tmp_path / 'c.sqlite'}"
    catalogue = build(db, STUDIES, XML)
    monkeypatch.setattr(ix, "BATCH", 10)
    monkeypatch.setattr(ix, "WRITE", 10)
    real_write = ix._write
    calls = []

    def dying_write(*args: object) -> int:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed while writing the third batch
        return real_write(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(ix, "_write", dying_write)
    with pytest.raises(KeyboardInterrupt):
        SimilarityEngine(catalogue).refresh()
    assert len(indexed_versions(catalogue)) == 20  # two whole batches, nothing of the third
    check_consistent(catalogue)
    monkeypatch.setattr(ix, "_write", real_write)
    assert SimilarityEngine(catalogue).refresh() == 57 - 20  # carries on where it stopped
    resumed = check_consistent(catalogue)
    assert indexed_versions(catalogue) == current_versions(catalogue)
    SimilarityEngine(catalogue).rebuild()
    assert check_consistent(catalogue) == resumed


def test_a_build_writes_whole_lots_of_trials_each_in_one_transaction(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers prepare BATCH trials at a time; the index is written WRITE (or more) at a
    time, the rest at the end — and comes out as a build a batch at a time makes it."""
    catalogue = build(f"sqlite:///{tmp_path / 'c.sqlite'}", STUDIES, XML)
    monkeypatch.setattr(ix, "BATCH", 5)
    monkeypatch.setattr(ix, "WRITE", 12)
    real_write = ix._write
    sizes: list[int] = []

    def counting_write(engine: sa.engine.Engine, fresh: list[ix.Ready]) -> int:
        sizes.append(len(fresh))
        return real_write(engine, fresh)

    monkeypatch.setattr(ix, "_write", counting_write)
    assert SimilarityEngine(catalogue).refresh() == 57
    assert sizes == [15, 15, 15, 12]  # three lots of three batches, then what is left
    by_lots = check_consistent(catalogue)
    monkeypatch.setattr(ix, "WRITE", 1)
    sizes.clear()
    SimilarityEngine(catalogue).rebuild()
    assert sizes == [5] * 11 + [2]
    assert check_consistent(catalogue) == by_lots
    catalogue.close()


def test_a_new_features_version_rebuilds(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    catalogue = build(f"sqlite:///{tmp_path / 'c.sqlite'}", STUDIES)
    engine = SimilarityEngine(catalogue)
    assert engine.refresh() == 28
    monkeypatch.setattr(fx, "FEATURES_VERSION", "test-next")
    assert engine.refresh() == 28 and engine.refresh() == 0
    check_consistent(catalogue)


def test_while_another_process_writes_answers_come_from_the_index_as_it_stands(
        tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.sqlite'}"
    catalogue = build(db, STUDIES)
    engine = SimilarityEngine(catalogue)
    engine.refresh()
    assert trials(db, "import", XML, "--quiet").exit_code == 0
    with writer_lock(catalogue.engine):  # an import or sync is running
        result = engine.similar_to_id("NCT06692738")
    assert result.matches and "29 trials are not yet indexed" in result.notes[0]
    assert all(m.nct_id.startswith("NCT0") for m in result.matches)
    assert engine.similar_to_id("NCT06692738").notes == ()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> SimilarityEngine:
    db = f"sqlite:///{tmp_path_factory.mktemp('index') / 'c.sqlite'}"
    return SimilarityEngine(build(db, STUDIES, XML, FIXTURES / "mirror-veeva",
                                  FIXTURES / "constructed"))


def test_among_ranks_exactly_the_given_trials(corpus: SimilarityEngine) -> None:
    among = ["NCT04585815", "NCT00189228", "NCT01642004", "NCT09999999", "NCT06692738"]
    result = corpus.similar_to_id("NCT06692738", among=among)
    ids = [m.nct_id for m in result.matches]
    assert sorted(ids) == ["NCT00189228", "NCT01642004", "NCT04585815"]  # no query, no unknown
    assert ids[-1] == "NCT00189228"  # asthma last
    twin = corpus.similar_to_id("NCT03494712", among=["NCT99000001", "NCT01642004"])
    assert [m.nct_id for m in twin.matches] == ["NCT01642004"]
    assert [d.nct_id for d in twin.duplicates] == ["NCT99000001"]


def test_a_filter_checked_in_stages_gives_the_same_answer(
        corpus: SimilarityEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    selection = Selection(statuses=("COMPLETED",))
    monkeypatch.setattr(eng, "POOL", 2)  # few candidates fully scored: the stages matter
    at_once = corpus.similar_to_id("NCT01642004", top=5, selection=selection)
    monkeypatch.setattr(eng, "FILTER_POOL", 8)  # checked a few, then more, then all
    in_stages = corpus.similar_to_id("NCT01642004", top=5, selection=selection)
    assert [m.nct_id for m in in_stages.matches] == [m.nct_id for m in at_once.matches]
    assert len(at_once.matches) == 5
    held = {n: corpus.catalogue.record(corpus.catalogue.current(n).id)  # type: ignore[union-attr]
            for n in (m.nct_id for m in at_once.matches)}
    assert all(r.overall_status == "COMPLETED" for r in held.values())


def test_common_terms_are_not_looked_up(corpus: SimilarityEngine,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eng, "COMMON_FLOOR", 1)
    monkeypatch.setattr(eng, "COMMON", 0.05)  # terms of more than 3 trials: skipped
    result = corpus.similar_to_id("NCT01642004")
    assert result.matches  # still found through rarer terms
    assert "NCT02481830" in [m.nct_id for m in result.matches]


def test_a_query_of_common_words_still_finds_trials(corpus: SimilarityEngine,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eng, "COMMON_FLOOR", 1)
    monkeypatch.setattr(eng, "COMMON", 0.01)  # every word is "common" in 60 trials
    result = corpus.similar_to_text("lung cancer")
    assert result.matches and all("lung" in (m.title or "").lower() or m.reasons
                                  for m in result.matches)


def test_prescore_sums_the_weights_of_each_trial_s_postings(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``prescore`` ranks the trials by the summed weights of their postings under the
    given terms (checked against the postings themselves); on PostgreSQL it reads the
    postings by their key — no sequential scan of the table for that statement, the
    setting as it was afterwards — and sessions run without JIT compilation."""
    catalogue = build(db_url, STUDIES)
    SimilarityEngine(catalogue).refresh()
    seen: list[tuple[str, str]] = []  # each ranking statement, and the setting it ran with
    rows = ix._rows

    def spy(conn: sa.Connection, stmt: sa.Select[Any]) -> list[tuple[int, float]]:
        if conn.dialect.name == "postgresql":
            seen.append((str(stmt), conn.exec_driver_sql("SHOW enable_seqscan").scalar_one()))
        return rows(conn, stmt)

    monkeypatch.setattr(ix, "_rows", spy)
    with catalogue.engine.connect() as conn:
        busiest = [int(t) for t in conn.execute(sa.text(
            "SELECT term_id FROM sim_posting GROUP BY term_id "
            "ORDER BY count(*) DESC, term_id LIMIT 6")).scalars()]
        weights = {term: 1.0 + place / 4 for place, term in enumerate(busiest)}
        sums: Counter[int] = Counter()
        for term, doc in conn.execute(sa.select(POSTING.c.term_id, POSTING.c.doc_id)):
            if term in weights:
                sums[doc] += weights[term]  # type: ignore[assignment]
        expected = sorted(sums.items(), key=lambda x: (-x[1], x[0]))
        got = ix.prescore(conn, weights, limit=None)
        assert [d for d, _ in got] == [d for d, _ in expected] and len(got) > 10
        assert [s for _, s in got] == pytest.approx([s for _, s in expected])
        assert ix.prescore(conn, weights, limit=5) == got[:5]
        if conn.dialect.name == "postgresql":
            assert len(seen) == 2 and all(s.lstrip().startswith("WITH w") for s, _ in seen)
            assert {setting for _, setting in seen} == {"off"}
            assert conn.exec_driver_sql("SHOW enable_seqscan").scalar_one() == "on"
            assert conn.exec_driver_sql("SHOW jit").scalar_one() == "off"
    catalogue.close()


def test_a_read_through_the_driver_s_cursor_fails_as_any_statement_does(db_url: str) -> None:
    """The look-ups read by the driver's own cursor (term statistics, entries, pre-scores)
    fail as SQLAlchemy's statements do: a driver error wrapped by SQLAlchemy, and a lost
    server through the catalogue's error boundary (StorageError, one line)."""
    from harvester.errors import StorageError

    catalogue = build(db_url, STUDIES)
    SimilarityEngine(catalogue).refresh()
    with catalogue.engine.connect() as conn:
        assert ix.term_stats(conn, ["t:cancer"])
        with pytest.raises(sa.exc.DBAPIError) as failed:
            ix._driver_rows(conn, "SELECT term FROM no_such_table", ())
        assert "no_such_table" in str(failed.value)
    if catalogue.engine.dialect.name == "postgresql":
        with catalogue.engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            with catalogue.engine.connect() as other:
                other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
            with pytest.raises(StorageError):
                ix.term_stats(conn, ["t:cancer"])
    catalogue.close()
