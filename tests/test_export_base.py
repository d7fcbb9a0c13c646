"""What every exporter shares: safe output (a file or folder appears whole or not at all),
text cleaning and formula neutralisation."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.errors import ExportError, UsageError
from harvester.export.base import (
    EXCEL_CELL_LIMIT,
    TRUNCATION_MARKER,
    atomic_folder,
    atomic_output,
    clean_text,
    fit_cell,
    neutralise,
)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_file_appears_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    with atomic_output(target) as out:
        out.write(b"a,b\r\n")
        assert not target.exists()  # still a temporary file beside it
    assert target.read_bytes() == b"a,b\r\n"
    assert leftovers(tmp_path) == []


def test_an_existing_file_is_kept_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_bytes(b"old")
    with pytest.raises(UsageError, match="--force"), atomic_output(target) as out:
        out.write(b"new")
    assert target.read_bytes() == b"old"
    with atomic_output(target, force=True) as out:
        out.write(b"new")
    assert target.read_bytes() == b"new"


@pytest.mark.parametrize("error", [RuntimeError("exporter failed"), KeyboardInterrupt()])
def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(
        tmp_path: Path, error: BaseException) -> None:
    target = tmp_path / "out.csv"
    target.write_bytes(b"old")
    with pytest.raises(type(error)), atomic_output(target, force=True) as out:
        out.write(b"half of the new")
        raise error
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_a_failed_write_is_an_export_error(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    with pytest.raises(ExportError, match="No space left"), atomic_output(target):
        raise OSError(28, "No space left on device")
    assert not target.exists() and leftovers(tmp_path) == []


def test_impossible_targets_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such folder"), \
            atomic_output(tmp_path / "missing" / "out.csv"):
        pass
    with pytest.raises(UsageError, match="is a folder"), atomic_output(tmp_path, force=True):
        pass


NAMES = ("trials.csv", "arms.csv")


def test_a_folder_appears_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "tables"
    with atomic_folder(target, names=NAMES) as folder:
        (folder / "trials.csv").write_bytes(b"x")
        assert not target.exists()
    assert sorted(p.name for p in target.iterdir()) == ["trials.csv"]
    assert leftovers(tmp_path) == []


def test_a_folder_is_replaced_only_when_forced_and_only_holding_our_files(
        tmp_path: Path) -> None:
    target = tmp_path / "tables"
    target.mkdir()
    (target / "trials.csv").write_bytes(b"old")
    with pytest.raises(UsageError, match="--force"), atomic_folder(target, names=NAMES):
        pass
    with atomic_folder(target, names=NAMES, force=True) as folder:
        (folder / "arms.csv").write_bytes(b"new")
    assert sorted(p.name for p in target.iterdir()) == ["arms.csv"]
    (target / "thesis.docx").write_bytes(b"precious")
    with pytest.raises(UsageError, match=r"thesis\.docx"), \
            atomic_folder(target, names=NAMES, force=True):
        pass
    assert (target / "thesis.docx").read_bytes() == b"precious"
    assert leftovers(tmp_path) == []


def test_an_interrupted_folder_leaves_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "tables"
    target.mkdir()
    (target / "trials.csv").write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_folder(target, names=NAMES, force=True) as folder:
        (folder / "trials.csv").write_bytes(b"half")
        raise RuntimeError("stop")
    assert (target / "trials.csv").read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_control_characters_are_removed_but_line_breaks_and_tabs_stay() -> None:
    assert clean_text("a\x00b\x07c\x1b[31m\x7fd\te\r\nf") == "abc[31md\te\r\nf"


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\",\"y\")", "+1", "-2+3", "@SUM(A1)",
                                  "\tx", "\rx"])
def test_formula_like_text_is_neutralised(text: str) -> None:
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("text", ["Lung cancer", "", "a=b", "1-2", "'quoted"])
def test_other_text_is_left_alone(text: str) -> None:
    assert neutralise(text) == text


def test_text_is_cut_at_excels_limit_with_a_marker() -> None:
    assert fit_cell("x" * EXCEL_CELL_LIMIT) == "x" * EXCEL_CELL_LIMIT
    cut = fit_cell("x" * (EXCEL_CELL_LIMIT + 1))
    assert len(cut) == EXCEL_CELL_LIMIT and cut.endswith(TRUNCATION_MARKER)
