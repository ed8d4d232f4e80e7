"""The emulator's Data API v1 routes (venue notes: Data API): bare arrays of camelCase rows, offset paging.

``/positions``, ``/closed-positions``, ``/activity``, ``/trades``, ``/holders``, ``/value`` and
``/v1/leaderboard``, read from the ledger through the lagging :class:`~polyinfra.emulator.data.views.DataView`.
``limit`` is clamped to each route's maximum and ``offset`` refused past its ceiling (400), both as
documented; the ``v1_max_offset`` knob lowers every ceiling and ``v1_repeat_past_offset`` turns on
the trap where the feeds answer the page before that offset again. At most 20 condition ids per
request (400 beyond). Feeds are newest first unless ``sortDirection=ASC``; every sort breaks ties by
the ledger's order, so a walk's pages never overlap while nothing changes.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from http import HTTPStatus
from typing import Final, TypeVar

from aiohttp import web

from polyinfra.emulator.data.edge import data_error
from polyinfra.emulator.data.ledger import LedgerRow
from polyinfra.emulator.data.query import QueryError, flag, number, strings
from polyinfra.emulator.data.views import MAX_CONDITIONS, DataView, Marked, PositionStatus, dollars, shares
from polyinfra.model.numbers import MICROS
from polyinfra.wire.clob_rest import JSON_ENCODER
from polyinfra.wire.data_api import (
    DataApiActivity,
    DataApiClosedPosition,
    DataApiHolder,
    DataApiLeaderboardEntry,
    DataApiPosition,
    DataApiTokenHolders,
    DataApiTrade,
    DataApiValue,
)

__all__ = ["V1_CEILINGS", "DataApiV1", "leaderboard_window_ms", "wallet_param"]

V1_CEILINGS: Final = {
    "/positions": (100, 500, 10_000),
    "/closed-positions": (10, 50, 100_000),
    "/activity": (100, 500, 10_000),
    "/trades": (100, 10_000, 10_000),
    "/v1/leaderboard": (25, 50, 1_000),
}
"""Per route: (default limit, maximum limit, maximum offset), as documented (venue notes: Data API)."""

_WALLET: Final = re.compile(r"0x[0-9a-fA-F]{40}")
_PERIODS_MS: Final = {"DAY": 86_400_000, "WEEK": 7 * 86_400_000, "MONTH": 30 * 86_400_000, "ALL": None}
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_T = TypeVar("_T")


def wallet_param(value: str | None, name: str = "user") -> str:
    """A wallet address parameter, lower case; :class:`QueryError` unless ``0x`` and 40 hex digits."""
    if value is None or _WALLET.fullmatch(value) is None:
        raise QueryError(f"{name} must be a 0x-prefixed 40-hex-digit address")
    return value.lower()


def leaderboard_window_ms(period: str) -> int | None:
    """How far back a board of ``period`` (DAY, WEEK, MONTH, ALL) looks; :class:`QueryError` otherwise."""
    if period not in _PERIODS_MS:
        raise QueryError("timePeriod must be one of DAY, WEEK, MONTH, ALL")
    return _PERIODS_MS[period]


class DataApiV1:
    """The v1 routes over ``view``."""

    def __init__(self, view: DataView) -> None:
        self._view = view

    def routes(self) -> list[tuple[str, str, _Handler]]:
        return [
            ("GET", "/positions", _answered(self._positions)),
            ("GET", "/closed-positions", _answered(self._closed_positions)),
            ("GET", "/activity", _answered(self._activity)),
            ("GET", "/trades", _answered(self._trades)),
            ("GET", "/holders", _answered(self._holders)),
            ("GET", "/value", _answered(self._value)),
            ("GET", "/v1/leaderboard", _answered(self._leaderboard)),
        ]

    # --- paging ------------------------------------------------------------------------------------

    def _page(self, route: str, request: web.Request, rows: Sequence[_T], *, feed: bool) -> list[_T]:
        default, most, ceiling = V1_CEILINGS[route]
        knobs = self._view.knobs
        if knobs.v1_max_offset:
            ceiling = min(ceiling, knobs.v1_max_offset)
        limit = max(1, number(request.query, "limit", default, maximum=most))
        offset = number(request.query, "offset", 0)
        if offset > ceiling:
            raise QueryError(f"offset must be at most {ceiling}")
        trap = knobs.v1_repeat_past_offset
        if feed and trap and offset >= trap:
            # The venue's trap: past the offset it answers the same rows again.
            offset = max(0, trap - limit)
        return list(rows[offset : offset + limit])

    def _conditions(self, request: web.Request) -> set[str]:
        conditions = {text.lower() for text in strings(request.query, "market")}
        if len(conditions) > MAX_CONDITIONS:
            raise QueryError(f"at most {MAX_CONDITIONS} markets per request")
        return conditions

    # --- positions ---------------------------------------------------------------------------------

    def _positions(self, request: web.Request) -> list[DataApiPosition]:
        user = wallet_param(request.query.get("user"))
        conditions = self._conditions(request)
        threshold = _decimal_param(request.query.get("sizeThreshold"), Decimal(1))
        redeemable = flag(request.query, "redeemable")
        mergeable = flag(request.query, "mergeable")
        view = self._view
        marked = [
            m
            for m in view.marked(view.book(user))
            if m.position.size_micros > 0
            and shares(m.position.size_micros) >= threshold
            and (not conditions or m.position.condition_id in conditions)
            and (not redeemable or m.status in (PositionStatus.REDEEMABLE, PositionStatus.REDEEMABLE_LOST))
            and (not mergeable or m.status is PositionStatus.MERGEABLE)
        ]
        marked = _sorted(marked, request.query.get("sortBy", "TOKENS"), request.query.get("sortDirection"))
        page = self._page("/positions", request, marked, feed=False)
        return [_position(m) for m in page]

    def _closed_positions(self, request: web.Request) -> list[DataApiClosedPosition]:
        user = wallet_param(request.query.get("user"))
        conditions = self._conditions(request)
        view = self._view
        closed = [
            m
            for m in view.marked(view.book(user))
            if m.status is PositionStatus.CLOSED and (not conditions or m.position.condition_id in conditions)
        ]
        closed.sort(key=lambda m: (-m.position.realized_picos, m.position.token_id))
        page = self._page("/closed-positions", request, closed, feed=False)
        return [_closed_position(m) for m in page]

    # --- feeds -------------------------------------------------------------------------------------

    def _activity(self, request: web.Request) -> list[DataApiActivity]:
        query = request.query
        user = wallet_param(query.get("user"))
        conditions = self._conditions(request)
        kinds = set(strings(query, "type"))
        start_s = number(query, "start", 0)
        end_s = number(query, "end", 0)
        side = query.get("side")
        rows = self._view.activity_rows(
            user, conditions=conditions, kinds=kinds, start_s=start_s, end_s=end_s, side=side
        )
        if query.get("sortDirection", "DESC") != "ASC":
            rows.reverse()
        page = self._page("/activity", request, rows, feed=True)
        return [_activity(self._view, row) for row in page]

    def _trades(self, request: web.Request) -> list[DataApiTrade]:
        query = request.query
        user = None if query.get("user") is None else wallet_param(query.get("user"))
        conditions = self._conditions(request)
        taker_only = flag(query, "takerOnly")
        taker_only = True if taker_only is None else taker_only
        side = query.get("side")
        rows = self._view.trade_rows(user, conditions=conditions, taker_only=taker_only, side=side)
        rows.reverse()
        page = self._page("/trades", request, rows, feed=True)
        return [_trade(self._view, row) for row in page]

    # --- holders, value, boards ---------------------------------------------------------------------

    def _holders(self, request: web.Request) -> list[DataApiTokenHolders]:
        conditions = self._conditions(request)
        if not conditions:
            raise QueryError("market is required")
        limit = max(1, number(request.query, "limit", 20, maximum=20))
        minimum = _decimal_param(request.query.get("minBalance"), Decimal(1))
        answer: list[DataApiTokenHolders] = []
        for token, holders in holders_by_token(self._view, conditions, minimum, limit):
            answer.append(
                DataApiTokenHolders(
                    token=token,
                    holders=[
                        DataApiHolder(
                            proxy_wallet=m.wallet,
                            asset=token,
                            amount=shares(m.position.size_micros),
                            outcome_index=m.position.outcome_index,
                            name=m.name,
                            pseudonym=m.name,
                        )
                        for m in holders
                    ],
                )
            )
        return answer

    def _value(self, request: web.Request) -> list[DataApiValue]:
        user = wallet_param(request.query.get("user"))
        conditions = self._conditions(request)
        view = self._view
        book = view.book(user)
        return [DataApiValue(user=user, value=dollars(view.value_picos(book, conditions)))]

    def _leaderboard(self, request: web.Request) -> list[DataApiLeaderboardEntry]:
        query = request.query
        window_ms = leaderboard_window_ms(query.get("timePeriod", "DAY"))
        order = query.get("orderBy", "PNL")
        if order not in ("PNL", "VOL"):
            raise QueryError("orderBy must be PNL or VOL")
        board = leaderboard(self._view, window_ms, order)
        user = query.get("user")
        if user is not None:
            wallet = wallet_param(user)
            board = [entry for entry in board if entry[1] == wallet]
        page = self._page("/v1/leaderboard", request, board, feed=False)
        return [
            DataApiLeaderboardEntry(
                rank=str(rank), proxy_wallet=wallet, user_name=name, vol=dollars(volume), pnl=dollars(pnl)
            )
            for rank, wallet, name, volume, pnl in page
        ]


def _answered(answer: Callable[[web.Request], object]) -> _Handler:
    """The route that answers ``answer(request)`` as JSON, or 400 in the v1 error shape for a bad query."""

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            body = answer(request)
        except QueryError as exc:
            return data_error(exc.message, HTTPStatus.BAD_REQUEST)
        return _json(body)

    return handler


def holders_by_token(
    view: DataView, conditions: set[str], minimum: Decimal, limit: int
) -> list[tuple[str, list[Marked]]]:
    """The largest holders of every token of ``conditions``, largest first (ties by wallet)."""
    per_token: dict[str, list[Marked]] = {}
    for info in view.exchange.markets.values():
        if info.condition_id in conditions:
            for token in info.tokens:
                per_token[token.token_id] = []
    for book in view.ledger.books(until_ms=view.cutoff_ms()):
        for m in view.marked(book):
            held = per_token.get(m.position.token_id)
            if held is not None and m.position.size_micros > 0 and shares(m.position.size_micros) >= minimum:
                held.append(m)
    return [
        (token, sorted(held, key=lambda m: (-m.position.size_micros, m.wallet))[:limit])
        for token, held in per_token.items()
    ]


def leaderboard(view: DataView, window_ms: int | None, order: str) -> list[tuple[int, str, str, int, Fraction]]:
    """(rank, wallet, name, volume picos, P&L picos) of every wallet that traded in the window, best first.

    P&L is realized plus unrealized at the marks; the window counts wallets active in it (their whole
    record ranks them)."""
    cutoff = view.cutoff_ms()
    since = None if window_ms is None else cutoff - window_ms
    rows: list[tuple[str, str, int, Fraction]] = []
    for book in view.ledger.books(until_ms=cutoff):
        if not book.trades:
            continue
        last_ms = max((position.last_ms for position in book.positions.values()), default=0)
        if since is not None and last_ms < since:
            continue
        rows.append((book.wallet, book.name, book.volume_picos, view.total_pnl_picos(book)))
    if order == "VOL":
        rows.sort(key=lambda row: (-row[2], row[0]))
    else:
        rows.sort(key=lambda row: (-row[3], row[0]))
    return [(rank, *row) for rank, row in enumerate(rows, start=1)]


def _sorted(marked: list[Marked], sort_by: str, direction: str | None) -> list[Marked]:
    keys: dict[str, Callable[[Marked], object]] = {
        "TOKENS": lambda m: m.position.size_micros,
        "CURRENT": lambda m: m.current_picos,
        "INITIAL": lambda m: m.position.cost_picos,
        "CASHPNL": lambda m: m.unrealized_picos,
        "PRICE": lambda m: m.mark_micros,
        "AVGPRICE": lambda m: m.position.avg_price_micros,
        "TITLE": lambda m: m.title,
    }
    key = keys.get(sort_by)
    if key is None:
        raise QueryError("sortBy must be one of " + ", ".join(keys))
    ordered = sorted(marked, key=lambda m: m.position.token_id)
    ordered.sort(key=key, reverse=direction != "ASC")  # type: ignore[arg-type]
    return ordered


def _position(m: Marked) -> DataApiPosition:
    position = m.position
    initial = position.cost_picos
    cash_pnl = m.unrealized_picos
    return DataApiPosition(
        proxy_wallet=m.wallet,
        asset=position.token_id,
        condition_id=position.condition_id,
        size=shares(position.size_micros),
        avg_price=shares(position.avg_price_micros),
        initial_value=dollars(initial),
        current_value=dollars(m.current_picos),
        cash_pnl=dollars(cash_pnl),
        percent_pnl=_percent(cash_pnl, initial),
        total_bought=shares(position.bought_micros),
        realized_pnl=dollars(position.realized_picos),
        cur_price=shares(m.mark_micros),
        redeemable=m.status in (PositionStatus.REDEEMABLE, PositionStatus.REDEEMABLE_LOST),
        mergeable=m.status is PositionStatus.MERGEABLE,
        title=m.title,
        slug=m.slug,
        event_slug=m.slug,
        outcome=position.outcome,
        outcome_index=position.outcome_index,
        opposite_outcome=m.opposite_outcome,
        opposite_asset=m.opposite_token,
        negative_risk=m.negative_risk,
    )


def _closed_position(m: Marked) -> DataApiClosedPosition:
    position = m.position
    return DataApiClosedPosition(
        proxy_wallet=m.wallet,
        asset=position.token_id,
        condition_id=position.condition_id,
        avg_price=shares(position.avg_price_micros),
        total_bought=shares(position.bought_micros),
        realized_pnl=dollars(position.realized_picos),
        cur_price=shares(m.mark_micros),
        timestamp=position.last_ms // 1000,
        title=m.title,
        slug=m.slug,
        outcome=position.outcome,
        outcome_index=position.outcome_index,
        opposite_outcome=m.opposite_outcome,
        opposite_asset=m.opposite_token,
    )


def _activity(view: DataView, row: LedgerRow) -> DataApiActivity:
    listing = view.exchange.listing(row.condition_id)
    return DataApiActivity(
        proxy_wallet=row.wallet,
        timestamp=row.timestamp_ms // 1000,
        type=row.kind,
        size=shares(row.size_micros),
        usdc_size=dollars(row.usdc_picos),
        transaction_hash=row.transaction_hash,
        condition_id=row.condition_id,
        price=shares(row.price_micros) if row.price_micros is not None else Decimal(0),
        asset=row.token_id,
        side=row.side.value if row.side is not None else "",
        outcome_index=row.outcome_index,
        outcome=row.outcome,
        slug=listing.slug,
        event_slug=listing.slug,
        name=row.name,
        pseudonym=row.name,
    )


def _trade(view: DataView, row: LedgerRow) -> DataApiTrade:
    listing = view.exchange.listing(row.condition_id)
    return DataApiTrade(
        proxy_wallet=row.wallet,
        side=row.side.value if row.side is not None else "",
        asset=row.token_id,
        condition_id=row.condition_id,
        size=shares(row.size_micros),
        price=shares(row.price_micros or 0),
        timestamp=row.timestamp_ms // 1000,
        slug=listing.slug,
        event_slug=listing.slug,
        outcome=row.outcome,
        outcome_index=row.outcome_index,
        name=row.name,
        pseudonym=row.name,
        transaction_hash=row.transaction_hash,
    )


def _percent(part: Fraction, whole: Fraction) -> Decimal:
    return shares(part / whole * 100 * MICROS) if whole else Decimal(0)


def _decimal_param(text: str | None, default: Decimal) -> Decimal:
    if text is None or text == "":
        return default
    if len(text) > 24:
        raise QueryError("a number parameter is too long")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise QueryError("expected a decimal number") from None
    if not value.is_finite() or value < 0:
        raise QueryError("expected a non-negative decimal number")
    return value


def _json(body: object) -> web.Response:
    return web.Response(body=JSON_ENCODER.encode(body), content_type="application/json")
