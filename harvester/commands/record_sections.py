"""The whole-protocol parts of ``trials show``'s table view: people, oversight, IPD sharing,
references and documents (fact rows), the outcome measures and the results overview (tables).

``--format json`` has every field; this view names each thing once, briefly enough to read.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from rich.console import RenderableType
from rich.table import Table

if TYPE_CHECKING:
    from harvester.records import Contact, Results, TrialRecord

SHOWN = 5  # officials, contacts, references, documents named before "+N more"


def _yes_no(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


def _some(items: list[str]) -> str:
    more = len(items) - SHOWN
    return "; ".join(items[:SHOWN]) + (f"; +{more} more" if more > 0 else "")


def _contact(contact: Contact) -> str:
    phone = contact.phone and contact.phone + (f" ext {contact.phone_ext}"
                                               if contact.phone_ext else "")
    details = ", ".join(x for x in (contact.role, phone, contact.email) if x)
    return f"{contact.name or '(no name)'}" + (f" ({details})" if details else "")


def fact_rows(record: TrialRecord) -> list[tuple[str, str]]:
    """Rows for what the record has of people, oversight, sharing, references, documents."""
    rows: list[tuple[str, str]] = []
    if record.officials:
        rows.append(("officials", _some([
            f"{o.name or '(no name)'} ({', '.join(x for x in (o.role, o.affiliation) if x)})"
            if o.role or o.affiliation else f"{o.name or '(no name)'}"
            for o in record.officials])))
    if record.central_contacts:
        rows.append(("central contacts", _some([_contact(c) for c in record.central_contacts])))
    if (oversight := record.oversight) is not None:
        rows.append(("oversight", f"DMC {_yes_no(oversight.has_dmc)} · FDA-regulated drug "
                                  f"{_yes_no(oversight.fda_regulated_drug)} · device "
                                  f"{_yes_no(oversight.fda_regulated_device)}"))
    if (ipd := record.ipd_sharing) is not None:
        kinds = ", ".join(str(t) for t in ipd.info_types)
        rows.append(("IPD sharing", " · ".join(x for x in (
            str(ipd.sharing or "—"), kinds, ipd.url or "") if x)))
    if (access := record.expanded_access) is not None and access.has_expanded_access:
        rows.append(("expanded access", " ".join(x for x in (
            "yes", access.nct_id or "", f"({access.status})" if access.status else "") if x)))
    if record.references:
        types = Counter(str(ref.type or "untyped") for ref in record.references)
        pmids = [f"PMID {ref.pmid}" for ref in record.references if ref.pmid]
        rows.append(("references", f"{len(record.references)} ("
                     + ", ".join(f"{n} {k}" for k, n in types.items()) + ")"
                     + (f": {_some(pmids)}" if pmids else "")))
    if record.documents:
        rows.append(("documents", _some([
            " ".join(x for x in (d.label or d.type or "document", d.date or "", d.url or "")
                     if x) for d in record.documents])))
    return rows


def outcomes_table(record: TrialRecord) -> Table | None:
    if not record.outcomes:
        return None
    table = Table(title="outcome measures", title_justify="left", show_edge=False)
    for column in ("kind", "title", "time frame"):
        table.add_column(column)
    for outcome in record.outcomes:
        table.add_row(str(outcome.kind), outcome.title or "—", outcome.time_frame or "—")
    return table


def results_tables(results: Results | None) -> list[RenderableType]:
    """Participants and adverse events per group, then each reported outcome's values."""
    if results is None:
        return []
    out: list[RenderableType] = []
    if results.participant_flow or results.adverse_events:
        groups = Table(title="results: participants and adverse events per group",
                       title_justify="left", show_edge=False)
        for column in ("group", "started", "completed", "serious AE", "other AE", "deaths"):
            groups.add_column(column)
        events = {e.title: e for e in results.adverse_events}
        flow = {g.title: g for g in results.participant_flow}
        for title in [*flow, *(t for t in events if t not in flow)]:
            g, e = flow.get(title), events.get(title)
            events_of = (_ratio(e.serious_affected, e.serious_at_risk),
                         _ratio(e.other_affected, e.other_at_risk),
                         _ratio(e.deaths_affected, e.deaths_at_risk)) if e else ("—",) * 3
            groups.add_row(title or "—", _n(g.started if g else None),
                           _n(g.completed if g else None), *events_of)
        out.append(groups)
    if results.outcome_measures:
        measures = Table(title="results: reported outcome measures", title_justify="left",
                         show_edge=False)
        for column in ("type", "title", "units", "values per group"):
            measures.add_column(column)
        for m in results.outcome_measures:
            names = {g.id: g.title or g.id for g in m.groups}
            values = [f"{names.get(x.group_id, x.group_id)}: {x.value or '—'}"
                      + (f" ({x.spread})" if x.spread else "")
                      for x in m.measurements if not (x.class_title or x.category)]
            if len(values) < len(m.measurements):
                values.append(f"{len(m.measurements)} values by class/category")
            measures.add_row(str(m.type or "—"), m.title or "—", m.units or "—",
                             _some(values) if values else "—")
        out.append(measures)
    return out


def _n(value: int | None) -> str:
    return "—" if value is None else str(value)


def _ratio(affected: int | None, at_risk: int | None) -> str:
    if affected is None and at_risk is None:
        return "—"
    return f"{_n(affected)}/{_n(at_risk)}"
