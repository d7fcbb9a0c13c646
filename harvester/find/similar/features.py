"""What a trial is about, for comparison: record → :class:`Features` (pure).

Features keep both a key (for matching) and the words the registry used (for reasons):
conditions and MeSH headings share one key space (see :func:`text.condition_key`), MeSH
ancestors are kept apart (a weaker match), interventions are keyed by name, other names and
MeSH heading (dose and brackets stripped, combinations split), and the text fields are term
frequencies.  :func:`index_terms` lists the terms a trial contributes to the index: the
*posted* ones (looked up to find candidates) and the *counted* ones (document frequencies
only).  A free-text query gets features too (:func:`text_features`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import msgspec
from pydantic import BaseModel

from harvester.find.similar import text as tx
from harvester.find.similar.duplicates import registry_ids, sponsor_protocol
from harvester.records import Eligibility, Intervention, Location, TrialRecord

#: Bump when the features or terms change: the index is then rebuilt on its next refresh.
FEATURES_VERSION = "1"

SUMMARY_TERMS = 100  # most frequent terms kept per text field
CRITERIA_TERMS = 100


class Concept(msgspec.Struct, frozen=True, array_like=True):
    """A condition or intervention: its key, how the trial wrote it, and its words."""

    key: str
    label: str
    words: tuple[str, ...] = ()


class Features(msgspec.Struct, frozen=True, array_like=True, omit_defaults=True):
    nct_id: str | None
    title: str | None
    conditions: tuple[Concept, ...] = ()  # conditions and condition MeSH headings
    condition_ancestors: tuple[Concept, ...] = ()
    interventions: tuple[Concept, ...] = ()  # names, other names, MeSH headings
    intervention_ancestors: tuple[Concept, ...] = ()
    intervention_types: tuple[str, ...] = ()
    phases: tuple[str, ...] = ()
    study_type: str | None = None
    design: tuple[tuple[str, str], ...] = ()  # (field, value): allocation, model, …
    sex: str | None = None
    min_age: float | None = None  # years
    max_age: float | None = None
    healthy_volunteers: bool | None = None
    countries: tuple[str, ...] = ()
    sponsor: str | None = None  # as written
    ids: tuple[str, ...] = ()  # registry ids, normalised (NCT…, EUDRACT:…, …)
    protocol: str | None = None  # lead sponsor + its protocol id, normalised
    title_words: tuple[tuple[str, ...], ...] = ()  # brief and official title, for identity
    title_terms: dict[str, int] = {}
    summary_terms: dict[str, int] = {}
    criteria_terms: dict[str, int] = {}
    free_text: bool = False  # made from a free-text query, not a record


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Features)


def encode(features: Features) -> bytes:
    return _ENCODER.encode(features)


def decode(data: bytes) -> Features:
    return _DECODER.decode(data)


def _concepts(pairs: list[tuple[str, str]], words: bool = True) -> tuple[Concept, ...]:
    """Unique concepts by key, in the order first seen; (key, label) pairs."""
    seen: dict[str, Concept] = {}
    for key, label in pairs:
        if key and key not in seen:
            seen[key] = Concept(key, label, tuple(dict.fromkeys(
                tx.condition_words(label))) if words else ())
    return tuple(seen.values())


_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(year|month|week|day|hour|minute)", re.IGNORECASE)
_UNIT_YEARS = {"year": 1.0, "month": 1 / 12, "week": 7 / 365.25, "day": 1 / 365.25,
               "hour": 1 / 8766, "minute": 1 / 525960}


def age_years(value: str | None) -> float | None:
    """``"18 Years"`` → 18.0, ``"6 Months"`` → 0.5; None for N/A or unreadable."""
    if not value:
        return None
    found = _AGE.match(value)
    if not found:
        return None
    return round(float(found.group(1)) * _UNIT_YEARS[found.group(2).lower()], 3)


def _words(name: str) -> tuple[str, ...]:
    return tuple(w for w in dict.fromkeys(tx.tokens(name)) if w not in tx.GENERIC_WORDS)


def _value(value: object) -> str | None:
    return str(value) if value is not None else None


def features(record: TrialRecord) -> Features:
    """The features of one trial record."""
    conditions = _concepts(
        [(tx.condition_key(c), c) for c in record.conditions]
        + [(tx.condition_key(m.term), m.term) for m in record.condition_mesh])
    own = {c.key for c in conditions}
    ancestors = _concepts([(tx.condition_key(m.term), m.term)
                           for m in record.condition_ancestors
                           if tx.condition_key(m.term) not in own], words=False)
    named: dict[str, Concept] = {}
    for item in record.interventions:
        label = f"{item.name} ({item.type})" if item.type else (item.name or "")
        for name in (item.name, *item.other_names):
            if not name:  # an intervention the registry gives without a name
                continue
            for key in tx.name_variants(name):
                named.setdefault(key, Concept(key, label, _words(name)))
    for mesh in record.intervention_mesh:
        for key in tx.name_variants(mesh.term):
            named.setdefault(key, Concept(key, mesh.term, _words(mesh.term)))
    inter = tuple(named.values())
    keys = set(named)
    inter_anc = _concepts([(tx.name_key(m.term), m.term) for m in record.intervention_ancestors
                           if tx.name_key(m.term) not in keys], words=False)
    design = tuple((name, str(value)) for name, value in (
        ("allocation", record.allocation), ("model", record.intervention_model),
        ("masking", record.masking), ("purpose", record.primary_purpose),
        ("observational model", record.observational_model),
        ("time perspective", record.time_perspective)) if value is not None)
    elig = record.eligibility
    countries = tuple(dict.fromkeys(loc.country.strip() for loc in record.locations
                                    if loc.country and loc.country.strip()))
    titles = [t for t in (record.brief_title, record.official_title) if t]
    return Features(
        nct_id=record.nct_id, title=record.brief_title or record.official_title,
        conditions=conditions, condition_ancestors=ancestors,
        interventions=inter, intervention_ancestors=inter_anc,
        intervention_types=tuple(sorted({str(i.type) for i in record.interventions if i.type})),
        phases=tuple(str(p) for p in record.phases), study_type=_value(record.study_type),
        design=design, sex=_value(elig.sex), min_age=age_years(elig.minimum_age),
        max_age=age_years(elig.maximum_age), healthy_volunteers=elig.healthy_volunteers,
        countries=countries, sponsor=record.lead_sponsor.name if record.lead_sponsor else None,
        ids=registry_ids(record), protocol=sponsor_protocol(record),
        title_words=tuple(tuple(sorted(tx.title_words(t))) for t in titles),
        title_terms=tx.term_counts(record.brief_title, record.official_title, record.acronym),
        summary_terms=tx.term_counts(record.brief_summary, record.detailed_description,
                                     " ".join(record.keywords), limit=SUMMARY_TERMS),
        criteria_terms=tx.term_counts(elig.criteria, limit=CRITERIA_TERMS),
    )


#: What :func:`features` reads of a record, by model.  Building the index reads each stored
#: record as a view of these fields only (:mod:`harvester.export.view`): validating the whole
#: record took as long as working out its features; a view skips the results, sites'
#: details and the rest without making an object.  A test compares the features of every
#: fixture both ways: a field read but not listed here fails it.
READ: dict[type[BaseModel], frozenset[str]] = {
    TrialRecord: frozenset((
        "nct_id", "org_study_id", "secondary_ids", "nct_id_aliases", "brief_title",
        "official_title", "acronym", "study_type", "phases", "allocation",
        "intervention_model", "primary_purpose", "masking", "observational_model",
        "time_perspective", "conditions", "keywords", "interventions", "condition_mesh",
        "condition_ancestors", "intervention_mesh", "intervention_ancestors", "eligibility",
        "locations", "lead_sponsor", "brief_summary", "detailed_description")),
    Location: frozenset(("country",)),
    Eligibility: frozenset(("criteria", "sex", "minimum_age", "maximum_age",
                            "healthy_volunteers")),
    Intervention: frozenset(("type", "name", "other_names")),
}


@functools.cache
def _viewer() -> Callable[[str | bytes], TrialRecord]:
    from harvester.export import view  # only where the index is built

    view.PROFILES["Similar"] = {model.__name__: frozenset(model.model_fields) - fields
                                for model, fields in READ.items()}
    return functools.partial(view.record_view, profile="Similar")


def stored_features(record_json: str | bytes) -> Features:
    """The features of a stored record's JSON (as :func:`features` of the record)."""
    return features(_viewer()(record_json))


def text_features(text: str) -> Features:
    """Features of a free-text query: its words stand for a title and a summary."""
    words = tx.term_counts(text)
    return Features(nct_id=None, title=None, title_terms=words,
                    summary_terms=dict(sorted(words.items(), key=lambda kv: -kv[1])[
                        :SUMMARY_TERMS]), free_text=True)


# --- index terms ----------------------------------------------------------------------------
# Prefixes: c condition key, a condition or ancestor (the condition's family), i intervention
# key, k intervention ancestor, t word, n country, x registry id, p sponsor protocol id, h title.

def scoring_terms(f: Features, into: dict[str, set[str]]) -> None:
    """Add the keys of every index term that scoring ``f`` needs the IDF of, by kind."""
    into["t"].update(f.title_terms, f.summary_terms, f.criteria_terms)
    for concept in (*f.conditions, *f.interventions):
        into["t"].update(concept.words)
    into["c"].update(c.key for c in f.conditions)
    into["a"].update(c.key for c in f.conditions)
    into["a"].update(c.key for c in f.condition_ancestors)
    into["i"].update(c.key for c in f.interventions)
    into["k"].update(c.key for c in f.intervention_ancestors)
    into["n"].update(tx.fold(c) for c in f.countries)


def salient_words(f: Features) -> set[str]:
    """Words that say what the trial is about: title, conditions, interventions."""
    words = set(f.title_terms)
    for concept in (*f.conditions, *f.interventions):
        words.update(concept.words)
    return {w for w in words if w not in tx.GENERIC_WORDS}


def title_key(f: Features) -> str | None:
    if not f.title_words:
        return None
    return " ".join(f.title_words[0])[:190] or None


def index_terms(f: Features) -> tuple[set[str], set[str]]:
    """(posted, counted): the terms a trial is found by, and the others it counts in."""
    posted = {f"c:{c.key}" for c in f.conditions}
    posted |= {f"a:{c.key}" for c in (*f.conditions, *f.condition_ancestors)}
    posted |= {f"i:{c.key}" for c in f.interventions}
    posted |= {f"k:{c.key}" for c in f.intervention_ancestors}
    posted |= {f"t:{w}" for w in salient_words(f)}
    posted |= {f"x:{i}" for i in f.ids}
    if f.protocol:
        posted.add(f"p:{f.protocol}")
    key = title_key(f)
    if key:
        posted.add(f"h:{key}")
    counted = {f"t:{w}" for w in (*f.title_terms, *f.summary_terms, *f.criteria_terms)}
    for concept in (*f.conditions, *f.interventions):
        counted |= {f"t:{w}" for w in concept.words}
    counted |= {f"n:{tx.fold(c)}" for c in f.countries}
    return {t[:200] for t in posted}, {t[:200] for t in counted - posted}
