"""The on-chain commands' amounts: exact decimals of at most 6 places, positive, never floats."""

from __future__ import annotations

import pytest
import typer

from polyinfra.cli.chain_commands import _micros


def test_amounts_are_exact_micro_units() -> None:
    assert _micros("12.5") == 12_500_000
    assert _micros(" 0.000001 ") == 1
    for bad in ("1.0000001", "0", "-3", "abc", "", "1e400", "nan"):
        with pytest.raises(typer.BadParameter):
            _micros(bad)
