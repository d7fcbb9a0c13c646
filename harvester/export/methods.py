"""The search log in words: a methods paragraph, labelled rows, the duplicates removed and a
glossary of the dates — what the Markdown log shows and the workbook's ``search log`` sheet
holds, both from the summary (:meth:`harvester.export.log.SearchLog.summary`)."""

from __future__ import annotations

from datetime import date
from typing import Any

#: What each date (and version) in a search log means.
GLOSSARY: dict[str, str] = {
    "Date of export": "when this export and its log were written (UTC).",
    "Last complete run": "when a saved query last ran to its end against the registry, every "
                         "result received (UTC); a full pass asks for the whole search, an "
                         "incremental one only for the studies updated since the pass before "
                         "(less a day of overlap).",
    "Registry count (totalCount)": "the number of studies the registry reported for the "
                                   "search in that run (the API's totalCount).",
    "Registry data version": "the date and time of the registry's data set when the "
                             "catalogue was last synced (the API's /version dataTimestamp; "
                             "the registry refreshes its data once a day), or else the newest "
                             "versionHolder among the records exported.",
    "Registry date": "for each version, the date the registry posted it: the record's last "
                     "update posted (for a legacy XML record without it, its last update "
                     "submitted).",
    "Registry version": "for each version, its number in the registry's record history "
                        "(0-based, as the registry's history lists it; the website shows it "
                        "plus 1) when it was fetched from that history, else the registry's "
                        "data version (versionHolder) of the download it came from.",
    "Retrieved (UTC)": "when trial-harvester received that version of the record from the "
                       "registry or read it from a file (the retrieval date).",
    "As of": "the date the catalogue is shown as it stood (each trial's version current "
             "then); without it, the versions current at the export.",
}

_LABELS = {"ids": "NCT ids", "query": "saved query", "statuses": "status", "phases": "phase",
           "study_types": "study type", "conditions": "condition",
           "interventions": "intervention", "countries": "country", "sponsors": "sponsor",
           "start_after": "start on or after", "start_before": "start on or before",
           "updated_since": "last update posted on or after", "has_results": "has results",
           "as_of": "as of"}
_FILES_SHOWN = 5


def _value(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _day(moment: str | None) -> str:
    """``2026-08-14T09:00:05Z`` → ``14 August 2026``."""
    if not moment:
        return "an unknown date"
    day = date.fromisoformat(moment[:10])
    return f"{day.day} {day:%B %Y}"


# API search parameters as the registry website labels its search fields.
_PARAM_LABELS = {"query.cond": "condition/disease", "query.term": "other terms",
                 "query.intr": "intervention/treatment", "query.locn": "location",
                 "query.titles": "title/acronym", "query.outc": "outcome measure",
                 "query.spons": "sponsor/collaborator", "query.id": "study IDs",
                 "filter.overallStatus": "status", "filter.ids": "NCT ids",
                 "filter.advanced": "Essie expression"}


def _params(params: dict[str, str]) -> str:
    """``query.cond=allergy``, as the API takes it."""
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "all studies"


def _search(params: dict[str, str]) -> str:
    """``condition/disease "allergy", status RECRUITING``, as a reader reads it."""
    def value(name: str, text: str) -> str:
        return text.replace(",", ", ") if name.startswith("filter.") and name != \
            "filter.advanced" else f"\"{text}\""
    return ", ".join(f"{_PARAM_LABELS.get(k, k)} {value(k, v)}" for k, v in params.items()) \
        or "of all studies"


def _filters(s: dict[str, Any], *, query: bool = True) -> str:
    return "; ".join(f"{_LABELS.get(k, k)}: {_value(v)}" for k, v in s["selection"].items()
                     if query or k != "query")


def _run(run: dict[str, Any] | None) -> str:
    if not run:
        return "never"
    what = ("full pass" if run["mode"] == "full" else
            f"incremental, studies updated since {run['since']}" if run["mode"] else "sync")
    count = (f"registry reported {run['total_count']}, received {run['received']}"
             if run["total_count"] is not None else f"received {run['received']}")
    server = f", from {run['base_url']}" if run.get("base_url") else ""
    data = f", registry data version {run['data_version']}" if run.get("data_version") else ""
    return f"{run['finished_at']} (run {run['run']}, {what}: {count}{server}{data})"


def _query_rows(q: dict[str, Any]) -> list[tuple[str, str]]:
    name = q["name"]
    rows = [(f"Saved query {name}: parameters", _params(q["parameters"])),
            (f"Saved query {name}: website search",
             q["website_url"] or "none equivalent (use the API URL)"),
            (f"Saved query {name}: API search", q["api_url"])]
    if q["harvested_url"] != q["api_url"]:
        rows.append((f"Saved query {name}: API search as harvested", q["harvested_url"]))
    rows.append((f"Saved query {name}: last complete run", _run(q["last_complete"])))
    full = q["last_full"]
    if full and (not q["last_complete"] or full["run"] != q["last_complete"]["run"]):
        rows.append((f"Saved query {name}: last complete full pass", _run(full)))
    return rows


def _source_rows(source: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not source:
        return []
    rows = [("Information source", source["registry"])]
    if source["sources"]:
        rows.append(("Records exported, by source", "; ".join(
            f"{kind}: {n}" for kind, n in source["sources"].items())))
    if source["harvested_from"]:
        rows.append(("Harvested from (base URL)", "; ".join(
            f"{s['base_url']} ({s['versions']} records)" for s in source["harvested_from"])))
    files = source["imported_files"]
    if files:
        more = f" and {len(files) - _FILES_SHOWN} more" if len(files) > _FILES_SHOWN else ""
        rows.append(("Imported from files", ", ".join(files[:_FILES_SHOWN]) + more))
    return rows


def detail_rows(s: dict[str, Any]) -> list[tuple[str, str]]:
    """The summary as (label, value) rows, in the order of the search."""
    counts = s["counts"]
    as_of = s["selection"].get("as_of")
    rows = [("Date of export", s["created_at"]),
            ("Tool", f"{s['tool']} {s['tool_version']}")]
    if s["command"]:
        rows.append(("Command", s["command"]))
    rows += _source_rows(s.get("information_source"))
    rows.append(("Catalogue", s["catalogue"]))
    data = s["registry_data_version"]
    if data:
        api = f", API {data['api_version']}" if data.get("api_version") else ""
        rows.append(("Registry data version", f"{data['value']} ({data['basis']}{api})"))
    for query in s.get("saved_queries") or []:
        rows += _query_rows(query)
    dedup = s.get("deduplication")
    rows += [("Filters applied locally", _filters(s) or "none: every trial in the catalogue"),
             (f"Trials in the catalogue{f' as of {as_of}' if as_of else ''}",
              str(counts["catalogue"])),
             ("Selected by the filters", str(counts["selected"]))]
    if dedup is None or not dedup["enabled"]:
        rows.append(("Deduplication", "not done (--keep-duplicates)" if dedup else "not done"))
    else:
        rows.append(("After removing duplicate registrations",
                     f"{counts['deduplicated']} ({counts['duplicates_removed']} removed, in "
                     f"{len(dedup['groups'])} group(s) of the same trial)"))
    rows.append(("Exported", f"{counts['exported']} ({s['format']}, to {s['output']})"))
    if counts["missing_ids"]:
        rows.append(("Asked for but not in the catalogue", ", ".join(counts["missing_ids"])))
    return rows


def duplicate_rows(s: dict[str, Any]) -> list[tuple[str, str]]:
    dedup = s.get("deduplication") or {"groups": []}
    return [(f"Duplicate group {n}", f"{', '.join(g['removed'])} removed, {g['kept']} kept "
             f"({g['kept_because']}); the same trial: {'; '.join(g['reasons'])}")
            for n, g in enumerate(dedup["groups"], 1)]


def methods_paragraph(s: dict[str, Any]) -> str:
    """The search in one paragraph a methods section can cite."""
    counts = s["counts"]
    source = s.get("information_source") or {}
    registry = source.get("registry", "ClinicalTrials.gov")
    servers = [h["base_url"] for h in source.get("harvested_from", ())]
    files = source.get("imported_files", ())
    origin = [f"harvested through its API from {', '.join(servers)}"] if servers else []
    if files:
        origin.append(f"imported from {len(files)} file{'s' if len(files) != 1 else ''} or "
                      "folder" + ("s" if len(files) != 1 else "") + " of registry records")
    data = s["registry_data_version"]
    if data:
        origin.append(f"registry data version {data['value']}"
                      + (f", API version {data['api_version']}" if data.get("api_version")
                         else ""))
    kept = (f" ({'; '.join(origin)})" if origin else "") + \
        f" were kept in a local catalogue with {s['tool']} {s['tool_version']}."
    parts = []
    queries = s.get("saved_queries") or []
    if queries:
        searches = []
        for q in queries:
            run = q["last_complete"]
            full = q["last_full"] or (run if run and run["mode"] == "full" else None)
            when = (f", last run completely on {_day(run['finished_at'])}" if run
                    else ", never run completely")
            if full and full["total_count"] is not None:
                when += (f" (the registry reported {full['total_count']} "
                         f"stud{'ies' if full['total_count'] != 1 else 'y'} on "
                         f"{_day(full['finished_at'])})")
            urls = (f"website: {q['website_url']}; " if q["website_url"] else "") + \
                f"API: {q['api_url']}"
            searches.append(f"{_search(q['parameters'])} (saved as {q['name']}; "
                            f"{urls}){when}")
        noun = "searches" if len(searches) > 1 else "search"
        parts += [f"We searched {registry} with the {noun} {' and '.join(searches)}.",
                  f"The records{kept}"]
    else:
        parts.append(f"Records of {registry}{kept}")
    filters = _filters(s, query=False)
    local = f"matched the filters applied locally ({filters})" if filters else ""
    if s["selection"].get("query"):
        step = (f"{counts['selected']} of its {counts['catalogue']} trials were in the "
                f"results of the saved search {s['selection']['query']}"
                + (f" and {local}" if local else ""))
    elif local:
        step = f"{counts['selected']} of its {counts['catalogue']} trials {local}"
    else:
        step = (f"all {counts['selected']} trials of the catalogue were selected (no filter "
                "applied locally)")
    dedup = s.get("deduplication")
    removed = counts["duplicates_removed"]
    if dedup and dedup["enabled"] and removed:
        groups = len(dedup["groups"])
        step += (f"; {removed} duplicate registration{'s' if removed != 1 else ''} of the "
                 f"same trial {'were' if removed != 1 else 'was'} removed ({groups} "
                 f"group{'s' if groups != 1 else ''}, found by shared registry ids, NCT id "
                 "aliases, the same sponsor protocol id or a near-identical title from the "
                 "same sponsor)")
    elif dedup and dedup["enabled"]:
        step += ("; no duplicate registration of the same trial was found among them "
                 "(checked by shared registry ids, NCT id aliases, sponsor protocol ids and "
                 "near-identical titles from the same sponsor)")
    else:
        step += "; duplicate registrations were not removed"
    parts.append(f"On {_day(s['created_at'])}, {step}, and {counts['exported']} "
                 f"trial{'s were' if counts['exported'] != 1 else ' was'} exported "
                 f"({s['format']}). The version of each trial exported (registry date, "
                 "registry version, retrieval date, content hash) is listed in the search "
                 "log.")
    return " ".join(parts)


def glossary_rows() -> list[tuple[str, str]]:
    return [(f"Glossary: {term}", text) for term, text in GLOSSARY.items()]


def summary_rows(s: dict[str, Any]) -> list[tuple[str, str]]:
    """Every row a person reads: the methods paragraph, the details, the duplicate groups
    removed and the glossary (the workbook's ``search log`` sheet)."""
    return [("Methods paragraph", methods_paragraph(s)), *detail_rows(s),
            *duplicate_rows(s), *glossary_rows()]


def markdown_head(s: dict[str, Any]) -> list[str]:
    """The Markdown log before its table of versions."""
    lines = ["# Search log: trials export", "", "## Methods", "", methods_paragraph(s), "",
             "## Search", "", *(f"- {label}: {value}" for label, value in detail_rows(s))]
    groups = duplicate_rows(s)
    if groups:
        lines += ["", "## Duplicates removed", "",
                  *(f"- {label}: {value}" for label, value in groups)]
    lines += ["", "## Dates in this log", "",
              *(f"- {term}: {text}" for term, text in GLOSSARY.items())]
    return lines
