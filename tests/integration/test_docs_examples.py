"""The Python examples of the migration guide and of the README's "First order" run, so that they
cannot rot.

Guide blocks run against the emulator, each in a fresh namespace, in a worker thread (the blocking
client must not run inside the test's event loop, which serves the emulator). The environment
points them there: ``POLYINFRA_REST_URL`` / ``POLYINFRA_WS_URL`` at the emulator and
``POLYINFRA_PRIVATE_KEY`` set to the leak gate's watched test key, so a block that printed it
would fail. The guide's placeholders are filled in: ``TOKEN_ID`` (a token of a market with a book
on both sides), ``CONDITION_ID`` (its market) and ``HEDGE_KEY_FILE`` (a file holding a second key).
Blocks that open with ``# py-clob-client-v2 (not run)`` show the official client and are skipped.
The README's blocks start their own emulator, as a reader's copy would.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from polyinfra.client.config import CONFIG_FILE_VARIABLE, ENVIRONMENT_VARIABLES
from polyinfra.emulator.runner import Emulator
from polyinfra.model.numbers import TickSize

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "migrating-from-py-clob-client.md"
README = ROOT / "README.md"
OFFICIAL_CLIENT_MARKER = "# py-clob-client-v2 (not run)"
HEDGE_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"  # Hardhat account #2
_FENCE = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


class Example(NamedTuple):
    source: str
    line: int
    code: str

    @property
    def name(self) -> str:
        return f"{Path(self.source).name}:{self.line}"


def _examples(path: Path, *, section: str | None = None) -> list[Example]:
    text = path.read_text(encoding="utf-8")
    start, end = 0, len(text)
    if section is not None:
        start = text.index(f"\n## {section}\n")
        end = text.find("\n## ", start + 1)
    found = []
    for match in _FENCE.finditer(text, start, end):
        code = match.group(1)
        if not code.startswith(OFFICIAL_CLIENT_MARKER):
            found.append(Example(str(path), text.count("\n", 0, match.start()) + 1, code))
    return found


GUIDE_EXAMPLES = _examples(GUIDE)
README_EXAMPLES = _examples(README, section="First order")
WALLET_ANALYTICS_EXAMPLES = _examples(README, section="Wallet analytics")


def _run(example: Example, namespace: dict[str, Any]) -> None:
    exec(compile(example.code, example.name, "exec"), namespace)


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No POLYINFRA_* setting of the developer's reaches an example."""
    for variable in (*ENVIRONMENT_VARIABLES.values(), CONFIG_FILE_VARIABLE):
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


def test_every_part_of_the_guide_has_examples() -> None:
    assert len(GUIDE_EXAMPLES) >= 10
    assert len(README_EXAMPLES) == 2
    first_order = README_EXAMPLES[0].code
    assert "Polymarket.emulator(start=True" in first_order
    assert len([line for line in first_order.splitlines() if line.strip()]) < 10  # the README's promise


@pytest.mark.parametrize("example", GUIDE_EXAMPLES, ids=lambda example: example.name)
async def test_guide_example_runs_against_the_emulator(
    example: Example, emulator: Emulator, clean_environment: pytest.MonkeyPatch, known_secrets: Any, tmp_path: Path
) -> None:
    rest_url = emulator.urls["rest"]
    clean_environment.setenv("POLYINFRA_REST_URL", rest_url)
    clean_environment.setenv("POLYINFRA_WS_URL", "ws" + rest_url.removeprefix("http"))
    clean_environment.setenv("POLYINFRA_PRIVATE_KEY", known_secrets.private_key)
    market = next(info for info in emulator.exchange.markets.values() if info.tick_size is TickSize.TICK_0_01)
    hedge_key_file = tmp_path / "hedge.key"
    hedge_key_file.write_text(HEDGE_KEY + "\n")
    namespace = {
        "TOKEN_ID": market.tokens[0].token_id,
        "CONDITION_ID": market.condition_id,
        "HEDGE_KEY_FILE": str(hedge_key_file),
    }
    await asyncio.to_thread(_run, example, namespace)


@pytest.mark.parametrize("example", README_EXAMPLES, ids=lambda example: example.name)
def test_readme_first_order_runs(example: Example, clean_environment: pytest.MonkeyPatch) -> None:
    _run(example, {})


@pytest.mark.parametrize("example", WALLET_ANALYTICS_EXAMPLES, ids=lambda example: example.name)
def test_readme_wallet_analytics_prints_what_its_comments_say(
    example: Example, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each ``print(...)  # value: why`` line of the section prints ``value``: the README's numbers are
    the ledger's."""
    expected = [
        line.split("#", 1)[1].split(":", 1)[0].strip()
        for line in example.code.splitlines()
        if line.startswith("print(") and "#" in line
    ]
    assert expected
    _run(example, {})
    assert capsys.readouterr().out.splitlines() == expected
