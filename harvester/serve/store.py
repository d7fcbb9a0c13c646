"""The replica's data: an in-memory, thread-safe set of API v2 study objects keyed by NCT id.

Tests mutate the store while a server thread reads it, so every read goes through an
immutable :class:`Snapshot`, rebuilt lazily after a change: a request sees one consistent data
version even if a test adds or removes studies half-way through a harvest.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from harvester.catalogue import Catalogue

Study = dict[str, Any]

_NCT = re.compile(r"^[Nn][Cc][Tt]0*([1-9]\d{0,7})$")
_TIMESTAMP = "%Y-%m-%dT%H:%M:%S"


def canonical_nct(text: str) -> str | None:
    """``nct0123`` → ``NCT00000123``: case and leading zeros are flexible, as on the real API."""
    m = _NCT.match(text.strip())
    return f"NCT{int(m.group(1)):08d}" if m else None


def _get(doc: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def study_nct(study: Mapping[str, Any]) -> str:
    """The canonical NCT id of a study object; ``ValueError`` if it has none."""
    raw = _get(study, "protocolSection", "identificationModule", "nctId")
    nct = canonical_nct(raw) if isinstance(raw, str) else None
    if nct is None:
        raise ValueError(f"not an API v2 study (no valid protocolSection…nctId): {raw!r}")
    return nct


def _aliases(study: Mapping[str, Any]) -> list[str]:
    raw = _get(study, "protocolSection", "identificationModule", "nctIdAliases")
    found = (canonical_nct(a) for a in raw if isinstance(a, str)) if isinstance(raw, list) else ()
    return [a for a in found if a]


def last_update(study: Mapping[str, Any]) -> str:
    """The study's ``lastUpdatePostDate`` (the date of its version), or ``""``."""
    date = _get(study, "protocolSection", "statusModule", "lastUpdatePostDateStruct", "date")
    return date if isinstance(date, str) else ""


def _is_study(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("protocolSection"), dict)


class StudyVersion(NamedTuple):
    """One entry of a study's history: ``(date, study)``, the date its ``lastUpdatePostDate``."""

    date: str
    study: Study


@dataclass(frozen=True)
class Snapshot:
    """One consistent view of the store, as a request sees it."""

    revision: int
    data_timestamp: str
    ids: tuple[str, ...]  # NCT order: the default, stable order of /studies
    studies: Mapping[str, Study]
    aliases: Mapping[str, str]  # alias → canonical NCT id
    _encoded: dict[str, bytes] = field(default_factory=dict, repr=False)

    def resolve(self, nct: str) -> tuple[str, bool] | None:
        """``(canonical id, reached through an alias)`` for an id or alias, else ``None``."""
        key = canonical_nct(nct)
        if key is None:
            return None
        if key in self.studies:
            return key, False
        alias = self.aliases.get(key)
        return (alias, True) if alias is not None else None

    def encoded(self, nct: str) -> bytes:
        """The study as compact JSON, encoded once per snapshot (pages re-send the same bytes)."""
        body = self._encoded.get(nct)
        if body is None:
            body = self._encoded[nct] = msgspec.json.encode(self.studies[nct])
        return body


class StudyStore:
    """Studies keyed by canonical NCT id, with aliases, per-study history and a data version."""

    def __init__(
        self, studies: Iterable[Mapping[str, Any]] = (), *, data_timestamp: str | None = None
    ) -> None:
        self._lock = threading.RLock()
        self._studies: dict[str, Study] = {}
        self._history: dict[str, list[StudyVersion]] = {}
        self._revision = 0
        self._snapshot: Snapshot | None = None
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self._timestamp = data_timestamp or now.strftime(_TIMESTAMP)
        for study in studies:
            self.add(study)

    # --- loading ------------------------------------------------------------------------------

    @classmethod
    def from_folder(cls, path: str | Path, *, data_timestamp: str | None = None) -> StudyStore:
        """Every study in the ``*.json`` files under ``path`` (recursively).

        Files may hold a single study, a ``/studies`` list page or a JSON-array export; files
        that are not JSON or hold no study are skipped.  A study found more than once becomes
        one history entry per ``lastUpdatePostDate``, oldest first, so a folder of snapshots
        serves ``/api/int/studies/{nct}/history``.  Copies with the same ``lastUpdatePostDate``
        are one registry version (the data-version date ``versionHolder`` moves daily without
        the record changing): the one with the latest ``versionHolder`` is kept, then the
        larger, since a ``fields=`` record is a subset of the full one.
        """
        found: dict[str, list[tuple[tuple[str, str, int], bytes, Study]]] = {}
        for file in sorted(Path(path).rglob("*.json")):
            for study in _studies_in(file.read_bytes()):
                body = msgspec.json.encode(study)
                version = _get(study, "derivedSection", "miscInfoModule", "versionHolder")
                key = (last_update(study), version if isinstance(version, str) else "", len(body))
                found.setdefault(study_nct(study), []).append((key, body, study))
        store = cls(data_timestamp=data_timestamp)
        for nct in sorted(found):
            kept: list[tuple[tuple[str, str, int], bytes, Study]] = []
            for entry in sorted(found[nct], key=lambda e: e[0]):
                if kept and kept[-1][0][0] == entry[0][0]:
                    kept[-1] = entry  # same record version: keep the newest, fullest copy
                else:
                    kept.append(entry)
            store.add(kept[0][2])
            for _, _, study in kept[1:]:
                store.add_version(study)
        return store

    @classmethod
    def from_catalogue(cls, catalogue: Catalogue, *,
                       data_timestamp: str | None = None) -> StudyStore:
        """Every trial of a catalogue that holds ClinicalTrials.gov API JSON, served from the
        raw payloads its versions were parsed from, oldest first, so that the record
        history endpoints answer too (the ``trials serve`` to come)."""
        store = cls(data_timestamp=data_timestamp)
        for nct in catalogue.trial_ids():
            versions = [v for v in catalogue.versions(nct) if v.source == "ctgov-json"]
            for number, info in enumerate(versions):
                studies = _studies_in(catalogue.payload(info.id))
                if not studies:
                    continue
                (store.add if number == 0 or nct not in store else store.add_version)(
                    studies[0])
        return store

    # --- mutation -----------------------------------------------------------------------------

    def add(self, study: Mapping[str, Any]) -> str:
        """Add or replace a study; its history restarts with this as version 0.  Returns its id.

        The store keeps its own copy: later changes to ``study`` do not leak into the replica.
        """
        nct, copy = self._copy(study)
        with self._lock:
            self._studies[nct] = copy
            self._history[nct] = [StudyVersion(last_update(copy), copy)]
            self._changed()
        return nct

    def add_version(self, study: Mapping[str, Any]) -> int:
        """Post a new version of a study (it becomes current).  Returns its version number."""
        nct, copy = self._copy(study)
        with self._lock:
            history = self._history.setdefault(nct, [])
            history.append(StudyVersion(last_update(copy), copy))
            self._studies[nct] = copy
            self._changed()
            return len(history) - 1

    def remove(self, nct: str) -> bool:
        """Withdraw a study (and its history and aliases); ``False`` if it was not there."""
        key = canonical_nct(nct)
        with self._lock:
            if key is None or key not in self._studies:
                return False
            del self._studies[key]
            self._history.pop(key, None)
            self._changed()
            return True

    def bump(self, to: str | None = None) -> str:
        """Move the data version (``/version``'s ``dataTimestamp``): to ``to``, or one day on.

        A day, because the registry refreshes once per weekday.  Returns the new timestamp.
        """
        with self._lock:
            if to is None:
                current = dt.datetime.strptime(self._timestamp, _TIMESTAMP)
                to = (current + dt.timedelta(days=1)).strftime(_TIMESTAMP)
            else:
                dt.datetime.strptime(to, _TIMESTAMP)  # reject what the API would never send
            self._timestamp = to
            self._changed()
            return to

    @staticmethod
    def _copy(study: Mapping[str, Any]) -> tuple[str, Study]:
        nct = study_nct(study)
        copy: Study = msgspec.json.decode(msgspec.json.encode(study))
        return nct, copy

    def _changed(self) -> None:
        self._revision += 1
        self._snapshot = None

    # --- reading ------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        with self._lock:
            if self._snapshot is None:
                aliases: dict[str, str] = {}
                for nct, study in self._studies.items():
                    for alias in _aliases(study):
                        if alias not in self._studies:  # a live id always wins over an alias
                            aliases.setdefault(alias, nct)
                self._snapshot = Snapshot(
                    self._revision,
                    self._timestamp,
                    tuple(sorted(self._studies)),
                    dict(self._studies),
                    aliases,
                )
            return self._snapshot

    @property
    def data_timestamp(self) -> str:
        with self._lock:
            return self._timestamp

    @property
    def revision(self) -> int:
        """A counter bumped by every change (ETags include it, so no change is served stale)."""
        with self._lock:
            return self._revision

    def get(self, nct: str) -> Study | None:
        """The current study by id (any case, leading zeros flexible); aliases do not count.

        The dict is the store's own: read it, do not change it (use :meth:`add_version`).
        """
        key = canonical_nct(nct)
        with self._lock:
            return self._studies.get(key) if key else None

    def resolve(self, nct: str) -> str | None:
        """The canonical id for an NCT id or alias, or ``None``."""
        found = self.snapshot().resolve(nct)
        return found[0] if found else None

    def history(self, nct: str) -> list[StudyVersion]:
        """The study's versions, version 0 first (empty if unknown)."""
        key = canonical_nct(nct)
        with self._lock:
            return list(self._history.get(key, ())) if key else []

    def ids(self) -> list[str]:
        return list(self.snapshot().ids)

    def __iter__(self) -> Iterator[Study]:
        snap = self.snapshot()
        return (snap.studies[nct] for nct in snap.ids)

    def __len__(self) -> int:
        with self._lock:
            return len(self._studies)

    def __contains__(self, nct: object) -> bool:
        return isinstance(nct, str) and self.get(nct) is not None


def renumbered(study: Mapping[str, Any], nct: str) -> Study:
    """A deep copy of ``study`` under another NCT id, without aliases: synthetic bulk data."""
    key = canonical_nct(nct)
    if key is None:
        raise ValueError(f"not an NCT id: {nct!r}")
    copy: Study = msgspec.json.decode(msgspec.json.encode(study))
    ident = copy["protocolSection"]["identificationModule"]
    ident["nctId"] = key
    ident.pop("nctIdAliases", None)
    return copy


def synthetic(
    templates: Iterable[Mapping[str, Any]], count: int, first: int = 90_000_000
) -> Iterator[Study]:
    """``count`` copies of ``templates`` (cycled) numbered NCT90000000, NCT90000001, …"""
    pool = list(templates)
    for i in range(count):
        yield renumbered(pool[i % len(pool)], f"NCT{first + i:08d}")


def _studies_in(data: bytes) -> list[Study]:
    """The studies in one file: a study, a list page ``{"studies": […]}`` or an array export."""
    try:
        doc = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return []
    if isinstance(doc, dict) and isinstance(doc.get("studies"), list):
        doc = doc["studies"]
    items = doc if isinstance(doc, list) else [doc]
    out = []
    for item in items:
        if _is_study(item):
            try:
                study_nct(item)
            except ValueError:
                continue
            out.append(item)
    return out
