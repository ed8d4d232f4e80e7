"""When doctor may apply the approvals it finds missing: always with --fix, after a yes when both ends are a
terminal, never by asking a pipe, and never for a wallet whose approvals go through the wallet itself."""

from __future__ import annotations

import io
import sys

import pytest
import typer

from polyinfra.cli.trading_commands import _fix_wanted
from polyinfra.core.approvals import Intent
from polyinfra.model.orders import SignatureType


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def questions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []

    def confirm(text: str, default: bool) -> bool:
        asked.append(text)
        return not default

    monkeypatch.setattr(typer, "confirm", confirm)
    return asked


def test_a_terminal_is_asked_and_a_pipe_gets_the_hint(
    monkeypatch: pytest.MonkeyPatch, questions: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    intents = (Intent.TRADE, Intent.TRADE_NEG_RISK)
    assert not _fix_wanted(SignatureType.EOA, intents, asked=False)  # pytest's stdin is no terminal
    assert questions == []
    assert "`polyinfra doctor --fix` grants the approvals for trade, trade neg risk" in capsys.readouterr().out

    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(sys, "stdout", Terminal())
    assert _fix_wanted(SignatureType.EOA, intents, asked=False)
    assert questions == ["send the approvals for trade, trade neg risk from this EOA now?"]
    assert _fix_wanted(SignatureType.EOA, intents, asked=True)
    assert len(questions) == 1  # --fix asks nothing
    assert not _fix_wanted(SignatureType.POLY_GNOSIS_SAFE, intents, asked=True)
    assert len(questions) == 1
