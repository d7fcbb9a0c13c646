"""Human-readable views of records for a terminal (the CLI's ``--format table``)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from harvester.records import TrialRecord


def _join(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(str(v) for v in values) if values else "—"


def _value(value: object) -> str:
    return "—" if value in (None, "") else str(value)


def record_view(record: TrialRecord) -> RenderableType:
    """A summary of one record: identity, status, design, dates, people and sites."""
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
        ("lead sponsor", "—" if record.lead_sponsor is None else
         f"{record.lead_sponsor.name} ({_value(record.lead_sponsor.agency_class)})"),
        ("eligibility", f"{_value(elig.sex)}, ages {_value(elig.minimum_age)}–"
                        f"{_value(elig.maximum_age)}, healthy volunteers "
                        f"{_value(elig.healthy_volunteers)}; {len(elig.inclusion)} inclusion, "
                        f"{len(elig.exclusion)} exclusion criteria"),
        ("sites", str(record.location_count)),
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
    return Group(*parts)
