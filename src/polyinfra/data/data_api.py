"""The Data API client (venue notes: Data API): positions, activity, trades, values, holders, boards and
P&L of any wallet, v1 and v2, exact and never silently short.

:class:`DataApiClient` sends every request through :class:`~polyinfra.net.http.HttpTransport` with the
Data API's documented limits (:data:`~polyinfra.core.venue_rate_limits.DATA_LIMITS`): a request waits for room
in every window it draws from, ``Retry-After`` on a 429 or 503 is honoured, 5xx answers are retried
with backoff, and a failing host trips the breaker. Share one ``limiter`` between clients of one IP.

**Paging fails closed.**

* v1 walks (``positions``, ``closed_positions``, ``activity``, ``trades``, ``leaderboard``) page by
  offset through :class:`~polyinfra.core.offset_walk.OffsetWalk`: a full page at the route's offset
  ceiling, or a page repeating rows of an earlier one (the venue's "repeats past the offset" trap),
  raises :class:`~polyinfra.errors.PaginationError` instead of returning what was seen.
* v2 walks (``*_v2``) follow ``next_cursor`` until it is null, sending the same filters with every
  page: a feed's cursor holds only its seek anchor, so a changed filter would silently re-anchor,
  and a cohort's cursor binds its filters, so a changed one would be refused. A refused cursor
  (expired, contradicted) raises :class:`~polyinfra.errors.CursorRejectedError`.
* At most 20 condition ids go in one request: longer lists are split, and their answers joined.

**Wallet tracking.** :meth:`DataApiClient.activity_page` implements
:class:`~polyinfra.model.wallet_activity.WalletActivitySource`: one ``/v2/activity`` page of a wallet,
oldest first from ``start_s``, its rows as :class:`~polyinfra.model.wallet_activity.WalletActivity`
and the second up to which it proves the history complete. The venue is complete but 5-10 s behind,
so a page never vouches for the last ``lag_allowance_s`` seconds of ``clock_s``
(:func:`~polyinfra.core.wallet_activity_rows.complete_through_s`).

Results are the venue's rows as sent (:mod:`polyinfra.wire.data_api`), numbers exact ``Decimal``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Final, TypeVar

from polyinfra.core.offset_walk import OffsetWalk
from polyinfra.core.rate_limit_tables import RateLimitTable
from polyinfra.core.venue_rate_limits import DATA_LIMITS
from polyinfra.core.wallet_activity_rows import activity_from_v2, complete_through_s
from polyinfra.data.read_client import ReadClient, refuse_cursor_loop
from polyinfra.errors import InvalidValueError
from polyinfra.model.wallet_activity import ActivityKind, ActivityPage
from polyinfra.net.breaker import CircuitBreakers
from polyinfra.net.http import HttpTransport
from polyinfra.net.rate_limit import AsyncRateLimiter
from polyinfra.net.retry import RetryPolicy
from polyinfra.wire.data_api import (
    DataApiActivity,
    DataApiClosedPosition,
    DataApiLeaderboardEntry,
    DataApiPosition,
    DataApiTokenHolders,
    DataApiTrade,
    DataApiValue,
    V2Activity,
    V2BiggestWinner,
    V2LeaderboardEntry,
    V2Page,
    V2PnlPoint,
    V2Position,
    V2Single,
    V2TokenHolders,
    V2Trade,
    V2UserStats,
    V2Value,
)

__all__ = ["DATA_API_URL", "DEFAULT_LAG_ALLOWANCE_S", "MAX_CONDITIONS_PER_REQUEST", "V1_ROUTES", "DataApiClient"]

DATA_API_URL: Final = "https://data-api.polymarket.com"
MAX_CONDITIONS_PER_REQUEST: Final = 20
"""Condition ids one request may name (venue notes: Data API)."""
DEFAULT_LAG_ALLOWANCE_S: Final = 10
"""The Data API runs 5-10 s behind the chain (venue notes: Data API): a page vouches for nothing newer."""
V1_ROUTES: Final = {
    "/positions": (500, 10_000),
    "/closed-positions": (50, 100_000),
    "/activity": (500, 10_000),
    "/trades": (10_000, 10_000),
    "/v1/leaderboard": (50, 1_000),
}
"""Per v1 route: (largest page, largest offset), as documented (venue notes: Data API)."""
_V2_PAGE: Final = 500
_Row = TypeVar("_Row")


class DataApiClient(ReadClient):
    """Async client of the Data API at ``base_url`` (see the module docstring).

    ``clock_s`` (unix seconds) and ``lag_allowance_s`` bound what :meth:`activity_page` vouches for;
    ``v1_ceilings`` overrides :data:`V1_ROUTES`' offsets (for a venue, or an emulator, with lower ones)
    and ``v1_page_limit`` caps the v1 page size (default: each route's largest).
    """

    def __init__(
        self,
        base_url: str = DATA_API_URL,
        *,
        timeout_s: float = 10.0,
        rate_limits: RateLimitTable = DATA_LIMITS,
        limiter: AsyncRateLimiter | None = None,
        retry: RetryPolicy | None = None,
        breakers: CircuitBreakers | None = None,
        transport: HttpTransport | None = None,
        clock_s: Callable[[], float] = time.time,
        lag_allowance_s: int = DEFAULT_LAG_ALLOWANCE_S,
        v1_ceilings: dict[str, int] | None = None,
        v1_page_limit: int | None = None,
    ) -> None:
        if lag_allowance_s < 0:
            raise InvalidValueError("the lag allowance must not be negative", lag_allowance_s=lag_allowance_s)
        super().__init__(
            base_url,
            rate_limits=rate_limits,
            timeout_s=timeout_s,
            limiter=limiter,
            retry=retry,
            breakers=breakers,
            transport=transport,
        )
        self._clock_s = clock_s
        self.lag_allowance_s = lag_allowance_s
        self._ceilings = {route: offset for route, (_, offset) in V1_ROUTES.items()} | (v1_ceilings or {})
        if v1_page_limit is not None and v1_page_limit < 1:
            raise InvalidValueError("the v1 page limit must be positive", v1_page_limit=v1_page_limit)
        self._v1_page_limit = v1_page_limit

    # --- v1 ----------------------------------------------------------------------------------------

    async def _offset_walk(
        self, path: str, params: dict[str, str], type_: type[list[_Row]], key: Callable[[_Row], Hashable]
    ) -> list[_Row]:
        largest_page, _ = V1_ROUTES[path]
        limit = largest_page if self._v1_page_limit is None else min(largest_page, self._v1_page_limit)
        walk = OffsetWalk(path, limit=limit, max_offset=self._ceilings[path])
        rows: list[_Row] = []
        while not walk.done:
            page = await self._get(path, {**params, "limit": str(walk.limit), "offset": str(walk.offset)}, type_)
            walk.accept(key(row) for row in page)
            rows.extend(page)
        return rows

    async def positions(
        self, user: str, *, markets: Sequence[str] = (), size_threshold: str | None = None
    ) -> list[DataApiPosition]:
        """Every open position of ``user`` (``/positions``), in any of ``markets`` if given.

        ``size_threshold`` is the venue's (default 1 share: smaller positions are left out; ``"0"``
        lists them all)."""
        params = {"user": _wallet(user), "sortBy": "TOKENS"}
        if size_threshold is not None:
            params["sizeThreshold"] = size_threshold
        rows: list[DataApiPosition] = []
        for chunk in _chunks(markets):
            chunk_params = params | ({"market": ",".join(chunk)} if chunk else {})
            rows += await self._offset_walk(
                "/positions", chunk_params, list[DataApiPosition], lambda row: (row.asset, row.proxy_wallet)
            )
        return rows

    async def closed_positions(self, user: str, *, markets: Sequence[str] = ()) -> list[DataApiClosedPosition]:
        """Every closed position of ``user`` (``/closed-positions``)."""
        rows: list[DataApiClosedPosition] = []
        for chunk in _chunks(markets):
            params = {"user": _wallet(user)} | ({"market": ",".join(chunk)} if chunk else {})
            rows += await self._offset_walk(
                "/closed-positions", params, list[DataApiClosedPosition], lambda row: (row.asset, row.proxy_wallet)
            )
        return rows

    async def activity(
        self,
        user: str,
        *,
        start_s: int | None = None,
        end_s: int | None = None,
        kinds: Iterable[ActivityKind] = (),
        markets: Sequence[str] = (),
    ) -> list[DataApiActivity]:
        """``user``'s activity (``/activity``), oldest first; :class:`PaginationError` past the ceiling.

        Oldest first, so that rows arriving during the walk land after it instead of shifting every
        offset (newest first, each new row would repeat one on the next page and end the walk)."""
        params = {"user": _wallet(user), "sortBy": "TIMESTAMP", "sortDirection": "ASC"}
        if start_s is not None:
            params["start"] = str(start_s)
        if end_s is not None:
            params["end"] = str(end_s)
        kind_list = ",".join(kind.value for kind in kinds)
        if kind_list:
            params["type"] = kind_list
        rows: list[DataApiActivity] = []
        for chunk in _chunks(markets):
            chunk_params = params | ({"market": ",".join(chunk)} if chunk else {})
            rows += await self._offset_walk("/activity", chunk_params, list[DataApiActivity], _activity_key)
        return rows

    async def trades(
        self, *, user: str | None = None, markets: Sequence[str] = (), taker_only: bool = True
    ) -> list[DataApiTrade]:
        """Trades (``/trades``) of ``user`` and/or ``markets``, newest first (``takerOnly`` as the venue's default)."""
        params = {"takerOnly": "true" if taker_only else "false"}
        if user is not None:
            params["user"] = _wallet(user)
        rows: list[DataApiTrade] = []
        for chunk in _chunks(markets):
            chunk_params = params | ({"market": ",".join(chunk)} if chunk else {})
            rows += await self._offset_walk(
                "/trades",
                chunk_params,
                list[DataApiTrade],
                lambda row: (row.transaction_hash, row.proxy_wallet, row.asset, row.side),
            )
        return rows

    async def holders(self, markets: Sequence[str], *, limit: int = 20) -> list[DataApiTokenHolders]:
        """The largest holders of every token of ``markets`` (``/holders``; at most 20 per token)."""
        if not markets:
            raise InvalidValueError("name at least one market")
        answer: list[DataApiTokenHolders] = []
        for chunk in _chunks(markets):
            answer += await self._get(
                "/holders", {"market": ",".join(chunk), "limit": str(limit)}, list[DataApiTokenHolders]
            )
        return answer

    async def value(self, user: str) -> list[DataApiValue]:
        """The value of ``user``'s open positions (``/value``)."""
        return await self._get("/value", {"user": _wallet(user)}, list[DataApiValue])

    async def leaderboard(
        self, *, time_period: str = "DAY", order_by: str = "PNL", category: str = "OVERALL"
    ) -> list[DataApiLeaderboardEntry]:
        """The whole board (``/v1/leaderboard``) up to its 1,000-offset ceiling (fails closed past it)."""
        params = {"timePeriod": time_period, "orderBy": order_by, "category": category}
        return await self._offset_walk(
            "/v1/leaderboard", params, list[DataApiLeaderboardEntry], lambda row: row.proxy_wallet
        )

    # --- v2 ----------------------------------------------------------------------------------------

    async def _cursor_walk(self, path: str, params: dict[str, str], type_: type[V2Page[_Row]]) -> list[_Row]:
        rows: list[_Row] = []
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            # The same filters on every page (see the module docstring); only the cursor changes.
            page = await self._get(path, params | ({"cursor": cursor} if cursor else {}), type_)
            rows.extend(page.data)
            cursor = page.pagination.next_cursor
            if not cursor:
                return rows
            refuse_cursor_loop(path, cursor, seen)

    async def positions_v2(self, user: str, *, status: str = "OPEN", markets: Sequence[str] = ()) -> list[V2Position]:
        """``user``'s positions of ``status`` (OPEN, REDEEMABLE, REDEEMABLE_LOST, MERGEABLE, CLOSED)."""
        rows: list[V2Position] = []
        for chunk in _chunks(markets):
            params = {"user": _wallet(user), "status": status, "limit": str(_V2_PAGE)}
            if chunk:
                params["condition"] = ",".join(chunk)
            rows += await self._cursor_walk("/v2/positions", params, V2Page[V2Position])
        return rows

    async def activity_v2(
        self, user: str, *, start_s: int, end_s: int | None = None, kinds: Iterable[ActivityKind] = ()
    ) -> list[V2Activity]:
        """``user``'s activity from ``start_s`` (inclusive), oldest first."""
        params = _activity_params(_wallet(user), start_s, end_s, kinds)
        return await self._cursor_walk("/v2/activity", params, V2Page[V2Activity])

    async def trades_v2(
        self, *, user: str | None = None, markets: Sequence[str] = (), taker_only: bool = True
    ) -> list[V2Trade]:
        """Trades of ``user`` and/or ``markets``, newest first."""
        rows: list[V2Trade] = []
        for chunk in _chunks(markets):
            params = {"taker_only": "true" if taker_only else "false", "limit": str(_V2_PAGE)}
            if user is not None:
                params["user"] = _wallet(user)
            if chunk:
                params["condition"] = ",".join(chunk)
            rows += await self._cursor_walk("/v2/trades", params, V2Page[V2Trade])
        return rows

    async def holders_v2(self, markets: Sequence[str], *, include_pnl: bool = True) -> list[V2TokenHolders]:
        """Top holders of every token of ``markets``, with their P&L when ``include_pnl``."""
        if not markets:
            raise InvalidValueError("name at least one market")
        answer: list[V2TokenHolders] = []
        for chunk in _chunks(markets):
            params = {"condition": ",".join(chunk), "include_pnl": "true" if include_pnl else "false"}
            answer += await self._cursor_walk("/v2/holders", params, V2Page[V2TokenHolders])
        return answer

    async def value_v2(self, user: str) -> V2Value | None:
        """The value of ``user``'s open positions (None: unavailable)."""
        return (await self._get("/v2/value", {"user": _wallet(user)}, V2Single[V2Value])).data

    async def leaderboard_v2(
        self, *, time_period: str = "DAY", order_by: str = "PNL", category: str = "OVERALL"
    ) -> list[V2LeaderboardEntry]:
        """The whole board; its cursor binds the cohort, which is re-sent unchanged on every page."""
        params = {"time_period": time_period, "order_by": order_by, "category": category, "limit": "50"}
        return await self._cursor_walk("/v2/leaderboard", params, V2Page[V2LeaderboardEntry])

    async def biggest_winners(self, *, time_period: str = "DAY") -> list[V2BiggestWinner]:
        """Wallets by their best resolved position (``/v2/biggest-winners``)."""
        params = {"time_period": time_period, "limit": "50"}
        return await self._cursor_walk("/v2/biggest-winners", params, V2Page[V2BiggestWinner])

    async def user_pnl(self, user: str) -> list[V2PnlPoint]:
        """``user``'s cumulative P&L series by source (``/v2/user-pnl``), oldest first."""
        return await self._cursor_walk("/v2/user-pnl", {"user": _wallet(user)}, V2Page[V2PnlPoint])

    async def user_stats(self, user: str) -> V2UserStats | None:
        """``user``'s profile stats; None for a wallet the venue does not know."""
        return (await self._get("/v2/user-stats", {"user": _wallet(user)}, V2Single[V2UserStats])).data

    # --- wallet tracking ------------------------------------------------------------------------------

    async def activity_page(
        self, wallet: str, *, start_s: int, cursor: str | None = None, limit: int = _V2_PAGE
    ) -> ActivityPage:
        """One page of ``wallet``'s activity from ``start_s``, oldest first (the
        :class:`~polyinfra.model.wallet_activity.WalletActivitySource` seam; see the module docstring).

        ``cursor`` continues the walk begun with the same ``start_s`` (the same filters go with every page)."""
        if not 1 <= limit <= _V2_PAGE:
            raise InvalidValueError(f"limit must be 1 to {_V2_PAGE}", limit=limit)
        address = _wallet(wallet)
        params = _activity_params(address, start_s, None, ()) | {"limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        now_s = int(self._clock_s())
        page = await self._get("/v2/activity", params, V2Page[V2Activity])
        rows = tuple(activity_from_v2(row) for row in page.data)
        next_cursor = page.pagination.next_cursor or None
        return ActivityPage(
            wallet=address,
            rows=rows,
            next_cursor=next_cursor,
            complete_through_s=complete_through_s(
                start_s=start_s,
                now_s=now_s,
                lag_allowance_s=self.lag_allowance_s,
                newest_row_s=max((row.timestamp_s for row in rows), default=None),
                more=next_cursor is not None,
            ),
        )


def _activity_params(user: str, start_s: int, end_s: int | None, kinds: Iterable[ActivityKind]) -> dict[str, str]:
    if start_s < 0:
        raise InvalidValueError("start_s must not be negative", start_s=start_s)
    params = {"user": user, "start": str(start_s), "sort_direction": "ASC", "limit": str(_V2_PAGE)}
    if end_s is not None:
        params["end"] = str(end_s)
    kind_list = ",".join(kind.value for kind in kinds)
    if kind_list:
        params["type"] = kind_list
    return params


def _activity_key(row: DataApiActivity) -> Hashable:
    return (row.transaction_hash, row.proxy_wallet, row.asset, row.type, row.side, row.size)


def _chunks(markets: Sequence[str]) -> list[list[str]]:
    """``markets`` in requests of at most 20 (one empty chunk for "no filter"), each id once."""
    if isinstance(markets, str):
        raise InvalidValueError("markets must be a list of condition ids, not one string")
    unique = list(dict.fromkeys(market.lower() for market in markets))
    if not unique:
        return [[]]
    return [unique[i : i + MAX_CONDITIONS_PER_REQUEST] for i in range(0, len(unique), MAX_CONDITIONS_PER_REQUEST)]


def _wallet(address: str) -> str:
    text = address.strip()
    if len(text) != 42 or not text.startswith("0x") or any(c not in "0123456789abcdefABCDEF" for c in text[2:]):
        raise InvalidValueError("a wallet is 0x and 40 hex digits", wallet=text[:60])
    return text.lower()
