"""The equality filters as words of the area index (SQLite): a filtered search in one MATCH.

A search of a common word with filters (``cancer`` with ``--phase 2 --has-results``) matches
a third of the catalogue; testing each match against the sets of versions passing each
filter costs ~0.3 µs a match and ~50 ms per 200,000 versions in a set, 150–250 ms at
600,000 trials, for the exact total alone.  FTS5 intersects the doclists of two words in a
few milliseconds.  So each indexed version also holds, in a column of its own
(:data:`COLUMN`, weight 0 in ``bm25``), one *filter token* per value it has of the filters
that are an equality on one stored value:

=====================  ===============================  =========================================
filter                 the version's value              tokens
=====================  ===============================  =========================================
``--status``           ``version.overall_status``       ``_st_recruiting``
``--phase``            ``version.phases`` (each phase)  ``_ph_phase1 _ph_phase2``
``--study-type``       ``version.study_type``           ``_ty_interventional``
``--has-results``      ``version.has_results``          ``_rs_yes`` / ``_rs_no``
``--funder``           ``version_facet.funder``         ``_fu_industry``
``--sex``              ``version_facet.sex``            ``_sx_female`` … ``_sx_none`` (no value)
``--healthy-volunteers`` ``version_facet.healthy``      ``_hv_yes`` / ``_hv_no``
``--has-document``     ``version_facet.documents``      ``_do_protocol`` …
``--as-of`` (counts)   ``version.effective_date``       ``_ey_2025 _em_2025_06``
=====================  ===============================  =========================================

The values are the stored ones, read when the version is indexed (a version and its facet
row are never updated), so a token stands for exactly the SQL test of
:func:`harvester.catalogue.selection.filters`: a version without a facet row has none of the
facet tokens, as it passes none of those tests.  No query can match a token: query words are
runs of letters and digits, and a token starts with ``_`` (the index's tokenizer keeps ``_``
inside a word, which no indexed text holds).  ``bm25`` gives a phrase of a weight-0 column
nothing, so a filtered search ranks its matches as the unfiltered one does.

:func:`split` turns a selection into the FTS5 expression of the filters the tokens answer and
the selection left for SQL (dates, ages, places…).  PostgreSQL keeps its SQL filters.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harvester.catalogue.selection import Selection

#: The area index's column of filter tokens (SQLite).
COLUMN = "filters"


def _token(kind: str, value: str) -> str:
    return f"_{kind}_{value.lower()}"


def tokens(status: str | None, phases: str | None, study_type: str | None,
           has_results: bool | None, facet: tuple[str | None, str | None, bool | None,
                                                  str | None] | None,
           effective_date: str | None = None) -> str:
    """The column's text for a version: its own values, then (``facet``: its facet row's
    ``funder, sex, healthy, documents``, None when it has no row) its facet values, then
    the year and month of its registry date (``effective_date``; a partial date counts as
    its first day)."""
    found = []
    if effective_date:
        year = effective_date[:4]
        month = effective_date[5:7] if len(effective_date) >= 7 else "01"
        found += [_token("ey", year), _token("em", f"{year}_{month}")]
    if status:
        found.append(_token("st", status))
    found += [_token("ph", p) for p in (phases or "").split("|") if p]
    if study_type:
        found.append(_token("ty", study_type))
    if has_results is not None:
        found.append(_token("rs", "yes" if has_results else "no"))
    if facet is not None:
        funder, sex, healthy, documents = facet
        if funder:
            found.append(_token("fu", funder))
        found.append(_token("sx", sex or "none"))
        if healthy is not None:
            found.append(_token("hv", "yes" if healthy else "no"))
        found += [_token("do", d) for d in (documents or "").split("|") if d]
    return " ".join(found)


def split(selection: Selection) -> tuple[str | None, Selection]:
    """The FTS5 expression of the selection's filters the tokens answer (None: none), and
    the selection without them."""
    groups: list[list[str]] = []
    if selection.statuses:
        groups.append([_token("st", s) for s in selection.statuses])
    if selection.phases:
        groups.append([_token("ph", p) for p in selection.phases])
    if selection.study_types:
        groups.append([_token("ty", s) for s in selection.study_types])
    if selection.has_results is not None:
        groups.append([_token("rs", "yes" if selection.has_results else "no")])
    if selection.funders:
        groups.append([_token("fu", f) for f in selection.funders])
    if selection.sex in ("FEMALE", "MALE"):  # ALL: no filter (as selection's SQL)
        groups.append([_token("sx", v) for v in (selection.sex, "ALL", "none")])
    if selection.healthy_volunteers is not None:
        groups.append([_token("hv", "yes" if selection.healthy_volunteers else "no")])
    groups += [[_token("do", d)] for d in selection.documents]
    if not groups:
        return None, selection
    rest = replace(selection, statuses=(), phases=(), phase_values=None, study_types=(),
                   has_results=None, funders=(), sex=None, healthy_volunteers=None,
                   documents=())
    return " AND ".join(f"{COLUMN} : ({' OR '.join(_quoted(t) for t in group)})"
                        for group in groups), rest


def published_later(day: date, last: str) -> str | None:
    """The FTS5 expression of the versions whose registry date is in a month after
    ``day``'s (``last``: the latest registry date stored), None when there is none: the
    years after ``day``'s, and the months after its month in its year."""
    later = [_token("ey", str(year)) for year in range(day.year + 1, int(last[:4]) + 1)]
    later += [_token("em", f"{day.year}_{month:02d}") for month in range(day.month + 1, 13)
              if f"{day.year}-{month:02d}" <= last[:7]]
    return f"{COLUMN} : ({' OR '.join(_quoted(t) for t in later)})" if later else None


def published_in_month(day: date) -> str:
    """The FTS5 expression of the versions whose registry date is in ``day``'s month."""
    return f"{COLUMN} : {_quoted(_token('em', f'{day.year}_{day.month:02d}'))}"


def _quoted(token: str) -> str:
    return f'"{token}"'


def both(match: str, filters: str | None) -> str:
    """The match expression with the filters' (None: no filter)."""
    return match if filters is None else f"({match}) AND {filters}"
