"""SQLModel table classes of the catalogue (kept apart from the typed records they store).

Append-only: ``version`` and ``payload`` rows are only ever inserted.  ``trial`` holds one
pointer per trial to its current version — a derived index, rewritten as versions arrive.
The child tables copy the fields users filter on out of each version's record, so queries
use indexes rather than JSON.  Times are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class SchemaInfo(SQLModel, table=True):
    __tablename__ = "schema_info"
    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=200)


class Run(SQLModel, table=True):
    """One import, sync or reparse: what was asked, when, and how it ended."""

    __tablename__ = "run"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    arguments: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    started_at: datetime
    heartbeat_at: datetime
    finished_at: datetime | None = None
    status: str = Field(max_length=20)  # running, ok, partial, failed, interrupted
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    failed: int = 0
    message: str | None = Field(default=None, sa_column=Column(Text))
    stats: str | None = Field(default=None, sa_column=Column(Text))  # JSON: pages, requests…
    # The saved query a sync ran (its name then), and the `sync --all` batch it was part of
    # (the id of the batch's own run, of kind "batch").
    query_name: str | None = Field(default=None, max_length=100)
    batch_id: int | None = Field(default=None, index=True)


class Trial(SQLModel, table=True):
    __tablename__ = "trial"
    nct_id: str = Field(primary_key=True, max_length=11)
    current_version_id: int = Field(index=True)
    first_seen_at: datetime


class Version(SQLModel, table=True):
    """One content-distinct record of a trial from one source, never updated."""

    __tablename__ = "version"
    __table_args__ = (
        UniqueConstraint("nct_id", "source", "content_hash", name="uq_version_content"),
        # (nct_id, effective_date) went in schema step 14: the leading columns of
        # ix_version_as_of (harvester.catalogue.fulltext.SUPPORT_INDEXES) answer the same.
    )
    id: int | None = Field(default=None, primary_key=True)
    nct_id: str = Field(max_length=11)
    source: str = Field(max_length=20)
    content_hash: str = Field(max_length=64)
    # The record's JSON, compressed (harvester.catalogue.recordcodec; plain text before v11).
    record: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    payload_sha256: str = Field(max_length=64)
    parser_version: str = Field(max_length=20)
    seen_at: datetime = Field(index=True)
    run_id: int | None = None
    # The registry's own clock: last update posted (or submitted, or the data version date).
    registry_date: str | None = Field(default=None, max_length=10)
    registry_version: str | None = Field(default=None, max_length=40)
    effective_date: str = Field(max_length=10, index=True)  # registry_date, else seen date
    supersedes_id: int | None = None  # set by `trials reparse`
    # Copied out of the record for filtering.
    overall_status: str | None = Field(default=None, max_length=40, index=True)
    study_type: str | None = Field(default=None, max_length=20, index=True)
    phases: str | None = Field(default=None, max_length=80, index=True)
    start_date: str | None = Field(default=None, max_length=10, index=True)
    last_update_posted: str | None = Field(default=None, max_length=10, index=True)
    has_results: bool = False
    enrollment_count: int | None = None
    lead_sponsor: str | None = Field(default=None, sa_column=Column(Text))


class Payload(SQLModel, table=True):
    """A raw payload seen, by hash; ``data`` (compressed) is kept for the one a version came
    from."""

    __tablename__ = "payload"
    sha256: str = Field(primary_key=True, max_length=64)
    version_id: int
    size: int
    name: str | None = Field(default=None, sa_column=Column(Text))
    # A zip entry's name, size and CRC-32 (see harvester.ingest.inputs.quick_identity).
    quick: str | None = Field(default=None, max_length=120, index=True)
    codec: str = Field(default="zlib", max_length=10)  # zlib, or a zip entry's raw deflate
    data: bytes | None = Field(default=None, sa_column=Column(LargeBinary))


class VersionCondition(SQLModel, table=True):
    __tablename__ = "version_condition"
    version_id: int = Field(primary_key=True)
    position: int = Field(primary_key=True)
    term: str = Field(sa_column=Column(Text, nullable=False))
    term_norm: str = Field(max_length=400, index=True)


class VersionIntervention(SQLModel, table=True):
    __tablename__ = "version_intervention"
    version_id: int = Field(primary_key=True)
    position: int = Field(primary_key=True)
    type: str | None = Field(default=None, max_length=40)
    name: str = Field(sa_column=Column(Text, nullable=False))
    name_norm: str = Field(max_length=400, index=True)


class VersionSite(SQLModel, table=True):
    """Until schema step 15, which dropped it (a version's sites are rows of
    ``version_place``): made by the first steps, as they always were."""

    __tablename__ = "version_site"
    version_id: int = Field(primary_key=True)
    position: int = Field(primary_key=True)
    facility: str | None = Field(default=None, sa_column=Column(Text))
    city: str | None = Field(default=None, max_length=200)
    # Indexed as lower(country) (harvester.catalogue.fulltext.SUPPORT_INDEXES); its plain
    # index, which nothing read, went in schema step 14.
    country: str | None = Field(default=None, max_length=100)
    status: str | None = Field(default=None, max_length=40)


class TrialEvent(SQLModel, table=True):
    """Things that happen to a trial rather than to its record (gone from a query's results)."""

    __tablename__ = "trial_event"
    id: int | None = Field(default=None, primary_key=True)
    nct_id: str = Field(max_length=11, index=True)
    kind: str = Field(max_length=20)  # disappeared, reappeared
    at: datetime = Field(index=True)
    run_id: int | None = None
    detail: str | None = Field(default=None, sa_column=Column(Text))


class SavedQuery(SQLModel, table=True):
    """A named search (`trials sync --save NAME …`), replayed by `trials sync NAME`."""

    __tablename__ = "saved_query"
    name: str = Field(primary_key=True, max_length=100)
    params: str = Field(sa_column=Column(Text, nullable=False))  # JSON: API parameters
    created_at: datetime
    updated_at: datetime


class SyncState(SQLModel, table=True):
    """Where the syncs of one query stand: the high-water mark and a resume point."""

    __tablename__ = "sync_state"
    query_key: str = Field(primary_key=True, max_length=64)  # hash of the parameters
    params: str = Field(sa_column=Column(Text, nullable=False))
    high_water: str | None = Field(default=None, max_length=10)  # last update posted, max
    last_success_run_id: int | None = None
    last_success_at: datetime | None = None
    resume: str | None = Field(default=None, sa_column=Column(Text))  # JSON, while unfinished
    updated_at: datetime


class QueryMember(SQLModel, table=True):
    """A trial in a query's results, so that a full pass notices the ones that left."""

    __tablename__ = "query_member"
    query_key: str = Field(primary_key=True, max_length=64)
    nct_id: str = Field(primary_key=True, max_length=11)
    present: bool = True
    last_seen_pass: int  # the run that started the pass it was last seen in
    changed_at: datetime


class SchemaSnapshot(SQLModel, table=True):
    """The registry's /version, /studies/metadata and /studies/enums, as last fetched."""

    __tablename__ = "schema_snapshot"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20, index=True)  # version, metadata, enums
    data_timestamp: str = Field(max_length=40)
    fetched_at: datetime
    body: str = Field(sa_column=Column(Text, nullable=False))
