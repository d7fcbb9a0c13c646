"""Words and keys: the normalisation every similarity feature goes through (pure).

Tokens are case-folded, accent-free words with numbers and stop words dropped and plurals
folded (``therapies`` → ``therapy``); hyphenated short codes are also kept joined (``PD-1`` →
``pd1``, ``COVID-19`` → ``covid19``).  Condition keys fold the usual synonyms of cancer and
ignore word order, so ``Carcinoma, Non-Small-Cell Lung`` (a MeSH heading) and ``Non-small Cell
Lung Cancer`` (as a sponsor writes it) are the same key.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

_WORDS = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")
_SPLIT = re.compile(r"[-']")


def word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOP_WORDS = word_set("""
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each either etc
few for from further had has have having he her here hers him his how however i if in into
is it its itself may me might more most must my no nor not now of off on once only or other
our out over own per same shall she should so some such than that the their them then there
these they this those through thus to too under until up upon us very via was we were what
when where whether which while who whom why will with within without would yes you your
versus vs
""")

#: Words that say nothing about a trial's subject in a title or condition (kept in text
#: vectors at their low IDF, but never a reason on their own).
GENERIC_WORDS = word_set("""
study trial patient subject participant people person adult disease disorder condition
treatment treat therapy effect effects evaluate evaluation efficacy safety compare comparison
randomized randomised controlled control open label phase multicenter multicentre single
double blind placebo group groups arm arms pilot clinical investigate investigation assess
assessment use using versus combination plus
""")

_CANCER = {"carcinoma": "cancer", "carcinomas": "cancer", "neoplasm": "cancer",
           "neoplasms": "cancer", "tumor": "cancer", "tumors": "cancer", "tumour": "cancer",
           "tumours": "cancer", "malignancy": "cancer", "malignancies": "cancer",
           "cancers": "cancer"}
#: Stage and severity qualifiers: "Metastatic Breast Cancer" is the disease "Breast Cancer".
_QUALIFIERS = word_set("""
advanced metastatic metastasis recurrent refractory relapsed unresectable locally newly
diagnosed previously treated untreated severe moderate mild malignant stage early
""")

#: Abbreviations that stand for a whole condition (expanded in condition keys and tokens).
_ABBREVIATIONS = {
    "nsclc": "non small cell lung cancer", "sclc": "small cell lung cancer",
    "hcc": "hepatocellular cancer", "rcc": "renal cell cancer", "crc": "colorectal cancer",
    "aml": "acute myeloid leukemia", "cml": "chronic myeloid leukemia",
    "cll": "chronic lymphocytic leukemia", "mds": "myelodysplastic syndrome",
    "copd": "chronic obstructive pulmonary disease", "t2dm": "type 2 diabetes mellitus",
    "t1dm": "type 1 diabetes mellitus", "covid": "covid19", "sarscov2": "covid19",
    "nash": "nonalcoholic steatohepatitis",
    "mash": "nonalcoholic steatohepatitis",
}
_BRITISH = {"leukaemia": "leukemia", "anaemia": "anemia", "oesophageal": "esophageal",
            "haemophilia": "hemophilia", "tumour": "tumor", "paediatric": "pediatric"}


_MARKS = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def fold(text: str) -> str:
    """Lower case without accents (``Hôpitaux`` → ``hopitaux``)."""
    if text.isascii():
        return text.lower()
    return _MARKS.sub("", unicodedata.normalize("NFKD", text.casefold()))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Fold plurals: a light, predictable stemmer (``therapies`` → ``therapy``)."""
    word = _BRITISH.get(word, word)
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "os")):
        return word[:-1]
    return word


def _pieces(chunk: str) -> list[str]:
    """One regex match → its words, and the joined form of a short code (``pd-1`` → ``pd1``)."""
    parts = [p for p in _SPLIT.split(chunk) if p]
    words = [p for p in parts if not p.isdigit() and len(p) > 1]
    if len(parts) > 1 and any(p.isdigit() or len(p) <= 2 for p in parts):
        joined = "".join(parts)
        if len(joined) <= 24:
            words.append(joined)
    elif len(parts) == 1 and parts[0].isdigit():
        return []
    return words


def tokens(text: str | None) -> list[str]:
    """The content words of ``text``, in order (with repeats)."""
    if not text:
        return []
    return [word for chunk in _WORDS.findall(fold(text)) for word in _words_of(chunk)]


@lru_cache(maxsize=200_000)
def _words_of(chunk: str) -> tuple[str, ...]:
    if "-" in chunk or "'" in chunk:
        return tuple(stem(w) for w in _pieces(chunk) if w not in STOP_WORDS and len(w) < 40)
    if chunk in STOP_WORDS or not 1 < len(chunk) < 40 or chunk.isdigit():
        return ()
    return (stem(chunk),)


MAX_TF = 255


def term_counts(*texts: str | None, limit: int | None = None) -> dict[str, int]:
    """Term frequencies of the texts together (at most 255); the ``limit`` most frequent when
    given."""
    raw: Counter[str] = Counter()
    for text in texts:
        if text:
            raw.update(_WORDS.findall(fold(text)))  # counted in C; each distinct chunk once:
    counts: Counter[str] = Counter()
    for chunk, n in raw.items():
        for word in _words_of(chunk):
            counts[word] += n
    found = counts.most_common(limit) if limit is not None and len(counts) > limit else (
        counts.items())
    return {w: min(n, MAX_TF) for w, n in found}


_TYPE = re.compile(r"\btype\s*[-]?\s*(1|2|3|i{1,3})\b")


def _type_word(match: re.Match[str]) -> str:
    return "type" + {"i": "1", "ii": "2", "iii": "3"}.get(match.group(1), match.group(1))


def condition_words(text: str) -> list[str]:
    """A condition's words with cancer synonyms and abbreviations folded."""
    out: list[str] = []
    after_stage = False
    for word in tokens(_TYPE.sub(_type_word, fold(text))):
        if after_stage and (len(word) <= 4):  # stage IV, stage 3b
            after_stage = False
            continue
        after_stage = word == "stage"
        if word in _QUALIFIERS:
            continue
        if word in _ABBREVIATIONS:
            out += tokens(_ABBREVIATIONS[word])
        else:
            out.append(_CANCER.get(word, word))
    # "non-small cell" is not a kind of "small cell": the negation stays with its word.
    merged: list[str] = []
    for word in out:
        if merged and merged[-1] == "non":
            merged[-1] = "non" + word
        else:
            merged.append(word)
    return merged


@lru_cache(maxsize=65536)
def condition_key(text: str) -> str:
    """An order-free key for a condition or a MeSH heading ("" when nothing is left)."""
    return " ".join(sorted(set(condition_words(text))))[:160]


_DOSE = re.compile(r"\b\d+(?:[.,]\d+)?\s*(?:mg|g|mcg|µg|ug|ml|mg/kg|mg/m2|iu|units?|%)\b.*$")
_PAREN = re.compile(r"[(\[]([^)\]]*)[)\]]")
_COMPONENTS = re.compile(r"\s*(?:\+|/|;|,|\bplus\b|\band\b|\bwith\b|&)\s*")

#: Names of comparators and placeholders: never "both test …".
NON_SPECIFIC = word_set("""
placebo placebos saline sham control controls standardofcare usualcare bestsupportivecare
nointervention observation none notapplicable na other survey questionnaire questionnaires
blooddraw bloodsample bloodsampling standardtreatment standardtherapy routinecare
""")


def name_key(text: str) -> str:
    """An intervention name as a key: letters and digits only (``BMS-936558`` →
    ``bms936558``, ``nab-paclitaxel`` = ``Nab Paclitaxel``)."""
    return re.sub(r"[^a-z0-9]", "", fold(text))[:120]


@lru_cache(maxsize=65536)
def name_variants(name: str) -> tuple[str, ...]:
    """Keys of an intervention name: the whole, without its dose, its bracketed aliases, and
    the components of a combination (``Pembrolizumab + Chemotherapy``)."""
    folded = fold(name).strip()
    found = [folded]
    for inner in _PAREN.findall(folded):
        found.append(inner)
    bare = _PAREN.sub(" ", folded)
    found.append(_DOSE.sub("", bare))
    parts = [p for p in _COMPONENTS.split(bare) if p.strip()]
    if len(parts) > 1:
        found += [_DOSE.sub("", p) for p in parts]
    keys: list[str] = []
    for text in found:
        key = name_key(text)
        if len(key) >= 3 and not key.isdigit() and key not in NON_SPECIFIC and key not in keys:
            keys.append(key)
    return tuple(keys)


@lru_cache(maxsize=65536)
def sponsor_key(name: str | None) -> str | None:
    """A lead sponsor's name without legal forms and punctuation."""
    if not name:
        return None
    words = [w for w in re.findall(r"[a-z0-9]+", fold(name)) if w not in {
        "inc", "ltd", "llc", "co", "corp", "corporation", "company", "gmbh", "ag", "sa", "srl",
        "spa", "bv", "nv", "plc", "limited", "the", "kk", "ab", "as"}]
    return " ".join(words) or None


def title_words(title: str | None) -> frozenset[str]:
    """A title's words for near-identity checks (stop words out, numbers kept)."""
    if not title:
        return frozenset()
    return frozenset(w for w in re.findall(r"[^\W_]+", fold(title)) if w not in STOP_WORDS)
