"""generate(): determinism, the summary, the layout, the progress callback."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from cardtrace.errors import InvalidInput
from cardtrace.sim import TRUTH_FILE, WorldSummary, generate


def _count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def _contents(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    generate(3, 600, tmp_path / "a")
    generate(3, 600, tmp_path / "b")
    assert _contents(tmp_path / "a") == _contents(tmp_path / "b")


def test_different_seed_gives_different_files(tmp_path: Path) -> None:
    generate(3, 600, tmp_path / "a")
    generate(4, 600, tmp_path / "b")
    a, b = _contents(tmp_path / "a"), _contents(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all(a[name] != b[name] for name in a)


def test_summary_matches_the_files(world: tuple[Path, WorldSummary]) -> None:
    out, summary = world
    assert summary.cards == 2000
    assert sorted(summary.files) == sorted(p.name for p in out.iterdir())
    assert TRUTH_FILE in summary.files
    lines = {p.stem: _count_lines(p) for p in out.glob("*.jsonl") if p.name != TRUTH_FILE}
    assert lines == {n: sum(kinds.values()) for n, kinds in summary.events_by_node.items()}
    assert summary.events == sum(lines.values())
    assert sum(summary.cards_by_typology.values()) == 2000
    assert _count_lines(out / TRUTH_FILE) == 2000


def test_progress_reports_cards_done(tmp_path: Path) -> None:
    seen: list[int] = []
    generate(1, 2500, tmp_path, progress=seen.append)
    assert seen == [1000, 2000, 2500]


@pytest.mark.parametrize("cards", [0, -5])
def test_refuses_an_empty_world(tmp_path: Path, cards: int) -> None:
    with pytest.raises(InvalidInput):
        generate(1, cards, tmp_path)


def test_refuses_a_negative_seed_and_writes_nothing(tmp_path: Path) -> None:
    # random.Random seeds with the absolute value: -3 would silently be the world of 3
    with pytest.raises(InvalidInput, match=r"seed must be 0 or more, got -3"):
        generate(-3, 10, tmp_path / "a")
    assert not (tmp_path / "a").exists()


def test_a_huge_seed_gives_its_own_world(tmp_path: Path) -> None:
    generate(10**30, 50, tmp_path / "a")
    generate(10**30 + 1, 50, tmp_path / "b")
    assert _contents(tmp_path / "a") != _contents(tmp_path / "b")


def test_an_earlier_world_in_the_folder_is_replaced(tmp_path: Path) -> None:
    generate(4, 900, tmp_path / "a")
    generate(3, 600, tmp_path / "a")
    generate(3, 600, tmp_path / "b")
    assert _contents(tmp_path / "a") == _contents(tmp_path / "b")


def test_refuses_a_folder_holding_other_files_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "export.csv").write_text("type\n")
    with pytest.raises(InvalidInput, match=r"holds files that are not a synthetic world's"):
        generate(1, 10, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["export.csv"]


def test_refuses_a_file_as_the_folder(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("")
    with pytest.raises(InvalidInput, match=r"a is a file; a world is written to a folder"):
        generate(1, 10, tmp_path / "a")


def test_a_node_file_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    (tmp_path / "plat-01.jsonl").mkdir()
    with pytest.raises(InvalidInput, match=r"cannot write .*plat-01\.jsonl: Is a directory"):
        generate(1, 10, tmp_path)
    gc.collect()  # a node file left open would warn (ResourceWarning), an error here
