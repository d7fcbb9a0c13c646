"""Human-readable views of records for a terminal (the CLI's ``--format table``)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from harvester.catalogue.versioninfo import VersionInfo
from harvester.commands import record_sections
from harvester.commands._common import duration

if TYPE_CHECKING:  # `trials show` imports this module: no database stack
    from harvester.catalogue.changes import ChangeReport
    from harvester.records import TrialRecord


def _join(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(str(v) for v in values) if values else "—"


def _value(value: object) -> str:
    return "—" if value in (None, "") else str(value)


def _yes_no(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


def record_view(record: TrialRecord) -> RenderableType:
    """A summary of one record: identity, status, design, dates, people and sites, outcome
    measures and the results overview."""
    title = Text(f"{record.nct_id}  {record.brief_title or ''}", style="bold")
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="cyan", no_wrap=True)
    facts.add_column()
    enrollment = record.enrollment
    elig = record.eligibility
    rows: list[tuple[str, str]] = [
        ("source", record.source),
        ("org study id", _value(record.org_study_id)),
        ("status", _value(record.overall_status)
         + (f" (why stopped: {record.why_stopped})" if record.why_stopped else "")),
        ("type / phase", f"{_value(record.study_type)} / {_join(record.phases)}"),
        ("design", " · ".join(_value(x) for x in (record.allocation,
                              record.intervention_model, record.primary_purpose,
                              record.masking))),
        ("enrollment", "—" if enrollment is None else
         f"{_value(enrollment.count)} {enrollment.type or '(type not given)'}"),
        ("dates", f"start {_value(record.start_date)} · primary completion "
                  f"{_value(record.primary_completion_date)} · completion "
                  f"{_value(record.completion_date)}"),
        ("posted", f"first {_value(record.first_posted)} · last update "
                   f"{_value(record.last_update_posted)}"),
        ("conditions", _join(record.conditions)),
        *_mesh_rows(record),
        ("lead sponsor", "—" if record.lead_sponsor is None else
         f"{record.lead_sponsor.name} ({_value(record.lead_sponsor.agency_class)})"),
        ("eligibility", f"{_value(elig.sex)}, ages {elig.minimum_age or 'any'} to "
                        f"{elig.maximum_age or 'any'}, healthy volunteers "
                        f"{_yes_no(elig.healthy_volunteers)}; {len(elig.inclusion)} "
                        f"inclusion, {len(elig.exclusion)} exclusion criteria"),
        ("sites", str(record.location_count)),
        *record_sections.fact_rows(record),
        ("results", "yes" if record.has_results else "no"),
    ]
    for label, value in rows:
        facts.add_row(label, value)
    parts: list[RenderableType] = [title, facts]
    if record.arms:
        arms = Table(title="arms", title_justify="left", show_edge=False)
        for column in ("label", "type", "interventions"):
            arms.add_column(column)
        for arm in record.arms:
            arms.add_row(arm.label, _value(arm.type), _join(arm.interventions))
        parts.append(arms)
    if (outcomes := record_sections.outcomes_table(record)) is not None:
        parts.append(outcomes)
    parts += record_sections.results_tables(record.results)
    return Group(*parts)


def _mesh_rows(record: TrialRecord) -> list[tuple[str, str]]:
    """The registry's MeSH headings, when the source gives any (ancestors are left out).
    Terms hold commas ("Fatty Acids, Omega-3"), so they are joined with semicolons."""
    rows = [("condition MeSH", record.condition_mesh),
            ("intervention MeSH", record.intervention_mesh)]
    return [(label, "; ".join(m.term for m in terms)) for label, terms in rows if terms]


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def history_table(rows: list[tuple[VersionInfo, str]]) -> Table:
    """The versions of a trial with a one-line summary of what each changed."""
    table = Table(show_edge=False)
    for column in ("version", "seen (UTC)", "source", "registry date", "what changed"):
        table.add_column(column, no_wrap=column != "what changed")
    for info, summary in rows:
        table.add_row(str(info.number), _when(info.seen_at), info.source,
                      _value(info.registry_date), summary)
    return table


MESSAGE_SHOWN = 60  # characters of a run's message in the table (--format json has all)


def runs_table(runs: list[dict[str, Any]]) -> Table:
    table = Table(show_edge=False)
    for column in ("run", "kind", "query", "started (UTC)", "took", "status", "new",
                   "changed", "unchanged", "failed", "message"):
        table.add_column(column, no_wrap=column != "message")
    for run in runs:
        message = " ".join((run["message"] or "").split())
        if len(message) > MESSAGE_SHOWN:
            message = message[:MESSAGE_SHOWN - 1] + "…"
        query = run.get("query") or ""
        if run.get("batch") and run["kind"] != "batch":
            query = f"{query} (batch {run['batch']})".strip()
        table.add_row(str(run["id"]), run["kind"], query, _when(run["started_at"]),
                      duration(run.get("seconds")) if run["finished_at"] else "—",
                      run["status"],
                      *(str(run[k]) for k in ("new", "changed", "unchanged", "failed")),
                      message)
    return table


DIGEST_WIDTH = 78  # an e-mail's line


def _item(nct_id: str, text: str) -> str:
    """``  NCT…  text`` wrapped with a hanging indent under the text."""
    return textwrap.fill(f"{nct_id}  {' '.join(text.split())}", width=DIGEST_WIDTH,
                         initial_indent="  ", subsequent_indent=" " * 15,
                         break_on_hyphens=False)


def change_report(report: ChangeReport) -> str:
    """The digest of ``trials changes`` for a person (or an e-mail): what it covers, the
    queries that failed, then one block per kind of change, lines wrapped with hanging
    indents."""
    lines: list[str] = [f"Changes since {_when(report.since)} UTC "
                        f"(until {_when(report.until)} UTC)"]
    if report.covers is not None:
        lines.append(textwrap.fill(f"Covers {report.covers.describe()}", width=DIGEST_WIDTH,
                                   subsequent_indent="  "))
        for failed in report.covers.failed:
            lines.append(textwrap.fill(
                f"FAILED: {failed['query'] or 'run ' + str(failed['run'])}: "
                f"{failed['status']}: {' '.join((failed['message'] or '').split())}",
                width=DIGEST_WIDTH, subsequent_indent="  "))
    if report.query:
        lines.append(f"Only the trials of the saved query {report.query!r}")

    def section(title: str, items: list[str]) -> None:
        lines.append("")
        lines.append(f"{title} ({len(items)})")
        lines.extend(items or ["  none"])

    section("New trials", [_item(t.nct_id, t.title or "") for t in report.of_kind("new")])
    section("Status changes", [_item(t.nct_id, f"{t.status[0]} → {t.status[1]}")
                               for t in report.trials if t.status])
    section("Enrollment changes", [_item(t.nct_id, f"{_enrol(t.enrollment[0])} → "
                                                   f"{_enrol(t.enrollment[1])}")
                                   for t in report.trials if t.enrollment])
    section("Outcome changes", [_item(t.nct_id, "; ".join(t.outcomes))
                                for t in report.trials if t.outcomes])
    section("Results first posted", [_item(t.nct_id, t.title or "")
                                     for t in report.trials if t.results_first_posted])
    section("Other changes", [_item(t.nct_id, t.summary) for t in report.others()])
    section("Disappeared", [_item(d["nct_id"], d["detail"] or "") for d in report.disappeared])
    return "\n".join(lines)


def _enrol(value: dict[str, Any] | None) -> str:
    if not value:
        return "—"
    return f"{_value(value.get('count'))} {value.get('type') or '(type not given)'}"
