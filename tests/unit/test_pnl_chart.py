"""The P&L chart: the terminal drawing's cells follow the series exactly, and the PNG is a PNG."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from polyinfra.cli.pnl_chart import terminal_chart, write_png
from polyinfra.errors import InvalidValueError, MissingExtraError

D = Decimal
T0 = 1_765_000_000


def _draw(points: list[tuple[int, Decimal]], **options: int) -> list[str]:
    console = Console(width=120, record=True, color_system=None)
    console.print(terminal_chart(points, **options))
    return console.export_text().splitlines()


def test_gains_fill_above_the_zero_line_and_losses_below() -> None:
    # Three columns, the values at the end of each third: +10, -10, +5, over -10..10 on 4 rows of 5 each.
    points = [(T0, D(0)), (T0 + 100, D(10)), (T0 + 200, D(-10)), (T0 + 300, D(5))]
    lines = _draw(points, width=3, height=4)
    assert lines[0] == "P&L (USDC)"
    rows = [line[13:] for line in lines[1:5]]
    # The zero label sits on the row whose bottom edge is the zero line.
    assert [line[:13].strip() for line in lines[1:5]] == ["10.00 ┤", "0.00 ┤", "│", "-10.00 ┤"]
    # Column 1 (+10) fills both rows above zero, column 2 (-10) both below, column 3 (+5) one row above.
    assert rows == ["█  ", "█ █", " █ ", " █ "]
    assert "2025-12-06 05:46" in lines[5]
    assert lines[6].split() == ["now", "5.00"]


def test_fractions_of_a_cell_are_drawn_in_eighths() -> None:
    lines = _draw([(T0, D(8)), (T0 + 1, D(3))], width=2, height=2)
    # 0..8 on 2 rows = 16 eighths; 8 fills both rows, 3 is 6 eighths of the bottom row.
    assert [line[13:] for line in lines[1:3]] == ["█ ", "█▆"]


def test_a_flat_or_empty_series_and_bad_sizes() -> None:
    assert "no data yet" in _draw([])[0]
    flat = _draw([(T0, D(0))], width=4, height=2)
    assert flat[-1].split() == ["now", "0.00"]
    with pytest.raises(InvalidValueError):
        terminal_chart([(T0, D(1))], width=1)


def test_the_png_is_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    target = write_png([(T0, D(0)), (T0 + 60, D("12.5")), (T0 + 120, D(-3))], tmp_path / "pnl.png")
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InvalidValueError):
        write_png([], tmp_path / "none.png")


def test_without_matplotlib_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtraError, match=r"polyinfra\[plot\]"):
        write_png([(T0, D(1))], tmp_path / "pnl.png")
    assert not (tmp_path / "pnl.png").exists()


def test_wide_values_widen_the_axis_and_one_instant_shows_one_time() -> None:
    lines = _draw([(T0, D("123456789012.5"))], width=4, height=3)
    axis = len("123,456,789,012.50 ")
    assert [line[axis:] for line in lines[1:4]] == ["┤████", "│████", "┤████"]
    assert lines[1].startswith("123,456,789,012.50 ┤")
    assert lines[3].strip().startswith("0.00 ┤")
    assert lines[4].split() == ["2025-12-06", "05:46"]
