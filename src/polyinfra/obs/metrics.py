"""Prometheus metrics for polyinfra, on one dedicated registry.

Everything lives on :data:`REGISTRY`, never on prometheus-client's global default registry, so an
application embedding polyinfra keeps its own metrics namespace clean and tests can scrape exactly
what polyinfra exports. :func:`serve_metrics` exposes the registry on ``/metrics``; the CLI starts it
for every long-running command given ``--metrics-port``.

Label values must come from small, fixed sets (endpoint *templates* such as ``/book`` — never a URL
with a token id in it —, HTTP methods, status codes, queue names). A label per token would create
5,000 series per metric on a busy bot; per-token facts are aggregated before they get here.

Only the I/O layers and consumers record metrics. The pure core (``model/``, ``core/``, ``wire/``)
never imports this module.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)

__all__ = [
    "BOOK_RESYNCS",
    "BOOK_STALENESS",
    "BREAKER_STATE",
    "BREAKER_TRANSITIONS",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "MALFORMED_ANSWERS",
    "QUEUE_DEPTH",
    "QUEUE_DROPS",
    "RATE_LIMIT_WAIT",
    "RECORDER_DROPPED",
    "RECORDER_QUEUE_DEPTH",
    "RECORDER_RECORDS",
    "RECORDER_WRITE_FAILURES",
    "REGISTRY",
    "RETRIES",
    "SIGNER_RATE_LIMIT_WARNINGS",
    "STALE_BOOKS",
    "TASK_FAILURES",
    "US_MARKET_DATA_MESSAGES",
    "US_MARKET_DATA_RECONNECTS",
    "WS_FRAMES",
    "WS_RECONNECTS",
    "BreakerStateValue",
    "MetricsServer",
    "add_new_counts",
    "serve_metrics",
]

REGISTRY = CollectorRegistry()
"""The registry every polyinfra metric is registered on (never prometheus-client's global one)."""

# What a process that runs for weeks needs watched besides polyinfra's own numbers: memory, CPU and
# open file descriptors (process_*), garbage collections (python_gc_*), the interpreter (python_info).
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

# A loopback emulator answers in well under a millisecond; the real venue takes tens to hundreds of
# milliseconds and, during a matching-engine restart or a 5xx storm, requests can hang until their
# read timeout. The buckets span 1 ms to 30 s so both ends of that range stay distinguishable.
_REQUEST_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# Burst windows are 10 s and sustained windows 10 minutes (venue notes: Rate limits), so a throttled caller can
# wait from a millisecond up to minutes when it exhausts a sustained window.
_RATE_LIMIT_WAIT_BUCKETS_S = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0)

HTTP_REQUESTS = Counter(
    "polyinfra_http_requests",
    "HTTP requests sent, by endpoint template, method and outcome. status is the HTTP status code "
    "as a string, or 'error' when the transport failed before a status arrived.",
    ["endpoint", "method", "status"],
    registry=REGISTRY,
)

HTTP_LATENCY = Histogram(
    "polyinfra_http_request_duration_seconds",
    "Time from sending an HTTP request to receiving its full response, by endpoint template.",
    ["endpoint"],
    buckets=_REQUEST_LATENCY_BUCKETS_S,
    registry=REGISTRY,
)

RATE_LIMIT_WAIT = Histogram(
    "polyinfra_rate_limit_wait_seconds",
    "Time a request waited for a rate-limit bucket before being sent, by bucket name.",
    ["bucket"],
    buckets=_RATE_LIMIT_WAIT_BUCKETS_S,
    registry=REGISTRY,
)

RETRIES = Counter(
    "polyinfra_http_retries",
    "HTTP retries, by endpoint template and the reason for retrying (e.g. 429, 425, 5xx, timeout).",
    ["endpoint", "reason"],
    registry=REGISTRY,
)


SIGNER_RATE_LIMIT_WARNINGS = Counter(
    "polyinfra_signer_rate_limit_warnings",
    "Answers flagged Poly-RateLimit-Warning: true (the venue's per-signer bucket would have refused "
    "the request), by endpoint template.",
    ["endpoint"],
    registry=REGISTRY,
)


class BreakerStateValue:
    """The numbers :data:`BREAKER_STATE` reports, so dashboards can alert on ``> 0``."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


BREAKER_STATE = Gauge(
    "polyinfra_circuit_breaker_state",
    "Circuit breaker state per endpoint group: 0 closed, 1 half-open, 2 open.",
    ["group"],
    registry=REGISTRY,
)

BREAKER_TRANSITIONS = Counter(
    "polyinfra_circuit_breaker_transitions",
    "Circuit breaker transitions per endpoint group, labelled with the state entered.",
    ["group", "state"],
    registry=REGISTRY,
)

WS_FRAMES = Counter(
    "polyinfra_ws_frames",
    "WebSocket messages received, by channel and event type: each decoded event counts once (a frame "
    "holding a list of N events counts N), keep-alive replies count as 'pong', and 'unknown' where the "
    "counting layer does not decode frames.",
    ["channel", "event_type"],
    registry=REGISTRY,
)

WS_RECONNECTS = Counter(
    "polyinfra_ws_reconnects",
    "WebSocket sessions re-opened after a drop, by channel.",
    ["channel"],
    registry=REGISTRY,
)

BOOK_RESYNCS = Counter(
    "polyinfra_book_resyncs",
    "Order books discarded and re-synchronised from a snapshot, by reason (hash mismatch, gap, "
    "reconnect, crossed book, ...).",
    ["reason"],
    registry=REGISTRY,
)

BOOK_STALENESS = Gauge(
    "polyinfra_book_staleness_seconds",
    "Seconds since the least recently updated live book last received data (the worst staleness "
    "across all books). A live-book client sets it periodically from max(now - last update) over "
    "its books, so one series covers thousands of tokens.",
    registry=REGISTRY,
)

STALE_BOOKS = Gauge(
    "polyinfra_stale_books",
    "Number of live books currently marked stale (awaiting a fresh snapshot or past the silence threshold).",
    registry=REGISTRY,
)

MALFORMED_ANSWERS = Counter(
    "polyinfra_malformed_answers",
    "REST answers a streaming client could not use (undecodable, or values out of what the venue "
    "sends), by what they answered (a request such as 'POST /books', or a step such as "
    "'user reconciliation'): each one is logged and what it was for is retried.",
    ["request"],
    registry=REGISTRY,
)

TASK_FAILURES = Counter(
    "polyinfra_task_failures",
    "Background tasks of a client that ended with an exception (cancellation is not one), by task "
    "name. A long-running task (session runner, snapshot worker, watchdog, audit) is restarted after "
    "a backoff, so this counts its restarts; anything above 0 is a bug worth reporting.",
    ["task"],
    registry=REGISTRY,
)

US_MARKET_DATA_MESSAGES = Counter(
    "polyinfra_us_market_data_messages",
    "Messages received on the US exchange's market-data streams, by event: update, heartbeat, "
    "subscription_ack, subscription_error, malformed (did not parse; its stream starts over).",
    ["event"],
    registry=REGISTRY,
)

US_MARKET_DATA_RECONNECTS = Counter(
    "polyinfra_us_market_data_reconnects",
    "US exchange market-data sessions that ended and were opened again, by reason: disconnected, silence "
    "(nothing received for the silence timeout), malformed frame (a message that did not parse).",
    ["reason"],
    registry=REGISTRY,
)

QUEUE_DEPTH = Gauge(
    "polyinfra_queue_depth",
    "Items currently waiting in a bounded queue, by queue name.",
    ["queue"],
    registry=REGISTRY,
)

QUEUE_DROPS = Counter(
    "polyinfra_queue_drops",
    "Items dropped by a bounded queue's overflow policy, by queue name.",
    ["queue"],
    registry=REGISTRY,
)


@dataclass(slots=True)
class MetricsServer:
    """A running ``/metrics`` endpoint; :meth:`stop` (or leaving ``with``) shuts it down and releases the port."""

    host: str
    port: int
    _server: WSGIServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def url(self) -> str:
        """The scrape URL, e.g. ``http://127.0.0.1:9464/metrics``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        """Stop serving, close the listening socket and wait for the server thread to end."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def add_new_counts(counter: Counter, label: str, counts: Mapping[str, int], exported: dict[str, int]) -> None:
    """Add to ``counter`` what each of ``counts`` gained since ``exported`` (then brought up to date), under
    its one label ``label``: clients keep hot-path counts as plain ints and export them now and then."""
    for value, count in counts.items():
        added = count - exported.get(value, 0)
        if added:
            counter.labels(**{label: value}).inc(added)
            exported[value] = count


def serve_metrics(port: int, host: str = "127.0.0.1") -> MetricsServer:
    """Serve :data:`REGISTRY` on ``http://host:port/metrics`` from a background daemon thread.

    ``port=0`` binds a free port; the returned server's ``port`` is the one actually bound. The
    default host is loopback: exposing metrics beyond the machine is a deliberate choice.
    """
    server, thread = start_http_server(port, addr=host, registry=REGISTRY)
    return MetricsServer(host=host, port=server.server_port, _server=server, _thread=thread)


# --- recorder (appended here, with its own __all__ extension, so parallel branches merge cleanly) ----

RECORDER_RECORDS = Counter(
    "polyinfra_recorder_records",
    "Records the recorder's sink acknowledged (durably stored), by source and channel.",
    ["source", "channel"],
    registry=REGISTRY,
)

RECORDER_DROPPED = Counter(
    "polyinfra_recorder_dropped",
    "Records the recorder's full queue could not take, by source and channel; each run of them is a "
    "recorded gap in the coverage manifest.",
    ["source", "channel"],
    registry=REGISTRY,
)

RECORDER_QUEUE_DEPTH = Gauge(
    "polyinfra_recorder_queue_depth",
    "Records waiting in the recorder's queue for the sink.",
    registry=REGISTRY,
)

RECORDER_WRITE_FAILURES = Counter(
    "polyinfra_recorder_write_failures",
    "Batches the sink failed to store; the recorder keeps each and retries it.",
    registry=REGISTRY,
)


# --- live data (appended here, with its own __all__ extension, so parallel branches merge cleanly) ----

LIVE_GAPS = Counter(
    "polyinfra_live_gaps",
    "Holes a live-data client marked in its streams (reconnects, silent topics, refused "
    "subscriptions), by source (rtds).",
    ["source"],
    registry=REGISTRY,
)

LIVE_STALENESS = Gauge(
    "polyinfra_live_staleness_seconds",
    "Seconds since a subscribed live-data topic last delivered a frame, by source and topic.",
    ["source", "topic"],
    registry=REGISTRY,
)

__all__ += ["LIVE_GAPS", "LIVE_STALENESS"]


# --- wallet watch (appended here, with its own __all__ extension, so parallel branches merge cleanly) ----

WALLET_WATCH_REQUESTS = Counter(
    "polyinfra_wallet_watch_requests",
    "Activity pages the wallet watch asked its source for (all wallets: one budget).",
    registry=REGISTRY,
)

WALLET_WATCH_FILLS = Counter(
    "polyinfra_wallet_watch_fills",
    "Rows the wallet watch delivered, each once, by the source that brought it first (data_api, live).",
    ["source"],
    registry=REGISTRY,
)

WALLET_WATCH_LOSSES = Counter(
    "polyinfra_wallet_watch_losses",
    "Loss events the wallet watch delivered (spans it cannot prove complete), by reason.",
    ["reason"],
    registry=REGISTRY,
)

WALLET_WATCH_WALLETS = Gauge(
    "polyinfra_wallet_watch_wallets",
    "Watched wallets by continuity state (running, degraded, possible-data-loss).",
    ["continuity"],
    registry=REGISTRY,
)

__all__ += ["WALLET_WATCH_FILLS", "WALLET_WATCH_LOSSES", "WALLET_WATCH_REQUESTS", "WALLET_WATCH_WALLETS"]
