"""The tabular shape of a record: multi-valued cells split back into exactly their values."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harvester.export.rows import SEPARATOR, join_values, split_values


def test_cells_look_like_clinicaltrials_gov_csv() -> None:
    assert join_values(["Lung Cancer", "Breast Cancer"]) == "Lung Cancer | Breast Cancer"
    assert SEPARATOR == " | "


def test_a_bar_or_backslash_inside_a_value_is_escaped() -> None:
    cell = join_values(["A | B", "C\\", "D"])
    assert cell == "A \\| B | C\\\\ | D"
    assert split_values(cell) == ["A | B", "C\\", "D"]


@given(st.lists(st.text(alphabet=st.sampled_from("ab |\\ "), min_size=1), min_size=1))
def test_any_values_split_back_exactly(values: list[str]) -> None:
    assert split_values(join_values(values)) == values


def test_no_values_is_an_empty_cell() -> None:
    assert join_values([]) == "" and split_values("") == []
