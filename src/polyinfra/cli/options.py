"""What the ``polyinfra`` commands share: URLs, option declarations and their defaults, the
environment variables they read, and the few steps every command takes the same way (log setup,
one-line errors).

This module is imported to build ``--help``, so it imports only typer and the error tree: the
option defaults are plain constants here, and whatever a command needs to run (clients, the
emulator, metrics) is imported by the command itself when it runs.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import logging
import math
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import IO, TYPE_CHECKING, Annotated, Final, cast

import typer

from polyinfra.core.config_checks import service_url
from polyinfra.errors import InvalidValueError, PolyinfraError, TransportError
from polyinfra.net.retry import RetryPolicy

if TYPE_CHECKING:
    from polyinfra.clob.rest import ClobRestClient
    from polyinfra.core.auth_headers import ApiCredentials
    from polyinfra.obs.metrics import MetricsServer

__all__ = [
    "API_KEY_ENV",
    "API_PASSPHRASE_ENV",
    "API_SECRET_ENV",
    "COMMAND_LOG_LEVEL",
    "DEFAULT_MAX_FAILED_SESSIONS",
    "EMULATOR_DEFAULT_PORT",
    "EMULATOR_MAX_US_MARKETS",
    "EMULATOR_PING_TIMEOUT_S",
    "EMULATOR_REST_URL",
    "EMULATOR_RPC_URL",
    "EMULATOR_SUBSCRIBE_TIMEOUT_S",
    "EMULATOR_WS_URL",
    "KEY_EPILOG",
    "METRICS_HOST",
    "ONE_SHOT_RETRY",
    "PRIVATE_KEY_ENV",
    "SERVER_LOG_LEVEL",
    "STREAM_LOG_LEVEL",
    "VENUE_REST_URL",
    "VENUE_WS_URL",
    "DurationOption",
    "JsonOption",
    "LiveOption",
    "LogLevelOption",
    "MarketOption",
    "MetricsHostOption",
    "MetricsPortOption",
    "RateLimitChoice",
    "RefreshOption",
    "RestOption",
    "RpcOption",
    "TokenOption",
    "TopOption",
    "WsOption",
    "configure_command_logging",
    "credentials_from_environment",
    "gathered_options",
    "metrics_endpoint",
    "one_line_errors",
    "replay_speed",
    "rest_client",
    "unreachable",
    "venue_rest_url",
    "venue_urls",
    "wall_time_ns",
]

EMULATOR_DEFAULT_PORT: Final = 8080
EMULATOR_REST_URL: Final = f"http://127.0.0.1:{EMULATOR_DEFAULT_PORT}"
EMULATOR_RPC_URL: Final = f"{EMULATOR_REST_URL}/rpc"
EMULATOR_WS_URL: Final = f"ws://127.0.0.1:{EMULATOR_DEFAULT_PORT}/ws/market"
"""Where ``polyinfra emulator`` listens by default: every client command talks to it unless told otherwise."""
VENUE_REST_URL: Final = "https://clob.polymarket.com"
VENUE_WS_URL: Final = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
"""The real CLOB, for ``--live``."""

# The emulator's own defaults, repeated here so that building --help does not import the emulator
# (and aiohttp with it); a test checks that they still equal the emulator's.
EMULATOR_SUBSCRIBE_TIMEOUT_S: Final = 10.0
EMULATOR_PING_TIMEOUT_S: Final = 60.0
EMULATOR_MAX_US_MARKETS: Final = 10_000


class RateLimitChoice(StrEnum):
    """The emulator's rate-limit modes as ``--rate-limits`` offers them (the emulator's
    ``RateLimitMode``, whose module ``--help`` must not import; a test keeps the two equal)."""

    THROTTLE = "throttle"
    REJECT = "reject"
    OFF = "off"


PRIVATE_KEY_ENV: Final = "POLYINFRA_PRIVATE_KEY"
API_KEY_ENV: Final = "POLYINFRA_API_KEY"
API_SECRET_ENV: Final = "POLYINFRA_API_SECRET"
API_PASSPHRASE_ENV: Final = "POLYINFRA_API_PASSPHRASE"

DEFAULT_MAX_FAILED_SESSIONS: Final = 5
"""Market-channel sessions in a row that may fail before a one-shot ``watch`` gives up: with the
reconnect backoff doubling from 1 s, about 15 s of a URL that does not answer."""
METRICS_HOST: Final = "127.0.0.1"

KEY_EPILOG: Final = (
    "\b\nEnvironment:\n"
    f"  {PRIVATE_KEY_ENV}  the signing key (0x + 64 hex digits), required;\n"
    "    never a flag, which shell history and ps would show\n"
    f"  {API_KEY_ENV}, {API_SECRET_ENV},\n"
    f"  {API_PASSPHRASE_ENV}  API credentials, all three or none;\n"
    "    without them they are created or derived from the key"
)
"""The environment of every command that signs or authenticates, for its ``--help``."""


def credentials_from_environment(environ: Mapping[str, str]) -> ApiCredentials | None:
    """The API credentials in ``environ`` (all three variables, or None when none is set)."""
    from polyinfra.core.auth_headers import ApiCredentials
    from polyinfra.obs.redaction import Secret

    values = [environ.get(name, "").strip() for name in (API_KEY_ENV, API_SECRET_ENV, API_PASSPHRASE_ENV)]
    if not any(values):
        return None
    if not all(values):
        raise InvalidValueError(f"set all three of {API_KEY_ENV}, {API_SECRET_ENV}, {API_PASSPHRASE_ENV}, or none")
    return ApiCredentials(values[0], Secret(values[1]), Secret(values[2]))


COMMAND_LOG_LEVEL: Final = "ERROR"
"""A command that runs once prints its result, or its failure as one line naming the cause; the
warnings on the way there (a retry, a slow answer) would only bury that line."""
STREAM_LOG_LEVEL: Final = "WARNING"
"""``watch`` and ``demo`` run on: a reconnect or a resync is worth a line while they do."""
SERVER_LOG_LEVEL: Final = "INFO"
"""The emulator is a server: what it serves and when is what its log is for."""


def _url_check(*schemes: str) -> Callable[[str], str]:
    """A typer callback refusing what is not a ``scheme://host[:port]...`` URL of ``schemes``, as a
    usage error: the clients refuse it too, but only once the command has started."""

    def check(url: str) -> str:
        try:
            return service_url("url", url, schemes)
        except InvalidValueError as exc:
            raise typer.BadParameter(exc.message) from None

    return check


RestOption = Annotated[
    str,
    typer.Option(
        "--rest",
        metavar="URL",
        callback=_url_check("http", "https"),
        help="CLOB REST URL; the default is the local emulator's.",
    ),
]
RpcOption = Annotated[
    str,
    typer.Option(
        "--rpc",
        metavar="URL",
        envvar="POLYINFRA_RPC_URL",
        callback=_url_check("http", "https"),
        help="Polygon JSON-RPC URL (or POLYINFRA_RPC_URL); the default is the local emulator's emulated chain.",
    ),
]
WsOption = Annotated[
    str,
    typer.Option(
        "--ws",
        metavar="URL",
        callback=_url_check("ws", "wss"),
        help="Market-channel WebSocket URL; the default is the emulator's.",
    ),
]
LiveOption = Annotated[bool, typer.Option("--live", help=f"Use the real venue, {VENUE_REST_URL}.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (exact numbers as strings) instead of text.")]
LogLevelOption = Annotated[
    str, typer.Option("--log-level", metavar="LEVEL", help="DEBUG, INFO, WARNING or ERROR: logs, JSON on stderr.")
]

DurationOption = Annotated[
    float, typer.Option("--duration", min=0, metavar="SECONDS", help="How long to run; 0: until Ctrl-C.")
]
RefreshOption = Annotated[
    float, typer.Option("--refresh-s", min=0.05, metavar="SECONDS", help="Time between screen refreshes.")
]
MetricsPortOption = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        metavar="PORT",
        help="Serve Prometheus metrics on http://HOST:PORT/metrics (0: any free port); off by default.",
    ),
]
MetricsHostOption = Annotated[
    str, typer.Option("--metrics-host", metavar="HOST", help="Interface the metrics endpoint listens on.")
]


_SELECTION = "Which tokens: "
TokenOption = Annotated[
    list[str] | None, typer.Option("--token", metavar="ID", help=_SELECTION + "this token (repeatable).")
]
MarketOption = Annotated[
    list[str] | None,
    typer.Option("--market", metavar="CONDITION_ID", help=_SELECTION + "both tokens of this market (repeatable)."),
]
TopOption = Annotated[
    int | None,
    typer.Option(
        "--top",
        min=1,
        metavar="N",
        help=_SELECTION + "the first N markets of GET /sampling-markets: the venue's reward-eligible, "
        "liquid, actively quoted ones (the CLOB API ranks no market by volume).",
    ),
]


def venue_rest_url(*, rest: str, live: bool) -> str:
    """The venue's REST URL with ``live``, else ``rest`` (the emulator's by default)."""
    if not live:
        return rest
    if rest != EMULATOR_REST_URL:
        raise InvalidValueError("--live uses the venue's own URL: drop --rest")
    return VENUE_REST_URL


def venue_urls(*, rest: str, ws: str, live: bool) -> tuple[str, str]:
    """``(rest, ws)``: the venue's with ``live``, else the ones given (the emulator's by default)."""
    if live and ws != EMULATOR_WS_URL:
        raise InvalidValueError("--live uses the venue's own URLs: drop --rest and --ws")
    return venue_rest_url(rest=rest, live=live), VENUE_WS_URL if live else ws


ONE_SHOT_RETRY: Final = RetryPolicy(first_contact_attempts=1)
"""Retries for a command that runs once while the user waits: a host that never answered is a wrong
URL or a stopped server, said at once rather than after seconds of retries; once it has answered,
a blip is retried as usual."""


def rest_client(rest_url: str) -> ClobRestClient:
    """A REST client for a command the user waits on (:data:`ONE_SHOT_RETRY`)."""
    from polyinfra.clob.rest import ClobRestClient

    return ClobRestClient(rest_url, retry=ONE_SHOT_RETRY)


def unreachable(rest_url: str, error: TransportError) -> TransportError:
    """``error`` saying what could not be reached, and how to fix the usual cause: by default the
    commands talk to a local emulator, and none is running."""
    what = (
        "the emulator: start it with `polyinfra emulator`, or pass --rest or --live"
        if rest_url == EMULATOR_REST_URL
        else "the CLOB REST API"
    )
    # The transport's message names the URL and the cause (connection refused, TLS to a plain port).
    return TransportError(f"cannot reach {what}: {error.message}")


_WALL_SECONDS: Final = re.compile(r"\d{1,12}(\.\d{1,9})?")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_S: Final = 1_000_000_000


def wall_time_ns(text: str) -> int:
    """A moment given as ISO 8601 (``2026-12-06T23:00:00.5Z``; no zone: UTC) or as unix seconds
    (``1796600000.25``), in nanoseconds since the epoch, exactly."""
    if _WALL_SECONDS.fullmatch(text):
        whole, _, fraction = text.partition(".")
        return int(whole) * _NS_PER_S + int(fraction.ljust(9, "0"))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidValueError("not a time: give ISO 8601 or unix seconds", time=text) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1_000


def replay_speed(text: str) -> float | None:
    """``--speed``: ``max`` (None: as fast as it goes) or a positive multiple of the recorded pace."""
    if text.lower() == "max":
        return None
    try:
        speed = float(text)  # a pace, not an amount: a float is exact enough
    except ValueError:
        speed = math.nan
    if not (math.isfinite(speed) and speed > 0):
        raise InvalidValueError("the replay speed is a positive number or max", speed=text)
    return speed


@contextlib.contextmanager
def one_line_errors(command: str) -> Iterator[None]:
    """Failures as one line on stderr: exit code 2 for bad input, 1 for everything else."""
    try:
        yield
    except InvalidValueError as exc:
        typer.echo(f"polyinfra {command}: {exc}", err=True)
        raise typer.Exit(2) from None
    except (PolyinfraError, OSError) as exc:  # OSError: the metrics port is taken, ...
        typer.echo(f"polyinfra {command}: {exc}", err=True)
        raise typer.Exit(1) from None


def configure_command_logging(log_level: str) -> None:
    """Every command's log setup: ``log_level`` and up, to stderr, one JSON object per line unless
    stderr is a terminal. stdout stays the command's output (books, orders, the emulator's URL line)."""
    from polyinfra.obs.logging import configure_logging  # structlog: only when the command runs

    try:
        # The handler only writes, flushes and asks isatty(), all of which _CurrentStderr does.
        configure_logging(log_level, stream=cast(IO[str], _CurrentStderr()))
    except InvalidValueError as exc:
        raise typer.BadParameter(exc.message, param_hint="--log-level") from exc


class _CurrentStderr(io.TextIOBase):
    """Whatever ``sys.stderr`` is when a line is written. While the live screen of ``watch`` and
    ``demo`` runs, rich stands in for it and prints log lines above the screen instead of over it."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


@contextlib.contextmanager
def metrics_endpoint(
    command: str, port: int | None, host: str, *, server_logs: bool = False
) -> Iterator[MetricsServer | None]:
    """Serve ``/metrics`` on ``port`` while the block runs, and say where on stderr (stdout carries
    the command's output); ``None`` serves nothing and imports nothing. A server's stderr is its
    JSON log (``server_logs``): there the address is a log event; elsewhere it is a line for the
    person watching."""
    if port is None:
        yield None
        return
    from polyinfra.obs.metrics import serve_metrics  # prometheus_client: only when asked for

    with serve_metrics(port, host) as server:
        if server_logs:
            logging.getLogger(__name__).info("serving metrics on %s", server.url)
        else:
            typer.echo(f"polyinfra {command}: Prometheus metrics at {server.url}", err=True)
        yield server


def gathered_options(
    name: str, options: Sequence[inspect.Parameter], gather: Callable[..., object]
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A decorator that declares a command's parameter ``name`` as the typer ``options``, so that options
    several commands share are declared once and mean the same in each.

    Typer builds options from a function's signature and has no option groups, so the command typer sees
    is a wrapper whose signature has ``options`` where ``name`` stood, and which calls the command with
    ``name`` set to ``gather(**those options' values)``.
    """
    option_names = tuple(option.name for option in options)

    def declare(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command, eval_str=True)
        parameters = [parameter for parameter in signature.parameters.values() if parameter.name != name]
        at = list(signature.parameters).index(name)
        parameters[at:at] = options

        @functools.wraps(command)
        def with_options(**given: object) -> None:
            gathered = gather(**{option: given.pop(option) for option in option_names})
            command(**{name: gathered}, **given)

        with_options.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        with_options.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
        with_options.__annotations__["return"] = None
        return with_options

    return declare
