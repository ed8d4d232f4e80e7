"""A scripted ground truth of wallet activity for the wallet watch's tests: every wallet's rows, and a
source serving them the way the Data API does (5-10 s behind, keyset pages oldest first, a limited
history), with outages and pagination ceilings injected on a timetable.

``ScriptedActivity.page`` is the synchronous heart (the pure core's simulations call it directly);
:meth:`ScriptedActivity.activity_page` is the same behind the
:class:`~polyinfra.model.wallet_activity.WalletActivitySource` protocol for the async watch.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import random
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from polyinfra.core.wallet_watch_state import (
    LossEvent,
    PageRequest,
    ProgressMark,
    WalletProgress,
    WalletWatchState,
    WatchSettings,
)
from polyinfra.errors import HttpClientError, HttpServerError, PolyinfraError
from polyinfra.model.live_events import ActivityTrade
from polyinfra.model.numbers import Side
from polyinfra.model.wallet_activity import ActivityKind, ActivityPage, WalletActivity
from polyinfra.record.sink import Sink
from polyinfra.wallets.watch import WalletWatch

T0 = 1_790_000_000
"""The simulated session's start, unix seconds."""
WATCH_SETTINGS = WatchSettings(
    budget_rps=3.0, min_interval_s=5.0, max_interval_s=120.0, page_limit=10, dedupe_window_s=300
)
"""The async watch's tests' settings: small pages, so walks take several."""


def wallet_address(index: int) -> str:
    return f"0x{index:040x}"


def make_truth(
    wallet_count: int, duration_s: int, *, seed: int, busy_share: float = 0.1, start_s: int = T0
) -> dict[str, list[WalletActivity]]:
    """Rows per wallet: a share of busy wallets trading every few seconds, the rest rarely or never."""
    rng = random.Random(seed)
    truth: dict[str, list[WalletActivity]] = {}
    for index in range(wallet_count):
        wallet = wallet_address(index)
        busy = index < wallet_count * busy_share
        mean_gap = 8 if busy else 900
        rows: list[WalletActivity] = []
        t = start_s + rng.randrange(mean_gap)
        serial = 0
        while t < start_s + duration_s:
            serial += 1
            # Two rows in one transaction now and then (both outcomes), and several rows in one second.
            outcomes = (0, 1) if serial % 7 == 0 else (serial % 2,)
            for outcome in outcomes:
                rows.append(trade_row(wallet, t, serial=serial, outcome=outcome))
            t += rng.randrange(0, 2 * mean_gap)
        truth[wallet] = rows
    return truth


def trade_row(wallet: str, timestamp_s: int, *, serial: int = 1, outcome: int = 0) -> WalletActivity:
    """One buy of 10.5 shares at 0.5; ``serial`` makes its transaction, ``outcome`` its token."""
    condition = f"0x{serial % 5:064x}"
    return WalletActivity(
        wallet=wallet,
        kind=ActivityKind.TRADE,
        timestamp_s=timestamp_s,
        condition_id=condition,
        token_id=f"{serial % 5}{outcome}",
        outcome_index=outcome,
        side=Side.BUY,
        size=Decimal("10.5"),
        usdc_size=Decimal("5.25"),
        price=Decimal("0.5"),
        transaction_hash=f"0x{int(wallet, 16):032x}{serial:032x}",
    )


def live_of(row: WalletActivity, sent_ms: int) -> ActivityTrade:
    """The live push of a ground-truth trade row."""
    assert row.side is not None and row.price is not None and row.token_id is not None
    return ActivityTrade(
        kind="trades",
        wallet=row.wallet,
        side=row.side,
        price=row.price,
        size=row.size,
        token_id=row.token_id,
        condition_id=row.condition_id,
        outcome="Yes",
        market_slug="",
        event_slug="",
        title="",
        name="",
        pseudonym="",
        transaction_hash=row.transaction_hash,
        timestamp_s=row.timestamp_s,
        sent_ms=sent_ms,
    )


class CeilingError(HttpClientError):
    """The scripted source's pagination ceiling (the Data API's offset limit)."""


@dataclass
class ScriptedActivity:
    """The ground truth served page by page. ``outages`` are [start, end) spans of unix seconds in
    which every call fails with a 503 (``refusals``: a 400); a walk deeper than ``ceiling_rows`` rows
    is refused; history older than ``retention_s`` is refused."""

    truth: dict[str, list[WalletActivity]]
    clock: Callable[[], float]
    lag_s: int = 5
    outages: list[tuple[float, float]] = field(default_factory=list)
    refusals: list[tuple[float, float]] = field(default_factory=list)
    """Spans in which every call is refused for good (a cursor or a start the source will not take)."""
    ceiling_rows: int | None = None
    retention_s: int | None = None
    calls: list[float] = field(default_factory=list)
    calls_by_wallet: dict[str, int] = field(default_factory=dict)
    ceilings_hit: int = 0
    _time_index: dict[str, list[int]] = field(default_factory=dict)

    def _times(self, wallet: str) -> list[int]:
        if wallet not in self._time_index:
            self._time_index[wallet] = [row.timestamp_s for row in self.truth.get(wallet, ())]
        return self._time_index[wallet]

    def page(self, wallet: str, *, start_s: int, cursor: str | None = None, limit: int = 500) -> ActivityPage:
        now = self.clock()
        self.calls.append(now)
        self.calls_by_wallet[wallet] = self.calls_by_wallet.get(wallet, 0) + 1
        if any(start <= now < end for start, end in self.outages):
            raise HttpServerError("service unavailable", status=503)
        if any(start <= now < end for start, end in self.refusals):
            raise HttpClientError("cursor no longer valid", status=400)
        if self.retention_s is not None and start_s < int(now) - self.retention_s:
            raise HttpClientError("start is older than the history kept", status=400)
        through = int(now) - self.lag_s
        rows_of_wallet = self.truth.get(wallet, [])
        times = self._times(wallet)
        visible = rows_of_wallet[bisect.bisect_left(times, start_s) : bisect.bisect_right(times, through)]
        offset = int(cursor) if cursor else 0
        if self.ceiling_rows is not None and offset + limit > self.ceiling_rows and offset + limit < len(visible):
            self.ceilings_hit += 1
            raise CeilingError("offset ceiling", status=400)
        rows = visible[offset : offset + limit]
        if offset + limit < len(visible):
            # Mid-walk, the source vouches only for the seconds before the last row's.
            return ActivityPage(wallet, tuple(rows), str(offset + limit), max(start_s, rows[-1].timestamp_s) - 1)
        return ActivityPage(wallet, tuple(rows), None, max(through, start_s - 1))

    async def activity_page(
        self, wallet: str, *, start_s: int, cursor: str | None = None, limit: int = 500
    ) -> ActivityPage:
        return self.page(wallet, start_s=start_s, cursor=cursor, limit=limit)


def check_exactly_once(
    truth: dict[str, list[WalletActivity]],
    delivered: Iterable[WalletActivity],
    losses: Iterable[LossEvent],
    *,
    watermarks: Mapping[str, int],
    since_s: int = T0,
) -> int:
    """Every ground-truth row from ``since_s`` up to its wallet's watermark delivered exactly once or
    inside a loss span of its wallet, nothing delivered that is not in the truth; returns the count
    delivered."""
    spans: dict[str, list[LossEvent]] = {}
    for loss in losses:
        assert loss.from_s < loss.to_s, loss
        spans.setdefault(loss.wallet, []).append(loss)
    seen: dict[tuple[str, ...], int] = {}
    for row in delivered:
        identity = row.key
        seen[identity] = seen.get(identity, 0) + 1
    repeated = {identity: count for identity, count in seen.items() if count > 1}
    assert not repeated, f"delivered more than once: {list(repeated)[:3]}"
    expected = {row.key: row for rows in truth.values() for row in rows}
    unknown = set(seen) - set(expected)
    assert not unknown, f"delivered rows not in the truth: {list(unknown)[:3]}"
    for identity, row in expected.items():
        if identity in seen or not since_s <= row.timestamp_s <= watermarks.get(row.wallet, since_s - 1):
            continue
        covered = any(loss.from_s <= row.timestamp_s < loss.to_s for loss in spans.get(row.wallet, ()))
        assert covered, f"missed without a loss event: {row}"
    return len(seen)


def budget_kept(call_times: list[float], capacity: int, window_s: float) -> bool:
    """No sliding window of ``window_s`` holds more than ``capacity`` calls."""
    times = sorted(call_times)
    return all(times[index + capacity] - times[index] >= window_s for index in range(len(times) - capacity))


@dataclass
class Simulation:
    """The pure core driven against a :class:`ScriptedActivity` on a simulated clock, with stops
    (the watch down from ``stop`` to ``resume``, its stored progress and delivered identities kept,
    as a store would) and a record of everything delivered."""

    source: ScriptedActivity
    settings: WatchSettings
    now_s: float = float(T0)
    delivered: list[WalletActivity] = field(default_factory=list)
    losses: list[LossEvent] = field(default_factory=list)
    progress: dict[str, WalletProgress] = field(default_factory=dict)
    identities: dict[str, dict[tuple[str, ...], int]] = field(default_factory=dict)
    state: WalletWatchState | None = None

    def __post_init__(self) -> None:
        self.source.clock = lambda: self.now_s

    def start(self, wallets: Iterable[str], *, since_s: int | None = None) -> None:
        self.state = WalletWatchState(self.settings)
        for wallet in wallets:
            stored = self.progress.get(wallet)
            floor = -1 if stored is None else stored.watermark_s - self.settings.dedupe_window_s
            kept = {key: ts for key, ts in self.identities.get(wallet, {}).items() if ts >= floor}
            self.state.add(wallet, now_s=self.now_s, since_s=since_s, progress=stored, delivered=kept)

    def run_until(self, end_s: float) -> None:
        state = self.state
        assert state is not None
        while self.now_s < end_s:
            step = state.next_request(self.now_s)
            if isinstance(step, PageRequest):
                try:
                    page = self.source.page(step.wallet, start_s=step.start_s, cursor=step.cursor, limit=step.limit)
                except PolyinfraError as exc:
                    state.on_error(step, exc, self.now_s)
                else:
                    state.on_page(step, page, self.now_s)
            else:
                self.now_s = min(end_s, self.now_s + 1 if step is None else step)
            self._take(state.drain())

    def _take(self, items: Iterable[object]) -> None:
        for item in items:
            if isinstance(item, WalletActivity):
                self.delivered.append(item)
                self.identities.setdefault(item.wallet, {})[item.key] = item.timestamp_s
            elif isinstance(item, LossEvent):
                self.losses.append(item)
            elif isinstance(item, ProgressMark):
                self.progress[item.progress.wallet] = item.progress

    def watermarks(self) -> dict[str, int]:
        return {wallet: progress.watermark_s for wallet, progress in self.progress.items()}


SETTLE_LIMIT_S = 120.0
"""How long a watch may take to settle in real time before its test fails (a hang, not slowness)."""


class SimulatedTime:
    """Unix seconds that move only when the watch sleeps, up to ``until_s``: a sleep past it sets
    :attr:`reached` and never ends (the test then lets the queue drain and stops the watch)."""

    def __init__(self, now_s: float, until_s: float = float("inf")) -> None:
        self.now_s = now_s
        self.until_s = until_s
        self.reached = asyncio.Event()
        self.blocked = False
        """The watch's scheduler is waiting at ``until_s`` (it leaves that wait when an answer or a
        live row wakes it)."""

    def clock(self) -> float:
        return self.now_s

    async def sleep(self, delay_s: float) -> None:
        if self.now_s + delay_s > self.until_s:
            self.now_s = self.until_s
            self.reached.set()
            self.blocked = True
            try:
                await asyncio.Event().wait()
            finally:
                self.blocked = False
        self.now_s += delay_s
        await asyncio.sleep(0)


def queued(watch: WalletWatch) -> tuple[int, int]:
    """Events waiting in the watch's queue, and its bound (cheaper than building the whole stats)."""
    return watch._queue.qsize(), watch._queue.maxsize


async def consume(
    watch: WalletWatch, time: SimulatedTime, events: list[WalletActivity | LossEvent], *, slow: bool = False
) -> None:
    """Take ``watch``'s events until its time is up and nothing is left in flight or queued."""

    async def take() -> None:
        async for event in watch:
            events.append(event)
            waiting, bound = queued(watch)
            assert waiting <= bound
            for _ in range(3 if slow else 0):
                await asyncio.sleep(0)  # a consumer slower than the fetching

    time.reached.clear()
    taker = asyncio.create_task(take())
    await time.reached.wait()
    # Answers in flight land and the queue drains (no simulated time passes); a store's writes take
    # real time, hence the short real sleeps. However long a busy machine takes, the wait ends only when
    # the watch has settled; a watch that never settles fails at the limit, loudly.
    async with asyncio.timeout(SETTLE_LIMIT_S):
        while not (taker.done() or (time.blocked and not queued(watch)[0] and not watch._fetches)):
            await asyncio.sleep(0.001)
    assert not taker.done(), taker
    taker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await taker


async def run_watch(
    source: ScriptedActivity,
    wallets: Iterable[str],
    time: SimulatedTime,
    until_s: float,
    *,
    store: Sink | None,
    events: list[WalletActivity | LossEvent],
    live: AsyncIterator[object] | None = None,
    queue_size: int = 10_000,
) -> WalletWatch:
    watch = WalletWatch(
        source,
        wallets,
        store=store,
        settings=WATCH_SETTINGS,
        since_s=T0,
        live=live,
        clock=time.clock,
        sleep=time.sleep,
        queue_size=queue_size,
    )
    time.until_s = until_s
    async with watch:
        await consume(watch, time, events)
    return watch
