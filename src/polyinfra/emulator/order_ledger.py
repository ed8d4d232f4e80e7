"""The emulated venue's account of the orders placed through its trading API and of their matches.

:class:`OrderLedger` keeps each accepted order's record and each match's trade, and carries out
everything a match means: balances moved at each fill with its fees, the ``size_matched``, status
and ``associate_trades`` of the orders, the trade's status lifecycle on timers, and the user-channel
events of all of it (:mod:`polyinfra.emulator.trading_records` shapes them). What open orders hold
is kept per wallet as they rest, fill and leave the book, whoever's order filled them: a scan of
every open order per placement would make intake quadratic.

Fees are the 2026 model (venue notes: Fees), set at match time from the market's own fee
schedule (the ``fd`` of ``/clob-markets``) with :func:`polyinfra.core.fees.fill_fee`, per fill:
the taker pays ``shares x rate x (p(1 - p)) ** exponent`` truncated to 5 decimals, makers nothing
under ``taker_only``. Fees are taken in pUSD on both sides, a BUY paying them on top of its cost
and a SELL out of its proceeds: the V2 SDK's buy helper charges pUSD on top of the amount, which
is an inference for V2 (venue notes: Fees; V1 took buy fees in shares). A trade's
``fee_rate_bps`` (REST rows and user-channel ``trade`` events, top level for the taking order and
per ``maker_orders`` entry) is the rate the side was charged at, in basis points, the schedule's
``rate x 10000`` (``"300"`` for 0.03), and ``"0"`` for a side that paid nothing (makers under
``taker_only``, fee-free markets): after V2 the field is the fee actually charged rather than V1's
signed 1000-bps cap (venue notes: Fees), and basis points of the rate keep it the integer it always was.

Trades go MATCHED -> MINED (with a ``transaction_hash``) -> CONFIRMED on timers (``mined_after_s``,
``confirmed_after_s``). The fault knobs ``trade_retry_rate`` and ``trade_failure_rate``
(:mod:`polyinfra.emulator.faults`) walk the rest of the trade status machine: a retried trade goes
RETRYING when it would have been MINED, then, one ``mined_after_s`` later, FAILED or MINED (CONFIRMED
``mined_after_s`` later than usual). A FAILED trade never reached the chain, so every balance change
of its match is undone; its orders stay as matched (emulator choice: the venue does not document
re-posting, and the engine's book has moved on).

The simulator's orders match through the same engine, so one can take users' resting orders; the
exchange reports every placement's fills, and a match the simulator took is settled from there
exactly as one a user took (makers' balances at their own prices and fees, ``size_matched``,
status, ``associate_trades``, the UPDATE event, a trade with its lifecycle and faults). The
simulator has no API key, wallet or order record, so its side of such a trade moves no balance
and pays no fee, and nobody sees the trade as TAKER: each maker sees ``trader_side`` MAKER, its
own ``owner`` and ``maker_address``, and the simulator's order in ``taker_order_id``, ``asset_id``,
``side``, ``size`` and ``price``, with a top-level ``fee_rate_bps`` of ``"0"``; simulator makers in
``maker_orders`` carry their ``sim-...`` owner and the zero address, as in users' trades.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from polyinfra.core.eip712 import address_word, keccak256
from polyinfra.core.fees import fill_fee
from polyinfra.core.matching import Fill, Order, SubmitResult
from polyinfra.emulator.accounts import Accounts, ApiKey, Balances
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.faults import FaultConfig, FaultDice
from polyinfra.emulator.trading_records import OrderRecord, Trade, order_message, trade_message, trade_row
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import MICROS, Side, micros_to_decimal, to_micros
from polyinfra.wire.clob_user import OrderMessage, TradeMessage

__all__ = ["OrderLedger", "UserEventSink", "fee_micros"]

UserEventSink = Callable[[str, str, OrderMessage | TradeMessage], None]
"""Delivers a user-channel event: (API key, condition id, event)."""


class _FundsMove(Protocol):
    """:meth:`Balances.settle` or :meth:`Balances.unsettle`."""

    def __call__(
        self, address: str, token_id: str, side: Side, size_micros: int, price_micros: int, *, fee_micros: int
    ) -> None: ...


@dataclass(slots=True)
class _Holdings:
    """What one wallet's open orders hold: pUSD for its BUYs, shares of each token for its SELLs."""

    collateral_micros: int = 0
    shares_micros: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))

    def change(self, order: Order, remaining_before: int, remaining_after: int) -> None:
        """Account for ``order``'s remaining size going from ``remaining_before`` to ``remaining_after``."""
        if order.side is Side.BUY:
            # Each order's pUSD is rounded down on its own, so the total is the sum of what the orders hold.
            price = order.price_micros
            self.collateral_micros += remaining_after * price // MICROS - remaining_before * price // MICROS
        else:
            self.shares_micros[order.token_id] += remaining_after - remaining_before


def fee_micros(market: MarketInfo, size_micros: int, price_micros: int, *, taker: bool) -> int:
    """The pUSD fee, in micro-units, of one side of a fill under the market's own schedule."""
    schedule = market.fee_schedule
    # Fee-free markets skip the Decimal arithmetic: this runs for every BUY placed.
    if schedule is None or not schedule.rate:
        return 0
    fee = fill_fee(micros_to_decimal(size_micros), micros_to_decimal(price_micros), schedule, taker=taker)
    return to_micros(fee)


class OrderLedger:
    """The records of the orders placed through the trading API and of their trades, over one
    :class:`Exchange` whose cancellations and fills it follows; call :meth:`close` at shutdown."""

    def __init__(
        self,
        exchange: Exchange,
        accounts: Accounts,
        balances: Balances,
        *,
        user_events: UserEventSink,
        clock_ms: Callable[[], int],
        mined_after_s: float,
        confirmed_after_s: float,
        faults: FaultConfig,
    ) -> None:
        self._accounts = accounts
        self._balances = balances
        self._user_events = user_events
        self._clock_ms = clock_ms
        self._mined_after_s = mined_after_s
        self._confirmed_after_s = confirmed_after_s
        self._orders: dict[str, OrderRecord] = {}
        self._holdings: defaultdict[bytes, _Holdings] = defaultdict(_Holdings)
        """By the maker address's ABI word: addresses compare case-insensitively."""
        self._trades_by_key: dict[str, list[Trade]] = {}
        """Each API key's trades (it took part in), in match order: ``/data/trades`` reads only its own."""
        self._timers: set[asyncio.TimerHandle] = set()
        self._trade_dice = FaultDice(faults, "trades")
        self._exchange = exchange
        self._unsubscribers = (
            exchange.subscribe_cancellations(self._on_cancelled),
            exchange.subscribe_fills(self._on_filled),
        )

    def close(self) -> None:
        """Stop every trade lifecycle timer, and stop listening to the exchange."""
        for unsubscribe in self._unsubscribers:
            unsubscribe()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def record(self, order_id: str) -> OrderRecord | None:
        """The record of an order placed through the API (whatever its state), None for any other."""
        return self._orders.get(order_id)

    def resting_order(self, key: ApiKey, order_id: str) -> Order | None:
        """One of ``key``'s orders while it rests on a book, else None."""
        record = self._orders.get(order_id)
        if record is None or record.key.api_key != key.api_key or record.status != "LIVE":
            return None
        return record.order

    def maker_address_of(self, order_id: str) -> str | None:
        """The wallet (maker address) of an order placed through this API, or None (the simulator's)."""
        record = self._orders.get(order_id)
        return None if record is None else record.maker_address

    def reserved(self, maker_address: str, token_id: str, side: Side) -> int:
        """What the wallet's open orders hold: pUSD for BUYs, the token's shares for SELLs (venue notes: Matching)."""
        holdings = self._wallet_holdings(maker_address)
        return holdings.collateral_micros if side is Side.BUY else holdings.shares_micros[token_id]

    def open_records(self, api_key: str) -> Iterator[OrderRecord]:
        """The records of ``api_key``'s orders resting on a book now."""
        return (
            self._orders[order.order_id]
            for order in self._exchange.open_orders(api_key)
            if order.order_id in self._orders
        )

    def trades_of(self, api_key: str) -> Sequence[Trade]:
        """The trades ``api_key`` took part in, in match order."""
        return self._trades_by_key.get(api_key, ())

    def accept(self, record: OrderRecord, result: SubmitResult, now_ms: int) -> Trade | None:
        """Keep a placement the exchange took (its ``result``): hold what it rests with, tell its
        owner, and settle its match; returns the trade, None when nothing filled."""
        order = record.order
        self._orders[order.order_id] = record
        if result.rests:
            self._wallet_holdings(record.maker_address).change(order, 0, order.remaining_micros)
        record.status = "LIVE" if result.rests else "MATCHED"
        record.size_matched_micros = result.filled_micros
        self._emit_order(record, "PLACEMENT", now_ms)
        return self._settle(record.market, record, result.fills, now_ms) if result.fills else None

    def _settle(self, market: MarketInfo, taker: OrderRecord | None, fills: Sequence[Fill], now_ms: int) -> Trade:
        """Record, settle and announce one placement's match in ``market``; ``taker`` None for the simulator's."""
        makers = tuple(self._orders.get(fill.maker_order_id) for fill in fills)
        # Each fill pays its own fee, rounded on its own (fees are set at match time, per trade);
        # the simulator has no wallet to pay from.
        taker_fees = tuple(
            0 if taker is None else fee_micros(market, fill.size_micros, fill.taker_price_micros, taker=True)
            for fill in fills
        )
        maker_fees = tuple(fee_micros(market, fill.size_micros, fill.maker_price_micros, taker=False) for fill in fills)
        match_time_s = now_ms // 1000
        trade = Trade(
            str(uuid.uuid4()),
            market,
            taker,
            tuple(fills),
            makers,
            taker_fees,
            maker_fees,
            match_time_s,
            last_update_s=match_time_s,
        )
        for api_key in trade.participants():
            self._trades_by_key.setdefault(api_key, []).append(trade)
        if taker is not None:
            taker.trade_ids.append(trade.trade_id)
        self._move_funds(trade, self._balances.settle)
        for fill, maker in zip(fills, makers, strict=True):
            if maker is None:
                continue
            maker.size_matched_micros += fill.size_micros
            if trade.trade_id not in maker.trade_ids:
                maker.trade_ids.append(trade.trade_id)
            if not fill.maker_remaining_micros:
                maker.status = "MATCHED"
            self._emit_order(maker, "UPDATE", now_ms)
        self._emit_trade(trade)
        loop = asyncio.get_running_loop()
        mined_s, confirmed_s = self._mined_after_s, self._confirmed_after_s
        # Both decisions are drawn at the match, so a seed gives the same fates in matching order.
        steps: tuple[tuple[float, str], ...]
        if not self._trade_dice.trade_retries():
            steps = ((mined_s, "MINED"), (confirmed_s, "CONFIRMED"))
        elif self._trade_dice.retry_fails():
            steps = ((mined_s, "RETRYING"), (2 * mined_s, "FAILED"))
        else:
            steps = ((mined_s, "RETRYING"), (2 * mined_s, "MINED"), (confirmed_s + mined_s, "CONFIRMED"))
        for delay_s, status in steps:
            self._schedule(loop, delay_s, trade, status)
        return trade

    def _roll_back(self, trade: Trade) -> None:
        """Undo every balance change of a FAILED trade's match, fees refunded (accounts.py)."""
        self._move_funds(trade, self._balances.unsettle)

    def _move_funds(self, trade: Trade, move: _FundsMove) -> None:
        """Apply ``move`` (settle, or unsettle to undo) to both sides of every fill, each with its own
        fee; the simulator's orders, taking or resting, hold no wallet."""
        taker = trade.taker
        fees = zip(trade.taker_fees_micros, trade.maker_fees_micros, strict=True)
        for fill, maker, (taker_fee, maker_fee) in zip(trade.fills, trade.makers, fees, strict=True):
            if taker is not None:
                move(
                    taker.maker_address,
                    fill.taker_token_id,
                    fill.taker_side,
                    fill.size_micros,
                    fill.taker_price_micros,
                    fee_micros=taker_fee,
                )
            if maker is not None:
                move(
                    maker.maker_address,
                    fill.maker_token_id,
                    fill.maker_side,
                    fill.size_micros,
                    fill.maker_price_micros,
                    fee_micros=maker_fee,
                )

    def _schedule(self, loop: asyncio.AbstractEventLoop, delay_s: float, trade: Trade, status: str) -> None:
        def advance() -> None:
            self._timers.discard(timer)
            trade.status = status
            trade.last_update_s = self._clock_ms() // 1000
            # Only a mined trade has a transaction on chain (``transaction_hash``, venue notes: Responses).
            if status == "MINED":
                trade.transaction_hash = "0x" + keccak256(trade.trade_id.encode()).hex()
            elif status == "FAILED":
                self._roll_back(trade)
            self._emit_trade(trade)

        timer = loop.call_later(delay_s, advance)
        self._timers.add(timer)

    def _on_cancelled(self, orders: Sequence[Order]) -> None:
        """Mark every order the exchange took off a book, whoever asked, and tell its owner."""
        now_ms = self._clock_ms()
        for order in orders:
            record = self._orders.get(order.order_id)
            if record is not None:
                record.status = "CANCELED"
                self._wallet_holdings(record.maker_address).change(order, order.remaining_micros, 0)
                self._emit_order(record, "CANCELLATION", now_ms)

    def _on_filled(self, fills: Sequence[Fill]) -> None:
        """Release what every filled resting order of ours held, whoever's order took it (venue notes: Matching), and
        settle the match when the simulator's order took ours: :meth:`accept` settles a placement's own."""
        user_market: MarketInfo | None = None
        for fill in fills:
            maker = self._orders.get(fill.maker_order_id)
            if maker is not None:
                remaining = fill.maker_remaining_micros
                self._wallet_holdings(maker.maker_address).change(maker.order, remaining + fill.size_micros, remaining)
                user_market = maker.market
        # Orders placed through this API are owned by their API key (_place checks it); the simulator's never are.
        if user_market is not None and self._accounts.get(fills[0].taker_owner) is None:
            self._settle(user_market, None, fills, self._clock_ms())

    def _wallet_holdings(self, maker_address: str) -> _Holdings:
        return self._holdings[address_word(maker_address)]

    def _emit_order(self, record: OrderRecord, kind: str, now_ms: int) -> None:
        self._user_events(record.key.api_key, record.market.condition_id, order_message(record, kind, now_ms))

    def _emit_trade(self, trade: Trade) -> None:
        for api_key, mine in trade.participants().items():
            row = trade_row(trade, mine)
            self._user_events(api_key, row.market, trade_message(row, self._clock_ms()))
