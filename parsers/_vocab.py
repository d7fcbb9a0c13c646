"""Registry vocabulary → API v2 enums, and registry dates → ISO 8601.

The legacy labels come from the verbatim ``/api/v2/studies/enums`` response shipped in
``parsers/data/studies-enums.json`` (each value's ``legacyValue`` and its per-field
``exceptions`` such as ``Anticipated``); a few spellings seen on the retired classic site and on
mirror pages are added in :data:`_ALIASES`.  Lookups ignore case and spacing.  A value that is
not known is kept as written and an :class:`UnknownVocabularyWarning` is issued.
"""

from __future__ import annotations

import json
import re
import warnings
from datetime import date
from enum import StrEnum
from functools import cache, lru_cache
from importlib import resources
from typing import TypeVar

from harvester import records as r
from harvester.errors import UnknownVocabularyWarning

E = TypeVar("E", bound=StrEnum)

# enum class → the type name it has in /studies/enums
_ENUM_TYPES: dict[type[StrEnum], str] = {
    r.Status: "Status",
    r.RecruitmentStatus: "RecruitmentStatus",
    r.StudyType: "StudyType",
    r.Phase: "Phase",
    r.DesignAllocation: "DesignAllocation",
    r.InterventionalAssignment: "InterventionalAssignment",
    r.PrimaryPurpose: "PrimaryPurpose",
    r.ObservationalModel: "ObservationalModel",
    r.DesignTimePerspective: "DesignTimePerspective",
    r.DesignMasking: "DesignMasking",
    r.WhoMasked: "WhoMasked",
    r.EnrollmentType: "EnrollmentType",
    r.DateType: "DateType",
    r.ArmGroupType: "ArmGroupType",
    r.InterventionType: "InterventionType",
    r.Sex: "Sex",
    r.StandardAge: "StandardAge",
    r.AgencyClass: "AgencyClass",
    r.ReferenceType: "ReferenceType",
    r.OfficialRole: "OfficialRole",
    r.ContactRole: "ContactRole",
    r.IpdSharing: "IpdSharing",
    r.IpdSharingInfoType: "IpdSharingInfoType",
    r.ExpandedAccessStatus: "ExpandedAccessStatus",
    r.OutcomeMeasureType: "OutcomeMeasureType",
    r.MeasureParam: "MeasureParam",
    r.MeasureDispersionType: "MeasureDispersionType",
}

# Spellings that are not in /studies/enums but that real sources use.
_ALIASES: dict[type[StrEnum], dict[str, str]] = {
    r.Sex: {"both": "ALL"},  # classic-site XML before 2017
    r.AgencyClass: {"u.s. fed": "FED", "industry": "INDUSTRY", "other": "OTHER",
                    "individual": "INDIV", "network": "NETWORK", "unknown": "UNKNOWN",
                    "other u.s. federal agency": "FED"},
    r.DesignMasking: {"no masking": "NONE", "open label": "NONE", "none": "NONE",
                      "none (open label)": "NONE", "single blind": "SINGLE",
                      "double blind": "DOUBLE", "triple blind": "TRIPLE",
                      "quadruple blind": "QUADRUPLE"},
    r.WhoMasked: {"subject": "PARTICIPANT", "caregiver": "CARE_PROVIDER",
                  "outcomes assessor": "OUTCOMES_ASSESSOR"},
    r.Phase: {"n/a": "NA", "na": "NA", "phase 0": "EARLY_PHASE1"},
    r.DesignAllocation: {"n/a": "NA", "non randomised": "NON_RANDOMIZED",
                         "randomised": "RANDOMIZED"},
    r.StudyType: {"observational [patient registry]": "OBSERVATIONAL"},
    r.EnrollmentType: {"anticipated": "ESTIMATED", "estimate": "ESTIMATED"},
    r.DateType: {"anticipated": "ESTIMATED", "estimate": "ESTIMATED"},
}

_SPACES = re.compile(r"\s+")


def _key(text: str) -> str:
    # Case, underscores, hyphens and spacing do not matter: "Case Control" is "Case-Control",
    # "Double-Blind" is "Double Blind".
    return _SPACES.sub(" ", text.strip().lower().replace("_", " ").replace("-", " "))


@cache
def _enum_response() -> dict[str, list[dict[str, object]]]:
    data = json.loads(resources.files("parsers").joinpath("data/studies-enums.json").read_text())
    return {entry["type"]: entry["values"] for entry in data}


@cache
def _table(kind: type[StrEnum]) -> dict[str, StrEnum]:
    table: dict[str, StrEnum] = {}
    for entry in _enum_response().get(_ENUM_TYPES[kind], []):
        member = kind(str(entry["value"]))
        table[_key(str(entry["legacyValue"]))] = member
        for legacy in dict(entry.get("exceptions") or {}).values():  # type: ignore[call-overload]
            table[_key(str(legacy))] = member
    for member in kind:
        table[_key(member.value)] = member
        table[member.value] = member  # exact API v2 spelling: the hot path, no normalising
    for alias, value in _ALIASES.get(kind, {}).items():
        table[_key(alias)] = kind(value)
    return table


def known(kind: type[E], raw: str) -> E | None:
    """The member of ``kind`` that ``raw`` names (value or legacy label), or None."""
    table = _table(kind)
    return table.get(raw) or table.get(_key(raw))  # type: ignore[return-value]


def enum_value(kind: type[E], raw: object, *, field: str) -> E | str | None:
    """``raw`` in API v2's vocabulary; unknown values are kept as written, with a warning."""
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    member = known(kind, text)
    if member is not None:
        return member
    warnings.warn(
        f"{field}: {text!r} is not an API v2 {kind.__name__} value; kept as written",
        UnknownVocabularyWarning,
        stacklevel=2,
    )
    return text


def phases(raw: str | None, *, field: str = "phase") -> list[r.Phase | str]:
    """Legacy ``Phase 1/Phase 2`` → ``[PHASE1, PHASE2]``; ``N/A`` → ``[NA]``."""
    if not raw or not raw.strip():
        return []
    parts = [raw] if known(r.Phase, raw) else raw.split("/")
    out = [enum_value(r.Phase, p, field=field) for p in parts]
    return [p for p in out if p is not None]


_MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august",
     "september", "october", "november", "december"], start=1)}
_MONTHS.update({name[:3]: num for name, num in list(_MONTHS.items())})
_ISO = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_WRITTEN = re.compile(r"^([A-Za-z]+)\.?\s+(?:(\d{1,2}),?\s+)?(\d{4})$")


def iso_date(raw: object, *, field: str) -> str | None:
    """A registry date as partial ISO 8601: ``November 14, 2007`` → ``2007-11-14``,
    ``November 2007`` → ``2007-11``; ISO input is checked and kept.  An unreadable date is
    dropped with a warning (the raw payload still holds it)."""
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    out = _read_date(text)
    if out is None:
        warnings.warn(f"{field}: unreadable date {text!r} dropped", UnknownVocabularyWarning,
                      stacklevel=2)
    return out


@lru_cache(maxsize=1 << 12)
def _read_date(text: str) -> str | None:
    """:func:`iso_date` of a stripped, non-empty text, without the warning: a pure function
    of the text, cached (a few thousand dates recur across every study; checking one costs
    a regex and a ``date``)."""
    iso = _ISO.match(text)
    if iso and _valid(*iso.groups()):
        return text
    written = _WRITTEN.match(text)
    if written:
        month = _MONTHS.get(written.group(1).lower())
        day, year = written.group(2), written.group(3)
        if month is not None:
            mm = f"{month:02d}"
            dd = f"{int(day):02d}" if day else None
            if _valid(year, mm, dd):
                return f"{year}-{mm}-{dd}" if dd else f"{year}-{mm}"
    return None


def _valid(year: str, month: str | None, day: str | None) -> bool:
    try:
        date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        return False
    return True


def age(raw: object) -> str | None:
    """An age as written (``18 Years``); the classic site's ``N/A`` means no limit."""
    if raw is None:
        return None
    text = _SPACES.sub(" ", str(raw).strip())
    return None if not text or text.upper() == "N/A" else text


def yes_no(raw: object) -> bool | None:
    """``Yes``/``No``, ``Accepts Healthy Volunteers``/``No Healthy Volunteers`` → bool."""
    if isinstance(raw, bool):
        return raw
    if raw is None:
        return None
    text = _key(str(raw))
    if text in {"yes", "true", "accepts healthy volunteers", "accepts"}:
        return True
    if text in {"no", "false", "no healthy volunteers", "does not accept healthy volunteers"}:
        return False
    return None


# Legacy values that combine several of the registry's values ("Longitudinal, Prospective",
# "Cross-Sectional, Retrospective/Prospective", "Defined Population, Natural History"), or
# that API v2 no longer has, for time perspective and observational model.  Rule: the parts
# are split at commas and slashes; parts that name no API v2 value of their own are
# "Longitudinal" (a follow-up over time, not a perspective) and "Retrospective/Prospective"
# as one span, which count as OTHER.  If the parts name exactly one API v2 value, that is
# the value; if they name several, the value is OTHER (the registry's value for a design
# that is more than one of its categories).
_RETIRED: dict[type[StrEnum], dict[str, str]] = {
    r.DesignTimePerspective: {"longitudinal": "", "retrospective/prospective": "OTHER"},
    r.ObservationalModel: {"case crossover": "CASE_CROSSOVER",
                           "ecologic or community studies": "ECOLOGIC_OR_COMMUNITY"},
}


def combined(kind: type[E], raw: object, *, field: str) -> E | str | None:
    """A time perspective or observational model, legacy combined forms included (see
    :data:`_RETIRED` for the rule)."""
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    member = known(kind, text)
    if member is not None:
        return member
    retired = _RETIRED.get(kind, {})
    found: set[str] = set()
    for part in re.split(r"\s*,\s*", text):
        key = _key(part)
        if key in retired:
            if retired[key]:
                found.add(retired[key])
            continue
        pieces = [known(kind, p) for p in part.split("/")]
        if not part or any(p is None for p in pieces):
            return enum_value(kind, text, field=field)  # warns: not a form we know
        found.update(str(p) for p in pieces)
    if not found:
        return kind("OTHER") if "OTHER" in kind.__members__ else None
    if len(found) == 1:
        return kind(found.pop())
    return kind("OTHER")


_WHO_LEVELS = {1: "SINGLE", 2: "DOUBLE", 3: "TRIPLE", 4: "QUADRUPLE"}
_MASKING_FORM = re.compile(r"^(?P<level>[^(]*?)\s*(?:\((?P<who>[^)]*)\))?\s*$")


def masking(raw: str | None, *, field: str = "masking") -> tuple[object, list[object]]:
    """Legacy masking → (API v2 masking, who was masked).

    ``None (Open Label)``, ``Double (Participant, Investigator)``, ``Double Blind (Subject,
    Caregiver)``, 2014's ``Double-Blind``, and 2017's bare role list ``Participant,
    Investigator`` (counted: one role SINGLE … four QUADRUPLE, the registry's own rule)."""
    if not raw or not raw.strip():
        return None, []
    whole = known(r.DesignMasking, raw)  # "None (Open Label)" is one label
    if whole is not None:
        return whole, []
    parts = _MASKING_FORM.match(raw)
    level_text = parts["level"] if parts else raw
    who_text = parts["who"] if parts else None
    if who_text is None and ("," in level_text or known(r.WhoMasked, level_text) is not None):
        roles = [known(r.WhoMasked, w) for w in level_text.split(",")]
        if all(roles):
            unique: list[object] = list(dict.fromkeys(roles))
            return r.DesignMasking(_WHO_LEVELS.get(len(unique), "QUADRUPLE")), unique
    level = enum_value(r.DesignMasking, level_text, field=field)
    who = [enum_value(r.WhoMasked, w, field=field) for w in (who_text or "").split(",")]
    return level, [w for w in who if w is not None]


_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)?\s*$")
_YEARS_PER = {"year": 1.0, "month": 1 / 12, "week": 7 / 365.25, "day": 1 / 365.25,
              "hour": 1 / 8766, "minute": 1 / 525960}


def age_years(text: str | None) -> float | None:
    """``18 Years`` → 18.0, ``6 Months`` → 0.5; None if absent or unreadable."""
    if not text:
        return None
    found = _AGE.match(text)
    if found is None:
        return None
    unit = (found.group(2) or "years").lower().rstrip("s")
    per = _YEARS_PER.get(unit)
    return None if per is None else float(found.group(1)) * per


def std_ages(minimum: str | None, maximum: str | None) -> list[r.StandardAge]:
    """The age groups the registry derives from the age limits: Child (birth–17 years),
    Adult (18–64), Older Adult (65+); a group is listed when the age range overlaps it (no
    minimum is birth, no maximum no limit).  Unreadable limits give no groups."""
    low, high = age_years(minimum), age_years(maximum)
    if (minimum and low is None) or (maximum and high is None):
        return []
    low = low or 0.0
    top = float("inf") if high is None else high
    out = []
    if low < 18:
        out.append(r.StandardAge.CHILD)
    if low < 65 and top >= 18:
        out.append(r.StandardAge.ADULT)
    if top >= 65:
        out.append(r.StandardAge.OLDER_ADULT)
    return out


def required(value: object, *, field: str) -> object:
    """A value the registry requires but a real record lacks (an intervention without a
    name): kept as null with a warning instead of rejecting the record."""
    if value is None:
        warnings.warn(f"{field}: missing; kept as null", UnknownVocabularyWarning,
                      stacklevel=2)
    return value
