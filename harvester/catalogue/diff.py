"""Field-level differences between two versions of one trial record.

Values come from ``record.to_json_dict()``, so ``old``/``new`` are plain JSON (enums are
strings).  Result order: record field order, ``eligibility`` expanded in place
(``eligibility.criteria``, ``eligibility.inclusion``, …); within a list field, removed items
first, then changed, then added, each in order of first appearance of the item's identity.

- ``source`` and ``version_holder`` say where and when the record was fetched, not what the
  trial is, so they are never compared.
- A scalar that appears or disappears is still one ``"changed"`` (``old``/``new`` None);
  ``"added"``/``"removed"`` are for list items.  A list item's ``key`` names it (for a
  ``"changed"`` item, as the newer version spells it); items of string lists have no key.
- Strings are compared with runs of whitespace collapsed: the legacy XML re-wraps its text
  blocks at every download, and a re-wrap is not a change.
- Lists are multisets: order-only changes are not changes, and repeated items (the same site
  listed twice) are counted, never merged.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from harvester.records import TrialRecord

Kind = Literal["changed", "added", "removed"]
Json = dict[str, Any]

_IGNORED = frozenset({"source", "version_holder"})
_DATES = frozenset({"start_date", "primary_completion_date", "completion_date", "first_submitted",
                    "first_posted", "last_update_submitted", "last_update_posted",
                    "results_first_posted"})
# Long free text: the values are too long for one line, so only the fact of a change is told.
_TEXTS = {"brief_summary": "brief_summary changed",
          "detailed_description": "detailed_description changed",
          "eligibility.criteria": "eligibility text changed",
          "results": "results changed"}
_LABELS = {"overall_status": "status"}
# (singular, plural) names of the items of each list field, for describe and summarise.
_NOUNS = {
    "secondary_ids": ("secondary id", "secondary ids"), "phases": ("phase", "phases"),
    "nct_id_aliases": ("NCT id alias", "NCT id aliases"), "keywords": ("keyword", "keywords"),
    "who_masked": ("masked role", "masked roles"), "conditions": ("condition", "conditions"),
    "arms": ("arm", "arms"), "interventions": ("intervention", "interventions"),
    "eligibility.inclusion": ("inclusion criterion", "inclusion criteria"),
    "eligibility.exclusion": ("exclusion criterion", "exclusion criteria"),
    "eligibility.std_ages": ("standard age group", "standard age groups"),
    "locations": ("site", "sites"), "collaborators": ("collaborator", "collaborators"),
    "condition_mesh": ("condition MeSH term", "condition MeSH terms"),
    "condition_ancestors": ("condition MeSH ancestor", "condition MeSH ancestors"),
    "intervention_mesh": ("intervention MeSH term", "intervention MeSH terms"),
    "intervention_ancestors": ("intervention MeSH ancestor", "intervention MeSH ancestors"),
    "references": ("reference", "references"), "see_also": ("link", "links"),
    "officials": ("official", "officials"),
    "central_contacts": ("central contact", "central contacts"),
    "documents": ("document", "documents"),
}
# Outcome measures are one list; each is named by its kind: "primary outcome changed: …".
_OUTCOME_NOUNS = {"PRIMARY": ("primary outcome", "primary outcomes"),
                  "SECONDARY": ("secondary outcome", "secondary outcomes"),
                  "OTHER": ("other outcome", "other outcomes")}
_SHORT = 80


@dataclass(frozen=True)
class Change:
    """One difference: a scalar field that changed, or one list item added/removed/changed."""

    field: str
    kind: Kind
    key: str | None
    old: Any
    new: Any

    def describe(self) -> str:
        """One human-readable line, e.g. ``status RECRUITING → COMPLETED``."""
        return _describe_item(self) if _is_item(self) else _describe_scalar(self)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def diff_records(old: TrialRecord, new: TrialRecord) -> list[Change]:
    """What changed from ``old`` to ``new``, in record field order; ``[]`` when nothing did."""
    before, after = _fields(old), _fields(new)
    return [change for name in before for change in _field_changes(name, before[name],
                                                                   after[name])]


def summarise(changes: list[Change], limit: int = 4) -> str:
    """One line for ``trials history``; many items of one kind collapse to a count."""
    lines = _summary_lines(changes)
    limit = max(limit, 0)
    shown = lines[:limit]
    if len(lines) > limit:
        shown.append(f"+{len(lines) - limit} more")
    return "; ".join(shown)


# --- comparing -----------------------------------------------------------------------------

def _fields(record: TrialRecord) -> Json:
    data: Json = record.to_json_dict()
    flat: Json = {}
    for name, value in data.items():
        if name == "eligibility":
            flat.update({f"eligibility.{sub}": v for sub, v in value.items()})
        elif name not in _IGNORED:
            flat[name] = value
    return flat


def _field_changes(name: str, old: Any, new: Any) -> list[Change]:
    if isinstance(old, list) and isinstance(new, list):
        match, show = _IDENTITY.get(name, _PLAIN)
        return _list_changes(name, old, new, match, show)
    if _same(old, new):
        return []
    return [Change(name, "changed", None, old, new)]


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, str) and isinstance(new, str):
        return old.split() == new.split()
    return bool(old == new)


def _list_changes(name: str, old: list[Any], new: list[Any],
                  match: Callable[[Any], Hashable],
                  show: Callable[[Any], str | None]) -> list[Change]:
    before, after = _group(old, match), _group(new, match)
    removed: list[Change] = []
    changed: list[Change] = []
    added: list[Change] = []
    for identity in dict.fromkeys([*before, *after]):
        gone, come = _drop_common(before.get(identity, []), after.get(identity, []))
        # One item left on each side: the identity says which became which.  More (a key
        # repeated in the data, e.g. five "Research Site, Beijing"): any pairing would be a
        # guess, so they are told as removed and added.
        if len(gone) == len(come) == 1:
            changed.append(Change(name, "changed", show(come[0]), gone[0], come[0]))
            continue
        removed += [Change(name, "removed", show(item), item, None) for item in gone]
        added += [Change(name, "added", show(item), None, item) for item in come]
    return removed + changed + added


def _group(items: list[Any], match: Callable[[Any], Hashable]) -> dict[Hashable, list[Any]]:
    groups: dict[Hashable, list[Any]] = {}
    for item in items:
        groups.setdefault(match(item), []).append(item)
    return groups


def _drop_common(old: list[Any], new: list[Any]) -> tuple[list[Any], list[Any]]:
    """Both lists without the items they share, counted as a multiset."""
    common = Counter(map(_canon, old)) & Counter(map(_canon, new))
    return _without(old, common.copy()), _without(new, common)


def _without(items: list[Any], drop: Counter[str]) -> list[Any]:
    kept = []
    for item in items:
        canon = _canon(item)
        if drop[canon] > 0:
            drop[canon] -= 1
        else:
            kept.append(item)
    return kept


def _canon(item: Any) -> str:
    return json.dumps(item, sort_keys=True)


def _site_match(site: Json) -> Hashable:
    # Registries re-case and re-space facility names between versions ("Pllc" → "PLLC").
    return tuple(" ".join((site.get(k) or "").split()).casefold() for k in ("facility", "city"))


def _site_key(site: Json) -> str:
    parts = [site.get("facility"), site.get("city")] if site.get("facility") else \
        [site.get("city"), site.get("country")]
    return ", ".join(p for p in parts if p) or "(unnamed site)"


def _intervention_key(item: Json) -> str:
    return f"{item['type']}: {item['name']}" if item.get("type") else str(item["name"])


# How the items of a list are matched across versions (identity) and named (key).  Plain
# lists match items by value and name none: a string item is its own name.
_Identity = tuple[Callable[[Any], Hashable], Callable[[Any], str | None]]
_PLAIN: _Identity = (_canon, lambda _: None)
# MeSH headings by term: an id rewritten (D003550 → D000003550) is the same heading.
_MESH: _Identity = (lambda m: str(m["term"]).casefold(), lambda m: str(m["term"]))
_IDENTITY: dict[str, _Identity] = {
    "locations": (_site_match, _site_key),
    "arms": (lambda arm: arm["label"], lambda arm: str(arm["label"])),
    "interventions": (lambda i: (i.get("type"), i["name"]), _intervention_key),
    "collaborators": (lambda s: s["name"], lambda s: str(s["name"])),
    # An outcome is its kind and title: a new time frame or description is the same outcome
    # changed; a retitled outcome is one removed and one added (the switch a reader must see).
    "outcomes": (lambda o: (o.get("kind"), " ".join(str(o.get("title")).split()).casefold()),
                 lambda o: str(o.get("title"))),
    "references": (lambda x: x.get("pmid") or _canon(x.get("citation")),
                   lambda x: _short(str(x.get("citation") or x.get("pmid")))),
    "see_also": (lambda x: x.get("url"), lambda x: str(x.get("label") or x.get("url"))),
    "officials": (lambda x: x.get("name"), lambda x: str(x.get("name"))),
    "central_contacts": (lambda x: x.get("name"), lambda x: str(x.get("name"))),
    "documents": (lambda x: x.get("url") or x.get("label"),
                  lambda x: str(x.get("label") or x.get("url"))),
    "condition_mesh": _MESH, "condition_ancestors": _MESH,
    "intervention_mesh": _MESH, "intervention_ancestors": _MESH,
}


# --- describing ----------------------------------------------------------------------------

def _is_item(change: Change) -> bool:
    # Scalars only ever "change" and have no key; anything else is an item of a list.
    return change.kind != "changed" or change.key is not None


def _nouns(change: Change) -> tuple[str, str]:
    if change.field == "outcomes":
        item = change.new if change.new is not None else change.old
        kind = str(item.get("kind")) if isinstance(item, dict) else ""
        return _OUTCOME_NOUNS.get(kind, ("outcome", "outcomes"))
    return _NOUNS.get(change.field, (change.field, change.field))


def _describe_item(change: Change) -> str:
    noun = _nouns(change)[0]
    if change.kind == "changed":
        fields = [k for k in change.new if change.old.get(k) != change.new.get(k)]
        return f"{noun} changed: {change.key} ({', '.join(fields)})"
    value = change.new if change.kind == "added" else change.old
    return f"{noun} {change.kind}: {_short(change.key or str(value))}"


def _describe_scalar(change: Change) -> str:
    name, old, new = change.field, change.old, change.new
    if name == "results" and old is None:
        return "results posted"
    if name in _TEXTS:
        return _TEXTS[name]
    if name == "enrollment":
        return f"enrollment {_enrollment(old)} → {_enrollment(new)}"
    if name == "lead_sponsor":
        return f"lead_sponsor {_sponsor(old)} → {_sponsor(new)}"
    verb = " moved" if name in _DATES and old and new else ""
    return f"{_LABELS.get(name, name)}{verb} {_show(old)} → {_show(new)}"


def _enrollment(value: Json | None) -> str:
    if value is None:
        return "(none)"
    count = "(count not given)" if value.get("count") is None else str(value["count"])
    return f"{count} {value.get('type') or '(type not given)'}"


def _sponsor(value: Json | None) -> str:
    if value is None:
        return "(none)"
    return f"{value['name']} ({value.get('class') or 'class not given'})"


def _show(value: Any) -> str:
    return "(none)" if value is None else _short(str(value))


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHORT else text[:_SHORT - 1].rstrip() + "…"


# --- summarising ---------------------------------------------------------------------------

# Dates that move with every update say nothing about what was updated: summarise them last.
_BOOKKEEPING = frozenset({"last_update_submitted", "last_update_posted"})


def _summary_lines(changes: list[Change]) -> list[str]:
    # Items of one field and kind share a slot at the position of the first of them.
    slots: dict[object, list[Change]] = {}
    ordered = sorted(changes, key=lambda c: c.field in _BOOKKEEPING)  # stable
    for index, change in enumerate(ordered):
        slot = (change.field, _nouns(change), change.kind) if _is_item(change) else index
        slots.setdefault(slot, []).append(change)
    return [_slot_line(group) for group in slots.values()]


def _slot_line(group: list[Change]) -> str:
    if len(group) == 1:
        return group[0].describe()
    first = group[0]
    plural = _nouns(first)[1]
    return f"{len(group)} {plural} {first.kind}"
