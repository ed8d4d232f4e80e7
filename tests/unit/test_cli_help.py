"""Every command's ``--help`` on an 80-column terminal, what building it imports, and the option
defaults the CLI repeats so as not to import the emulator."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
import typer
from typer.core import TyperCommand, TyperGroup
from typer.testing import CliRunner

from polyinfra import __version__
from polyinfra.cli import options
from polyinfra.cli.main import app
from polyinfra.cli.orders import _KNOWN_KEYS
from polyinfra.emulator.market_channel import DEFAULT_PING_TIMEOUT_S, DEFAULT_SUBSCRIBE_TIMEOUT_S
from polyinfra.emulator.rate_limits import RateLimitMode
from polyinfra.emulator.us.market import MAX_GENERATED_INSTRUMENTS
from tests.unit.test_no_private_citations import PRIVATE_RE

TERMINAL_COLUMNS = 80
# Loading these is the cost of running a command, never of reading its help or signing offline.
# eth_abi: the on-chain codecs (about 180 ms of imports), for the chain commands when they run.
HEAVY_MODULES = ("aiohttp", "httpx", "prometheus_client", "grpc", "polyinfra.emulator", "eth_abi")


Command = TyperCommand | TyperGroup


def _commands(command: Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Command]]:
    """Every command and group under ``command``, with the words that reach it: whoever registers
    a command later (``order post``, ``balance``) is covered without touching this test."""
    yield path, command
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            assert isinstance(sub, TyperCommand | TyperGroup)
            yield from _commands(sub, (*path, name))


_ROOT = typer.main.get_command(app)
assert isinstance(_ROOT, TyperGroup)
ALL_COMMANDS = sorted(_commands(_ROOT), key=lambda entry: entry[0])


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(TERMINAL_COLUMNS)}, terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    ("path", "command"), [pytest.param(*entry, id=" ".join(entry[0]) or "polyinfra") for entry in ALL_COMMANDS]
)
def test_help_fits_80_columns_with_every_option_whole(path: tuple[str, ...], command: Command) -> None:
    shown = _help(path)
    too_wide = [line for line in shown.splitlines() if len(line) > TERMINAL_COLUMNS]
    assert not too_wide, "\n".join(too_wide)
    names = [name for param in command.params for name in (*param.opts, *param.secondary_opts) if name.startswith("-")]
    for name in names:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", shown), f"{name} not shown whole:\n{shown}"
    # A flag name broken over two lines at one of its hyphens, in the prose or a default.
    for name in names:
        bare = name.lstrip("-")
        for cut in (index + 1 for index, char in enumerate(bare) if char == "-"):
            assert not re.search(rf"{re.escape(bare[:cut])}\n\s*{re.escape(bare[cut:])}", shown), (name, shown)
    assert "<bool>" not in shown and "BOOLEAN" not in shown, shown


def test_every_command_takes_the_shared_log_level_option() -> None:
    # One log setup for all: --log-level, JSON lines on stderr (options.configure_command_logging).
    missing = [
        " ".join(path)
        for path, command in ALL_COMMANDS
        if not isinstance(command, TyperGroup)
        and "--log-level" not in {name for param in command.params for name in param.opts}
    ]
    assert not missing


def test_a_bad_log_level_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["order", "sign", "--log-level", "LOUD"], env={options.PRIVATE_KEY_ENV: ""})
    assert result.exit_code == 2 and "--log-level" in result.output, result.output


def test_the_cli_lists_the_new_commands() -> None:
    registered = {" ".join(path) for path, _ in ALL_COMMANDS}
    assert {"markets", "book", "watch", "demo", "emulator", "order sign", "keys derive", "doctor"} <= registered


def test_help_names_the_environment_and_the_commands_that_need_a_key() -> None:
    root = _help(())
    assert "order, balance, trades, keys, doctor and the on-chain commands need a key" in root
    for variable in (
        options.PRIVATE_KEY_ENV,
        options.API_KEY_ENV,
        options.API_SECRET_ENV,
        options.API_PASSPHRASE_ENV,
    ):
        assert variable in root
    assert options.PRIVATE_KEY_ENV in _help(("keys", "derive"))
    assert options.PRIVATE_KEY_ENV in _help(("doctor",))


def test_order_sign_help_lists_every_input_key() -> None:
    shown = _help(("order", "sign"))
    for key in _KNOWN_KEYS:
        assert re.search(rf"\b{key}\b", shown), f"{key} missing from order sign --help"
    assert options.PRIVATE_KEY_ENV in shown


def test_help_cites_no_internal_document() -> None:
    for path, _ in ALL_COMMANDS:
        shown = _help(path)
        assert PRIVATE_RE.search(shown) is None and "shared/" not in shown, path


def test_version_prints_the_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert (result.exit_code, result.output) == (0, f"polyinfra {__version__}\n")


@pytest.mark.parametrize(
    "arguments",
    [
        ["markets", "--rest", "ftp://127.0.0.1"],
        ["book", "1", "--rest", "http://[::1"],
        ["book", "1", "--rest", "http://127.0.0.1:99999"],
        ["watch", "--ws", "http://127.0.0.1/ws/market", "--top", "1"],
        ["order", "list", "--rest", "127.0.0.1:8080"],
    ],
)
def test_a_malformed_url_is_a_usage_error_before_anything_runs(arguments: list[str]) -> None:
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--" in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit)


def _modules_loaded(arguments: list[str], *, stdin: str = "", env: dict[str, str] | None = None) -> set[str]:
    """The modules a fresh interpreter holds after running ``polyinfra ARGUMENTS`` as the script does."""
    program = (
        "import json, sys\n"
        f"sys.argv = ['polyinfra', *{arguments!r}]\n"
        "from polyinfra.cli.main import main\n"
        "try:\n    main()\n"
        "except SystemExit:\n    pass\n"
        "sys.stderr.write('\\n' + json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        input=stdin,
        capture_output=True,
        text=True,
        env=os.environ | (env or {}),
        check=True,
        timeout=60,
    )
    return set(json.loads(result.stderr.splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(
        module for module in modules for heavy in HEAVY_MODULES if module == heavy or module.startswith(heavy + ".")
    )


@pytest.mark.parametrize(
    "arguments",
    [
        ["--help"],
        ["--version"],
        ["order", "sign", "--help"],
        ["watch", "--help"],
        ["markets", "--help"],
        ["us", "instruments", "--help"],
    ],
)
def test_help_imports_no_client_emulator_or_metrics(arguments: list[str]) -> None:
    assert not _heavy(_modules_loaded(arguments))


def test_order_sign_imports_no_client_emulator_or_metrics() -> None:
    # A key made up for this test; signing offline needs no venue.
    key = "0x" + "11" * 32
    order = '{"token_id": "1234", "price": "0.55", "size": "10", "side": "BUY", "tick_size": "0.01", "neg_risk": false}'
    loaded = _modules_loaded(["order", "sign"], stdin=order + "\n", env={options.PRIVATE_KEY_ENV: key})
    assert "polyinfra.core.order_signing" in loaded  # it did sign
    assert not _heavy(loaded)


def test_emulator_defaults_repeated_for_help_equal_the_emulators() -> None:
    assert {choice.value for choice in options.RateLimitChoice} == {mode.value for mode in RateLimitMode}
    assert options.EMULATOR_SUBSCRIBE_TIMEOUT_S == DEFAULT_SUBSCRIBE_TIMEOUT_S
    assert options.EMULATOR_PING_TIMEOUT_S == DEFAULT_PING_TIMEOUT_S
    assert options.EMULATOR_MAX_US_MARKETS == MAX_GENERATED_INSTRUMENTS


@pytest.mark.parametrize("path", [path for path, command in ALL_COMMANDS if isinstance(command, TyperGroup)])
def test_every_command_summary_in_a_listing_is_whole(path: tuple[str, ...]) -> None:
    listing = _help(path).split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    cut = [line.strip() for line in listing.splitlines() if line.rstrip().endswith("...")]
    assert not cut, f"summaries cut at 80 columns (shorten the docstring's first line): {cut}"
