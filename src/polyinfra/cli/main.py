"""The ``polyinfra`` command.

``polyinfra watch`` shows live order books of chosen tokens (emulator or ``--live`` venue).
``polyinfra demo`` runs the emulator in-process and watches its books live.
``polyinfra emulator`` runs the local exchange emulator until Ctrl-C or SIGTERM. When it is ready
it prints exactly one line on stdout, a JSON object with its URLs::

    {"rest": "http://127.0.0.1:8080", "ws_market": "ws://127.0.0.1:8080/ws/market", "ws_user": "ws://127.0.0.1:8080/ws/user"}

and logs to stderr only, so a script can read that line and go. The default port is 8080; pass
``--port 0`` for any free port (the line says which).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import signal
import sys
from collections.abc import Iterator
from typing import IO, Annotated, cast

import typer

from polyinfra.cli.demo import run_demo
from polyinfra.cli.orders import order_app
from polyinfra.cli.record_commands import register_record_commands
from polyinfra.cli.trading_commands import register_trading_commands
from polyinfra.cli.watch import (
    EMULATOR_REST_URL,
    EMULATOR_WS_URL,
    VENUE_REST_URL,
    VENUE_WS_URL,
    Output,
    TokenChoice,
    run_watch,
)
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.market_channel import DEFAULT_PING_TIMEOUT_S, DEFAULT_SUBSCRIBE_TIMEOUT_S
from polyinfra.emulator.rate_limits import RateLimitMode
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import InvalidValueError, PolyinfraError
from polyinfra.obs.logging import configure_logging
from polyinfra.obs.metrics import MetricsServer, serve_metrics

__all__ = ["app", "main"]

DEFAULT_EMULATOR_PORT = 8080

app = typer.Typer(
    name="polyinfra",
    help="Production-grade infrastructure for Polymarket.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_FAULTS = "Fault knobs"
_METRICS_PORT_HELP = "Serve Prometheus metrics on http://HOST:PORT/metrics (0: any free port); off by default."
_METRICS_HOST_HELP = "Interface the metrics endpoint listens on."
_RATE_LIMITS = "Rate limits"


@app.callback()
def _polyinfra() -> None:
    """Production-grade infrastructure for Polymarket."""


app.add_typer(order_app)
register_trading_commands(app)
register_record_commands(app)


@app.command()
def emulator(
    *,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = DEFAULT_EMULATOR_PORT,
    markets: Annotated[int, typer.Option(help="Number of simulated markets.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the generated markets and the simulator.")] = 1,
    rate: Annotated[float, typer.Option(help="Simulated market actions per second; 0 for none.")] = 20.0,
    seed_books: Annotated[
        bool, typer.Option(help="Start with simulated quotes on every book, or with empty books.")
    ] = True,
    subscribe_timeout_s: Annotated[
        float, typer.Option(help="Close WebSocket clients that do not subscribe within this many seconds.")
    ] = DEFAULT_SUBSCRIBE_TIMEOUT_S,
    ping_timeout_s: Annotated[
        float, typer.Option(help="Close WebSocket clients that send no PING for this many seconds.")
    ] = DEFAULT_PING_TIMEOUT_S,
    drop_every_messages: Annotated[
        int, typer.Option(help="Abort each WebSocket after this many data frames (0: never).", rich_help_panel=_FAULTS)
    ] = 0,
    drop_every_seconds: Annotated[
        float, typer.Option(help="Abort each WebSocket this long after it opened (0: never).", rich_help_panel=_FAULTS)
    ] = 0.0,
    freeze: Annotated[
        bool, typer.Option(help="Send no WebSocket data frames; sockets stay open.", rich_help_panel=_FAULTS)
    ] = False,
    freeze_answers_ping: Annotated[
        bool, typer.Option(help="While frozen, still answer PING with PONG.", rich_help_panel=_FAULTS)
    ] = True,
    duplicate_rate: Annotated[
        float, typer.Option(help="Probability of sending a data frame twice.", rich_help_panel=_FAULTS)
    ] = 0.0,
    reorder_rate: Annotated[
        float, typer.Option(help="Probability of swapping a data frame with the next.", rich_help_panel=_FAULTS)
    ] = 0.0,
    drop_rate: Annotated[
        float, typer.Option(help="Probability of not sending a data frame.", rich_help_panel=_FAULTS)
    ] = 0.0,
    malformed_rate: Annotated[
        float, typer.Option(help="Probability of corrupting a data frame.", rich_help_panel=_FAULTS)
    ] = 0.0,
    poison_rate: Annotated[
        float,
        typer.Option(help="Probability of planting a hostile value in a data frame.", rich_help_panel=_FAULTS),
    ] = 0.0,
    poison_http_rate: Annotated[
        float,
        typer.Option(help="Probability of planting a hostile value in a REST answer.", rich_help_panel=_FAULTS),
    ] = 0.0,
    latency_ms: Annotated[
        int, typer.Option(help="Extra delay on WebSocket frames and HTTP responses.", rich_help_panel=_FAULTS)
    ] = 0,
    http_429_rate: Annotated[
        float, typer.Option(help="Probability of answering a REST request 429.", rich_help_panel=_FAULTS)
    ] = 0.0,
    http_425_rate: Annotated[
        float, typer.Option(help="Probability of answering a REST request 425.", rich_help_panel=_FAULTS)
    ] = 0.0,
    http_5xx_rate: Annotated[
        float, typer.Option(help="Probability of answering a REST request 5xx.", rich_help_panel=_FAULTS)
    ] = 0.0,
    http_5xx_status: Annotated[
        int, typer.Option(help="Status of injected 5xx answers.", rich_help_panel=_FAULTS)
    ] = 500,
    retry_after_s: Annotated[
        int, typer.Option(help="Retry-After of injected 429 answers.", rich_help_panel=_FAULTS)
    ] = 1,
    stale_balance_cache: Annotated[
        bool,
        typer.Option(
            help="The venue's balance/allowance view only follows the chain on GET /balance-allowance/update.",
            rich_help_panel=_FAULTS,
        ),
    ] = False,
    fault_seed: Annotated[int, typer.Option(help="Seed of the probabilistic faults.", rich_help_panel=_FAULTS)] = 0,
    rate_limits: Annotated[
        RateLimitMode,
        typer.Option(
            help="Requests over the venue's documented rate limits: delay them (as the venue does), "
            "answer 429, or let them through.",
            rich_help_panel=_RATE_LIMITS,
        ),
    ] = RateLimitMode.THROTTLE,
    rate_limit_scale: Annotated[
        float,
        typer.Option(help="Multiply every documented rate limit by this (> 0).", rich_help_panel=_RATE_LIMITS),
    ] = 1.0,
    signer_rate_limit_warning: Annotated[
        bool,
        typer.Option(
            help="Per-signer order/cancel buckets only warn (Poly-RateLimit-Warning: true) instead of "
            "answering 429, as the venue did for two weeks from 2026-07-24.",
            rich_help_panel=_RATE_LIMITS,
        ),
    ] = False,
    log_level: Annotated[str, typer.Option(help="Log level on stderr.")] = "INFO",
    metrics_port: Annotated[int | None, typer.Option(help=_METRICS_PORT_HELP)] = None,
    metrics_host: Annotated[str, typer.Option(help=_METRICS_HOST_HELP)] = "127.0.0.1",
) -> None:
    """Run the local exchange emulator: CLOB REST and WebSocket channels on one port."""
    _configure_logging(log_level)
    try:
        faults = FaultConfig(
            seed=fault_seed,
            drop_every_messages=drop_every_messages,
            drop_every_seconds=drop_every_seconds,
            freeze=freeze,
            freeze_answers_ping=freeze_answers_ping,
            drop_rate=drop_rate,
            duplicate_rate=duplicate_rate,
            reorder_rate=reorder_rate,
            malformed_rate=malformed_rate,
            poison_rate=poison_rate,
            poison_http_rate=poison_http_rate,
            latency_ms=latency_ms,
            http_429_rate=http_429_rate,
            http_425_rate=http_425_rate,
            http_5xx_rate=http_5xx_rate,
            http_5xx_status=http_5xx_status,
            retry_after_s=retry_after_s,
            stale_balance_cache=stale_balance_cache,
            rate_limits=rate_limits,
            rate_limit_scale=rate_limit_scale,
            signer_rate_limit_warning=signer_rate_limit_warning,
        )
        local_exchange = Emulator(
            host=host,
            port=port,
            markets=markets,
            seed=seed,
            rate=rate,
            faults=faults,
            seed_books=seed_books,
            subscribe_timeout_s=subscribe_timeout_s,
            ping_timeout_s=ping_timeout_s,
        )
    except InvalidValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    try:
        with _metrics_endpoint(metrics_port, metrics_host) as metrics:
            asyncio.run(_serve(local_exchange, metrics))
    except OSError as exc:
        typer.echo(f"polyinfra emulator: {exc}", err=True)
        raise typer.Exit(1) from exc


async def _serve(local_exchange: Emulator, metrics: MetricsServer | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(stop_signal, stop.set)
    async with local_exchange:
        # The one line on stdout: scripts and tests wait for it to know the emulator is ready.
        urls = local_exchange.urls | ({"metrics": metrics.url} if metrics is not None else {})
        sys.stdout.write(json.dumps(urls) + "\n")
        sys.stdout.flush()
        await stop.wait()
        logging.getLogger(__name__).info("stopping the emulator")


_SELECTION = "Which tokens"
_WATCH_EPILOG = (
    "Columns: best bid and ask, mid, spread, depth $ (dollars resting in the best 5 levels, bids/asks), "
    "last trade price, msg/s (book updates and trades per second over the last 5 s), sync state "
    "(syncing / live / stale) and age (seconds since the token's connection last delivered data). "
    "Exit codes: 0 done, 1 the venue failed (unreachable, error answer), 2 bad input (malformed or "
    "unknown id, no tokens selected)."
)


@app.command(epilog=_WATCH_EPILOG)
def watch(
    *,
    token: Annotated[
        list[str] | None,
        typer.Option(help="Watch this token id (repeatable).", rich_help_panel=_SELECTION),
    ] = None,
    market: Annotated[
        list[str] | None,
        typer.Option(
            help="Watch both tokens of this market, by condition id (repeatable).", rich_help_panel=_SELECTION
        ),
    ] = None,
    top: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Watch the first N markets of GET /sampling-markets: the venue's reward-eligible markets, "
            "its liquid, actively quoted ones (the CLOB API ranks no market by volume).",
            rich_help_panel=_SELECTION,
        ),
    ] = None,
    rest: Annotated[
        str | None, typer.Option(help="CLOB REST URL (the emulator's by default).", show_default=EMULATOR_REST_URL)
    ] = None,
    ws: Annotated[str | None, typer.Option(help="Market-channel WebSocket URL.", show_default=EMULATOR_WS_URL)] = None,
    live: Annotated[
        bool,
        typer.Option("--live", help="Watch the real venue, clob.polymarket.com (REST and its market WebSocket)."),
    ] = False,
    jsonl: Annotated[
        bool,
        typer.Option(
            "--jsonl",
            help="Print one JSON object per book update instead of the table: token_id, market, best_bid, "
            "best_ask, mid (decimal strings or null), sync_state, venue_timestamp_ms.",
        ),
    ] = False,
    duration: Annotated[float, typer.Option(min=0, help="Seconds to watch; 0 watches until Ctrl-C.")] = 0.0,
    refresh_s: Annotated[float, typer.Option(min=0.05, help="Seconds between screen refreshes.")] = 1.0,
    log_level: Annotated[str, typer.Option(help="Log level on stderr.")] = "WARNING",
    metrics_port: Annotated[int | None, typer.Option(help=_METRICS_PORT_HELP)] = None,
    metrics_host: Annotated[str, typer.Option(help=_METRICS_HOST_HELP)] = "127.0.0.1",
) -> None:
    """Watch live order books: a table on a terminal, plain lines in a pipe, or JSON lines."""
    _configure_logging(log_level)
    with _one_line_errors("watch"):
        if live and (rest is not None or ws is not None):
            raise InvalidValueError("--live watches the venue's own URLs: drop --rest and --ws")
        with _metrics_endpoint(metrics_port, metrics_host) as metrics:
            _announce_metrics("watch", metrics)
            run_watch(
                rest_url=VENUE_REST_URL if live else rest or EMULATOR_REST_URL,
                ws_url=VENUE_WS_URL if live else ws or EMULATOR_WS_URL,
                choice=TokenChoice(token_ids=token or (), condition_ids=market or (), top=top or 0),
                output=Output.JSONL if jsonl else Output.for_stdout(),
                duration_s=duration,
                refresh_s=refresh_s,
            )


@app.command()
def demo(
    *,
    markets: Annotated[int, typer.Option(min=1, help="Number of simulated markets (two tokens each).")] = 6,
    seed: Annotated[int, typer.Option(help="Seed of the generated markets and the simulator.")] = 1,
    rate: Annotated[float, typer.Option(min=0, help="Simulated market actions per second.")] = 50.0,
    duration: Annotated[float, typer.Option(min=0, help="Seconds to run; 0 runs until Ctrl-C.")] = 20.0,
    refresh_s: Annotated[float, typer.Option(min=0.05, help="Seconds between screen refreshes.")] = 0.5,
    poison_rate: Annotated[
        float,
        typer.Option(
            min=0,
            max=1,
            help="Probability that the emulator plants a hostile value in a frame or a REST answer: "
            "watch the books refuse it and resync (--log-level ERROR keeps the refusals off the screen).",
        ),
    ] = 0.0,
    log_level: Annotated[str, typer.Option(help="Log level on stderr.")] = "WARNING",
    metrics_port: Annotated[int | None, typer.Option(help=_METRICS_PORT_HELP)] = None,
    metrics_host: Annotated[str, typer.Option(help=_METRICS_HOST_HELP)] = "127.0.0.1",
) -> None:
    """Start the embedded emulator with simulated trading and watch its order books live."""
    _configure_logging(log_level)
    with _one_line_errors("demo"), _metrics_endpoint(metrics_port, metrics_host) as metrics:
        _announce_metrics("demo", metrics)
        run_demo(
            markets=markets,
            seed=seed,
            rate=rate,
            duration_s=duration,
            refresh_s=refresh_s,
            poison_rate=poison_rate,
            output=Output.for_stdout(),
        )


@contextlib.contextmanager
def _one_line_errors(command: str) -> Iterator[None]:
    """Failures as one line on stderr: exit code 2 for bad input, 1 for everything else."""
    try:
        yield
    except InvalidValueError as exc:
        typer.echo(f"polyinfra {command}: {exc}", err=True)
        raise typer.Exit(2) from exc
    except (PolyinfraError, OSError) as exc:  # OSError: the metrics port is taken, ...
        typer.echo(f"polyinfra {command}: {exc}", err=True)
        raise typer.Exit(1) from exc


def _announce_metrics(command: str, metrics: MetricsServer | None) -> None:
    # On stderr: stdout carries the books (and only JSON lines with --jsonl).
    if metrics is not None:
        typer.echo(f"polyinfra {command}: Prometheus metrics at {metrics.url}", err=True)


def _configure_logging(log_level: str) -> None:
    # Logs go to stderr: stdout carries the command's output (the emulator's URL line, the demo's books).
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
def _metrics_endpoint(port: int | None, host: str) -> Iterator[MetricsServer | None]:
    """Serve ``/metrics`` on ``port`` while the block runs; ``None`` serves nothing."""
    if port is None:
        yield None
        return
    with serve_metrics(port, host) as server:
        logging.getLogger(__name__).info("serving metrics on %s", server.url)
        yield server


def main() -> None:
    """Entry point of the ``polyinfra`` script."""
    app()


if __name__ == "__main__":
    main()
