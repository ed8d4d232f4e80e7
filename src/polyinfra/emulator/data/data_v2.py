"""The emulator's Data API v2 routes (venue notes: Data API): snake_case rows in the envelope
``{"data": ..., "pagination": {"next_cursor", "has_more"}}``, cursor paging only.

* Feeds (``/v2/activity``, ``/v2/trades``) are keyset walks: the cursor holds the last row served and
  nothing else, the filters come from each request, so changing one mid-walk silently re-anchors
  (as on the venue; a client must re-send the same filters).
* Cohort walks (``/v2/positions``, ``/v2/leaderboard``, ``/v2/biggest-winners``) are offsets behind
  the cursor, which binds the cohort's filters: restating them is fine, contradicting one is a 400
  ``CURSOR_MISMATCH``. ``limit`` counts on the first page only; later pages keep it.
* ``offset`` anywhere is a 400 ``OFFSET_NOT_SUPPORTED``; more than 20 condition ids a 400
  ``TOO_MANY_CONDITIONS``; ``condition`` also answers to ``condition_id`` and ``conditionId``.
* ``/v2/holders`` (``include_pnl=true`` adds each holder's P&L), ``/v2/value``, ``/v2/user-pnl`` (the
  wallet's cumulative P&L after each of its rows, then now), ``/v2/user-stats`` (``data: null`` for a
  wallet that never traded).

``has_more`` is exact. Cursors are signed and expire (:mod:`~polyinfra.emulator.data.cursors`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from http import HTTPStatus
from typing import Final, TypeVar

from aiohttp import web
from multidict import MultiMapping

from polyinfra.emulator.data.cursors import CursorRefusedError, CursorSigner, CursorState
from polyinfra.emulator.data.data_v1 import holders_by_token, leaderboard, leaderboard_window_ms, wallet_param
from polyinfra.emulator.data.edge import v2_error
from polyinfra.emulator.data.ledger import LedgerRow, WalletBook
from polyinfra.emulator.data.query import QueryError, flag, number, strings
from polyinfra.emulator.data.views import MAX_CONDITIONS, DataView, Marked, PositionStatus, dollars, shares
from polyinfra.wire.clob_rest import JSON_ENCODER
from polyinfra.wire.data_api import (
    V2Activity,
    V2BiggestWinner,
    V2Holder,
    V2LeaderboardEntry,
    V2Page,
    V2Pagination,
    V2PnlPoint,
    V2Position,
    V2Single,
    V2TokenHolders,
    V2Trade,
    V2UserStats,
    V2Value,
)

__all__ = ["DataApiV2"]

_DEFAULT_LIMIT: Final = 100
_MAX_LIMIT: Final = 500
_BOARD_LIMIT: Final = (25, 50)
_THREE_YEARS_S: Final = 3 * 365 * 86_400
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_T = TypeVar("_T")


class _RefusedError(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class DataApiV2:
    """The v2 routes over ``view``; ``cursors`` signs and checks their cursors."""

    def __init__(self, view: DataView, cursors: CursorSigner) -> None:
        self._view = view
        self._cursors = cursors

    def routes(self) -> list[tuple[str, str, _Handler]]:
        return [
            ("GET", "/v2/positions", self._guarded(self._positions)),
            ("GET", "/v2/activity", self._guarded(self._activity)),
            ("GET", "/v2/trades", self._guarded(self._trades)),
            ("GET", "/v2/holders", self._guarded(self._holders)),
            ("GET", "/v2/value", self._guarded(self._value)),
            ("GET", "/v2/leaderboard", self._guarded(self._leaderboard)),
            ("GET", "/v2/biggest-winners", self._guarded(self._biggest_winners)),
            ("GET", "/v2/user-pnl", self._guarded(self._user_pnl)),
            ("GET", "/v2/user-stats", self._guarded(self._user_stats)),
        ]

    def _guarded(self, answer: Callable[[web.Request], object]) -> _Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            if "offset" in request.query:
                return v2_error(
                    "offset is not supported, use cursor", HTTPStatus.BAD_REQUEST, code="OFFSET_NOT_SUPPORTED"
                )
            try:
                body = answer(request)
            except QueryError as exc:
                return v2_error(exc.message, HTTPStatus.BAD_REQUEST, code="INVALID_PARAMETER")
            except _RefusedError as exc:
                return v2_error(exc.message, HTTPStatus.BAD_REQUEST, code=exc.code)
            except CursorRefusedError as exc:
                return v2_error(exc.message, HTTPStatus.BAD_REQUEST, code=exc.code)
            return web.Response(body=JSON_ENCODER.encode(body), content_type="application/json")

        return handler

    # --- walks -------------------------------------------------------------------------------------

    def _feed(
        self, request: web.Request, route: str, rows: Sequence[LedgerRow], descending: bool
    ) -> tuple[list[LedgerRow], V2Pagination]:
        """One page of a keyset walk over ``rows`` (oldest first), after the cursor's anchor."""
        query = request.query
        limit = max(1, number(query, "limit", _DEFAULT_LIMIT, maximum=_MAX_LIMIT))
        cursor = query.get("cursor")
        ordered = list(reversed(rows)) if descending else list(rows)
        if cursor:
            state = self._read(cursor, route)
            limit = state.limit
            anchor = state.anchor[0]
            ordered = [row for row in ordered if (row.seq < anchor if descending else row.seq > anchor)]
        page = ordered[:limit]
        more = len(ordered) > limit
        next_cursor = (
            self._cursors.issue(route, [page[-1].seq], {}, limit, self._view.clock_ms()) if more and page else None
        )
        return page, V2Pagination(next_cursor=next_cursor, has_more=more)

    def _cohort(
        self,
        request: web.Request,
        route: str,
        rows: Sequence[_T],
        bound: Mapping[str, str],
        *,
        limits: tuple[int, int] = (_DEFAULT_LIMIT, _MAX_LIMIT),
    ) -> tuple[list[_T], V2Pagination]:
        """One page of an offset walk behind a cursor that binds ``bound``."""
        default_limit, most = limits
        limit = max(1, number(request.query, "limit", default_limit, maximum=most))
        offset = 0
        cursor = request.query.get("cursor")
        if cursor:
            state = self._read(cursor, route)
            for name, value in state.bound.items():
                if name in bound and bound[name] != value:
                    raise _RefusedError(f"cursor filters contradicted: {name}", "CURSOR_MISMATCH")
            limit = state.limit
            offset = state.anchor[0]
        page = list(rows[offset : offset + limit])
        more = offset + limit < len(rows)
        next_cursor = (
            self._cursors.issue(route, [offset + limit], dict(bound), limit, self._view.clock_ms()) if more else None
        )
        return page, V2Pagination(next_cursor=next_cursor, has_more=more)

    def _read(self, cursor: str, route: str) -> CursorState:
        return self._cursors.read(
            cursor, route=route, now_ms=self._view.clock_ms(), ttl_s=self._view.knobs.cursor_ttl_s
        )

    # --- routes ------------------------------------------------------------------------------------

    def _positions(self, request: web.Request) -> V2Page[V2Position]:
        query = request.query
        user = wallet_param(query.get("user"))
        status = query.get("status", PositionStatus.OPEN.value).upper()
        if status not in set(PositionStatus):
            raise QueryError("status must be one of " + ", ".join(PositionStatus))
        conditions = _conditions(query)
        view = self._view
        marked = [
            m
            for m in view.marked(view.book(user))
            if _has_status(m, PositionStatus(status)) and (not conditions or m.position.condition_id in conditions)
        ]
        marked.sort(key=lambda m: (-m.position.size_micros, m.position.token_id))
        bound = {"user": user, "status": status, "condition": ",".join(sorted(conditions))}
        page, pagination = self._cohort(request, "/v2/positions", marked, bound)
        return V2Page(data=[_v2_position(m) for m in page], pagination=pagination)

    def _activity(self, request: web.Request) -> V2Page[V2Activity]:
        query = request.query
        user = wallet_param(query.get("user"))
        conditions = _conditions(query)
        kinds = set(strings(query, "type"))
        view = self._view
        now_s = view.clock_ms() // 1000
        start_s = number(query, "start", max(0, now_s - _THREE_YEARS_S))
        end_s = number(query, "end", 0)
        side = query.get("side")
        rows = view.activity_rows(user, conditions=conditions, kinds=kinds, start_s=start_s, end_s=end_s, side=side)
        descending = query.get("sort_direction", query.get("sortDirection", "DESC")).upper() != "ASC"
        page, pagination = self._feed(request, "/v2/activity", rows, descending)
        return V2Page(data=[_v2_activity(view, row) for row in page], pagination=pagination)

    def _trades(self, request: web.Request) -> V2Page[V2Trade]:
        query = request.query
        user = None if query.get("user") is None else wallet_param(query.get("user"))
        conditions = _conditions(query)
        taker_only = flag(query, "taker_only")
        taker_only = True if taker_only is None else taker_only
        side = query.get("side")
        view = self._view
        rows = view.trade_rows(user, conditions=conditions, taker_only=taker_only, side=side)
        page, pagination = self._feed(request, "/v2/trades", rows, descending=True)
        return V2Page(data=[_v2_trade(view, row) for row in page], pagination=pagination)

    def _holders(self, request: web.Request) -> V2Page[V2TokenHolders]:
        query = request.query
        conditions = _conditions(query)
        if not conditions:
            raise QueryError("condition is required")
        limit = max(1, number(query, "limit", 20, maximum=20))
        include_pnl = flag(query, "include_pnl") is True
        minimum = Decimal(1)
        data = []
        for token, holders in holders_by_token(self._view, conditions, minimum, limit):
            rows = []
            for m in holders:
                holder = V2Holder(
                    proxy_wallet=m.wallet,
                    asset=token,
                    amount=shares(m.position.size_micros),
                    outcome_index=m.position.outcome_index,
                    name=m.name,
                )
                if include_pnl:
                    holder.realized_pnl = dollars(m.position.realized_picos)
                    holder.unrealized_pnl = dollars(m.unrealized_picos)
                    holder.total_pnl = dollars(m.position.realized_picos + m.unrealized_picos)
                rows.append(holder)
            data.append(V2TokenHolders(token=token, holders=rows))
        return V2Page(data=data, pagination=V2Pagination(next_cursor=None, has_more=False))

    def _value(self, request: web.Request) -> V2Single[V2Value]:
        user = wallet_param(request.query.get("user"))
        conditions = _conditions(request.query)
        view = self._view
        book = view.book(user)
        return V2Single(data=V2Value(user=user, value_usdc=dollars(view.value_picos(book, conditions))))

    def _board_bound(self, request: web.Request) -> tuple[dict[str, str], int | None]:
        query = request.query
        period = query.get("time_period", "DAY").upper()
        order = query.get("order_by", "PNL").upper()
        if order not in ("PNL", "VOL"):
            raise QueryError("order_by must be PNL or VOL")
        category = query.get("category", "OVERALL").upper()
        return {"time_period": period, "order_by": order, "category": category}, leaderboard_window_ms(period)

    def _leaderboard(self, request: web.Request) -> V2Page[V2LeaderboardEntry]:
        bound, window_ms = self._board_bound(request)
        board = leaderboard(self._view, window_ms, bound["order_by"])
        page, pagination = self._cohort(request, "/v2/leaderboard", board, bound, limits=_BOARD_LIMIT)
        return V2Page(
            data=[
                V2LeaderboardEntry(
                    rank=rank, proxy_wallet=wallet, user_name=name, volume_usdc=dollars(volume), pnl_usdc=dollars(pnl)
                )
                for rank, wallet, name, volume, pnl in page
            ],
            pagination=pagination,
        )

    def _biggest_winners(self, request: web.Request) -> V2Page[V2BiggestWinner]:
        bound, _window_ms = self._board_bound(request)
        view = self._view
        wins: list[tuple[Fraction, str, str, str]] = []
        for book in view.ledger.books(until_ms=view.cutoff_ms()):
            best = _best_resolved(view, book)
            if best is not None:
                wins.append((best[0], book.wallet, book.name, best[1]))
        wins.sort(key=lambda win: (-win[0], win[1]))
        ranked = [(rank, *win) for rank, win in enumerate(wins, start=1)]
        page, pagination = self._cohort(request, "/v2/biggest-winners", ranked, bound, limits=_BOARD_LIMIT)
        return V2Page(
            data=[
                V2BiggestWinner(
                    rank=rank,
                    proxy_wallet=wallet,
                    condition_id=condition,
                    pnl_usdc=dollars(pnl),
                    user_name=name,
                    title=view.exchange.markets[condition].question,  # type: ignore[index]
                )
                for rank, pnl, wallet, name, condition in page
            ],
            pagination=pagination,
        )

    def _user_pnl(self, request: web.Request) -> V2Page[V2PnlPoint]:
        user = wallet_param(request.query.get("user"))
        view = self._view
        cutoff = view.cutoff_ms()
        points: list[V2PnlPoint] = []
        book: WalletBook | None = None
        for row, book in view.ledger.history(user, until_ms=cutoff):
            point = _pnl_point(book, row.timestamp_ms // 1000, unrealized=None)
            if points and points[-1].timestamp == point.timestamp:
                points[-1] = point  # one point per second: the state after its last row
            else:
                points.append(point)
        if book is not None:
            unrealized = view.total_pnl_picos(book) - book.realized_picos()
            points.append(_pnl_point(book, cutoff // 1000, unrealized=unrealized))
        return V2Page(data=points, pagination=V2Pagination(next_cursor=None, has_more=False))

    def _user_stats(self, request: web.Request) -> V2Single[V2UserStats]:
        user = wallet_param(request.query.get("user"))
        view = self._view
        book = view.book(user)
        if book.first_ms is None:
            return V2Single(data=None)
        best = view.biggest_win_picos(book)
        return V2Single(
            data=V2UserStats(
                trades=len({position.condition_id for position in book.positions.values()}),
                biggest_win=dollars(best) if best > 1_000_000 * 1_000_000 else Decimal(0),
                views=0,
                join_date=datetime.fromtimestamp(book.first_ms / 1000, UTC).date().isoformat(),
                all_time_pnl=dollars(view.total_pnl_picos(book)),
            )
        )


def _conditions(query: MultiMapping[str]) -> set[str]:
    conditions = {text.lower() for text in strings(query, "condition", "condition_id", "conditionId")}
    if len(conditions) > MAX_CONDITIONS:
        raise _RefusedError(f"at most {MAX_CONDITIONS} condition ids per request", "TOO_MANY_CONDITIONS")
    return conditions


def _has_status(m: Marked, status: PositionStatus) -> bool:
    if status is not PositionStatus.CLOSED and m.position.size_micros < 0:
        return False  # a short in the ledger (see DataView): counted in P&L, never listed
    if status is PositionStatus.OPEN:
        return m.status in (PositionStatus.OPEN, PositionStatus.MERGEABLE)
    return m.status is status


def _best_resolved(view: DataView, book: WalletBook) -> tuple[Fraction, str] | None:
    best: tuple[Fraction, str] | None = None
    for position in book.positions.values():
        info = view.exchange.market_of(position.token_id)
        if info is None or view.exchange.winning_token(info.condition_id) is None:
            continue
        m_pnl = (
            position.realized_picos + position.size_micros * view.mark_micros(position.token_id) - position.cost_picos
        )
        if m_pnl > 0 and (best is None or m_pnl > best[0]):
            best = (m_pnl, info.condition_id)
    return best


def _pnl_point(book: WalletBook, timestamp_s: int, *, unrealized: Fraction | None) -> V2PnlPoint:
    realized = book.realized_picos()
    return V2PnlPoint(
        timestamp=timestamp_s,
        total_pnl=None if unrealized is None else dollars(realized + unrealized),
        realized_market_pnl=dollars(realized),
        realized_combo_pnl=Decimal(0),
        realized_lp_pnl=Decimal(0),
        unrealized_pnl=None if unrealized is None else dollars(unrealized),
        rebates=Decimal(0),
        fees_paid=Decimal(0),
        volume_usdc=dollars(book.volume_picos),
        trade_count=book.trades,
    )


def _v2_position(m: Marked) -> V2Position:
    position = m.position
    return V2Position(
        proxy_wallet=m.wallet,
        asset=position.token_id,
        condition_id=position.condition_id,
        outcome_index=position.outcome_index,
        current_size=shares(position.size_micros),
        avg_price=shares(position.avg_price_micros),
        entry_cost_usdc=dollars(position.cost_picos),
        current_value=dollars(m.current_picos),
        cur_price=shares(m.mark_micros),
        realized_pnl=dollars(position.realized_picos),
        unrealized_pnl=dollars(m.unrealized_picos),
        total_bought=shares(position.bought_micros),
        redeemable=m.status in (PositionStatus.REDEEMABLE, PositionStatus.REDEEMABLE_LOST),
        mergeable=m.status is PositionStatus.MERGEABLE,
        status=m.status.value,
        outcome=position.outcome,
        title=m.title,
        slug=m.slug,
        event_slug=m.slug,
        negative_risk=m.negative_risk,
    )


def _v2_activity(view: DataView, row: LedgerRow) -> V2Activity:
    return V2Activity(
        proxy_wallet=row.wallet,
        timestamp=row.timestamp_ms // 1000,
        type=row.kind,
        size=shares(row.size_micros),
        usdc_size=dollars(row.usdc_picos),
        transaction_hash=row.transaction_hash,
        condition_id=row.condition_id,
        asset=row.token_id,
        side=None if row.side is None else row.side.value,
        price=None if row.price_micros is None else shares(row.price_micros),
        outcome_index=row.outcome_index,
        outcome=row.outcome,
        slug=view.exchange.listing(row.condition_id).slug,
    )


def _v2_trade(view: DataView, row: LedgerRow) -> V2Trade:
    return V2Trade(
        proxy_wallet=row.wallet,
        side="" if row.side is None else row.side.value,
        asset=row.token_id,
        condition_id=row.condition_id,
        size=shares(row.size_micros),
        price=shares(row.price_micros or 0),
        timestamp=row.timestamp_ms // 1000,
        transaction_hash=row.transaction_hash,
        outcome_index=row.outcome_index,
        outcome=row.outcome,
        slug=view.exchange.listing(row.condition_id).slug,
    )
