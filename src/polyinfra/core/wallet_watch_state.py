"""Tracking many wallets' activity gap-free under one request budget, sans-I/O.

:class:`WalletWatchState` holds everything the wallet watch decides, as pure state that the I/O
layer (:mod:`polyinfra.wallets.watch`) drives with the pages a
:class:`~polyinfra.model.wallet_activity.WalletActivitySource` answered, the errors it raised,
the live rows pushed to it and the times it read:

* per wallet, one *walk* of the activity feed (its ``start_s`` and cursor, re-sent unchanged on
  every page, because a keyset cursor re-anchors silently when a filter changes) and one
  **complete-through watermark**: every row at or before it has been delivered, or a
  :class:`LossEvent` says it may be missing;
* the schedule: which wallet is asked next, and when, under **one global budget** of requests
  (at most ``budget_rps * budget_window_s`` in any sliding window of ``budget_window_s``, the way
  the venue counts), polling busy wallets more often and letting idle ones back off;
* the merged stream: rows from the pages and from the live push, each delivered once (deduplicated
  by ``WalletActivity.key``), with their :class:`~polyinfra.model.wallet_activity.FillSource`;
* continuity: a wallet is ``running``, ``degraded`` (its source fails, it is retried with
  backoff, nothing is lost yet) or ``possible-data-loss`` (a loss event was emitted).

A wallet's life::

                 page (next_cursor)                        page (end of walk)
    IDLE --due--> WALKING ---------------> WALKING --...--> IDLE (interval halves if rows came,
      ^              |                                       |   grows 1.5x if none)
      |              +--retriable error--> DEGRADED (retry with backoff, same cursor)
      |              +--refused (ceiling, cursor lost)--> a new walk from the watermark, or,
      |                 when that cannot make progress, a LossEvent and a jump to now
      +-- watermark older than the source's horizon: a LossEvent up to the horizon

Why this converges on "every row exactly once, every hole named": a walk starts at the watermark
(inclusive, so the boundary second is fetched twice and deduplicated), and the watermark only moves
to a page's ``complete_through_s``, the point up to which the source vouches for completeness. The
only ways it moves further are the loss events, which name the span they skip. Identities of
delivered rows are kept for ``dedupe_window_s`` behind the watermark, which covers the re-fetched
boundary and a live row arriving after its Data API twin.

The schedule is earliest-due-first over a heap: a wallet that was busy is due again soon, an idle
one later, and when the budget is short every wallet still ages into the front, so none starves.
The budget outlives the process when the I/O layer lets it: :meth:`WalletWatchState.sent_in_window`
gives the request times a restart must know, and :meth:`WalletWatchState.precharge` counts an earlier
process's times against this one's window, so restarts within one window never spend it twice.

A live row for a wallet makes it due within ``lag_s`` (the Data API runs 5-10 s behind), so the
complete feed confirms the fast one soon after.

Outputs go to an outbox in the order they happened (:meth:`WalletWatchState.drain`): rows, loss
events and a :class:`ProgressMark` after each page, which the I/O layer persists only once the rows
before it were handed to the consumer; that ordering is what makes a restart resume without
delivering twice or missing anything. Time is passed in (unix seconds); nothing here reads a clock.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

import msgspec

from polyinfra.errors import InvalidValueError, PolyinfraError, RateLimitedError
from polyinfra.model.live_events import ActivityTrade
from polyinfra.model.wallet_activity import ActivityKind, ActivityPage, FillSource, WalletActivity

__all__ = [
    "Continuity",
    "LossEvent",
    "LossReason",
    "PageRequest",
    "ProgressMark",
    "WalletProgress",
    "WalletWatchState",
    "WatchEvent",
    "WatchSettings",
    "WatchStats",
    "WatchedWallet",
    "activity_of_live",
]

FUTURE_SLACK_S: Final = 86_400
"""A row stamped further than this past now is refused: no clock is that wrong, and an absurd time
would otherwise be stored and compared for ever."""
MAX_BACKOFF_EXPONENT: Final = 16
"""Doubling stops here: the cap (``retry_max_s``) is reached long before, and 2**n stays small."""


class LossReason(StrEnum):
    """Why continuity could not be proven (the names peers use for the same durable events)."""

    CONTINUITY_LOST = "continuity-lost"
    """The source refused to continue the walk (a pagination ceiling, a cursor it no longer takes)."""
    HORIZON_EXPIRED = "horizon-expired"
    """An outage lasted longer than the source keeps history."""
    RESTART_BEYOND_HORIZON = "restart-beyond-horizon"
    """The watch was stopped for longer than the source keeps history."""


class LossEvent(msgspec.Struct, frozen=True, gc=False):
    """Rows of ``wallet`` with ``from_s <= timestamp_s < to_s`` may be missing from the stream."""

    wallet: str
    from_s: int
    to_s: int
    reason: LossReason
    detail: str = ""
    """What refused (an error's class name), for the operator."""


class Continuity(StrEnum):
    RUNNING = "running"
    DEGRADED = "degraded"
    POSSIBLE_DATA_LOSS = "possible-data-loss"


class WalletProgress(msgspec.Struct, frozen=True, gc=False):
    """What a restart needs to resume one wallet: its watermark and its walk."""

    wallet: str
    watermark_s: int
    walk_start_s: int
    cursor: str | None


class ProgressMark(msgspec.Struct, frozen=True, gc=False):
    """An outbox entry: the rows before it are in the stream, so ``progress`` may be persisted."""

    progress: WalletProgress


WatchEvent = WalletActivity | LossEvent
"""What a consumer of the watch receives."""


@dataclass(frozen=True, slots=True)
class WatchSettings:
    """The schedule's and the budget's knobs, with units in their names."""

    budget_rps: float = 10.0
    """Requests per second across all wallets; a tenth of the Data API's general limit by default."""
    budget_window_s: float = 10.0
    """The sliding window the budget is counted over (the venue counts 10 s windows)."""
    min_interval_s: float = 5.0
    """The shortest time between two walks of one wallet (about the Data API's lag)."""
    max_interval_s: float = 300.0
    """The longest an idle wallet waits between walks."""
    page_limit: int = 500
    """Rows asked per page (the ``/activity`` maximum)."""
    horizon_s: int | None = None
    """How far back the source serves; ``None``: as far as needed."""
    dedupe_window_s: int = 3_600
    """How long identities of delivered rows are kept behind the watermark."""
    lag_s: float = 10.0
    """How far the complete feed runs behind a live push."""
    retry_base_s: float = 1.0
    retry_max_s: float = 60.0

    def __post_init__(self) -> None:
        if not (self.budget_rps > 0 and self.budget_window_s > 0 and self.capacity >= 1):
            raise InvalidValueError(
                "the budget must allow at least one request per window",
                budget_rps=self.budget_rps,
                budget_window_s=self.budget_window_s,
            )
        if not 0 < self.min_interval_s <= self.max_interval_s:
            raise InvalidValueError(
                "intervals must satisfy 0 < min <= max",
                min_interval_s=self.min_interval_s,
                max_interval_s=self.max_interval_s,
            )
        if self.page_limit < 1 or self.dedupe_window_s < 0 or (self.horizon_s is not None and self.horizon_s < 1):
            raise InvalidValueError("page_limit, dedupe_window_s and horizon_s must be positive")

    @property
    def capacity(self) -> int:
        """Requests allowed in one window."""
        return math.floor(self.budget_rps * self.budget_window_s)


class PageRequest(msgspec.Struct, frozen=True, gc=False):
    """One call to make: ``source.activity_page(wallet, start_s=..., cursor=..., limit=...)``."""

    wallet: str
    start_s: int
    cursor: str | None
    limit: int
    generation: int
    """Which incarnation of the wallet asked (a wallet removed and added again starts a new one)."""


class WatchedWallet(msgspec.Struct, frozen=True, gc=False):
    """One wallet as the watch sees it (P&L and the like are the analytics' ``WalletStats``)."""

    wallet: str
    continuity: Continuity
    watermark_s: int
    last_fill_s: int | None
    fills: int
    requests: int
    losses: int
    interval_s: float


class WatchStats(msgspec.Struct, frozen=True, gc=False):
    wallets: tuple[WatchedWallet, ...]
    requests: int
    requests_in_window: int
    budget_per_window: int
    budget_window_s: float
    duplicates: int
    """Rows that were already delivered (the boundary second, a live row's Data API twin)."""
    refused_rows: int
    """Rows for another wallet than the one asked, or stamped before 1970 or a day past now (ignored)."""
    late_live_rows: int
    """Live rows older than the dedupe window behind the watermark (the complete feed had them)."""
    queued: int = 0
    """Events waiting for the consumer (set by the I/O layer)."""
    live_overflow: int = 0
    """Live rows dropped at a full queue (set by the I/O layer; the complete feed delivers them)."""


def activity_of_live(trade: ActivityTrade) -> WalletActivity:
    """A live ``activity`` row as the activity feed's row, marked :attr:`FillSource.LIVE`."""
    return WalletActivity(
        wallet=trade.wallet.lower(),
        kind=ActivityKind.TRADE,
        timestamp_s=trade.timestamp_s,
        condition_id=trade.condition_id.lower(),
        token_id=trade.token_id,
        outcome_index=None,
        side=trade.side,
        size=trade.size,
        usdc_size=trade.size * trade.price,
        price=trade.price,
        transaction_hash=trade.transaction_hash.lower(),
        source=FillSource.LIVE,
    )


def _plausible(row: WalletActivity, now_s: float) -> bool:
    return 0 <= row.timestamp_s <= now_s + FUTURE_SLACK_S


@dataclass(slots=True)
class _Wallet:
    wallet: str
    watermark_s: int
    walk_start_s: int
    cursor: str | None
    interval_s: float
    due_s: float
    generation: int
    restored: bool
    """Resumed from stored progress and not yet answered since (a horizon loss is then a restart's)."""
    in_flight: bool = False
    lost_from_s: int | None = None
    """Where a span beyond the source's horizon began; its loss event waits for the next answer."""
    lost_reason: LossReason = LossReason.HORIZON_EXPIRED
    failures: int = 0
    walk_rows: int = 0
    continuity: Continuity = Continuity.RUNNING
    last_fill_s: int | None = None
    fills: int = 0
    requests: int = 0
    losses: int = 0
    seen: dict[tuple[str, ...], int] = field(default_factory=dict)
    seen_order: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)
    """A heap of (timestamp, identity) to forget identities in time order."""

    def progress(self) -> WalletProgress:
        return WalletProgress(self.wallet, self.watermark_s, self.walk_start_s, self.cursor)


class WalletWatchState:
    """The watch's decisions for a changing set of wallets (see the module docstring)."""

    def __init__(self, settings: WatchSettings | None = None) -> None:
        self.settings = settings or WatchSettings()
        self._wallets: dict[str, _Wallet] = {}
        self._due: list[tuple[float, int, str, int]] = []  # (due, tie-break, wallet, generation)
        self._tie = 0
        self._generation = 0
        self._sent: deque[float] = deque()
        self._hold_until_s = -math.inf
        self._outbox: list[WatchEvent | ProgressMark] = []
        self.requests = 0
        self.duplicates = 0
        self.refused_rows = 0
        self.late_live_rows = 0

    # --- the set of wallets ----------------------------------------------------------------------------

    def add(
        self,
        wallet: str,
        *,
        now_s: float,
        since_s: int | None = None,
        progress: WalletProgress | None = None,
        delivered: dict[tuple[str, ...], int] | None = None,
    ) -> None:
        """Watch ``wallet`` from ``since_s`` (default: now), or resume it from stored ``progress``
        with the identities (and timestamps) of rows already ``delivered``. Adding a watched wallet
        again changes nothing."""
        wallet = wallet.lower()
        if wallet in self._wallets:
            return
        self._generation += 1
        if progress is None:
            start = int(now_s) if since_s is None else since_s
            state = _Wallet(wallet, start, start, None, self.settings.min_interval_s, now_s, self._generation, False)
        else:
            state = _Wallet(
                wallet,
                progress.watermark_s,
                progress.walk_start_s,
                progress.cursor,
                self.settings.min_interval_s,
                now_s,
                self._generation,
                True,
            )
        for identity, timestamp_s in (delivered or {}).items():
            self._remember(state, identity, timestamp_s)
        self._wallets[wallet] = state
        self._schedule(state, now_s)

    def remove(self, wallet: str) -> None:
        """Stop watching ``wallet``; an answer still in flight for it is ignored."""
        self._wallets.pop(wallet.lower(), None)

    @property
    def wallets(self) -> list[str]:
        return list(self._wallets)

    # --- the schedule ------------------------------------------------------------------------------------

    def next_request(self, now_s: float) -> PageRequest | float | None:
        """The call to make now (its budget is taken), or the time to ask again, or ``None`` when
        nothing is due until an answer, a live row or a new wallet arrives."""
        if now_s < self._hold_until_s:
            return self._hold_until_s
        window = self.settings.budget_window_s
        while self._sent and self._sent[0] <= now_s - window:
            self._sent.popleft()
        if len(self._sent) >= self.settings.capacity:
            return self._sent[0] + window
        while self._due:
            due_s, _, wallet, generation = self._due[0]
            state = self._wallets.get(wallet)
            if state is None or state.generation != generation or state.in_flight or state.due_s != due_s:
                heapq.heappop(self._due)  # stale: removed, re-added, in flight or rescheduled
                continue
            if due_s > now_s:
                return due_s
            heapq.heappop(self._due)
            if self._beyond_horizon(state, now_s):
                continue
            state.in_flight = True
            state.requests += 1
            self.requests += 1
            self._sent.append(now_s)
            return PageRequest(wallet, state.walk_start_s, state.cursor, self.settings.page_limit, generation)
        return None

    def sent_in_window(self, now_s: float) -> tuple[float, ...]:
        """The times of the requests that still count against the budget at ``now_s``, oldest first."""
        window = self.settings.budget_window_s
        return tuple(sent for sent in self._sent if sent > now_s - window)

    def precharge(self, sent_s: Iterable[float], now_s: float) -> None:
        """Count requests an earlier process sent (their times) against the budget: those still inside
        the window at ``now_s`` take their share of it, as if this instance had sent them. Times from the
        future (a clock stepped back) count as sent now, so they hold the budget no longer than a window;
        a time that is not a finite number (a damaged record) is not counted."""
        window = self.settings.budget_window_s
        kept = (min(sent, now_s) for sent in sent_s if math.isfinite(sent) and sent > now_s - window)
        # The newest ``capacity`` decide when the budget frees: more (a damaged store) would only cost memory.
        self._sent = deque(sorted([*self._sent, *kept])[-self.settings.capacity :])

    def _schedule(self, state: _Wallet, due_s: float) -> None:
        state.due_s = due_s
        self._tie += 1
        heapq.heappush(self._due, (due_s, self._tie, state.wallet, state.generation))

    def _beyond_horizon(self, state: _Wallet, now_s: float) -> bool:
        """Restart the walk at the source's horizon when the watermark fell behind it.

        The loss is held open (and the progress not marked) until a page answers: an outage keeps
        pushing the horizon, and one event for the whole span says more than one per retry. A stop
        before that leaves the stored watermark where it was, and the restart names the span."""
        horizon = self.settings.horizon_s
        if horizon is None or state.watermark_s >= int(now_s) - horizon:
            return False
        if state.lost_from_s is None:
            state.lost_from_s = state.watermark_s
            state.lost_reason = LossReason.RESTART_BEYOND_HORIZON if state.restored else LossReason.HORIZON_EXPIRED
        state.restored = False  # its cursor is gone too
        state.continuity = Continuity.POSSIBLE_DATA_LOSS
        state.watermark_s = state.walk_start_s = int(now_s) - horizon
        state.cursor = None
        state.walk_rows = 0
        self._schedule(state, now_s)
        return True

    # --- answers -----------------------------------------------------------------------------------------

    def on_page(self, request: PageRequest, page: ActivityPage, now_s: float) -> None:
        """Apply the answer to ``request``: new rows and a progress mark go to the outbox."""
        state = self._answered(request)
        if state is None:
            return
        state.failures = 0
        state.restored = False
        if state.lost_from_s is not None:
            self._outbox.append(LossEvent(state.wallet, state.lost_from_s, request.start_s, state.lost_reason, ""))
            state.losses += 1
            state.lost_from_s = None
        if state.continuity is not Continuity.POSSIBLE_DATA_LOSS or page.next_cursor is None:
            state.continuity = Continuity.RUNNING
        for row in page.rows:
            if row.wallet != state.wallet or not _plausible(row, now_s):
                self.refused_rows += 1
                continue
            if self._deliver(state, row):
                state.walk_rows += 1
        state.watermark_s = max(state.watermark_s, min(page.complete_through_s, int(now_s)))
        self._forget_old(state)
        if page.next_cursor is not None:
            state.cursor = page.next_cursor
            self._schedule(state, now_s)
        else:
            self._end_walk(state, now_s)
        self._outbox.append(ProgressMark(state.progress()))

    def on_error(self, request: PageRequest, error: PolyinfraError, now_s: float) -> None:
        """Apply a failed ``request``: retry later (a retriable error), restart the walk, or lose."""
        state = self._answered(request)
        if state is None:
            return
        if error.retriable:
            state.failures += 1
            if state.continuity is Continuity.RUNNING:
                state.continuity = Continuity.DEGRADED
            backoff = self.settings.retry_base_s * 2 ** min(state.failures - 1, MAX_BACKOFF_EXPONENT)
            self._schedule(state, now_s + min(self.settings.retry_max_s, backoff))
            if isinstance(error, RateLimitedError):
                retry_after = error.context.get("retry_after_s")
                if isinstance(retry_after, int | float) and math.isfinite(retry_after):
                    self._hold_until_s = max(self._hold_until_s, now_s + min(float(retry_after), 600.0))
            return
        # Refused for good: a fresh walk from the watermark continues where the proof stops, as long
        # as this walk had made progress (or began from a cursor a restart restored); otherwise the
        # span from the watermark to now cannot be proven complete.
        progressed = state.watermark_s > state.walk_start_s or state.restored
        state.restored = False
        if not progressed or request.cursor is None:
            self._lose(state, int(now_s), LossReason.CONTINUITY_LOST, type(error).__name__)
        else:
            state.walk_start_s, state.cursor = state.watermark_s, None
            self._outbox.append(ProgressMark(state.progress()))
        self._schedule(state, now_s)

    def _answered(self, request: PageRequest) -> _Wallet | None:
        state = self._wallets.get(request.wallet)
        if state is None or state.generation != request.generation:
            return None
        state.in_flight = False
        return state

    def _end_walk(self, state: _Wallet, now_s: float) -> None:
        settings = self.settings
        if state.walk_rows:
            state.interval_s = max(settings.min_interval_s, state.interval_s / 2)
        else:
            state.interval_s = min(settings.max_interval_s, state.interval_s * 1.5)
        state.walk_rows = 0
        state.walk_start_s, state.cursor = state.watermark_s, None
        self._schedule(state, now_s + state.interval_s)

    def _lose(self, state: _Wallet, to_s: int, reason: LossReason, detail: str) -> None:
        from_s = state.watermark_s if state.lost_from_s is None else state.lost_from_s
        state.lost_from_s = None  # a span held open beyond the horizon is part of this one
        if to_s > from_s:  # an empty span loses nothing
            self._outbox.append(LossEvent(state.wallet, from_s, to_s, reason, detail))
            state.losses += 1
            state.continuity = Continuity.POSSIBLE_DATA_LOSS
        to_s = max(to_s, state.watermark_s)
        state.watermark_s = state.walk_start_s = to_s
        state.cursor = None
        state.walk_rows = 0
        self._outbox.append(ProgressMark(state.progress()))

    # --- the live fast path ------------------------------------------------------------------------------

    def on_live(self, trade: ActivityTrade, now_s: float) -> WalletActivity | None:
        """The live row to deliver now, or ``None`` (a wallet not watched, already delivered, or
        older than what is remembered). Its wallet becomes due within ``lag_s``."""
        state = self._wallets.get(trade.wallet.lower())
        if state is None:
            return None
        row = activity_of_live(trade)
        if not _plausible(row, now_s):
            self.refused_rows += 1
            return None
        if row.timestamp_s < state.watermark_s - self.settings.dedupe_window_s:
            self.late_live_rows += 1
            return None
        if not self._deliver(state, row, outbox=False):
            return None
        state.interval_s = self.settings.min_interval_s
        confirm_s = now_s + self.settings.lag_s
        if not state.in_flight and state.due_s > confirm_s:
            self._schedule(state, confirm_s)
        return row

    # --- delivery ----------------------------------------------------------------------------------------

    def _deliver(self, state: _Wallet, row: WalletActivity, *, outbox: bool = True) -> bool:
        identity = row.key
        if identity in state.seen:
            self.duplicates += 1
            return False
        self._remember(state, identity, row.timestamp_s)
        state.fills += 1
        state.last_fill_s = row.timestamp_s if state.last_fill_s is None else max(state.last_fill_s, row.timestamp_s)
        if outbox:
            self._outbox.append(row)
        return True

    def _remember(self, state: _Wallet, identity: tuple[str, ...], timestamp_s: int) -> None:
        state.seen[identity] = timestamp_s
        heapq.heappush(state.seen_order, (timestamp_s, identity))

    def _forget_old(self, state: _Wallet) -> None:
        floor = state.watermark_s - self.settings.dedupe_window_s
        order = state.seen_order
        while order and order[0][0] < floor:
            _, identity = heapq.heappop(order)
            state.seen.pop(identity, None)

    def drain(self) -> list[WatchEvent | ProgressMark]:
        """What happened since the last drain, in order."""
        out, self._outbox = self._outbox, []
        return out

    # --- looking in --------------------------------------------------------------------------------------

    def progress(self, wallet: str) -> WalletProgress:
        return self._wallets[wallet.lower()].progress()

    def stats(self, now_s: float) -> WatchStats:
        window = self.settings.budget_window_s
        in_window = len(self.sent_in_window(now_s))
        return WatchStats(
            wallets=tuple(
                WatchedWallet(
                    state.wallet,
                    state.continuity,
                    state.watermark_s,
                    state.last_fill_s,
                    state.fills,
                    state.requests,
                    state.losses,
                    state.interval_s,
                )
                for state in self._wallets.values()
            ),
            requests=self.requests,
            requests_in_window=in_window,
            budget_per_window=self.settings.capacity,
            budget_window_s=window,
            duplicates=self.duplicates,
            refused_rows=self.refused_rows,
            late_live_rows=self.late_live_rows,
        )
