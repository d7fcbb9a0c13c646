"""Duplicates among the trials an export selected: one trial registered twice is exported once.

The rules are the catalogue's own same-trial rules (:func:`harvester.find.similar.duplicates.
same_trial`, what ``trials similar`` lists apart as "the same trial registered elsewhere"):

- one record names the other's NCT id among its NCT id aliases or secondary ids (the registry
  merged two registrations, or a sponsor cross-referenced its second one);
- both name the same id of another registry (EudraCT, EU CT, ISRCTN, …);
- the same lead sponsor gives both the same protocol id and a similar title;
- a near-identical title from the same lead sponsor, unless they name different ids in one
  registry or different protocol ids (sister protocols).

(The same NCT id from two sources — the registry and a mirror page — is one trial of the
catalogue already: it is exported once, from its preferred source.)

Two passes over the selection, memory flat in its size: the first reads only the fields the
rules use and notes, per blocking key (a registry id, a sponsor protocol id, a sponsor and
title), which trials share it; the second reads the few trials that share one again and
checks each pair with the rules.  Trials linked by a pair form a group; in each group one is
kept (see :func:`_keep`), the others are removed from the export and reported in its log.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from harvester.catalogue import recordcodec
from harvester.catalogue.selection import Selection, V, selected
from harvester.find.similar import duplicates as dup
from harvester.find.similar import text as tx
from harvester.find.similar.features import Features
from harvester.records import TrialRecord

#: Trials one blocking key may gather before it is ignored as too common to mean one trial
#: (a sponsor's generic title, say): pairs are checked within a block.
BLOCK_LIMIT = 50
_CHUNK = 500


class _Sponsor(msgspec.Struct):
    name: str | None = None


class _Fields(msgspec.Struct):
    """The fields of a record's JSON that the same-trial rules read."""

    nct_id: str
    org_study_id: str | None = None
    secondary_ids: list[str] = []
    nct_id_aliases: list[str] = []
    brief_title: str | None = None
    official_title: str | None = None
    lead_sponsor: _Sponsor | None = None
    has_results: bool = False


_DECODE = msgspec.json.Decoder(_Fields)


@dataclass(frozen=True)
class DuplicateGroup:
    """One trial registered more than once: the record kept, the ones removed, and why."""

    kept: str
    removed: tuple[str, ...]
    reasons: tuple[str, ...]  # why they are the same trial (the rules' own words)
    kept_because: str

    def to_json(self) -> dict[str, Any]:
        return {"kept": self.kept, "removed": list(self.removed),
                "reasons": list(self.reasons), "kept_because": self.kept_because}


@dataclass
class Deduplication:
    """What deduplication found in one selection (``enabled`` False: ``--keep-duplicates``)."""

    enabled: bool = True
    groups: list[DuplicateGroup] = field(default_factory=list)

    @property
    def removed(self) -> frozenset[str]:
        return frozenset(n for g in self.groups for n in g.removed)

    def to_json(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "removed": len(self.removed),
                "groups": [g.to_json() for g in self.groups]}


def _features(fields: _Fields) -> Features:
    # The rules read these attributes only; a TrialRecord would cost a full validation.
    record = cast(TrialRecord, fields)
    titles = [t for t in (fields.brief_title, fields.official_title) if t]
    return Features(nct_id=fields.nct_id, title=fields.brief_title or fields.official_title,
                    sponsor=fields.lead_sponsor.name if fields.lead_sponsor else None,
                    ids=dup.registry_ids(record), protocol=dup.sponsor_protocol(record),
                    title_words=tuple(tuple(sorted(tx.title_words(t))) for t in titles))


def _keys(f: Features) -> Iterator[str]:
    """The blocking keys of a trial: two trials the rules call the same share one."""
    yield from (f"x:{i}" for i in f.ids[1:])  # other registries' ids (and NCT aliases)
    if f.ids:
        yield f"x:{f.ids[0]}"  # its own NCT id, which another may list
    if f.protocol:
        yield f"p:{f.protocol}"
    sponsor = tx.sponsor_key(f.sponsor)
    if sponsor:
        for words in f.title_words:
            if words:
                yield f"h:{sponsor}|{' '.join(words)}"


def _stream(conn: Connection, selection: Selection,
            nct_ids: Sequence[str] | None = None) -> Iterator[_Fields]:
    """The selected records' fields."""
    picked = selected(selection).order_by(None)
    if nct_ids is not None:
        picked = picked.where(picked.selected_columns.nct_id.in_(nct_ids))
    sub = picked.subquery("picked")
    stmt = sa.select(V.c.record).join(sub, sub.c.version_id == V.c.id)
    result = conn.execution_options(stream_results=True, yield_per=_CHUNK).execute(stmt)
    for row in result:
        yield _DECODE.decode(recordcodec.unpack(row.record))


def find_duplicates(conn: Connection, selection: Selection) -> Deduplication:
    """The groups of selected trials that are one trial registered more than once."""
    blocks: dict[int, int | list[int]] = {}  # hash of a key → trial number(s)
    for fields in _stream(conn, selection):
        number = int(fields.nct_id[3:])
        for key in _keys(_features(fields)):
            h = hash(key)
            held = blocks.get(h)
            if held is None:
                blocks[h] = number
            elif isinstance(held, int):
                if held != number:
                    blocks[h] = [held, number]
            elif len(held) <= BLOCK_LIMIT and number not in held:
                held.append(number)
    shared = [b for b in blocks.values() if isinstance(b, list) and len(b) <= BLOCK_LIMIT]
    del blocks
    if not shared:
        return Deduplication()
    wanted = sorted({f"NCT{n:08d}" for block in shared for n in block})
    found: dict[str, tuple[_Fields, Features]] = {}
    for start in range(0, len(wanted), _CHUNK):
        for fields in _stream(conn, selection, wanted[start:start + _CHUNK]):
            found[fields.nct_id] = (fields, _features(fields))
    return Deduplication(groups=_groups(found, shared))


def _groups(found: dict[str, tuple[_Fields, Features]],
            blocks: Iterable[list[int]]) -> list[DuplicateGroup]:
    parent: dict[str, str] = {}

    def root(n: str) -> str:
        while parent.get(n, n) != n:
            n = parent[n]
        return n

    reasons: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for block in blocks:
        members = sorted(f"NCT{n:08d}" for n in block)
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                # A pair already in one group is not checked again: in a block of one
                # trial's records, each joins the group at its first check.
                if a not in found or b not in found or root(a) == root(b):
                    continue
                why = dup.same_trial(found[a][1], found[b][1])
                if why:
                    parent[root(b)] = root(a)
                    reasons[a] += [(a, b, r) for r in why]
    members_of: dict[str, list[str]] = defaultdict(list)
    for n in sorted({*parent, *parent.values()}):
        members_of[root(n)].append(n)
    groups = []
    for members in members_of.values():
        kept, because = _keep([found[n][0] for n in members])
        # In a group of two, a reason needs no names; in a larger one, it names its pair.
        why = tuple(dict.fromkeys(
            r if len(members) == 2 or (a in r and b in r) else f"{a} and {b}: {r}"
            for n in members for a, b, r in reasons.get(n, ())))
        groups.append(DuplicateGroup(kept, tuple(n for n in members if n != kept), why,
                                     because))
    return sorted(groups, key=lambda g: g.kept)


def _keep(members: list[_Fields]) -> tuple[str, str]:
    """The record a group keeps, and why: the one the registry keeps (it lists another's NCT
    id among its aliases: the registry merged that registration into it), else the only one
    with results posted, else the first registered (the lowest NCT id: the registry issues
    them in order).  None of these changes when a record is updated, so a later export of
    the same selection keeps the same record."""
    ids = {f.nct_id for f in members}
    holders = sorted(f.nct_id for f in members if ids & set(f.nct_id_aliases))
    if holders:
        return holders[0], "the registry lists the others as its NCT id aliases"
    with_results = sorted(f.nct_id for f in members if f.has_results)
    if len(with_results) == 1:
        return with_results[0], "the only one with results posted"
    pool = with_results or sorted(f.nct_id for f in members)
    return pool[0], ("the first registered with results posted, lowest NCT id"
                     if with_results else "the first registered, lowest NCT id")
