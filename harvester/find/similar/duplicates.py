"""Same-trial detection (pure): one trial seen twice is a duplicate, not a similar trial.

Three ways two records are found to be the same trial:

1. the same NCT id held from another source (a mirror page beside the registry's record): the
   catalogue keys trials by NCT id, so the engine reports it for the query itself;
2. one names the other's NCT id among its secondary ids or NCT id aliases, or both name the
   same id of another registry (EudraCT ``2015-001234-12``, EU CT ``2023-501234-12-00``,
   ISRCTN, ChiCTR, CTRI, jRCT, JapicCTI, UMIN, DRKS, ACTRN, KCT, IRCT, PACTR, ReBEC, TCTR,
   WHO UTN, NCI CTRP), ids normalised before comparing; or the same lead sponsor gives both
   the same protocol id and near enough the same title;
3. a near-identical title (word Jaccard ≥ 0.9, brief or official) from the same lead sponsor,
   unless the two name different ids in one registry or different protocol ids (a sponsor's
   sister protocols often differ in a word of the title only).

Grant numbers (NIH ``R01…``) and bare local ids are not registry ids: many trials share them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from harvester.find.similar import text as tx
from harvester.records import TrialRecord

if TYPE_CHECKING:
    from harvester.find.similar.features import Features

TITLE_JACCARD = 0.9  # near-identical titles
PROTOCOL_TITLE_JACCARD = 0.5  # same sponsor protocol id: titles must still be alike

# (registry label, pattern); the first group, with non-alphanumerics removed and upper-cased
# (EudraCT and EU CT keep their dashes), is the id.  EU CT before EudraCT: it extends it.
_REGISTRIES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern, re.IGNORECASE)) for label, pattern in (
        ("NCT", r"\b(NCT\d{8})\b"),
        ("EUCT", r"\b((?:19|20)\d{2}-5\d{5}-\d{2}-\d{2})\b"),
        ("EudraCT", r"\b((?:19|20)\d{2}-\d{6}-\d{2})\b"),
        ("ISRCTN", r"\b(ISRCTN\s*\d{8})\b"),
        ("ChiCTR", r"\b(ChiCTR[-\s]*(?:[A-Z]{2,4}[-\s]*)?\d{6,12})\b"),
        ("CTRI", r"\b(CTRI\s*/\s*\d{4}\s*/\s*\d{2,3}\s*/\s*\d{6})\b"),
        ("jRCT", r"\b(jRCT[a-z]?\d{9,10})\b"),
        ("JapicCTI", r"\b(JapicCTI-?\d{6})\b"),
        ("UMIN", r"\b(UMIN\d{9})\b"),
        ("DRKS", r"\b(DRKS\d{8})\b"),
        ("ACTRN", r"\b(ACTRN\d{14})\b"),
        ("KCT", r"\b(KCT\d{7})\b"),
        ("IRCT", r"\b(IRCT\d{6,}N\d+)\b"),
        ("PACTR", r"\b(PACTR\d{15,16})\b"),
        ("ReBEC", r"\b(RBR-[0-9a-z]{6,8})\b"),
        ("TCTR", r"\b(TCTR\d{11})\b"),
        ("UTN", r"\b(U\d{4}-\d{4}-\d{4})\b"),
        ("CTRP", r"\b(NCI-\d{4}-\d{5})\b"),
    ))


def registry_id(value: str) -> list[str]:
    """Registry ids named in ``value``, normalised as ``LABEL:ID`` (an NCT id as itself)."""
    found: list[str] = []
    rest = value
    for label, pattern in _REGISTRIES:
        for match in pattern.finditer(rest):
            raw = match.group(1)
            if label in ("EudraCT", "EUCT", "UTN", "CTRP"):
                ident = re.sub(r"\s", "", raw).upper()
            else:
                ident = re.sub(r"[^0-9A-Za-z]", "", raw).upper()
            found.append(ident if label == "NCT" else f"{label}:{ident}")
        rest = pattern.sub(" ", rest)  # an EU CT number is not also a EudraCT number
    return found


def registry_ids(record: TrialRecord) -> tuple[str, ...]:
    """Every registry id a record names for itself: its NCT id, aliases, secondary ids and
    org study id."""
    found: dict[str, None] = {record.nct_id: None}
    for value in (*record.nct_id_aliases, *record.secondary_ids, record.org_study_id or ""):
        for ident in registry_id(value):
            found[ident] = None
    return tuple(found)


_GRANT = re.compile(r"^\d?[A-Z]\d{2}[A-Z]{2}\d{5,6}")  # NIH grants: R01HL044253, 1R18HL095481


def sponsor_protocol(record: TrialRecord) -> str | None:
    """``sponsor|protocol id`` when the org study id looks like a protocol number: at least
    five characters with a digit, not only digits, not a grant number."""
    sponsor = tx.sponsor_key(record.lead_sponsor.name if record.lead_sponsor else None)
    if not sponsor or not record.org_study_id:
        return None
    ident = re.sub(r"[^0-9A-Z]", "", tx.fold(record.org_study_id).upper())
    if (len(ident) < 5 or ident.isdigit() or not any(c.isdigit() for c in ident)
            or _GRANT.match(ident) or registry_id(record.org_study_id)):
        return None
    return f"{sponsor}|{ident}"[:190]


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    first, second = set(a), set(b)
    if not first or not second:
        return 0.0
    return len(first & second) / len(first | second)


def title_likeness(query: Features, other: Features) -> float:
    """The best word Jaccard between any title of one and any title of the other."""
    return max((jaccard(q, o) for q in query.title_words for o in other.title_words),
               default=0.0)


def same_trial(query: Features, other: Features) -> tuple[str, ...]:
    """Why ``other`` is the same trial as ``query`` (empty when it is not)."""
    reasons: list[str] = []
    query_id, other_id = query.nct_id, other.nct_id
    if query_id and query_id in other.ids[1:]:
        reasons.append(f"{other_id} lists {query_id} among its ids")
    if other_id and other_id in query.ids[1:]:
        reasons.append(f"{query_id or 'the query'} lists {other_id} among its ids")
    shared = [i for i in query.ids[1:] if i in other.ids[1:]]
    reasons += [f"both name {_show(i)}" for i in shared]
    same_protocol = bool(query.protocol and query.protocol == other.protocol)
    same_sponsor = (tx.sponsor_key(query.sponsor) is not None
                    and tx.sponsor_key(query.sponsor) == tx.sponsor_key(other.sponsor))
    if not (same_protocol or same_sponsor):
        return tuple(dict.fromkeys(reasons))
    likeness = title_likeness(query, other)
    if same_protocol and likeness >= PROTOCOL_TITLE_JACCARD and query.protocol:
        reasons.append(f"same sponsor protocol id ({query.protocol.split('|', 1)[1]}) "
                       f"and similar title")
    if same_sponsor and likeness >= TITLE_JACCARD and not conflicting_ids(query, other):
        reasons.append(f"near-identical title ({likeness:.2f}) from the same sponsor "
                       f"({other.sponsor})")
    return tuple(dict.fromkeys(reasons))


def conflicting_ids(query: Features, other: Features) -> bool:
    """Whether the records name different ids in one registry (sister protocols of one
    sponsor: near-identical titles, three EU CT numbers), or different protocol ids of the
    same sponsor: then a look-alike title is not the same trial."""
    def by_registry(ids: tuple[str, ...]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for ident in ids[1:]:
            label = ident.partition(":")[0] if ":" in ident else "NCT"
            found.setdefault(label, set()).add(ident)
        return found

    mine, theirs = by_registry(query.ids), by_registry(other.ids)
    if any(mine[label].isdisjoint(theirs[label]) for label in mine.keys() & theirs.keys()):
        return True
    return bool(query.protocol and other.protocol and query.protocol != other.protocol)


def _show(ident: str) -> str:
    label, _, value = ident.partition(":")
    return f"{label} {value}" if value else ident
