"""harvester/find/similar/score.py: parts, weights, reasons (pure, on small features)."""

from __future__ import annotations

import pytest

from harvester.find.similar import text as tx
from harvester.find.similar.features import Concept, Features, text_features
from harvester.find.similar.score import WEIGHTS, Idf, Scorer, idf_value, score, weights_for

COUNT = 1000
#: Document frequencies of a made-up catalogue of 1,000 trials: lung cancer is common,
#: "neoplasms" very common, pembrolizumab rarer.
DFS = {"c:cancer cell lung non small": 50, "c:melanoma": 30, "a:cancer": 600,
       "a:cancer lung": 80, "a:skin": 40, "i:pembrolizumab": 20, "i:docetaxel": 60,
       "k:antibodiesmonoclonalhumanized": 90, "n:united states": 500, "n:france": 60,
       "t:lung": 120, "t:cancer": 500, "t:pembrolizumab": 20, "t:melanoma": 30}


def concept(label: str) -> Concept:
    return Concept(tx.condition_key(label), label, tuple(tx.condition_words(label)))


def trial(nct_id: str, conditions: tuple[str, ...] = (), ancestors: tuple[str, ...] = (),
          drugs: tuple[str, ...] = (), **values: object) -> Features:
    return Features(
        nct_id=nct_id, title=f"trial {nct_id}",
        conditions=tuple(concept(c) for c in conditions),
        condition_ancestors=tuple(concept(a) for a in ancestors),
        interventions=tuple(Concept(tx.name_key(d), f"{d} (DRUG)", (d.lower(),))
                            for d in drugs),
        intervention_types=("DRUG",) if drugs else (), **values)  # type: ignore[arg-type]


IDF = Idf(DFS, COUNT)
NSCLC = trial("NCT00000001", ("Non-small Cell Lung Cancer",), ("Lung Neoplasms", "Neoplasms"),
              ("Pembrolizumab", "Docetaxel"), phases=("PHASE3",), study_type="INTERVENTIONAL",
              design=(("allocation", "RANDOMIZED"), ("model", "PARALLEL")),
              sex="ALL", min_age=18.0, countries=("United States", "France"),
              title_terms={"pembrolizumab": 1, "lung": 1, "cancer": 1},
              summary_terms={"pembrolizumab": 2, "lung": 1}, criteria_terms={"lung": 1})


def test_idf() -> None:
    assert idf_value(0, COUNT) > idf_value(20, COUNT) > idf_value(600, COUNT) >= 1
    assert IDF.get("c", "melanoma") == idf_value(30, COUNT)
    assert IDF.get("c", "never seen") == IDF.unknown == idf_value(0, COUNT)


def test_weights_renormalise_over_what_the_query_has() -> None:
    assert sum(WEIGHTS.values()) == pytest.approx(1)
    weights = weights_for(NSCLC)
    assert set(weights) == set(WEIGHTS) and sum(weights.values()) == pytest.approx(1)
    bare = weights_for(trial("NCT00000002", ("Melanoma",)))
    assert set(bare) == {"conditions", "design"} or set(bare) == {"conditions"}
    assert sum(bare.values()) == pytest.approx(1)
    assert set(weights_for(text_features("melanoma"))) == {
        "conditions", "interventions", "title", "summary"}


def test_the_same_trial_scores_one_and_parts_add_up() -> None:
    same = score(NSCLC, NSCLC, IDF)
    assert same.score == pytest.approx(1, abs=1e-3)
    assert sum(same.parts.values()) == pytest.approx(same.score, abs=1e-5)
    assert all(value == pytest.approx(1, abs=1e-3) for value in same.similarities.values())


def test_a_shared_disease_outweighs_shared_design() -> None:
    disease = trial("NCT00000003", ("Carcinoma, Non-Small-Cell Lung",), ("Lung Neoplasms",),
                    phases=("PHASE2",))
    design = trial("NCT00000004", ("Melanoma",), ("Skin Neoplasms", "Neoplasms"),
                   phases=("PHASE3",), study_type="INTERVENTIONAL",
                   design=(("allocation", "RANDOMIZED"), ("model", "PARALLEL")),
                   sex="ALL", min_age=18.0, countries=("United States", "France"))
    scorer = Scorer(NSCLC, IDF)
    by_disease, by_design = scorer.score(disease), scorer.score(design)
    assert by_disease.score > by_design.score
    assert "shared condition: Non-small Cell Lung Cancer" in by_disease.reasons
    assert "same phase: PHASE3" in by_design.reasons
    assert "design: both RANDOMIZED / PARALLEL" in by_design.reasons
    assert "countries in common: France, United States" in by_design.reasons
    assert "ages overlap ≥18 and ≥18, both ALL" in by_design.reasons
    # The ancestor shared with the melanoma trial is the common "Neoplasms": it weighs little.
    assert by_design.similarities["conditions"] < 0.2


def test_interventions_and_their_reasons() -> None:
    pembro = trial("NCT00000005", ("Melanoma",), drugs=("Pembrolizumab",))
    result = score(NSCLC, pembro, IDF)
    assert "both test Pembrolizumab (DRUG)" in result.reasons
    assert result.similarities["interventions"] > 0.5
    other_drug = trial("NCT00000006", ("Melanoma",), drugs=("Aspirin",))
    only_type = score(NSCLC, other_drug, IDF)  # both DRUG, nothing else in common
    assert only_type.similarities["interventions"] == pytest.approx(0.10 / 0.75, abs=1e-3)
    assert not any(r.startswith("both test") for r in only_type.reasons)


def test_phases_and_population() -> None:
    scorer = Scorer(NSCLC, IDF)
    assert scorer.score(trial("NCT1", phases=("PHASE2", "PHASE3"))).similarities[
        "phase"] == pytest.approx(0.8)
    assert scorer.score(trial("NCT2", phases=("PHASE2",))).similarities["phase"] == 0.3
    assert scorer.score(trial("NCT3", phases=("PHASE1",))).similarities["phase"] == 0
    children = scorer.score(trial("NCT4", sex="ALL", min_age=0.0, max_age=17.0))
    adults = scorer.score(trial("NCT5", sex="ALL", min_age=18.0, max_age=75.0))
    assert children.similarities["population"] < adults.similarities["population"]
    women = Scorer(trial("NCT6", sex="FEMALE"), IDF)
    assert women.score(trial("NCT7", sex="MALE")).similarities["population"] == 0
    assert women.score(trial("NCT8", sex="ALL")).similarities["population"] == 0.5


def test_free_text() -> None:
    query = text_features("pembrolizumab for melanoma")
    melanoma = trial("NCT00000007", ("Melanoma",), drugs=("Pembrolizumab",),
                     title_terms={"melanoma": 1, "pembrolizumab": 1})
    lung = trial("NCT00000008", ("Non-small Cell Lung Cancer",), drugs=("Docetaxel",),
                 title_terms={"lung": 1, "cancer": 1})
    scorer = Scorer(query, IDF)
    found = scorer.score(melanoma)
    assert found.score > scorer.score(lung).score
    assert "mentions condition: Melanoma" in found.reasons
    assert "mentions intervention: Pembrolizumab (DRUG)" in found.reasons


def test_a_subtype_of_a_condition_is_related_not_the_same() -> None:
    melanoma = trial("NCT00000009", ("Melanoma",))
    mucosal = trial("NCT00000010", ("Mucosal Melanoma of the Head and Neck",))
    breast = trial("NCT00000011", ("Breast Cancer",))
    scorer = Scorer(melanoma, IDF)
    subtype = scorer.score(mucosal)
    assert "related condition: Melanoma / Mucosal Melanoma of the Head and Neck" in (
        subtype.reasons)
    assert scorer.score(melanoma).score > subtype.score > scorer.score(breast).score
    # "Non-small cell" lung cancer is not a kind of "small cell" lung cancer.
    sclc = trial("NCT00000012", ("Small Cell Lung Cancer",))
    assert not any(r.startswith("related condition: ") for r in score(NSCLC, sclc, IDF).reasons)
