"""Trials side by side: what ``trials compare`` shows, as plain data and text.

:func:`compare` lines up two or more records field by field in sections (identity, status,
design, enrollment, arms and interventions, conditions, eligibility, sites) and marks each
row whose values are not all equal.  Text is compared with case and whitespace normalised;
lists that are really sets (conditions, keywords, countries, interventions, …) without regard
to order.  Eligibility criteria are matched across trials with case, whitespace, punctuation
and a leading list number ignored, so ``18 years or older,`` and ``18 years or older`` are one
criterion; the criteria that are not in every trial are listed per trial.

Rows whose values are all empty (``why stopped`` when no trial stopped) are left out.  The
module is pure: records in, a :class:`Comparison` out, and the text formats (JSON-ready data,
CSV, markdown) made from it; no catalogue, no terminal.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from harvester.errors import UsageError
from harvester.records import TrialRecord

SECTIONS = ("Identity", "Status", "Design", "Enrollment", "Arms & interventions",
            "Conditions", "Outcomes", "Eligibility", "Sites")
_LIST_NUMBER = re.compile(r"^\s*(?:\(?(?:\d{1,3}|[a-z]|[ivx]{1,5})[.)]|[-•*·])\s+", re.I)
_NOT_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class TrialColumn:
    """One trial's column: its id and a short name for the header."""

    nct_id: str
    acronym: str | None
    title: str | None

    @property
    def label(self) -> str:
        """The acronym, else the brief title shortened to 40 characters."""
        return self.acronym or _shorten(self.title or "", 40)


@dataclass(frozen=True)
class Row:
    """One field across the trials.

    ``items`` holds each trial's value: one string for a single value, several for a list
    (``listed``), none when the record does not give it.  ``differs`` is true when the
    values are not all equal after normalising (see the module docstring).
    """

    section: str
    field: str
    items: tuple[tuple[str, ...], ...]
    differs: bool
    listed: bool = False

    @property
    def values(self) -> tuple[str, ...]:
        """Each trial's value as one string (a list's items on separate lines; ``""`` when
        not given)."""
        return tuple("\n".join(items) for items in self.items)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"section": self.section, "field": self.field,
                                "values": [v or None for v in self.values],
                                "differs": self.differs}
        if self.listed:
            data["items"] = [list(items) for items in self.items]
        return data


@dataclass(frozen=True)
class Comparison:
    trials: tuple[TrialColumn, ...]
    rows: tuple[Row, ...]

    def only_differences(self) -> Comparison:
        return Comparison(self.trials, tuple(row for row in self.rows if row.differs))

    def sections(self) -> list[tuple[str, list[Row]]]:
        """The rows grouped by section, in order; sections without rows left out."""
        return [(name, rows) for name in SECTIONS
                if (rows := [row for row in self.rows if row.section == name])]


def compare(records: Sequence[TrialRecord]) -> Comparison:
    """Line up ``records`` (two or more different trials) field by field."""
    if len(records) < 2:
        raise UsageError("a comparison needs at least two trials")
    repeated = sorted(n for n, k in Counter(r.nct_id for r in records).items() if k > 1)
    if repeated:
        raise UsageError(f"{', '.join(repeated)} given more than once")
    rows: list[Row] = []
    for section, builder in _BUILDERS:
        rows.extend(row for row in builder(section, records) if any(row.items))
    trials = tuple(TrialColumn(r.nct_id, r.acronym, r.brief_title) for r in records)
    return Comparison(trials, tuple(rows))


# --- rows --------------------------------------------------------------------------------

def _text(value: object) -> str:
    return "" if value is None else str(value)


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def criterion_key(text: str) -> str:
    """A criterion as matched across trials: no list number, case, punctuation or spacing."""
    return " ".join(_NOT_WORD.sub(" ", _LIST_NUMBER.sub("", text).casefold()).split())


def _one(section: str, field: str, values: Iterable[object]) -> Row:
    """A single value per trial."""
    texts = [_text(v) for v in values]
    return Row(section, field, tuple((t,) if t else () for t in texts),
               len({_norm(t) for t in texts}) > 1)


def _many(section: str, field: str, values: Iterable[Iterable[object]], *,
          key: Callable[[str], str] = _norm) -> Row:
    """A list per trial, compared as a set."""
    items = tuple(tuple(_text(v) for v in vs if v not in (None, "")) for vs in values)
    return Row(section, field, items, len({frozenset(map(key, i)) for i in items}) > 1,
               listed=True)


def _dated(day: str | None, kind: object) -> str:
    return f"{day} ({kind})" if day and kind else day or ""


def _identity(s: str, rs: Sequence[TrialRecord]) -> list[Row]:
    return [
        _one(s, "title", (r.brief_title for r in rs)),
        _one(s, "acronym", (r.acronym for r in rs)),
        _one(s, "lead sponsor", (r.lead_sponsor and _dated(r.lead_sponsor.name,
                                                            r.lead_sponsor.agency_class)
                                 for r in rs)),
        _many(s, "collaborators", ([_dated(c.name, c.agency_class) for c in r.collaborators]
                                   for r in rs)),
        _one(s, "record source", (r.source for r in rs)),
    ]


def _status(s: str, rs: Sequence[TrialRecord]) -> list[Row]:
    return [
        _one(s, "overall status", (r.overall_status for r in rs)),
        _one(s, "last known status", (r.last_known_status for r in rs)),
        _one(s, "why stopped", (r.why_stopped for r in rs)),
        _one(s, "start", (_dated(r.start_date, r.start_date_type) for r in rs)),
        _one(s, "primary completion", (_dated(r.primary_completion_date,
                                              r.primary_completion_date_type) for r in rs)),
        _one(s, "completion", (_dated(r.completion_date, r.completion_date_type) for r in rs)),
        _one(s, "first posted", (r.first_posted for r in rs)),
        _one(s, "last update posted", (r.last_update_posted for r in rs)),
        _one(s, "results posted", ((f"yes, {r.results_first_posted}" if r.results_first_posted
                                    else "yes") if r.has_results else "no" for r in rs)),
    ]


def _design(s: str, rs: Sequence[TrialRecord]) -> list[Row]:
    return [
        _one(s, "study type", (r.study_type for r in rs)),
        _one(s, "phases", (", ".join(map(str, r.phases)) for r in rs)),
        _one(s, "allocation", (r.allocation for r in rs)),
        _one(s, "intervention model", (r.intervention_model for r in rs)),
        _one(s, "masking", (_dated(_text(r.masking), ", ".join(map(str, r.who_masked)))
                            for r in rs)),
        _one(s, "primary purpose", (r.primary_purpose for r in rs)),
        _one(s, "observational model", (r.observational_model for r in rs)),
        _one(s, "time perspective", (r.time_perspective for r in rs)),
    ]


def _enrollment(s: str, rs: Sequence[TrialRecord]) -> list[Row]:
    def enrolled(r: TrialRecord) -> str:
        e = r.enrollment
        return "" if e is None or e.count is None else _dated(str(e.count), e.type)

    return [_one(s, "enrollment", map(enrolled, rs))]


def _arms(s: str, rs: Sequence[TrialRecord]) -> list[Row]:
    return [
        _one(s, "number of arms", (len(r.arms) if r.arms else None for r in rs)),
        _many(s, "arms", ([f"{a.type}: {a.label}" if a.type else a.label for a in r.arms]
                          for r in rs)),
        _many(s, "intervention types", (sorted({_text(i.type) for i in r.interventions})
                                        for r in rs)),
        _many(s, "interventions", ([f"{i.type}: {i.name or '(no name)'}" if i.type
                                    else i.name or "(no name)"
                                    for i in r.interventions] for r in rs)),
    ]


def _conditions(s: str, rs: Sequence[TrialRecord]) -> list[Row]:
    return [_many(s, "conditions", (r.conditions for r in rs)),
            _many(s, "keywords", (r.keywords for r in rs))]


def _outcomes(s: str, rs: Sequence[TrialRecord]) -> list[Row]:
    """What each trial measures: its primary and secondary outcomes (title [time frame]),
    and how many outcome measures have posted results."""
    def titles(r: TrialRecord, kind: str) -> list[str]:
        return [o.title + (f" [{o.time_frame}]" if o.time_frame else "")
                for o in r.outcomes if str(o.kind) == kind and o.title]

    return [_many(s, "primary outcomes", (titles(r, "PRIMARY") for r in rs)),
            _many(s, "secondary outcomes", (titles(r, "SECONDARY") for r in rs)),
            _one(s, "outcomes with results", (len(r.results.outcome_measures) if r.results
                                              else None for r in rs))]


def _eligibility(s: str, rs: Sequence[TrialRecord]) -> list[Row]:
    rows = [
        _one(s, "sex", (r.eligibility.sex for r in rs)),
        _one(s, "minimum age", (r.eligibility.minimum_age for r in rs)),
        _one(s, "maximum age", (r.eligibility.maximum_age for r in rs)),
        _one(s, "healthy volunteers", (None if r.eligibility.healthy_volunteers is None else
                                       "yes" if r.eligibility.healthy_volunteers else "no"
                                       for r in rs)),
        _many(s, "standard ages", (r.eligibility.std_ages for r in rs)),
    ]
    unshared: list[Row] = []
    where = "only here" if len(rs) == 2 else "not in all"
    for kind in ("inclusion", "exclusion"):
        lists: list[tuple[str, ...]] = [getattr(r.eligibility, kind) for r in rs]
        keyed = [_first_by_key(criteria) for criteria in lists]
        shared = set.intersection(*(set(k) for k in keyed))
        rows.append(_one(s, f"{kind} criteria", (
            f"{len(criteria)} ({len(shared)} in every trial)" if shared else len(criteria)
            for criteria in lists)))
        unshared.append(_many(s, f"{kind} criteria {where}", (
            [c for k, c in keys.items() if k not in shared] for keys in keyed),
            key=criterion_key))
    return rows + unshared


def _first_by_key(criteria: Sequence[str]) -> dict[str, str]:
    """Each criterion by its matching key, in order; of repeats, the first as written."""
    found: dict[str, str] = {}
    for criterion in criteria:
        found.setdefault(criterion_key(criterion), criterion)
    return found


def _sites(s: str, rs: Sequence[TrialRecord]) -> list[Row]:
    def countries(r: TrialRecord) -> list[str]:
        counts = Counter(loc.country or "(country not given)" for loc in r.locations)
        return [f"{c} ({n})" for c, n in sorted(counts.items(), key=lambda cn: (-cn[1], cn[0]))]

    def sites(r: TrialRecord) -> str:
        listed = len(r.locations)
        return str(r.location_count) + (f" ({listed} listed)" if listed != r.location_count
                                        else "")

    return [_many(s, "countries", map(countries, rs)),
            _one(s, "sites", map(sites, rs))]


_BUILDERS: tuple[tuple[str, Callable[[str, Sequence[TrialRecord]], list[Row]]], ...] = tuple(
    zip(SECTIONS, (_identity, _status, _design, _enrollment, _arms, _conditions,
                   _outcomes, _eligibility, _sites), strict=True))


# --- text formats ------------------------------------------------------------------------

def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1].rstrip() + "…"


def to_csv(comparison: Comparison) -> str:
    """``section,field,differs,NCT…,NCT…``; a list's items on separate lines of a cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "field", "differs", *(t.nct_id for t in comparison.trials)])
    for row in comparison.rows:
        writer.writerow([row.section, row.field, "true" if row.differs else "false",
                         *row.values])
    return out.getvalue()


_MD_ESCAPES = {"<": "&lt;", "&": "&amp;"}
# Backslash, pipe, emphasis, code, strikethrough, link brackets; an underscore at a word's
# edge; ``<`` that could open a tag or an autolink; ``&`` that could start an entity.
_MD_SPECIAL = re.compile(r"[\\|*`~\[\]]|(?<![^\W_])_|_(?![^\W_])|<(?=[A-Za-z/!?])"
                         r"|&(?=#?\w+;)")


def md_escape(text: str) -> str:
    """Text for one line of a markdown table cell: pipes, emphasis, links and HTML escaped
    (an underscore inside a word is left alone), whitespace runs collapsed."""
    return _MD_SPECIAL.sub(lambda m: _MD_ESCAPES.get(m.group(), "\\" + m.group()),
                           " ".join(text.split()))


def to_markdown(comparison: Comparison) -> str:
    """A GitHub-flavoured markdown table: a section's name in bold on its own row, ``≠`` in
    the first column of each row whose values differ, a list's items separated by ``<br>``."""
    trials = comparison.trials
    lines = ["| | field | " + " | ".join(
        f"{t.nct_id}<br>{md_escape(t.label)}" if t.label else t.nct_id for t in trials) + " |",
        "|:-:|---|" + "---|" * len(trials)]
    for section, rows in comparison.sections():
        lines.append(f"| | **{md_escape(section)}** |" + " |" * len(trials))
        for row in rows:
            cells = ["<br>".join(md_escape(item) for item in items) or "—"
                     for items in row.items]
            lines.append(f"| {'≠' if row.differs else ''} | {md_escape(row.field)} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
