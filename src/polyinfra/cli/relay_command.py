"""``polyinfra relay --from nats://HOST/STREAM --to postgresql://...``: copy a JetStream recording (a
fleet's too) into another sink exactly once, through a durable consumer, with a status line on stderr.
The relay is :mod:`polyinfra.record.relay`'s."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from polyinfra.cli.options import COMMAND_LOG_LEVEL, DurationOption, LogLevelOption, configure_command_logging

if TYPE_CHECKING:
    from polyinfra.record.relay import Relay

__all__ = ["relay"]


def relay(
    *,
    source: Annotated[
        str, typer.Option("--from", metavar="URL", help="The recording to copy: nats://HOST[:PORT]/STREAM.")
    ],
    target: Annotated[
        str, typer.Option("--to", metavar="URL", help="Where to copy it: postgresql://... or sqlite:///PATH.")
    ],
    durable: Annotated[
        str, typer.Option("--durable", metavar="NAME", help="The durable consumer: a restart resumes from it.")
    ] = "polyinfra-relay",
    batch: Annotated[int, typer.Option("--batch", min=1, max=100_000, help="Messages per write.")] = 1_000,
    ack_wait_s: Annotated[
        float,
        typer.Option(
            "--ack-wait-s", min=0.5, metavar="SECONDS", help="When the server resends what was not acknowledged."
        ),
    ] = 30.0,
    duration: DurationOption = 0.0,
    status_s: Annotated[
        float, typer.Option("--status-s", min=0.1, metavar="SECONDS", help="Time between status lines on stderr.")
    ] = 5.0,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """Copy a NATS recording into PostgreSQL exactly once.

    Through a durable consumer: acknowledged after the commit, stored once by event id.
    """
    from polyinfra.cli.options import one_line_errors
    from polyinfra.cli.watch import run_until_stopped

    configure_command_logging(log_level)
    with one_line_errors("relay"):
        run_until_stopped(
            _relay(
                source_url=source,
                target_url=target,
                durable=durable,
                batch=batch,
                ack_wait_s=ack_wait_s,
                duration_s=duration,
                status_s=status_s,
            )
        )


async def _relay(
    *,
    source_url: str,
    target_url: str,
    durable: str,
    batch: int,
    ack_wait_s: float,
    duration_s: float,
    status_s: float,
) -> None:
    from polyinfra.errors import SinkUrlError
    from polyinfra.record.jetstream_sink import JetStreamSink
    from polyinfra.record.relay import Relay
    from polyinfra.record.sink_urls import open_sink

    source = open_sink(source_url)
    if not isinstance(source, JetStreamSink):
        raise SinkUrlError("the relay copies from NATS JetStream: --from nats://HOST[:PORT]/STREAM", url=source.url)
    target = open_sink(target_url)
    relay = Relay(source, target, durable=durable, batch_size=batch, ack_wait_s=ack_wait_s)
    running = asyncio.create_task(relay.run(), name="relay")
    loop = asyncio.get_running_loop()
    started_s = loop.time()
    try:
        while duration_s == 0 or loop.time() - started_s < duration_s:
            wait_s = status_s if duration_s == 0 else min(status_s, duration_s - (loop.time() - started_s))
            done, _ = await asyncio.wait({running}, timeout=max(wait_s, 0.0))
            if done:
                running.result()
                return
            _print_status(relay, source.url, target.url)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        _print_status(relay, source.url, target.url)
        await source.close()
        await target.close()


def _print_status(relay: Relay, source: str, target: str) -> None:
    stats = relay.stats
    print(
        f"relay: {source} -> {target} · {stats.records:,} records in {stats.batches:,} batches · "
        f"{stats.corrupt:,} undecodable · {stats.write_failures:,} write failures",
        file=sys.stderr,
        flush=True,
    )
