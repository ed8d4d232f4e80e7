"""What the emulator's Data API serves, derived from the matching engine's own fills.

Every fill the exchange reports (the simulator's and API clients' alike) becomes two activity rows of
kind TRADE, one for the taker and one for the maker, each with its own token, side and price, under
the fill's settlement hash (:func:`~polyinfra.emulator.live.rtds_sources.settlement_hash`, the one
RTDS activity names it by) and the wallet RTDS names (an API key's address, or a simulator agent's
fixed address, :func:`~polyinfra.emulator.live.rtds_sources.agent_wallet`). So the Data API, the
CLOB's trades and RTDS activity report the same fills. :meth:`WalletLedger.redeem` adds the REDEEM
rows of a wallet cashing in a resolved market, one per outcome (``usdc_size`` 0 on the losing side),
as the venue reports them since 2026-08. :meth:`WalletLedger.transfer` moves shares from one wallet to
another as an ERC-1155 transfer does: two rows of kind TRANSFER that move the positions but that no
activity route serves (the venue's feed does not list transfers). The shares leave the sender at their
average cost, realizing nothing, and arrive at no cost (no price was paid for them).

Nothing else is stored: positions, P&L, values, holders and boards are replayed from a wallet's
rows up to a cut-off time (:meth:`WalletLedger.book`), so they agree with the activity feed by
construction, and a lagging view (the Data API is 5-10 s behind) lags everything together.

Positions use average cost: a trade in the direction of the position adds to it at its price; one
against it closes shares at the average cost, realizing the difference, and any excess opens the
other way. Sizes and prices are integer micros, cash picos (micros x micros), cost basis an exact
:class:`~fractions.Fraction` of picos; nothing is ever a float.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final

from polyinfra.core.matching import Fill
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.live.rtds_sources import agent_wallet, settlement_hash
from polyinfra.errors import InvalidValueError
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import MICROS, Side

__all__ = ["ROWS_KEPT", "TRANSFER", "LedgerRow", "Position", "WalletBook", "WalletLedger", "redeem_hash"]

ROWS_KEPT: Final = 200_000
"""Rows kept (some 80 MB; 100,000 fills, as many as RTDS keeps): past it the oldest rows are
forgotten, and positions then count from the oldest row kept. A fill listener must never fail, so
the ledger forgets rather than refuses."""


TRANSFER: Final = "TRANSFER"
"""The kind of a transfer's rows: they move positions, and no activity route serves them."""


def redeem_hash(number: int) -> str:
    """The transaction hash of the emulator's ``number``-th redemption (from 1)."""
    return "0x" + hashlib.sha256(f"emulator redeem {number}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One activity row of one wallet. ``seq`` orders every row of the ledger (ties in time included)."""

    seq: int
    wallet: str
    """Lower case."""
    name: str
    """The simulator agent's name, or "" for an API key's wallet."""
    kind: str
    timestamp_ms: int
    condition_id: str
    token_id: str
    outcome_index: int
    outcome: str
    side: Side | None
    size_micros: int
    price_micros: int | None
    usdc_picos: int
    transaction_hash: str
    taker: bool
    """The taker's row of a fill (the maker's and redeem rows are not)."""


@dataclass(slots=True)
class Position:
    """A wallet's holding of one token, replayed from its rows."""

    condition_id: str
    token_id: str
    outcome_index: int
    outcome: str
    size_micros: int = 0
    cost_picos: Fraction = Fraction(0)
    """The cost basis of the shares held (negative for a short)."""
    realized_picos: Fraction = Fraction(0)
    bought_micros: int = 0
    last_ms: int = 0

    @property
    def avg_price_micros(self) -> Fraction:
        return self.cost_picos / self.size_micros if self.size_micros else Fraction(0)

    def trade(self, side: Side, size_micros: int, price_micros: int, timestamp_ms: int) -> None:
        signed = size_micros if side is Side.BUY else -size_micros
        if side is Side.BUY:
            self.bought_micros += size_micros
        self.last_ms = timestamp_ms
        if self.size_micros == 0 or (self.size_micros > 0) == (signed > 0):
            self.size_micros += signed
            self.cost_picos += signed * price_micros
            return
        closing = min(abs(signed), abs(self.size_micros))
        direction = 1 if self.size_micros > 0 else -1
        average = self.avg_price_micros
        self.realized_picos += closing * (price_micros - average) * direction
        self.cost_picos -= average * closing * direction
        self.size_micros -= closing * direction
        left = abs(signed) - closing
        if left:
            self.size_micros = -direction * left
            self.cost_picos = Fraction(-direction * left * price_micros)

    def transfer(self, side: Side, size_micros: int, timestamp_ms: int) -> None:
        """Shares leaving (SELL: at their average cost, realizing nothing) or arriving (BUY: at no cost)."""
        if side is Side.SELL:
            self.cost_picos -= self.avg_price_micros * size_micros
        self.size_micros += size_micros if side is Side.BUY else -size_micros
        self.last_ms = timestamp_ms

    def redeem(self, payout_micros_per_share: int, timestamp_ms: int) -> int:
        """Cash the position in at the resolution price; returns the pUSD paid, in picos."""
        paid = self.size_micros * payout_micros_per_share
        self.realized_picos += paid - self.cost_picos
        self.size_micros = 0
        self.cost_picos = Fraction(0)
        self.last_ms = timestamp_ms
        return paid


@dataclass(slots=True)
class WalletBook:
    """A wallet's positions (by token) and its counters, as of a cut-off time."""

    wallet: str
    name: str = ""
    positions: dict[str, Position] = field(default_factory=dict)
    volume_picos: int = 0
    trades: int = 0
    first_ms: int | None = None

    def realized_picos(self) -> Fraction:
        return sum((position.realized_picos for position in self.positions.values()), Fraction(0))


class WalletLedger:
    """Activity rows per wallet, fed by ``exchange``'s fills; ``trader_address`` names an API key's wallet
    (None for a simulator agent), ``clock_ms`` is the exchange's clock."""

    def __init__(
        self, exchange: Exchange, *, trader_address: Callable[[str], str | None], clock_ms: Callable[[], int]
    ) -> None:
        self._exchange = exchange
        self._trader_address = trader_address
        self._clock_ms = clock_ms
        self._rows: deque[LedgerRow] = deque()
        self._by_wallet: dict[str, deque[LedgerRow]] = {}
        self._names: dict[str, str] = {}
        self._seq = 0
        self._fills = 0
        self._redeems = 0
        self._transfers = 0
        self._unsubscribe = exchange.subscribe_fills(self._on_fills)

    def close(self) -> None:
        self._unsubscribe()

    @property
    def rows(self) -> Sequence[LedgerRow]:
        """Every row, oldest first (the ground truth a test compares a client's collection with)."""
        return self._rows

    def wallets(self) -> list[str]:
        """Every wallet with a row, in order of first appearance."""
        return list(self._by_wallet)

    def names(self) -> dict[str, str]:
        """The simulator agents' wallets and their names."""
        return dict(self._names)

    def rows_of(self, wallet: str, *, until_ms: int) -> list[LedgerRow]:
        """``wallet``'s rows up to ``until_ms`` (inclusive), oldest first."""
        return [row for row in self._by_wallet.get(wallet.lower(), ()) if row.timestamp_ms <= until_ms]

    def visible(self, *, until_ms: int) -> Iterator[LedgerRow]:
        """Every row up to ``until_ms``, oldest first."""
        return (row for row in self._rows if row.timestamp_ms <= until_ms)

    def book(self, wallet: str, *, until_ms: int) -> WalletBook:
        """``wallet``'s positions and counters replayed from its rows up to ``until_ms``."""
        return self._replay(wallet.lower(), self.rows_of(wallet, until_ms=until_ms))

    def books(self, *, until_ms: int) -> list[WalletBook]:
        """Every wallet's book up to ``until_ms``."""
        return [
            self._replay(wallet, (row for row in rows if row.timestamp_ms <= until_ms))
            for wallet, rows in self._by_wallet.items()
        ]

    def history(self, wallet: str, *, until_ms: int) -> Iterator[tuple[LedgerRow, WalletBook]]:
        """``wallet``'s rows up to ``until_ms``, each with the book as it stands just after it (one book,
        updated in place: read it before the next step). One pass, however long the history."""
        book = WalletBook(wallet.lower())
        for row in _replayed(book, self.rows_of(wallet, until_ms=until_ms)):
            yield row, book

    def redeem(self, wallet: str, condition_id: str) -> list[LedgerRow]:
        """``wallet`` redeems its tokens of the resolved market ``condition_id``: one REDEEM row per outcome
        it holds (the winner pays 1 per share, the loser 0). :class:`InvalidValueError` while the market is open."""
        info = self._exchange.markets.get(condition_id.lower())  # type: ignore[call-overload]
        winner = None if info is None else self._exchange.winning_token(info.condition_id)
        if info is None or winner is None:
            raise InvalidValueError("the market is unknown or not resolved", market=condition_id)
        now_ms = self._clock_ms()
        held = self.book(wallet, until_ms=now_ms).positions
        self._redeems += 1
        transaction = redeem_hash(self._redeems)
        added: list[LedgerRow] = []
        for index, token in enumerate(info.tokens):
            position = held.get(token.token_id)
            if position is None or position.size_micros <= 0:
                continue
            paid_micros = position.size_micros if token.token_id == winner else 0
            added.append(
                self._append_outcome(
                    info,
                    index,
                    wallet=wallet.lower(),
                    kind="REDEEM",
                    timestamp_ms=now_ms,
                    side=None,
                    size_micros=position.size_micros,
                    usdc_picos=paid_micros * MICROS,
                    transaction_hash=transaction,
                )
            )
        return added

    def transfer(self, sender: str, receiver: str, token_id: str, size_micros: int) -> list[LedgerRow]:
        """``sender`` transfers ``size_micros`` shares of ``token_id`` to ``receiver`` (see the module
        docstring). :class:`InvalidValueError` for an unknown token, a size that is not positive, a wallet
        sending to itself, or more shares than the sender holds."""
        sender, receiver = sender.lower(), receiver.lower()
        market = self._exchange.market_of(token_id)
        if market is None or size_micros <= 0 or sender == receiver:
            raise InvalidValueError(
                "a transfer needs a listed token, a positive size and two wallets", token_id=token_id[:80]
            )
        now_ms = self._clock_ms()
        held = self.book(sender, until_ms=now_ms).positions.get(token_id)
        if held is None or held.size_micros < size_micros:
            raise InvalidValueError("the sender holds fewer shares than it transfers", wallet=sender)
        self._transfers += 1
        transaction = "0x" + hashlib.sha256(f"emulator transfer {self._transfers}".encode()).hexdigest()
        index = 0 if market.tokens[0].token_id == token_id else 1
        return [
            self._append_outcome(
                market,
                index,
                wallet=wallet,
                kind=TRANSFER,
                timestamp_ms=now_ms,
                side=side,
                size_micros=size_micros,
                usdc_picos=0,
                transaction_hash=transaction,
            )
            for wallet, side in ((sender, Side.SELL), (receiver, Side.BUY))
        ]

    # --- internals -----------------------------------------------------------------------------------

    def _replay(self, wallet: str, rows: Iterable[LedgerRow]) -> WalletBook:
        book = WalletBook(wallet)
        for _row in _replayed(book, rows):
            pass
        return book

    def _on_fills(self, fills: Sequence[Fill]) -> None:
        now_ms = self._clock_ms()
        for fill in fills:
            market = self._exchange.market_of(fill.taker_token_id)
            if market is None:
                continue
            # Numbered as RTDS numbers them (every fill of a listed market), so the hashes agree.
            self._fills += 1
            transaction = settlement_hash(self._fills)
            for owner, token, side, price, taker in (
                (fill.taker_owner, fill.taker_token_id, fill.taker_side, fill.taker_price_micros, True),
                (fill.maker_owner, fill.maker_token_id, fill.maker_side, fill.maker_price_micros, False),
            ):
                address = self._trader_address(owner)
                self._append_outcome(
                    market,
                    0 if market.tokens[0].token_id == token else 1,
                    wallet=(agent_wallet(owner) if address is None else address).lower(),
                    name=owner if address is None else "",
                    kind="TRADE",
                    timestamp_ms=now_ms,
                    side=side,
                    size_micros=fill.size_micros,
                    price_micros=price,
                    usdc_picos=fill.size_micros * price,
                    transaction_hash=transaction,
                    taker=taker,
                )

    def _append_outcome(self, market: MarketInfo, index: int, **values: object) -> LedgerRow:
        """Append a row about outcome ``index`` of ``market`` (its condition, token and outcome name filled
        in); ``name``, ``price_micros`` and ``taker`` default to none."""
        token = market.tokens[index]
        about = {"condition_id": market.condition_id, "token_id": token.token_id, "outcome_index": index}
        defaults = {"name": "", "price_micros": None, "taker": False}
        return self._append(**(defaults | values | about), outcome=token.outcome)

    def _append(self, **values: object) -> LedgerRow:
        if len(self._rows) >= ROWS_KEPT:
            oldest = self._rows.popleft()
            # The oldest row of all is the oldest of its wallet too.
            self._by_wallet[oldest.wallet].popleft()
        row = LedgerRow(seq=self._seq, **values)  # type: ignore[arg-type]
        self._seq += 1
        self._rows.append(row)
        self._by_wallet.setdefault(row.wallet, deque()).append(row)
        if row.name:
            self._names.setdefault(row.wallet, row.name)
        return row


def _replayed(book: WalletBook, rows: Iterable[LedgerRow]) -> Iterator[LedgerRow]:
    """Apply ``rows`` to ``book`` one by one, yielding each once applied."""
    for row in rows:
        book.name = book.name or row.name
        if book.first_ms is None:
            book.first_ms = row.timestamp_ms
        position = book.positions.get(row.token_id)
        if position is None:
            position = Position(row.condition_id, row.token_id, row.outcome_index, row.outcome)
            book.positions[row.token_id] = position
        if row.kind == "TRADE" and row.side is not None and row.price_micros is not None:
            position.trade(row.side, row.size_micros, row.price_micros, row.timestamp_ms)
            book.volume_picos += row.usdc_picos
            book.trades += 1
        elif row.kind == TRANSFER and row.side is not None:
            position.transfer(row.side, row.size_micros, row.timestamp_ms)
        elif row.kind == "REDEEM":
            position.redeem(row.usdc_picos // row.size_micros if row.size_micros else 0, row.timestamp_ms)
        yield row
