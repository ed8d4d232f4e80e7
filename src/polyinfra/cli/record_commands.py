"""``polyinfra record``, ``coverage``, ``replay`` and ``export``: the recorder on the command line.

``record`` keeps live books of the tokens chosen as ``polyinfra watch`` chooses them and records
everything their sockets and REST snapshots carry into ``--sink`` (``sqlite:///PATH``,
``postgresql://...`` or ``nats://HOST/STREAM``), with a status line on stderr. ``coverage`` prints
the manifest of a recording: when each token was covered and every gap with its reason. ``replay``
rebuilds the books from a recording and prints them with what the replay verified, or with
``--serve`` serves them over the market channel and ``/book(s)`` (:mod:`polyinfra.record.replay_server`);
``replay --channel user`` prints the user channel's events as the live client delivered them, ``replay
--channel us`` the US exchange's books (``--serve``: over its gRPC API, :mod:`polyinfra.record.us_replay_server`),
``replay --channel rtds`` (or ``polybolt``) the live-data events and gaps ``polyinfra live --record`` recorded.
``export`` writes the recording as normalised Parquet (``--source us``: the US exchange's books; ``rtds`` or
``polybolt``: the live-data trades, prices, comments and gaps).

The recorder's modules (SQLite, pyarrow) are imported inside the commands, so ``polyinfra --help``
does not pay for them.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer

from polyinfra.cli.options import (
    COMMAND_LOG_LEVEL,
    EMULATOR_REST_URL,
    EMULATOR_WS_URL,
    METRICS_HOST,
    STREAM_LOG_LEVEL,
    DurationOption,
    LiveOption,
    LogLevelOption,
    MarketOption,
    MetricsHostOption,
    MetricsPortOption,
    RestOption,
    TokenOption,
    TopOption,
    WsOption,
    configure_command_logging,
    metrics_endpoint,
    one_line_errors,
    replay_speed,
    venue_urls,
    wall_time_ns,
)
from polyinfra.cli.relay_command import relay
from polyinfra.errors import InvalidValueError

if TYPE_CHECKING:
    from polyinfra.cli.watch import TokenChoice
    from polyinfra.record.coverage import CoverageManifest
    from polyinfra.record.recorder import Recorder

__all__ = ["register_record_commands"]

_SINK_HELP: Final = (
    "Where the recording is: sqlite:///PATH, postgresql://USER@HOST/DATABASE or nats://HOST[:PORT]/STREAM."
)
_NS_PER_S: Final = 1_000_000_000
_LIVE_DATA_CHANNELS: Final = ("rtds", "polybolt")
_REPLAYED_CHANNELS: Final = ("market", "us", *_LIVE_DATA_CHANNELS)

SinkOption = Annotated[str, typer.Option("--sink", metavar="URL", help=_SINK_HELP)]
KeysOption = Annotated[
    list[str] | None, typer.Option("--key", metavar="TOKEN_ID", help="Only this token (repeatable); default: all.")
]


def register_record_commands(app: typer.Typer) -> None:
    """Add ``record``, ``coverage``, ``replay``, ``export`` and ``relay`` to ``app``."""
    app.command("record")(record)
    app.command("coverage")(coverage)
    app.command("replay")(replay)
    app.command("export")(export)
    app.command("relay")(relay)


def record(
    *,
    sink: SinkOption,
    token: TokenOption = None,
    market: MarketOption = None,
    top: TopOption = None,
    rest: RestOption = EMULATOR_REST_URL,
    ws: WsOption = EMULATOR_WS_URL,
    live: LiveOption = False,
    duration: DurationOption = 0.0,
    status_s: Annotated[
        float, typer.Option("--status-s", min=0.1, metavar="SECONDS", help="Time between status lines on stderr.")
    ] = 5.0,
    log_level: LogLevelOption = STREAM_LOG_LEVEL,
    metrics_port: MetricsPortOption = None,
    metrics_host: MetricsHostOption = METRICS_HOST,
    fleet: Annotated[
        str | None,
        typer.Option(
            "--fleet",
            metavar="NAME",
            help="Share the tokens with the other processes of fleet NAME (needs --sink nats://...).",
        ),
    ] = None,
    shards: Annotated[
        int, typer.Option("--shards", min=1, max=1000, help="Shards of the token universe (the same in every process).")
    ] = 8,
    lease_s: Annotated[
        float, typer.Option("--lease-s", min=0.5, metavar="SECONDS", help="How long a shard's lease lasts unrenewed.")
    ] = 15.0,
    member_id: Annotated[
        str | None,
        typer.Option("--member-id", metavar="ID", help="This process's name in the fleet (default: host-pid)."),
    ] = None,
    fleet_size: Annotated[
        int, typer.Option("--fleet-size", min=1, help="Processes to wait for before taking shards (see --join-s).")
    ] = 1,
    join_s: Annotated[
        float, typer.Option("--join-s", min=0.0, metavar="SECONDS", help="The longest wait for --fleet-size processes.")
    ] = 30.0,
) -> None:
    """Record live books into a sink, gaps included.

    Every frame, REST snapshot and reconnect, with a status line on stderr.
    """
    from polyinfra.cli.watch import TokenChoice, run_until_stopped

    configure_command_logging(log_level)
    with one_line_errors("record"):
        rest_url, ws_url = venue_urls(rest=rest, ws=ws, live=live)
        choice = TokenChoice(token_ids=token or (), condition_ids=market or (), top=top or 0)
        with metrics_endpoint("record", metrics_port, metrics_host):
            run = RecordRun(sink, rest_url, ws_url, choice, duration, status_s)
            if fleet is None:
                run_until_stopped(_record(run))
            else:
                from polyinfra.cli.fleet_record import FleetOptions, record_fleet

                run_until_stopped(
                    record_fleet(run, FleetOptions(fleet, shards, lease_s, member_id, fleet_size, join_s))
                )


@dataclass(frozen=True, slots=True)
class RecordRun:
    """What ``polyinfra record`` was asked to record, and how long, one process or a fleet's."""

    sink_url: str
    rest_url: str
    ws_url: str
    choice: TokenChoice
    duration_s: float
    status_s: float

    async def token_ids(self) -> list[str]:
        """The tokens of the markets chosen (asked of the venue's REST API)."""
        from polyinfra.cli.watch import choose_markets
        from polyinfra.clob.rest import ClobRestClient

        async with ClobRestClient(self.rest_url) as rest:
            markets = await choose_markets(rest, self.choice)
        return [token.token_id for market in markets for token in market.tokens]


async def _record(run: RecordRun) -> None:
    from polyinfra.clob.live_books import LiveBooks
    from polyinfra.record.recorder import Recorder
    from polyinfra.record.sink_urls import open_sink

    sink = open_sink(run.sink_url)
    recorder = Recorder(sink)
    try:
        token_ids = await run.token_ids()
        async with recorder, LiveBooks(run.rest_url, run.ws_url, recorder=recorder) as books:
            await books.subscribe(token_ids)
            typer.echo(f"polyinfra record: {len(token_ids)} tokens into {sink.url}", err=True)
            await _show_status(recorder, duration_s=run.duration_s, status_s=run.status_s)
    finally:
        # Also after Ctrl-C: the recorder has stopped, so this is what the tape holds.
        _print_status(recorder, events_per_s=None)
        await sink.close()


async def _show_status(recorder: Recorder, *, duration_s: float, status_s: float) -> None:
    """A status line on stderr every ``status_s`` until ``duration_s`` (0: until cancelled)."""
    started_s = time.monotonic()
    written, at_s = recorder.stats.written, started_s
    while duration_s == 0 or time.monotonic() - started_s < duration_s:
        wait_s = status_s if duration_s == 0 else min(status_s, duration_s - (time.monotonic() - started_s))
        await asyncio.sleep(max(wait_s, 0.0))
        now_s = time.monotonic()
        stats = recorder.stats
        _print_status(recorder, events_per_s=(stats.written - written) / max(now_s - at_s, 1e-9))
        written, at_s = stats.written, now_s


def _print_status(recorder: Recorder, *, events_per_s: float | None) -> None:
    stats = recorder.stats
    watermark = stats.acknowledged
    rate = "" if events_per_s is None else f"{events_per_s:,.0f} events/s · "
    acknowledged = "none" if watermark is None else f"{watermark.records:,} ({watermark.event_id})"
    print(
        f"record: {rate}queue {stats.queued:,} · acknowledged {acknowledged} · "
        f"gaps {stats.gaps:,} ({stats.dropped:,} records dropped)",
        file=sys.stderr,
        flush=True,
    )


def coverage(*, sink: SinkOption, key: KeysOption = None, log_level: LogLevelOption = COMMAND_LOG_LEVEL) -> None:
    """Print each key's covered time and its gaps, with reasons.

    By source and channel: the market channel's tokens, the user channel's markets, the US exchange's symbols.
    """
    configure_command_logging(log_level)
    with one_line_errors("coverage"):
        asyncio.run(_coverage(sink, key or []))


async def _coverage(sink_url: str, keys: list[str]) -> None:
    from polyinfra.record.coverage import read_manifest
    from polyinfra.record.sink_urls import open_sink

    sink = open_sink(sink_url)
    try:
        span = await read_manifest(sink)
    finally:
        await sink.close()
    manifest, first_ns, last_ns = span.manifest, span.first_wall_ns, span.last_wall_ns
    if first_ns is None:
        print("the recording is empty")
        return
    for source, channel, key in _coverage_keys(manifest, keys):
        found = manifest.coverage(key, first_ns, last_ns, source=source, channel=channel)
        covered_ns = sum(interval.end_wall_ns - interval.start_wall_ns for interval in found.covered)
        # The user channel's empty key: subscribed to every market of its API key.
        label = key or "(every market)"
        print(
            f"{source}/{channel} {label}: covered {covered_ns / _NS_PER_S:.3f} s"
            f" of {(last_ns - first_ns) / _NS_PER_S:.3f} s"
        )
        for gap in found.gaps:
            start_s, end_s = (gap.start_wall_ns - first_ns) / _NS_PER_S, (gap.end_wall_ns - first_ns) / _NS_PER_S
            print(f"  gap {start_s:.3f}-{end_s:.3f} s: {gap.reason}")


def _coverage_keys(manifest: CoverageManifest, keys: list[str]) -> list[tuple[str, str, str]]:
    """(source, channel, key) of every key in the manifest, or of ``keys`` only; a key the
    manifest does not know is shown as a market channel token, all of it not recorded."""
    known = [
        (source, channel, key)
        for source, channel in manifest.channels()
        for key in manifest.keys_of(source, channel)
        if not keys or key in keys
    ]
    unknown = [("clob", "market", key) for key in keys if all(key != found for _, _, found in known)]
    return known + unknown


def replay(
    *,
    sink: SinkOption,
    speed: Annotated[
        str,
        typer.Option(
            "--speed", metavar="N|max", help="N times the recorded pace, or max: as fast as it goes (the default)."
        ),
    ] = "max",
    key: KeysOption = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--start", metavar="TIME", help="Begin here (ISO 8601 or unix seconds); the books before it are rebuilt."
        ),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", metavar="TIME", help="Stop here (ISO 8601 or unix seconds).")
    ] = None,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Serve the replay over the market channel and /book(s) instead of printing it; with --channel us, "
            "over the US exchange's gRPC API (market data, reference data) without checking any token.",
        ),
    ] = False,
    host: Annotated[
        str, typer.Option("--host", metavar="HOST", help="With --serve: interface to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", help="With --serve: port to listen on; 0 picks a free one.")
    ] = 0,
    paused: Annotated[
        bool,
        typer.Option("--paused", help="With --serve (market channel): hold at the start until POST /replay/resume."),
    ] = False,
    duration: DurationOption = 0.0,
    channel: Annotated[
        str,
        typer.Option(
            "--channel",
            metavar="CHANNEL",
            help="market: rebuild the books; user: the user channel's order and trade events; "
            "us: rebuild the US exchange's books; rtds or polybolt: the live-data events (trades, prices, "
            "comments) and gaps as polyinfra live delivered them.",
        ),
    ] = "market",
    topic: Annotated[
        list[str] | None,
        typer.Option(
            "--topic",
            metavar="TOPIC",
            help="With --channel rtds or polybolt: only this topic's events (repeatable), e.g. activity.",
        ),
    ] = None,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """Rebuild the books from a recording, or serve them (--serve).

    The books are rebuilt with polyinfra's own parsers.

    With --serve, one JSON line on stdout gives the URLs once the replay is at its start; it serves
    until Ctrl-C or --duration, the final books after the tape ends. A US tape (--channel us) is served
    as {"grpc": "HOST:PORT"}, plaintext and with no token checks (a local replay).
    """
    configure_command_logging(log_level)
    with one_line_errors("replay"):
        if channel == "user":
            if speed != "max" or key or start or end or serve or paused or duration or topic:
                raise InvalidValueError(
                    "--speed, --key, --start, --end, --topic and --serve do not go with --channel user"
                )
            asyncio.run(_replay_user(sink))
            return
        if channel not in _REPLAYED_CHANNELS:
            raise InvalidValueError(
                "no such channel to replay: market, user, us, rtds or polybolt", channel=channel[:40]
            )
        if channel not in ("market", "us") and (serve or paused or duration):
            raise InvalidValueError("--serve replays the market channel and US tapes only")
        if channel == "us" and paused:
            raise InvalidValueError("--paused holds the market channel's replay only (a US tape starts when served)")
        if topic and channel not in _LIVE_DATA_CHANNELS:
            raise InvalidValueError("--topic goes with --channel rtds or polybolt")
        window = _ReplayWindow(
            speed=replay_speed(speed),
            keys=key,
            start_wall_ns=None if start is None else wall_time_ns(start),
            end_wall_ns=None if end is None else wall_time_ns(end),
        )
        if not serve and (paused or duration):
            raise InvalidValueError("--paused and --duration go with --serve")
        if channel in _LIVE_DATA_CHANNELS:
            asyncio.run(_replay_live_data(sink, window, channel, topic))
        elif serve:
            from polyinfra.cli.watch import run_until_stopped

            run_until_stopped(
                _serve_replay(
                    sink, window, us=channel == "us", host=host, port=port, paused=paused, duration_s=duration
                )
            )
        else:
            asyncio.run(_replay(sink, window, us=channel == "us"))


@dataclass(frozen=True, slots=True)
class _ReplayWindow:
    """What of the tape to replay, and how fast (None: as fast as it goes)."""

    speed: float | None
    keys: list[str] | None
    start_wall_ns: int | None
    end_wall_ns: int | None


async def _serve_replay(
    sink_url: str, window: _ReplayWindow, *, us: bool, host: str, port: int, paused: bool, duration_s: float
) -> None:
    """Serve the market channel's tape (``us``: the US exchange's, over gRPC) until ``duration_s`` (0: forever)."""
    from polyinfra.record.replay_server import ReplayServer
    from polyinfra.record.sink_urls import open_sink
    from polyinfra.record.us_replay_server import UsReplayServer

    sink = open_sink(sink_url)
    try:
        server = (UsReplayServer if us else ReplayServer)(
            sink,
            host=host,
            port=port,
            speed=window.speed,
            start_wall_ns=window.start_wall_ns,
            end_wall_ns=window.end_wall_ns,
            keys=window.keys,
            paused=paused,
        )
        async with server:
            # The one line on stdout: scripts and tests wait for it to know the replay is served.
            line = {"grpc": server.target} if isinstance(server, UsReplayServer) else server.urls
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()
            await asyncio.sleep(math.inf if duration_s == 0 else duration_s)
    finally:
        await sink.close()


async def _replay(sink_url: str, window: _ReplayWindow, *, us: bool = False) -> None:
    """Replay the market channel (``us``: the US exchange's market data), print the books and the stats."""
    from polyinfra.record.replay import Replay
    from polyinfra.record.sink_urls import open_sink
    from polyinfra.record.us_replay import UsReplay, UsReplayStats

    sink = open_sink(sink_url)
    try:
        replayed = (UsReplay if us else Replay)(
            sink,
            speed=window.speed,
            keys=window.keys,
            start_wall_ns=window.start_wall_ns,
            end_wall_ns=window.end_wall_ns,
        )
        stats = await replayed.run()
    finally:
        await sink.close()
    for token, book in replayed.books.items():
        best_bid, best_ask = book.best_bid(), book.best_ask()
        print(
            f"{token}: {replayed.states[token]} · bid {best_bid.price if best_bid else '-'} · "
            f"ask {best_ask.price if best_ask else '-'} · {len(book.bids())}/{len(book.asks())} levels"
        )
    if isinstance(stats, UsReplayStats):
        print(
            f"replayed {stats.records:,} US records ({stats.frames:,} frames): {stats.updates:,} updates applied, "
            f"{stats.invalid_updates:,} refused as live refused them, {stats.malformed_frames:,} unparseable"
        )
        return
    print(
        f"replayed {stats.records:,} records ({stats.frames:,} frames, {stats.rest_responses:,} REST snapshots): "
        f"{stats.checkpoints_matched:,} checkpoints matched, {stats.checkpoints_diverged:,} diverged, "
        f"{stats.hash_mismatches:,} hash mismatches"
    )
    if stats.first_divergence is not None:
        divergence = stats.first_divergence
        print(f"first divergence: {divergence.token_id} at {divergence.event_id}")
        raise typer.Exit(1)


async def _replay_live_data(sink_url: str, window: _ReplayWindow, channel: str, topics: list[str] | None) -> None:
    """Replay the RTDS or PolyBolt tape: a line per event, as ``polyinfra live`` prints it, then the stats."""
    from polyinfra.cli.live_commands import format_live_event
    from polyinfra.record.polybolt_replay import PolyBoltReplay
    from polyinfra.record.rtds_replay import RtdsReplay
    from polyinfra.record.sink_urls import open_sink

    sink = open_sink(sink_url)
    try:
        replayed = (RtdsReplay if channel == "rtds" else PolyBoltReplay)(
            sink,
            speed=window.speed,
            keys=window.keys,
            topics=topics,
            start_wall_ns=window.start_wall_ns,
            end_wall_ns=window.end_wall_ns,
        )
        async for event in replayed:
            print(format_live_event(event, jsonl=False))
    finally:
        await sink.close()
    stats = replayed.stats
    print(
        f"replayed {stats.records:,} {channel} records ({stats.frames:,} frames, {stats.malformed_frames:,} "
        f"malformed): {stats.events:,} events, {stats.gaps:,} of them gaps"
    )


async def _replay_user(sink_url: str) -> None:
    from polyinfra.clob.user_replay import UserReplay
    from polyinfra.model.trading_events import OrderUpdate
    from polyinfra.record.sink_urls import open_sink

    sink = open_sink(sink_url)
    try:
        replayed = UserReplay(sink)
        async for event in replayed:
            told = "REST" if event.reconciled else "socket"
            if isinstance(event, OrderUpdate):
                print(
                    f"order {event.order_id} {event.kind} {event.status} {event.side} {event.price} · "
                    f"matched {event.size_matched}/{event.original_size} ({told})"
                )
            else:
                print(f"trade {event.trade_id} {event.status} {event.side} {event.size} @ {event.price} ({told})")
    finally:
        await sink.close()
    stats = replayed.stats
    print(
        f"replayed {stats.records:,} user records ({stats.frames:,} frames, {stats.reconciliations:,} "
        f"reconciliations): {stats.events:,} events, {stats.reconciled_events:,} of them from REST, "
        f"{stats.duplicates_skipped:,} duplicates skipped"
    )


def export(
    *,
    sink: SinkOption,
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="A new or empty directory for the Parquet files.")],
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            metavar="KEY",
            help="Only this token (repeatable); with --source rtds or polybolt: a wallet, a symbol or a "
            "comment's entity id. Default: all.",
        ),
    ] = None,
    source: Annotated[
        str,
        typer.Option(
            "--source",
            metavar="SOURCE",
            help="clob: the market channel's books; us: the US exchange's books; rtds or polybolt: the "
            "live-data trades, prices, comments and gaps.",
        ),
    ] = "clob",
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """Write a recording as normalised Parquet tables.

    Book deltas, trades and best bid/ask for market data; activity, prices, comments and gaps for RTDS
    and PolyBolt. Rebuilt from the raw tape with polyinfra's own parsers, partitioned by source and date, with
    the coverage manifest beside the books (coverage.json); a live-data tape's holes are its gaps table.
    """
    configure_command_logging(log_level)
    with one_line_errors("export"):
        asyncio.run(_export(sink, out, key, source))


async def _export(sink_url: str, out: Path, keys: list[str] | None, source: str) -> None:
    from polyinfra.errors import ExportError
    from polyinfra.record.sink_urls import open_sink

    try:
        from polyinfra.record.export import export_parquet
    except ImportError as exc:
        raise ExportError("export needs pyarrow: pip install 'polyinfra[parquet]'") from exc
    sink = open_sink(sink_url)
    try:
        summary = await export_parquet(sink, out, keys=keys, source=source)
    finally:
        await sink.close()
    rows = ", ".join(f"{count:,} {table}" for table, count in summary.rows.items())
    left_out = f"; {summary.left_out:,} events left out, a number past the columns" if summary.left_out else ""
    print(f"exported {rows} rows into {out} ({len(summary.files)} files){left_out}")
