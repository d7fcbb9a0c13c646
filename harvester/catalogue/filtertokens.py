"""The equality filters as words of the area index: a filtered search in one match.

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
``--start-…``          ``version.start_date``           ``_sc_20 _sd_201 _sy_2015 _sm_2015_06``
``--completion-…``     ``version_facet.completion``     ``_cc_ _cd_ _cy_ _cm_`` (the same four)
``--primary-…``        ``…primary_completion``          ``_pc_ _pd_ _py_ _pm_``
``--first-posted-…``   ``version_facet.first_posted``   ``_fc_ _fd_ _fy_ _fm_``
``--country``          ``version_place.country``        ``_co_`` + the name's UTF-8 in hex
``--as-of`` (counts)   ``version.effective_date``       ``_ey_2025 _em_2025_06``
=====================  ===============================  =========================================

A date range is answered by tokens when each bound is a whole month's (a first day, a last
day: ``--start-before 2020`` is 2020-12-31): the fewest centuries, decades, years and months
covering it, ORed (a partial date counts as its first day, as SQL compares it); a bound
inside a month stays SQL's.

The values are the stored ones, read when the version is indexed (a version and its facet
row are never updated), so a token stands for exactly the SQL test of
:func:`harvester.catalogue.selection.filters`: a version without a facet row has none of the
facet tokens, as it passes none of those tests.  No query can match a token: query words are
runs of letters and digits, and a token starts with ``_`` (the index's tokenizer keeps ``_``
inside a word, which no indexed text holds).  ``bm25`` gives a phrase of a weight-0 column
nothing, so a filtered search ranks its matches as the unfiltered one does.

:func:`split` turns a selection into the FTS5 expression of the filters the tokens answer and
the selection left for SQL (dates, ages, places…).  PostgreSQL holds the same tokens as
untagged lexemes of each version's ``tsvector`` (without positions: ``ts_rank`` ranks by
the query's words only, the filters are ANDed into the matching ``tsquery`` alone;
:func:`split_tsquery`), so its GIN index intersects a word's matches with the filters'
before any match is ranked — at 600,000 trials a common word with a phase and results
filters was ranked 150,000 times, then filtered.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from harvester.catalogue import places

if TYPE_CHECKING:
    from harvester.catalogue.selection import Selection

#: The area index's column of filter tokens (SQLite; PostgreSQL: lexemes of the document).
COLUMN = "filters"


def _token(kind: str, value: str) -> str:
    return f"_{kind}_{value.lower()}"


#: The date filters the tokens answer: (token kind, selection's "on or after" field, its
#: "on or before" field).  Each date is four tokens: its century, decade, year and month
#: (``_sc_20 _sd_201 _sy_2015 _sm_2015_06``), so that a range of whole months is a few
#: tokens (:func:`_cover`).  (``--updated-since`` compares full dates only: SQL.)
DATES = (("s", "start_after", "start_before"),
         ("c", "completion_after", "completion_before"),
         ("p", "primary_completion_after", "primary_completion_before"),
         ("f", "first_posted_after", "first_posted_before"))
#: The months a range open on one side reaches (no registry date is outside).
_FIRST, _LAST = 1000 * 12, 2999 * 12 + 11


def _month_of(value: str) -> int:
    """A stored date's month (year × 12 + month − 1); a partial date is its first day."""
    return int(value[:4]) * 12 + (int(value[5:7]) - 1 if len(value) >= 7 else 0)


def _date_tokens(kind: str, value: str | None) -> list[str]:
    if not value:
        return []
    year, month = divmod(_month_of(value), 12)
    return [_token(f"{kind}c", str(year // 100)), _token(f"{kind}d", str(year // 10)),
            _token(f"{kind}y", str(year)), _token(f"{kind}m", f"{year}_{month + 1:02d}")]


def _cover(kind: str, first: int, last: int) -> list[str]:
    """The fewest tokens of the months ``first`` to ``last`` (inclusive): whole centuries,
    decades and years, the rest months."""
    found, at = [], first
    while at <= last:
        year, month = divmod(at, 12)
        for months, level, value in ((1200, "c", year // 100), (120, "d", year // 10),
                                     (12, "y", year)):
            if month == 0 and year % (months // 12) == 0 and at + months - 1 <= last:
                found.append(_token(f"{kind}{level}", str(value)))
                at += months
                break
        else:
            found.append(_token(f"{kind}m", f"{year}_{month + 1:02d}"))
            at += 1
    return found or ["_none"]  # an empty range: a token no version has


def _country(name: str) -> str:
    """A site's country as ``version_place`` holds it (``united states``), as one token:
    its UTF-8 bytes in hex, which no tokenizer splits and no two names share."""
    return "_co_" + name.encode().hex()


def tokens(status: str | None, phases: str | None, study_type: str | None,
           has_results: bool | None, facet: Sequence[Any] | None,
           effective_date: str | None = None, start_date: str | None = None,
           countries: Iterable[str] = ()) -> str:
    """The column's text for a version: its own values, then (``facet``: its facet row's
    ``funder, sex, healthy, documents, completion, primary_completion, first_posted``,
    None when it has no row) its facet values, then the year and month of its registry
    date (``effective_date``), the tokens of its start date (a partial date counts as its
    first day) and its sites' countries (``version_place.country``)."""
    found = [_country(name) for name in sorted(set(countries))]
    if effective_date:
        found += _date_tokens("e", effective_date)[2:]
    found += _date_tokens("s", start_date)
    if status:
        found.append(_token("st", status))
    found += [_token("ph", p) for p in (phases or "").split("|") if p]
    if study_type:
        found.append(_token("ty", study_type))
    if has_results is not None:
        found.append(_token("rs", "yes" if has_results else "no"))
    if facet is not None:
        funder, sex, healthy, documents, completion, primary, first_posted = facet
        if funder:
            found.append(_token("fu", funder))
        found.append(_token("sx", sex or "none"))
        if healthy is not None:
            found.append(_token("hv", "yes" if healthy else "no"))
        found += [_token("do", d) for d in (documents or "").split("|") if d]
        for kind, value in (("c", completion), ("p", primary), ("f", first_posted)):
            found += _date_tokens(kind, value)
    return " ".join(found)


def split(selection: Selection) -> tuple[str | None, Selection]:
    """The FTS5 expression of the selection's filters the tokens answer (None: none), and
    the selection without them.  A date bound is answered when it is a whole month's (on
    or after a first day, on or before a last day), else left to SQL."""
    groups, rest = _groups(selection)
    if not groups:
        return None, selection
    return " AND ".join(_any_fts5(group) for group in groups), rest


def split_tsquery(selection: Selection) -> tuple[str | None, Selection]:
    """As :func:`split`, the filters as a ``tsquery`` (PostgreSQL: the tokens are untagged
    lexemes of each version's ``tsvector``, beside its tagged words)."""
    groups, rest = _groups(selection)
    if not groups:
        return None, selection
    return " & ".join(_any_tsquery(group) for group in groups), rest


def _groups(selection: Selection) -> tuple[list[list[str]], Selection]:
    """The tokens of the filters they answer, ORed within a group and the groups ANDed,
    and the selection left for SQL."""
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
    if selection.countries:  # as selection's SQL spells them (places.country)
        groups.append([_country(name) for name in
                       sorted({places.country(c) for c in selection.countries})])
    rest = replace(selection, statuses=(), phases=(), phase_values=None, study_types=(),
                   has_results=None, funders=(), sex=None, healthy_volunteers=None,
                   documents=(), countries=())
    for kind, after_field, before_field in DATES:
        after, before = getattr(selection, after_field), getattr(selection, before_field)
        first = after.year * 12 + after.month - 1 if after and after.day == 1 else None
        last = (before.year * 12 + before.month - 1
                if before and (before + timedelta(days=1)).day == 1 else None)
        if first is None and last is None:
            continue  # no whole-month bound: SQL
        groups.append(_cover(kind, _FIRST if first is None else first,
                             _LAST if last is None else last))
        answered: dict[str, Any] = {}
        if first is not None:
            answered[after_field] = None
        if last is not None:
            answered[before_field] = None
        rest = replace(rest, **answered)
    return groups, rest


def published_later(day: date, last: str) -> str | None:
    """The FTS5 expression of the versions whose registry date is in a month after
    ``day``'s (``last``: the latest registry date stored), None when there is none: the
    years after ``day``'s, and the months after its month in its year."""
    later = _later(day, last)
    return _any_fts5(later) if later else None


def published_later_tsquery(day: date, last: str) -> str | None:
    """As :func:`published_later`, a ``tsquery`` (PostgreSQL)."""
    later = _later(day, last)
    return _any_tsquery(later) if later else None


def _later(day: date, last: str) -> list[str]:
    later = [_token("ey", str(year)) for year in range(day.year + 1, int(last[:4]) + 1)]
    return later + [_token("em", f"{day.year}_{month:02d}")
                    for month in range(day.month + 1, 13) if f"{day.year}-{month:02d}" <= last[:7]]


def published_in_month(day: date) -> str:
    """The FTS5 expression of the versions whose registry date is in ``day``'s month."""
    return f"{COLUMN} : {_quoted(_month(day))}"


def published_in_month_tsquery(day: date) -> str:
    """As :func:`published_in_month`, a ``tsquery`` (PostgreSQL)."""
    return f"'{_month(day)}'"


def _month(day: date) -> str:
    return _token("em", f"{day.year}_{day.month:02d}")


def _any_fts5(tokens: Sequence[str]) -> str:
    """The FTS5 expression of the versions holding any of ``tokens``."""
    return f"{COLUMN} : ({' OR '.join(_quoted(t) for t in tokens)})"


def _any_tsquery(tokens: Sequence[str]) -> str:
    """The ``tsquery`` of the versions holding any of ``tokens`` (PostgreSQL)."""
    return "(" + " | ".join(f"'{t}'" for t in tokens) + ")"


def _quoted(token: str) -> str:
    return f'"{token}"'


def both(match: str, filters: str | None) -> str:
    """The match expression with the filters' (None: no filter)."""
    return match if filters is None else f"({match}) AND {filters}"
