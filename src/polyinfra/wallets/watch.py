"""Tracking 100 to 1,000+ wallets' fills gap-free: :class:`WalletWatch`, the thin I/O over
:class:`~polyinfra.core.wallet_watch_state.WalletWatchState`.

::

    async with WalletWatch(source, wallets, store=sink, budget_rps=5) as watch:
        async for event in watch:          # WalletActivity (with .source) or LossEvent
            ...

One scheduler task asks the core which wallet's page to fetch next (under the one request budget),
runs up to ``max_in_flight`` fetches, and moves what the core decided (rows, loss events, progress
marks) in order into a bounded queue. An optional live iterator (``LiveData.activity(wallets=...)``)
feeds rows that are delivered at once; the Data API's row for the same fill is dropped later.

**Back-pressure, not loss.** When the consumer falls behind and the queue fills, the scheduler waits
to put the next row and so stops fetching: the budget goes unused, nothing is dropped, and the
watermarks simply stop moving until the consumer catches up. A live row that finds the queue full
is dropped and counted (``live_overflow``): it was not remembered as delivered, so the complete feed
delivers it a few seconds later.

**Delivered means handed out.** A row counts as delivered when :meth:`WalletWatch.__anext__` returns
it. Handed-out rows, loss events and the progress marks behind them are committed to the store in
batches (every ``commit_every`` events, when the consumer has taken every row queued, progress alone
every ``commit_interval_s``, and on exit); a
progress mark is committed only after every row before it was handed out. A clean stop and restart
therefore delivers nothing twice and misses nothing; a crash repeats at most the batch not yet
committed. A store that refuses a batch raises its :class:`~polyinfra.errors.SinkWriteError` from
the iterator (the batch is kept and retried on the next commit): a watch whose progress cannot be
stored stops rather than runs on unrecorded.

**One budget across restarts.** With a store, the times of the requests sent go with every commit (and
the exit's), and a watch starting over the same store counts those still inside the budget's window
against its own budget (``clock`` is the time both runs read): two restarts within one window send no
more than one process would. What was sent after the last commit before a crash is not known to the
next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, Final, Self

import msgspec

from polyinfra.core.wallet_watch_state import (
    Continuity,
    LossEvent,
    LossReason,
    PageRequest,
    ProgressMark,
    WalletProgress,
    WalletWatchState,
    WatchedWallet,
    WatchEvent,
    WatchSettings,
    WatchStats,
)
from polyinfra.errors import PolyinfraError, WrongContextError
from polyinfra.model.live_events import ActivityTrade
from polyinfra.model.wallet_activity import WalletActivity, WalletActivitySource
from polyinfra.obs.metrics import (
    QUEUE_DEPTH,
    QUEUE_DROPS,
    WALLET_WATCH_FILLS,
    WALLET_WATCH_LOSSES,
    WALLET_WATCH_REQUESTS,
    WALLET_WATCH_WALLETS,
)
from polyinfra.record.sink import Sink
from polyinfra.wallets.watch_store import StoredWatch, WalletWatchStore

# The watch's own types are importable from here, where users meet them.
__all__ = [
    "Continuity",
    "LossEvent",
    "LossReason",
    "WalletWatch",
    "WatchEvent",
    "WatchSettings",
    "WatchStats",
    "WatchedWallet",
]

_log: Final = logging.getLogger(__name__)
_GAUGES_EVERY_S: Final = 1.0
"""How often the per-continuity gauges are recounted (a pass over every wallet)."""
_QUEUE: Final = "wallet_watch"
_LIVE_QUEUE: Final = "wallet_watch_live"


class WalletWatch:
    """Every fill of ``wallets`` exactly once, or a :class:`LossEvent` naming what may be missing.

    ``source`` serves pages (the Data API client); ``store`` is a recorder sink the state is kept in
    (None: nothing survives a restart); ``budget_rps`` overrides ``settings.budget_rps``; ``since_s``
    is where new wallets start (default: now); ``live`` is an optional async iterator of live events
    (only :class:`~polyinfra.model.live_events.ActivityTrade` is used); ``clock`` gives unix seconds
    and ``sleep`` waits (both injected so tests drive time)."""

    def __init__(
        self,
        source: WalletActivitySource,
        wallets: Iterable[str],
        *,
        store: Sink | None = None,
        budget_rps: float | None = None,
        settings: WatchSettings | None = None,
        since_s: int | None = None,
        live: AsyncIterator[object] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        queue_size: int = 10_000,
        max_in_flight: int = 4,
        commit_every: int = 256,
        commit_interval_s: float = 5.0,
    ) -> None:
        settings = settings or WatchSettings()
        if budget_rps is not None:
            settings = dataclasses.replace(settings, budget_rps=budget_rps)
        self._source = source
        self._initial = [wallet.strip().lower() for wallet in wallets]
        self._store = None if store is None else WalletWatchStore(store)
        self._since_s = since_s
        self._live = live
        self._clock = clock
        self._sleep = sleep
        self._max_in_flight = max(1, max_in_flight)
        self._commit_every = max(1, commit_every)
        self._commit_interval_s = commit_interval_s
        self._committed_s = clock()
        self._core = WalletWatchState(settings)
        self._queue: asyncio.Queue[WatchEvent | ProgressMark] = asyncio.Queue(maxsize=max(1, queue_size))
        self._wake = asyncio.Event()
        self._fetches: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._stored = StoredWatch()
        self._requests_stored = 0
        """How many of this run's requests a commit has stored: the next commit stores those sent since."""
        self._handed_fills: list[WalletActivity] = []
        self._handed_losses: list[LossEvent] = []
        self._handed_progress: dict[str, WalletProgress] = {}
        self._write: asyncio.Task[None] | None = None
        """The store write in flight; what it writes is in :attr:`_writing` until it has settled."""
        self._writing: tuple[list[WalletActivity], list[LossEvent], dict[str, WalletProgress]] = ([], [], {})
        self._live_overflow = 0
        self._started = False
        self._gauges_s = -float("inf")

    # --- life ----------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._started:
            raise WrongContextError("a WalletWatch runs once; make a new one to watch again")
        self._started = True
        now = self._clock()
        if self._store is not None:
            self._stored = await self._store.load(
                dedupe_window_s=self._core.settings.dedupe_window_s,
                default_since_s=int(now) if self._since_s is None else self._since_s,
                requests_since_s=now - self._core.settings.budget_window_s,
            )
            self._core.precharge(self._stored.requests_s, now)
        for wallet in self._initial:
            self.add(wallet)
        self._tasks.append(asyncio.create_task(self._schedule(), name="wallet-watch scheduler"))
        if self._live is not None:
            self._tasks.append(asyncio.create_task(self._follow_live(self._live), name="wallet-watch live"))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in [*self._tasks, *self._fetches]:
            task.cancel()
        for task in [*self._tasks, *self._fetches]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._commit()

    # --- the wallets ---------------------------------------------------------------------------------

    def add(self, wallet: str, *, since_s: int | None = None) -> None:
        """Watch ``wallet`` too (call it inside ``async with``): from where the stored state of an
        earlier run left it, else from ``since_s`` (default: the watch's, else now). A wallet removed
        and added again in the same run starts afresh from ``since_s``."""
        wallet = wallet.strip().lower()
        self._core.add(
            wallet,
            now_s=self._clock(),
            since_s=self._since_s if since_s is None else since_s,
            progress=self._stored.progress.pop(wallet, None),
            delivered=self._stored.delivered.pop(wallet, None),
        )
        self._wake.set()

    def remove(self, wallet: str) -> None:
        """Stop watching ``wallet`` (rows of it already queued are still delivered)."""
        self._core.remove(wallet)

    def stats(self) -> WatchStats:
        """Per wallet: watermark, last fill, fills, continuity; and requests against the budget."""
        stats = self._core.stats(self._clock())
        losses = self._stored.losses
        wallets = tuple(
            msgspec.structs.replace(wallet, losses=wallet.losses + losses.get(wallet.wallet, 0))
            for wallet in stats.wallets
        )
        return msgspec.structs.replace(
            stats, wallets=wallets, queued=self._queue.qsize(), live_overflow=self._live_overflow
        )

    # --- the stream ----------------------------------------------------------------------------------

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> WatchEvent:
        if not self._tasks:
            raise WrongContextError("iterate a WalletWatch inside 'async with' (it starts there)")
        while True:
            if self._commit_due():
                await self._commit()
            item = await self._next_item()
            if isinstance(item, ProgressMark):
                self._handed_progress[item.progress.wallet] = item.progress
                continue
            if isinstance(item, LossEvent):
                self._handed_losses.append(item)
                WALLET_WATCH_LOSSES.labels(reason=item.reason.value).inc()
            else:
                self._handed_fills.append(item)
                WALLET_WATCH_FILLS.labels(source=item.source.value).inc()
            self._export_gauges()
            return item

    def _export_gauges(self) -> None:
        now = self._clock()
        QUEUE_DEPTH.labels(queue=_QUEUE).set(self._queue.qsize())
        if now - self._gauges_s < _GAUGES_EVERY_S:
            return
        self._gauges_s = now
        counts = dict.fromkeys(Continuity, 0)
        for wallet in self._core.stats(now).wallets:
            counts[wallet.continuity] += 1
        for continuity, count in counts.items():
            WALLET_WATCH_WALLETS.labels(continuity=continuity.value).set(count)

    async def _next_item(self) -> WatchEvent | ProgressMark:
        """The next queued item; the scheduler's failure (a bug) is raised rather than waited on."""
        if not self._queue.empty():
            return self._queue.get_nowait()
        getter = asyncio.ensure_future(self._queue.get())
        try:
            await asyncio.wait([getter, *self._tasks[:1]], return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        scheduler = self._tasks[0]
        if scheduler.done() and not scheduler.cancelled() and scheduler.exception() is not None:
            raise PolyinfraError("the wallet watch's scheduler failed") from scheduler.exception()
        raise StopAsyncIteration

    def _commit_due(self) -> bool:
        """A full batch; or rows or losses handed out and the consumer about to wait; or progress or request
        times alone after ``commit_interval_s`` (an idle wallet's progress is worth one write a while)."""
        if self._uncommitted() >= self._commit_every:
            return True
        if self._queue.empty() and (self._handed_fills or self._handed_losses):
            return True
        # Counted, not listed: this runs for every event handed out.
        unstored = self._store is not None and self._core.requests > self._requests_stored
        waiting = bool(self._handed_progress) or unstored
        return waiting and self._clock() - self._committed_s >= self._commit_interval_s

    def _uncommitted(self) -> int:
        return len(self._handed_fills) + len(self._handed_losses) + len(self._handed_progress)

    def _unstored_requests(self) -> tuple[float, ...]:
        """The times of this run's requests still inside the budget's window that no commit has stored yet
        (the newest ones: requests are sent in clock order, after the times an earlier run left)."""
        unstored = self._core.requests - self._requests_stored
        if self._store is None or not unstored:
            return ()
        in_window = self._core.sent_in_window(self._clock())
        return in_window[max(0, len(in_window) - unstored) :]

    async def _commit(self) -> None:
        await self._settle_write()
        requests_s = self._unstored_requests()
        if self._store is None or not (self._uncommitted() or requests_s):
            self._handed_fills, self._handed_losses, self._handed_progress = [], [], {}
            return
        self._writing = (self._handed_fills, self._handed_losses, self._handed_progress)
        self._handed_fills, self._handed_losses, self._handed_progress = [], [], {}
        self._committed_s = self._clock()
        fills, losses, progress = self._writing
        # Counted as stored now: a failed write loses them, which costs at most one window's budget twice.
        self._requests_stored = self._core.requests
        self._write = asyncio.ensure_future(
            self._store.commit(fills, losses, progress.values(), now_s=self._clock(), requests_s=requests_s)
        )
        await self._settle_write()

    async def _settle_write(self) -> None:
        """Wait for the store write in flight. A consumer cancelled while it waits leaves the write running
        (its thread cannot be stopped): the next commit, or the exit, waits for it here, so two writes never
        overlap. A write that failed puts its rows back in front of those handed out since (not durable: a
        crash from here repeats them after a restart) and raises."""
        write = self._write
        if write is None:
            return
        await asyncio.wait([write])  # being cancelled here does not cancel the write
        self._write = None
        fills, losses, progress = self._writing
        self._writing = ([], [], {})
        if write.cancelled() or write.exception() is not None:
            self._handed_fills[:0], self._handed_losses[:0] = fills, losses
            self._handed_progress = {**progress, **self._handed_progress}
            write.result()

    # --- the tasks -----------------------------------------------------------------------------------

    async def _schedule(self) -> None:
        while True:
            self._wake.clear()
            for item in self._core.drain():
                await self._queue.put(item)  # back-pressure: no new requests while the consumer lags
            if len(self._fetches) >= self._max_in_flight:
                await self._wait(None)
                continue
            now = self._clock()
            step = self._core.next_request(now)
            if isinstance(step, PageRequest):
                fetch = asyncio.create_task(self._fetch(step))
                self._fetches.add(fetch)
                fetch.add_done_callback(self._fetches.discard)
                continue
            await self._wait(None if step is None else step - now)

    async def _wait(self, delay_s: float | None) -> None:
        """Until something changes (an answer, a live row, a wallet added) or ``delay_s`` passed."""
        if self._wake.is_set():
            return
        waiter = asyncio.ensure_future(self._wake.wait())
        waits: list[asyncio.Future[Any]] = [waiter]
        if delay_s is not None:
            waits.append(asyncio.ensure_future(self._sleep(max(0.0, delay_s))))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def _fetch(self, request: PageRequest) -> None:
        WALLET_WATCH_REQUESTS.inc()
        try:
            page = await self._source.activity_page(
                request.wallet, start_s=request.start_s, cursor=request.cursor, limit=request.limit
            )
        except PolyinfraError as exc:
            self._core.on_error(request, exc, self._clock())
        except Exception as exc:
            _log.warning("wallet activity source raised %s", type(exc).__name__)
            failure = PolyinfraError(f"the activity source raised {type(exc).__name__}", retriable=True)
            self._core.on_error(request, failure, self._clock())
        else:
            self._core.on_page(request, page, self._clock())
        finally:
            self._wake.set()

    async def _follow_live(self, live: AsyncIterator[object]) -> None:
        try:
            await self._take_live(live)
        except PolyinfraError as exc:
            # The complete feed still covers every wallet; only the head start is gone.
            _log.warning("the live activity feed ended: %s", exc)

    async def _take_live(self, live: AsyncIterator[object]) -> None:
        async for event in live:
            if not isinstance(event, ActivityTrade):
                continue
            if self._queue.full():
                self._live_overflow += 1  # the complete feed delivers it later: it was not remembered
                QUEUE_DROPS.labels(queue=_LIVE_QUEUE).inc()
                continue
            row = self._core.on_live(event, self._clock())
            if row is not None:
                self._queue.put_nowait(row)
                self._wake.set()
