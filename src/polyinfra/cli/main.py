"""The ``polyinfra`` command.

``polyinfra watch`` shows live order books of chosen tokens (emulator or ``--live`` venue).
``polyinfra demo`` runs the emulator in-process and watches its books live.
``polyinfra emulator`` runs the local exchange emulator until Ctrl-C or SIGTERM. When it is ready
it prints exactly one line on stdout, a JSON object with its URLs::

    {"rest": "http://127.0.0.1:8080", "ws_market": "ws://127.0.0.1:8080/ws/market", "ws_user": "ws://127.0.0.1:8080/ws/user",
     "us_token": "http://127.0.0.1:8080/oauth/token", "grpc": "127.0.0.1:8081"}

and logs to stderr only, so a script can read that line and go. The default port is 8080; pass
``--port 0`` for any free port (the line says which).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from polyinfra.cli.chain_commands import register_chain_commands
from polyinfra.cli.live_commands import register_live_commands
from polyinfra.cli.market_commands import book, markets
from polyinfra.cli.options import (
    DEFAULT_MAX_FAILED_SESSIONS,
    EMULATOR_DEFAULT_PORT,
    EMULATOR_MAX_US_MARKETS,
    EMULATOR_PING_TIMEOUT_S,
    EMULATOR_REST_URL,
    EMULATOR_SUBSCRIBE_TIMEOUT_S,
    EMULATOR_WS_URL,
    KEY_EPILOG,
    METRICS_HOST,
    ONE_SHOT_RETRY,
    SERVER_LOG_LEVEL,
    STREAM_LOG_LEVEL,
    DurationOption,
    LiveOption,
    LogLevelOption,
    MarketOption,
    MetricsHostOption,
    MetricsPortOption,
    RateLimitChoice,
    RefreshOption,
    RestOption,
    TokenOption,
    TopOption,
    WsOption,
    configure_command_logging,
    metrics_endpoint,
    one_line_errors,
    venue_urls,
)
from polyinfra.cli.orders import order_app
from polyinfra.cli.record_commands import register_record_commands
from polyinfra.cli.trading_commands import register_trading_commands
from polyinfra.cli.us_commands import register_us_commands, us_app
from polyinfra.cli.us_order_commands import register_us_order_commands
from polyinfra.cli.wallet_commands import register_wallet_commands

if TYPE_CHECKING:
    from polyinfra.data.data_api import DataApiClient
    from polyinfra.emulator.runner import Emulator
    from polyinfra.obs.metrics import MetricsServer

__all__ = ["app", "main"]

# Which commands need the key, then the variables themselves.
_ENVIRONMENT_EPILOG = "order, balance, trades, keys, doctor and the on-chain commands need a key:\n\n" + KEY_EPILOG

app = typer.Typer(
    name="polyinfra",
    help="Production-grade infrastructure for Polymarket.",
    epilog=_ENVIRONMENT_EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's plain help: it wraps to the terminal (at most 80 columns), never cuts an option's
    # name or default, shows flags without a metavar, and does not import rich.
    rich_markup_mode=None,
)

_FAULTS = "Fault knob: "
_RATE_LIMITS = "Rate limits: "


def _print_version(wanted: bool) -> None:
    if wanted:
        from polyinfra import __version__

        typer.echo(f"polyinfra {__version__}")
        raise typer.Exit()


@app.callback()
def _polyinfra(
    *,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Production-grade infrastructure for Polymarket."""


@app.command()
def emulator(
    *,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = EMULATOR_DEFAULT_PORT,
    grpc_port: Annotated[
        int | None,
        typer.Option(
            help="Port of the US exchange's gRPC services. Default: --port + 1, or a free one with --port 0.",
            show_default=False,
        ),
    ] = None,
    markets: Annotated[int, typer.Option(help="Number of simulated markets.")] = 5,
    us_markets: Annotated[
        int,
        typer.Option(
            "--us-markets",
            min=0,
            max=EMULATOR_MAX_US_MARKETS,
            help="Simulated US exchange markets (symbols) beyond the fixed ones, e.g. 1000 for a full stream.",
        ),
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the generated markets and the simulator.")] = 1,
    rate: Annotated[float, typer.Option(help="Simulated market actions per second; 0 for none.")] = 20.0,
    empty_books: Annotated[
        bool, typer.Option("--no-seed-books", help="Start every book empty (default: simulated quotes on each).")
    ] = False,
    crowd_wallets: Annotated[
        int,
        typer.Option(
            "--crowd-wallets",
            min=0,
            metavar="N",
            help="N more traders taking liquidity with the simulator, for the Data API to report on many wallets.",
        ),
    ] = 0,
    neg_risk_questions: Annotated[
        int,
        typer.Option(
            "--neg-risk-questions",
            metavar="N",
            help="List a neg-risk market of N questions (2 to 6; 0: none) whose NO shares `polyinfra convert` "
            "converts on the emulated chain.",
        ),
    ] = 3,
    subscribe_timeout_s: Annotated[
        float, typer.Option(help="Close WebSocket clients that do not subscribe within this many seconds.")
    ] = EMULATOR_SUBSCRIBE_TIMEOUT_S,
    ping_timeout_s: Annotated[
        float, typer.Option(help="Close WebSocket clients that send no PING for this many seconds.")
    ] = EMULATOR_PING_TIMEOUT_S,
    drop_every_messages: Annotated[
        int, typer.Option(help=_FAULTS + "Abort each WebSocket after this many data frames (0: never).")
    ] = 0,
    drop_every_seconds: Annotated[
        float, typer.Option(help=_FAULTS + "Abort each WebSocket this long after it opened (0: never).")
    ] = 0.0,
    freeze: Annotated[
        bool, typer.Option("--freeze", help=_FAULTS + "Send no WebSocket data frames; sockets stay open.")
    ] = False,
    freeze_ignores_ping: Annotated[
        bool,
        typer.Option("--no-freeze-answers-ping", help=_FAULTS + "While frozen, answer no PING either (default: PONG)."),
    ] = False,
    duplicate_rate: Annotated[float, typer.Option(help=_FAULTS + "Probability of sending a data frame twice.")] = 0.0,
    reorder_rate: Annotated[
        float, typer.Option(help=_FAULTS + "Probability of swapping a data frame with the next.")
    ] = 0.0,
    drop_rate: Annotated[float, typer.Option(help=_FAULTS + "Probability of not sending a data frame.")] = 0.0,
    malformed_rate: Annotated[float, typer.Option(help=_FAULTS + "Probability of corrupting a data frame.")] = 0.0,
    poison_rate: Annotated[
        float,
        typer.Option(help=_FAULTS + "Probability of planting a hostile value in a data frame."),
    ] = 0.0,
    poison_http_rate: Annotated[
        float,
        typer.Option(help=_FAULTS + "Probability of planting a hostile value in a REST answer."),
    ] = 0.0,
    latency_ms: Annotated[int, typer.Option(help=_FAULTS + "Extra delay on WebSocket frames and HTTP responses.")] = 0,
    http_429_rate: Annotated[float, typer.Option(help=_FAULTS + "Probability of answering a REST request 429.")] = 0.0,
    http_425_rate: Annotated[float, typer.Option(help=_FAULTS + "Probability of answering a REST request 425.")] = 0.0,
    http_5xx_rate: Annotated[float, typer.Option(help=_FAULTS + "Probability of answering a REST request 5xx.")] = 0.0,
    http_5xx_status: Annotated[int, typer.Option(help=_FAULTS + "Status of injected 5xx answers.")] = 500,
    retry_after_s: Annotated[int, typer.Option(help=_FAULTS + "Retry-After of injected 429 answers.")] = 1,
    stale_balance_cache: Annotated[
        bool,
        typer.Option(
            "--stale-balance-cache",
            help=_FAULTS + "The venue's balance/allowance view follows the chain only on "
            "GET /balance-allowance/update.",
        ),
    ] = False,
    fault_seed: Annotated[int, typer.Option(help=_FAULTS + "Seed of the probabilistic faults.")] = 0,
    us_renumbered_protos: Annotated[
        bool,
        typer.Option(
            "--us-renumbered-protos",
            help=_FAULTS + "Serve the US exchange with field numbers that are not polyinfra's (the venue's "
            "published ones kept): only clients using reflection or the venue's bundle read it right.",
        ),
    ] = False,
    us_require_auth: Annotated[
        bool,
        typer.Option(
            "--us-require-auth",
            help="Check every US gRPC call's access token and scope, as the venue does (market data and reference "
            "data need a token from the us_token endpoint, reflection any valid token; health stays open).",
        ),
    ] = False,
    rate_limits: Annotated[
        RateLimitChoice,
        typer.Option(
            help=_RATE_LIMITS + "Requests over the venue's documented rate limits: delay them (as the venue does), "
            "answer 429, or let them through.",
        ),
    ] = RateLimitChoice.THROTTLE,
    rate_limit_scale: Annotated[
        float,
        typer.Option(help=_RATE_LIMITS + "Multiply every documented rate limit by this (> 0)."),
    ] = 1.0,
    signer_rate_limit_warning: Annotated[
        bool,
        typer.Option(
            "--signer-rate-limit-warning",
            help=_RATE_LIMITS + "Per-signer order/cancel buckets only warn (Poly-RateLimit-Warning: true) instead of "
            "answering 429, as the venue did for two weeks from 2026-07-24.",
        ),
    ] = False,
    us_client: Annotated[
        list[str] | None,
        typer.Option(
            "--us-client",
            metavar="SPEC",
            help="Register a US exchange client with the token endpoint (repeatable): "
            "id=CLIENT_ID,key=PUBLIC_KEY.pem,scopes=SCOPE SCOPE...[,participant=PARTICIPANT_ID].",
        ),
    ] = None,
    log_level: LogLevelOption = SERVER_LOG_LEVEL,
    metrics_port: MetricsPortOption = None,
    metrics_host: MetricsHostOption = METRICS_HOST,
) -> None:
    """Run the local exchange emulator until Ctrl-C.

    CLOB REST and the WebSocket channels on one port, the US exchange's gRPC services on another.
    """
    import asyncio

    from polyinfra.emulator.faults import FaultConfig
    from polyinfra.emulator.rate_limits import RateLimitMode
    from polyinfra.emulator.runner import Emulator
    from polyinfra.emulator.us.clients import registration_from_flag
    from polyinfra.errors import InvalidValueError

    configure_command_logging(log_level)
    try:
        us_clients = [registration_from_flag(spec) for spec in us_client or ()]
        faults = FaultConfig(
            seed=fault_seed,
            drop_every_messages=drop_every_messages,
            drop_every_seconds=drop_every_seconds,
            freeze=freeze,
            freeze_answers_ping=not freeze_ignores_ping,
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
            rate_limits=RateLimitMode(rate_limits.value),
            rate_limit_scale=rate_limit_scale,
            signer_rate_limit_warning=signer_rate_limit_warning,
        )
        local_exchange = Emulator(
            host=host,
            port=port,
            grpc_port=grpc_port if grpc_port is not None else (port + 1 if port else 0),
            us_renumbered_protos=us_renumbered_protos,
            us_require_auth=us_require_auth,
            markets=markets,
            us_markets=us_markets,
            seed=seed,
            rate=rate,
            faults=faults,
            seed_books=not empty_books,
            crowd_wallets=crowd_wallets,
            neg_risk_questions=neg_risk_questions,
            subscribe_timeout_s=subscribe_timeout_s,
            ping_timeout_s=ping_timeout_s,
            us_clients=us_clients,
        )
    except InvalidValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    try:
        with metrics_endpoint("emulator", metrics_port, metrics_host, server_logs=True) as metrics:
            asyncio.run(_serve(local_exchange, metrics))
    except OSError as exc:
        typer.echo(f"polyinfra emulator: {exc}", err=True)
        raise typer.Exit(1) from exc


async def _serve(local_exchange: Emulator, metrics: MetricsServer | None) -> None:
    import asyncio
    import json
    import logging
    import signal
    import sys

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


_WATCH_EPILOG = (
    "Columns: best bid and ask, mid, spread, depth $ (dollars resting in the best 5 levels, bids/asks), "
    "last trade price, msg/s (book updates and trades per second over the last 5 s), sync state "
    "(syncing / live / stale) and age (seconds since the token's connection last delivered data).\n\n"
    "--jsonl writes a line for a token only when something shown changed: its best bid or ask or their "
    "sizes, its last trade, its sync state (or, with --depth, one of those levels). Fields: type "
    '("book"), token_id, market, best_bid, best_bid_size, best_ask, best_ask_size, spread, last_trade, '
    "sync_state, venue_timestamp_ms, received_ns and received_at (local receive time, ns since the "
    "epoch and ISO 8601), and with --depth bids and asks ([price, size] pairs, best first). Trades are "
    'lines of their own: type "trade", token_id, market, price, size, side, received_ns, received_at. '
    "Numbers are decimal strings, never JSON numbers.\n\n"
    "Exit codes: 0 done, 1 the venue failed (unreachable, an error answer, too many failed sessions in a "
    "row), 2 bad input (malformed or unknown id, no tokens selected)."
)


@app.command(epilog=_WATCH_EPILOG)
def watch(
    *,
    token: TokenOption = None,
    market: MarketOption = None,
    top: TopOption = None,
    rest: RestOption = EMULATOR_REST_URL,
    ws: WsOption = EMULATOR_WS_URL,
    live: LiveOption = False,
    jsonl: Annotated[
        bool,
        typer.Option("--jsonl", help="Print a JSON line per change instead of the table (see below)."),
    ] = False,
    depth: Annotated[
        int, typer.Option("--depth", min=0, metavar="N", help="With --jsonl: also N levels per side.")
    ] = 0,
    duration: DurationOption = 0.0,
    refresh_s: RefreshOption = 1.0,
    max_failed_sessions: Annotated[
        int,
        typer.Option(
            "--max-failed-sessions",
            min=1,
            metavar="N",
            help="With --duration or --jsonl: give up (exit 1) when N market-channel sessions in a row "
            "fail before any data. Without them, watching goes on retrying.",
        ),
    ] = DEFAULT_MAX_FAILED_SESSIONS,
    log_level: LogLevelOption = STREAM_LOG_LEVEL,
    metrics_port: MetricsPortOption = None,
    metrics_host: MetricsHostOption = METRICS_HOST,
) -> None:
    """Watch live order books as a table, lines or JSON lines.

    A table on a terminal, plain lines in a pipe, JSON lines with --jsonl.
    """
    from polyinfra.cli.watch import Output, TokenChoice, run_watch

    configure_command_logging(log_level)
    with one_line_errors("watch"):
        rest_url, ws_url = venue_urls(rest=rest, ws=ws, live=live)
        one_shot = duration > 0 or jsonl
        with metrics_endpoint("watch", metrics_port, metrics_host):
            run_watch(
                rest_url=rest_url,
                ws_url=ws_url,
                choice=TokenChoice(token_ids=token or (), condition_ids=market or (), top=top or 0),
                output=Output.JSONL if jsonl else Output.for_stdout(),
                depth=depth,
                duration_s=duration,
                refresh_s=refresh_s,
                max_failed_sessions=max_failed_sessions if one_shot else None,
            )


@app.command()
def demo(
    *,
    markets: Annotated[int, typer.Option(min=1, help="Number of simulated markets (two tokens each).")] = 6,
    seed: Annotated[int, typer.Option(help="Seed of the generated markets and the simulator.")] = 1,
    rate: Annotated[float, typer.Option(min=0, help="Simulated market actions per second.")] = 50.0,
    duration: DurationOption = 20.0,
    refresh_s: RefreshOption = 0.5,
    poison_rate: Annotated[
        float,
        typer.Option(
            min=0,
            max=1,
            help="Probability that the emulator plants a hostile value in a frame or a REST answer: "
            "watch the books refuse it and resync (--log-level ERROR keeps the refusals off the screen).",
        ),
    ] = 0.0,
    log_level: LogLevelOption = STREAM_LOG_LEVEL,
    metrics_port: MetricsPortOption = None,
    metrics_host: MetricsHostOption = METRICS_HOST,
) -> None:
    """Run the embedded emulator and watch its books live.

    Simulated trading on a local exchange, then a proof that every book matched.
    """
    from polyinfra.cli.demo import run_demo
    from polyinfra.cli.watch import Output

    configure_command_logging(log_level)
    with one_line_errors("demo"), metrics_endpoint("demo", metrics_port, metrics_host):
        run_demo(
            markets=markets,
            seed=seed,
            rate=rate,
            duration_s=duration,
            refresh_s=refresh_s,
            poison_rate=poison_rate,
            output=Output.for_stdout(),
        )


# After the commands defined above, in the order --help lists them: watching, market data,
# trading, recording, the US exchange.
app.command()(markets)
app.command()(book)
app.add_typer(order_app)
register_trading_commands(app)
register_record_commands(app)
register_live_commands(app)
register_us_commands(app)
register_us_order_commands(us_app)


def _data_api_client(data_url: str) -> DataApiClient:
    """The ``wallets`` commands read through the Data API client (imported when a command runs)."""
    from polyinfra.data.data_api import DataApiClient

    return DataApiClient(data_url, retry=ONE_SHOT_RETRY)


register_wallet_commands(app, _data_api_client)
register_chain_commands(app)


def main() -> None:
    """Entry point of the ``polyinfra`` script."""
    app()


if __name__ == "__main__":
    main()
