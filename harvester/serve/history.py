"""The website's internal record-history API (reference §6), built from the store's versions.

``/api/int/studies/{nct}/history`` lists ``changes``; ``…/history/{v}`` returns one version.
The real bodies carry more (``originalData``, ``lastUpdateVersions``…); nothing the harvester
reads, so only ``changes`` is served.  ``moduleLabels`` name the modules that differ from the
previous version, with the labels the website uses where they are known (reference §6) and
its section headings otherwise; version 0 has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .store import StudyVersion

_LABELS = {
    "identificationModule": "Study Identification",
    "statusModule": "Study Status",
    "sponsorCollaboratorsModule": "Sponsor/Collaborators",
    "oversightModule": "Oversight",
    "descriptionModule": "Study Description",
    "conditionsModule": "Conditions",
    "designModule": "Study Design",
    "armsInterventionsModule": "Arms and Interventions",
    "outcomesModule": "Outcome Measures",
    "eligibilityModule": "Eligibility",
    "contactsLocationsModule": "Contacts/Locations",
    "referencesModule": "References",
    "ipdSharingStatementModule": "IPD Sharing Statement",
    "participantFlowModule": "Participant Flow",
    "baselineCharacteristicsModule": "Baseline Characteristics",
    "outcomeMeasuresModule": "Outcome Measures",
    "adverseEventsModule": "Adverse Events",
    "moreInfoModule": "More Information",
    "largeDocumentModule": "Document Section",
}
_SECTIONS = ("protocolSection", "resultsSection", "documentSection")


def _modules(study: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for section in _SECTIONS:
        modules = study.get(section)
        if isinstance(modules, dict):
            out.update(modules)
    return out


def module_labels(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    old, new = _modules(before), _modules(after)
    labels: list[str] = []
    for key in dict.fromkeys([*old, *new]):
        if old.get(key) != new.get(key):
            label = _LABELS.get(key, key)
            if label not in labels:
                labels.append(label)
    return labels


def _status(study: Mapping[str, Any]) -> Any:
    status = study.get("protocolSection", {}).get("statusModule", {})
    return status.get("overallStatus") if isinstance(status, dict) else None


def changes(versions: list[StudyVersion]) -> dict[str, Any]:
    """The ``/history`` body: one entry per version, version 0 first."""
    entries = []
    for number, version in enumerate(versions):
        labels = module_labels(versions[number - 1].study, version.study) if number else []
        entries.append({
            "version": number,
            "date": version.date,
            "status": _status(version.study),
            "moduleLabels": labels,
        })
    return {"changes": entries}
