"""A wallet's P&L over time as a picture: a terminal chart (rich) or a PNG (the optional ``plot`` extra).

Both take the series as ``(unix seconds, Decimal)`` points, oldest first (a ledger's realized history,
the venue's ``/v2/user-pnl`` series, or any cumulative series), and treat it as a step function: a value
holds until the next point.

* :func:`terminal_chart` draws an area chart in block characters, gains in green above the zero line and
  losses in red below it, eighths of a cell high, with the top, zero and bottom values on the left and the
  first and last times below. The scaling is done in ``Decimal`` and ints: the values drawn are exact.
* :func:`write_png` draws the same with matplotlib, imported only when called; without it installed it
  raises :class:`~polyinfra.errors.MissingExtraError` naming the extra to install. matplotlib plots floats,
  so the values become floats there, for drawing only.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Final

from rich.console import Group, RenderableType
from rich.text import Text

from polyinfra.errors import InvalidValueError, MissingExtraError

__all__ = ["cents", "terminal_chart", "write_png"]

_EIGHTHS: Final = " ▁▂▃▄▅▆▇█"
_CENTS: Final = Decimal("0.01")
_AXIS_CHARS: Final = 11
"""The value labels' least width: up to -99,999.99 without moving the chart."""
_GAIN: Final = "green"
_LOSS: Final = "red"


def terminal_chart(
    points: Sequence[tuple[int, Decimal]], *, width: int = 64, height: int = 12, title: str = "P&L (USDC)"
) -> RenderableType:
    """The series as a rich renderable ``width`` columns of chart (plus the axis, 13 columns for values up
    to -99,999.99, wider past them) by ``height`` rows."""
    if width < 2 or height < 2:
        raise InvalidValueError("a chart needs at least 2 columns and 2 rows", width=width, height=height)
    if not points:
        return Text(f"{title}: no data yet", style="dim")
    columns = _resample(points, width)
    low = min(*columns, Decimal(0))
    high = max(*columns, Decimal(0))
    if high == low:
        high = low + 1
    steps = height * 8
    # The zero line on a cell boundary, so that gains fill cells from their bottom and losses from their top.
    zero_row = _level(Decimal(0), low, high, height)
    levels = [_level(value, low, high, steps) for value in columns]
    lines: list[Text] = [Text(title, style="bold")]
    labels = {height - 1: cents(high), 0: cents(low)}
    labels.setdefault(zero_row, cents(Decimal(0)))  # the top and bottom values win a shared row
    axis = max(_AXIS_CHARS, *(len(label) for label in labels.values()))
    for row in range(height - 1, -1, -1):
        line = Text(f"{labels.get(row, ''):>{axis}} ", style="dim")
        line.append("┤" if row in labels else "│", style="dim")
        bottom = row * 8
        for level in levels:
            if level >= zero_row * 8:
                filled = max(0, min(level, bottom + 8) - max(zero_row * 8, bottom))
                line.append(_EIGHTHS[filled], style=_GAIN)
            else:
                filled = max(0, min(zero_row * 8, bottom + 8) - max(level, bottom))
                line.append("█" if filled >= 6 else "▀" if filled >= 2 else " ", style=_LOSS)
        lines.append(line)
    first, last = _time(points[0][0]), _time(points[-1][0])
    span = first if first == last else first + " " * max(width - len(first) - len(last), 1) + last
    lines.append(Text(" " * (axis + 2) + span, style="dim"))
    end = points[-1][1]
    lines.append(Text(f"{'now':>{axis}}  {cents(end)}", style=_GAIN if end >= 0 else _LOSS))
    return Group(*lines)


def write_png(
    points: Sequence[tuple[int, Decimal]], path: str | Path, *, title: str = "P&L (USDC)", dpi: int = 120
) -> Path:
    """Draw the series to a PNG at ``path`` (returned); needs ``pip install 'polyinfra[plot]'``."""
    if not points:
        raise InvalidValueError("no points to draw")
    try:
        import matplotlib as mpl  # an optional extra, loaded only to draw

        mpl.use("Agg")
        from matplotlib import pyplot
    except ImportError as error:
        raise MissingExtraError(
            "drawing a PNG needs matplotlib: pip install 'polyinfra[plot]' (or use the terminal chart)",
            extra="plot",
        ) from error
    # matplotlib's date axis counts days since its epoch, 1970-01-01 UTC (the default since 3.3).
    times = [t / 86_400 for t, _ in points]
    # Floats for drawing only: a pixel position needs no more than a float's precision.
    values = [float(value) for _, value in points]
    figure, axes = pyplot.subplots(figsize=(9, 4))
    try:
        axes.step(times, values, where="post", color="black", linewidth=1)
        axes.fill_between(times, values, 0, step="post", where=[v >= 0 for v in values], color="tab:green", alpha=0.4)
        axes.fill_between(times, values, 0, step="post", where=[v < 0 for v in values], color="tab:red", alpha=0.4)
        axes.axhline(0, color="grey", linewidth=0.8)
        axes.xaxis_date(UTC)
        axes.set_title(f"{title}: {cents(points[-1][1])} now")
        axes.set_ylabel("USDC")
        figure.autofmt_xdate()
        target = Path(path)
        figure.savefig(target, dpi=dpi, format="png")
    finally:
        pyplot.close(figure)
    return target


def _resample(points: Sequence[tuple[int, Decimal]], width: int) -> list[Decimal]:
    """The step series' value at the end of each of ``width`` equal spans of its time range."""
    times = [t for t, _ in points]
    start, span = times[0], max(times[-1] - times[0], 0)
    found = []
    for column in range(width):
        at = start + span * (column + 1) // width
        index = bisect_right(times, at) - 1
        found.append(points[max(index, 0)][1])
    return found


def _level(value: Decimal, low: Decimal, high: Decimal, steps: int) -> int:
    """``value`` on a 0..steps scale of [low, high], rounded to the nearest step."""
    return int(((value - low) * steps / (high - low)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def cents(value: Decimal) -> str:
    """An amount for the eye: to the cent, with thousands separators (``-1,234.50``)."""
    return f"{value.quantize(_CENTS, rounding=ROUND_HALF_EVEN):,}"


def _time(timestamp_s: int) -> str:
    return f"{datetime.fromtimestamp(timestamp_s, UTC):%Y-%m-%d %H:%M}"
