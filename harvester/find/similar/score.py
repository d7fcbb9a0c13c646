"""How alike two trials are (pure): features × features → score, parts and reasons.

The score is a weighted sum of part similarities, each in [0, 1]; the weights sum to 1, so the
score is in [0, 1] and ``parts`` (weight × similarity) add up to it.  Parts the *query* has
nothing for (a draft without sites, a free-text query without a design) are left out and the
other weights scaled up, so every candidate of one query is scored on the same scale.

Rare things count more: shared conditions, MeSH headings, interventions, countries and words
are weighted by their inverse document frequency in the index (``idf``, computed from current
counts at query time), so "shared MeSH ancestor: Neoplasms" weighs little and "Skin Neoplasms"
much.  Text parts are TF-IDF cosines.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harvester.find.similar import text as tx
from harvester.find.similar.features import Concept, Features

#: Part weights for a record query (sum 1).  Conditions dominate: a similar trial is first of
#: all one in the same disease; interventions next.
WEIGHTS: dict[str, float] = {
    "conditions": 0.36, "interventions": 0.20, "title": 0.14, "summary": 0.10,
    "criteria": 0.05, "phase": 0.04, "design": 0.04, "population": 0.04, "countries": 0.03,
}
#: A free-text query: its words are compared with each candidate's title, summary, conditions
#: and interventions.
TEXT_WEIGHTS: dict[str, float] = {
    "conditions": 0.35, "interventions": 0.20, "title": 0.25, "summary": 0.20,
}
REASON_TEXT = 0.15  # text similarity shown as a reason from this cosine up
SUBTYPE = 0.8  # a condition whose words contain another's: a kind of it
#: Words two conditions may share without being related ("Breast Cancer" / "Lung Cancer").
BROAD_WORDS = tx.word_set("""cancer disease syndrome disorder infection chronic acute primary
secondary cell type1 type2 injury deficiency failure""")
_SHOWN = {"NONE": "open label"}


@dataclass(frozen=True)
class Scored:
    score: float
    parts: dict[str, float]  # contribution of each part (weight × similarity)
    similarities: dict[str, float]
    reasons: tuple[str, ...]


def weights_for(query: Features) -> dict[str, float]:
    """The part weights for this query, renormalised over the parts it has data for."""
    if query.free_text:
        return dict(TEXT_WEIGHTS)
    has = {
        "conditions": bool(query.conditions or query.condition_ancestors),
        "interventions": bool(query.interventions or query.intervention_ancestors),
        "title": bool(query.title_terms), "summary": bool(query.summary_terms),
        "criteria": bool(query.criteria_terms), "phase": bool(query.phases),
        "design": bool(query.design or query.study_type),
        "population": query.sex is not None or query.min_age is not None
        or query.max_age is not None or query.healthy_volunteers is not None,
        "countries": bool(query.countries),
    }
    kept = {k: w for k, w in WEIGHTS.items() if has[k]}
    total = sum(kept.values()) or 1.0
    return {k: w / total for k, w in kept.items()}


# --- building blocks --------------------------------------------------------------------------

def idf_value(df: int, count: int) -> float:
    """Smoothed inverse document frequency (never below 1)."""
    return math.log((count + 1) / (df + 1)) + 1.0


class Idf:
    """IDF of index terms by kind (``c`` condition, ``t`` word, … see features.index_terms),
    from document frequencies; a term the index has not seen counts as the rarest."""

    def __init__(self, dfs: Mapping[str, int], count: int) -> None:
        self.unknown = idf_value(0, count)
        self.kinds: dict[str, dict[str, float]] = defaultdict(dict)
        for term, df in dfs.items():
            kind, _, key = term.partition(":")
            self.kinds[kind][key] = idf_value(df, count)

    def of(self, kind: str) -> dict[str, float]:
        return self.kinds[kind]

    def get(self, kind: str, key: str) -> float:
        return self.kinds[kind].get(key, self.unknown)


# 1 + ln(tf) for every term frequency a feature holds (text.MAX_TF)
_LOG_TF = [0.0] + [1.0 + math.log(n) for n in range(1, tx.MAX_TF + 1)]


class _Vector:
    """A TF-IDF vector (log tf × idf) and its norm."""

    __slots__ = ("norm", "weights")

    def __init__(self, terms: Mapping[str, int], idf: dict[str, float], unknown: float) -> None:
        self.weights = {w: _LOG_TF[tf] * idf.get(w, unknown) for w, tf in terms.items()}
        self.norm = math.sqrt(sum(x * x for x in self.weights.values()))

    def cosine(self, terms: Mapping[str, int], idf: dict[str, float], unknown: float) -> float:
        mine = self.weights
        if not self.norm or not terms or mine.keys().isdisjoint(terms):
            return 0.0
        log, get = _LOG_TF, idf.get
        weights = [log[tf] * get(w, unknown) for w, tf in terms.items()]
        norm = math.sqrt(sum([x * x for x in weights]))
        dot = sum([log[terms[w]] * get(w, unknown) * mine[w] for w in mine.keys() & terms.keys()])
        return min(1.0, dot / (self.norm * norm)) if dot else 0.0


class _Set:
    """A set of keys with IDF weights, for weighted cosines against other sets."""

    __slots__ = ("idf", "keys", "norm2", "unknown")

    def __init__(self, keys: Iterable[str], idf: dict[str, float], unknown: float) -> None:
        self.keys = set(keys)
        self.idf, self.unknown = idf, unknown
        self.norm2 = sum(idf.get(k, unknown) ** 2 for k in self.keys)

    def cosine(self, other: Iterable[str]) -> tuple[float, set[str]]:
        """Weighted cosine with ``other``, and the shared keys."""
        theirs = set(other)
        shared = self.keys & theirs
        if not shared:
            return 0.0, shared
        get, unknown = self.idf.get, self.unknown
        dot = sum([get(k, unknown) ** 2 for k in shared])
        norm2 = sum([get(k, unknown) ** 2 for k in theirs])
        return min(1.0, dot / math.sqrt(self.norm2 * norm2)), shared

    def heaviest(self, keys: Iterable[str]) -> list[str]:
        """``keys`` by weight, heaviest first."""
        get, unknown = self.idf.get, self.unknown
        return sorted(keys, key=lambda k: (-get(k, unknown), k))


def _first(concepts: Iterable[Concept], keys: Iterable[str], limit: int = 3) -> list[str]:
    by_key = {c.key: c.label for c in concepts}
    return list(dict.fromkeys(by_key[k] for k in keys if k in by_key))[:limit]


def _words(concepts: Iterable[Concept]) -> set[str]:
    return {w for c in concepts for w in c.words}


def _coverage(words: Iterable[str], text: Mapping[str, int], idf: dict[str, float],
              unknown: float) -> float:
    """How much of ``words`` (IDF-weighted) a free text mentions."""
    wanted = set(words)
    total = sum(idf.get(w, unknown) for w in wanted)
    if not total:
        return 0.0
    return sum(idf.get(w, unknown) for w in wanted if w in text) / total


_PHASE_NUMBER = {"EARLY_PHASE1": 0.5, "PHASE1": 1, "PHASE2": 2, "PHASE3": 3, "PHASE4": 4}


def _age(low: float | None, high: float | None) -> str:
    if low is None and high is None:
        return "any age"
    if high is None:
        return f"≥{low:g}"
    if low is None:
        return f"≤{high:g}"
    return f"{low:g}–{high:g}"


Part = tuple[float, list[str]]


class Scorer:
    """Scores candidates against one query; the query's side is worked out once."""

    def __init__(self, query: Features, idf: Idf, weights: Mapping[str, float] | None = None
                 ) -> None:
        self.q = q = query
        self.idf = idf
        self.weights = dict(weights if weights is not None else weights_for(query))
        unknown = idf.unknown
        self.t_idf = idf.of("t")
        self.conditions = _Set((c.key for c in q.conditions), idf.of("c"), unknown)
        self.subtype_sets = [(c.key, frozenset(c.words), idf.get("c", c.key), c.label)
                             for c in q.conditions if c.words]
        self.family = _Set((c.key for c in (*q.conditions, *q.condition_ancestors)),
                           idf.of("a"), unknown)
        self.condition_words = _Set(_words(q.conditions), self.t_idf, unknown)
        self.interventions = _Set((c.key for c in q.interventions), idf.of("i"), unknown)
        self.related = _Set((c.key for c in q.intervention_ancestors), idf.of("k"), unknown)
        self.intervention_words = _Set(_words(q.interventions), self.t_idf, unknown)
        self.countries = _Set((tx.fold(x) for x in q.countries), idf.of("n"), unknown)
        self.country_names = {tx.fold(x): x for x in q.countries}
        self.vectors = {
            part: _Vector(q.title_terms if q.free_text else getattr(q, f"{part}_terms"),
                          self.t_idf, unknown)
            for part in ("title", "summary", "criteria")}

    def score(self, c: Features, *, reasons: bool = True) -> Scored:
        """The score of ``c``; its reasons too unless ``reasons`` is false (ranking first and
        explaining only the best is much cheaper)."""
        found: dict[str, Part] = {}
        for part in self.weights:
            if part in ("title", "summary", "criteria"):
                value = self.vectors[part].cosine(getattr(c, f"{part}_terms"), self.t_idf,
                                                  self.idf.unknown)
                found[part] = (value, [f"similar {part} ({value:.2f})"]
                               if reasons and value >= REASON_TEXT else [])
            else:
                found[part] = getattr(self, f"_{part}")(c, reasons)
        parts = {k: round(self.weights[k] * v, 6) for k, (v, _) in found.items()}
        order = sorted(found, key=lambda k: -parts[k])
        why = tuple(r for k in order if parts[k] > 0 for r in found[k][1])
        if reasons and not why:  # weak resemblances only: name the strongest, never no reason
            why = tuple(f"weakly similar {k} ({found[k][0]:.2f})" for k in order[:2]
                        if parts[k] > 0)
        return Scored(round(sum(parts.values()), 6), parts,
                      {k: round(v, 4) for k, (v, _) in found.items()}, why)

    # --- parts ----------------------------------------------------------------------------

    def _mentions(self, concepts: Iterable[Concept], what: str) -> Part:  # reasons: cheap
        best, label = 0.0, ""
        for concept in concepts:
            value = _coverage(concept.words, self.q.title_terms, self.t_idf, self.idf.unknown)
            if value > best:
                best, label = value, concept.label
        return best, ([f"mentions {what}: {label}"] if best >= 0.5 else [])

    def _conditions(self, c: Features, why: bool) -> Part:
        q = self.q
        if q.free_text:
            return self._mentions(c.conditions, "condition")
        same, shared = self.conditions.cosine(k.key for k in c.conditions)
        subtype, pairs = self._subtypes(c, same)
        family, shared_family = self.family.cosine(
            k.key for k in (*c.conditions, *c.condition_ancestors))
        theirs = _words(c.conditions)
        words, common = self.condition_words.cosine(theirs)
        concept = max(same, subtype)
        value = 0.65 * max(concept, 0.5 * words) + 0.35 * max(family, concept)
        reasons: list[str] = []
        if not why:
            return min(1.0, value), reasons
        broad_free = [w for w in self.condition_words.heaviest(common) if w not in BROAD_WORDS]
        if shared:
            reasons.append("shared condition: " + ", ".join(
                _first(q.conditions, self.conditions.heaviest(shared))))
        if pairs and subtype > same:
            reasons.append("related condition: " + ", ".join(
                f"{a} / {b}" for a, b in pairs[:2]))
        elif not shared and words >= 0.3 and broad_free:
            reasons.append(f"related conditions ({', '.join(broad_free[:3])}): "
                           + ", ".join(_first(q.conditions, [k.key for k in q.conditions], 2))
                           + " / " + ", ".join(_first(c.conditions,
                                                      [k.key for k in c.conditions], 2)))
        ancestors = [k for k in self.family.heaviest(shared_family) if k not in shared]
        if ancestors:
            labels = _first((*q.condition_ancestors, *q.conditions, *c.condition_ancestors),
                            ancestors, 2)
            reasons.append("shared MeSH ancestor: " + ", ".join(labels))
        return min(1.0, value), reasons

    def _subtypes(self, c: Features, same: float) -> tuple[float, list[tuple[str, str]]]:
        """A soft cosine of the conditions where one condition's words contain the other's
        ("Melanoma" and "Mucosal Melanoma of the Head and Neck") count ``SUBTYPE``; and the
        pairs so matched.  Only worked out when there is something to gain over ``same``."""
        mine = self.subtype_sets
        if not mine or same >= 1.0:
            return 0.0, []
        idf, unknown = self.idf.of("c"), self.idf.unknown
        theirs = [(k.key, frozenset(k.words), idf.get(k.key, unknown), k.label)
                  for k in c.conditions if k.words]
        if not theirs:
            return 0.0, []
        dot, pairs = 0.0, []
        for key, words, weight, label in mine:
            best, partner = 0.0, ""
            for other_key, other_words, other_weight, other_label in theirs:
                if other_key == key:
                    match = weight * other_weight
                elif ((words <= other_words or other_words <= words)
                      and (words & other_words) - BROAD_WORDS):
                    match = SUBTYPE * weight * other_weight
                    if match > best:
                        partner = other_label
                else:
                    continue
                best = max(best, match)
            if partner:
                pairs.append((label, partner))
            dot += best
        norm = math.sqrt(self.conditions.norm2 * sum(w * w for _, _, w, _ in theirs))
        return (min(1.0, dot / norm) if norm else 0.0), pairs

    def _interventions(self, c: Features, why: bool) -> Part:
        q = self.q
        if q.free_text:
            return self._mentions(c.interventions, "intervention")
        same, shared = self.interventions.cosine(k.key for k in c.interventions)
        related, shared_related = self.related.cosine(k.key for k in c.intervention_ancestors)
        words, _ = self.intervention_words.cosine(_words(c.interventions))
        mine, theirs = set(q.intervention_types), set(c.intervention_types)
        types = len(mine & theirs) / len(mine | theirs) if mine and theirs else 0.0
        # Weighted over what the query has: a record without MeSH ancestors (legacy XML, a
        # draft) can still match fully on names.
        parts = [(0.65, max(same, 0.6 * words))]
        if q.intervention_ancestors:
            parts.append((0.25, related))
        if mine:
            parts.append((0.10, types))
        value = sum(w * v for w, v in parts) / sum(w for w, _ in parts)
        reasons: list[str] = []
        if why and shared:
            reasons.append("both test " + ", ".join(
                _first(q.interventions, self.interventions.heaviest(shared))))
        if why and shared_related:
            reasons.append("related interventions: " + ", ".join(
                _first(q.intervention_ancestors, self.related.heaviest(shared_related), 2)))
        return min(1.0, value), reasons

    def _phase(self, c: Features, why: bool) -> Part:
        if not self.q.phases or not c.phases:
            return 0.0, []
        a, b = set(self.q.phases), set(c.phases)
        if a == b == {"NA"}:  # both "not applicable": alike, but it says little
            return 0.5, []
        if a & b:
            return 0.6 + 0.4 * len(a & b) / len(a | b), [
                "same phase: " + "/".join(sorted(a & b))]
        numbers_a = [_PHASE_NUMBER[p] for p in a if p in _PHASE_NUMBER]
        numbers_b = [_PHASE_NUMBER[p] for p in b if p in _PHASE_NUMBER]
        if numbers_a and numbers_b and min(abs(x - y) for x in numbers_a
                                           for y in numbers_b) <= 1:
            return 0.3, []
        return 0.0, []

    def _design(self, c: Features, why: bool) -> Part:
        q = self.q
        if q.study_type and c.study_type and q.study_type != c.study_type:
            return 0.0, []
        mine, theirs = dict(q.design), dict(c.design)
        if not mine or not theirs:
            return (0.5 if q.study_type and q.study_type == c.study_type else 0.0), []
        fields = set(mine) | set(theirs)
        same = [mine[f] for f in mine if theirs.get(f) == mine[f]]
        reasons = (["design: both " + " / ".join(_SHOWN.get(v, v) for v in same)]
                   if len(same) >= 2 else [])
        return len(same) / len(fields), reasons

    def _population(self, c: Features, why: bool) -> Part:
        q = self.q
        total, weight, notes = 0.0, 0.0, []
        if q.min_age is not None or q.max_age is not None:
            q_lo, q_hi = q.min_age or 0.0, q.max_age if q.max_age is not None else 100.0
            c_lo, c_hi = c.min_age or 0.0, c.max_age if c.max_age is not None else 100.0
            inter = min(q_hi, c_hi) - max(q_lo, c_lo)
            union = max(q_hi, c_hi) - min(q_lo, c_lo)
            overlap = max(0.0, inter) / union if union > 0 else 1.0
            total, weight = total + 0.5 * overlap, weight + 0.5
            if overlap > 0:
                notes.append(f"ages overlap {_age(q.min_age, q.max_age)} and "
                             f"{_age(c.min_age, c.max_age)}")
        if q.sex is not None:
            if c.sex == q.sex:
                sex = 1.0
                notes.append(f"both {q.sex}")
            elif c.sex is None or "ALL" in (q.sex, c.sex):
                sex = 0.5
            else:
                sex = 0.0
            total, weight = total + 0.3 * sex, weight + 0.3
        if q.healthy_volunteers is not None:
            same = c.healthy_volunteers == q.healthy_volunteers
            total, weight = total + 0.2 * same, weight + 0.2
            if same and q.healthy_volunteers:
                notes.append("both take healthy volunteers")
        value = total / weight if weight else 0.0
        return value, ([", ".join(notes)] if notes and value >= 0.5 else [])

    def _countries(self, c: Features, why: bool) -> Part:
        value, shared = self.countries.cosine(tx.fold(x) for x in c.countries)
        if not shared or not why:
            return value, []
        names = [self.country_names[k] for k in self.countries.heaviest(shared)]
        more = f" (+{len(names) - 5})" if len(names) > 5 else ""
        return value, ["countries in common: " + ", ".join(names[:5]) + more]


def score(q: Features, c: Features, idf: Idf, weights: Mapping[str, float] | None = None
          ) -> Scored:
    """Score ``c`` as a match for ``q`` (one-off; :class:`Scorer` for many candidates)."""
    return Scorer(q, idf, weights).score(c)
