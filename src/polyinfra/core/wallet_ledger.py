"""One wallet's exact profit and loss, rebuilt from its activity rows, sans-I/O.

:class:`WalletLedger` reads a wallet's :class:`~polyinfra.model.wallet_activity.WalletActivity` rows in
order and keeps, per outcome of each market, how many shares the wallet holds and what they cost; from
those it gives realized P&L split the way the venue's ``/v2/user-pnl`` splits it (:class:`PnlComponents`),
unrealized P&L marked to prices a caller supplies, the positions that closed (for win rates and ROI), and
the realized series over time (for reconciliation and charts).

How each row moves cash and shares (``usdc_size`` is the cash the row moved, ``size`` the shares; venue
notes: Wallet P&L)::

    TRADE BUY    cash -> shares of one outcome          cost += cash
    TRADE SELL   shares of one outcome -> cash          realized += cash - average cost of the shares
    SPLIT        cash -> ``size`` of every outcome      the cash is shared equally among the outcomes' costs
    MERGE        ``size`` of every outcome -> cash      realized += cash - average cost of each outcome's shares
    REDEEM       shares of one outcome -> cash          the winner pays 1 a share, the loser 0 (one row each)
    CONVERSION   NO shares -> YES shares + cash         the NOs' cost moves to the YESes, less the cash
    REWARD, MAKER_REBATE, TAKER_REBATE, REFERRAL_REWARD   cash in, in their own component

A position's cost is its average cost (a sale takes its share of the cost in proportion to the shares
sold). Fees are their own component, as charged: the activity feed does not carry them, so the caller
passes the fee of a row it knows (from its own fills or :func:`polyinfra.core.fees.fill_fee`).

Exactness: amounts and sizes are ints of 10**-12 inside (the venue's values have 6 decimals), so every
cash flow is exact. The one division, the average cost a partial sale takes, rounds to 10**-12 dollars;
what it takes is left on the position, so realized + open cost always equals the net cash exactly, and a
position that closes realizes exactly its proceeds minus everything it cost.

Netting: shares of every outcome of one market are complete sets, worth exactly 1 whatever the prices
(they merge into 1 USDC), so :meth:`WalletLedger.valuation` values them at 1 and marks only what is
left over. Buying NO is the short side of YES; a wallet holding both carries no price risk on the pair.

What the venue never allows is refused: selling, merging, redeeming or converting more shares than the
wallet holds raises :class:`~polyinfra.errors.LedgerError` naming the row. A history that starts after the
wallet first traded (a watch started late, tokens received by transfer, which the feed does not list)
is opened with :meth:`WalletLedger.seed`, from the Data API's positions.

The shape of a neg-risk CONVERSION is not documented; this ledger reads one as the rows of one
transaction: the NO shares given up are ``SELL`` legs, the YES shares received are ``BUY`` legs, and the
collateral released is the legs' ``usdc_size``. A conversion realizes only cash beyond the cost it gives up.

Rows are applied once each and in time order (an older row than the last is refused): deduplicating and
ordering across pages and sources is the wallet watch's job. Nothing here reads a clock; times are the
rows' own.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Context, Decimal, DecimalException, Inexact, InvalidOperation, Rounded
from typing import Final, Protocol

from polyinfra.errors import InvalidValueError, LedgerError
from polyinfra.model.book import OrderBook
from polyinfra.model.events import SyncState
from polyinfra.model.market_outcomes import MarketMap
from polyinfra.model.numbers import MAX_WHOLE_DIGITS, Side, bounded_decimal, picos_to_decimal
from polyinfra.model.wallet_activity import ActivityKind, WalletActivity

__all__ = [
    "ClosedPosition",
    "ConditionValue",
    "LiveBookReader",
    "MarkProvider",
    "PnlComponents",
    "Position",
    "Valuation",
    "WalletLedger",
    "marks_from_books",
    "marks_from_live_books",
]

_UNITS: Final = Context(prec=60, traps=[InvalidOperation, Inexact, Rounded])
_NO_FEE: Final = Decimal(0)
"""The default fee: skipped without arithmetic (most rows carry none)."""

UNIT: Final = 10**12
"""Ledger units per share or dollar."""

MarkProvider = Callable[[str], Decimal | None]
"""A token id's price (0 to 1), or None when there is none: a mid from a live book, a REST price, 1 or 0
after resolution. A mapping's ``get`` is one."""

_CASH_ONLY: Final = {
    ActivityKind.REWARD: "rewards",
    ActivityKind.MAKER_REBATE: "rebates",
    ActivityKind.TAKER_REBATE: "rebates",
    ActivityKind.REFERRAL_REWARD: "referral",
}


def to_units(value: Decimal | int, what: str = "amount") -> int:
    """``value`` in ledger units (10**-12), exactly; :class:`LedgerError` when it is not a finite number
    below 10**15, is negative, or is finer than a unit.

    The scaling runs in a context that traps any rounding, so a value with more digits than it can hold
    exactly (a hostile 5,000-decimal string) is refused rather than rounded into one that looks whole;
    the magnitude is checked on the exponent before ``int()`` could build a huge number."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise LedgerError(f"{what} is not a Decimal or int", value=value)
    try:
        scaled = _UNITS.scaleb(Decimal(value), 12)
    except DecimalException:
        raise LedgerError(
            f"{what} has more digits than the ledger holds exactly (15 before the point, 12 after)", value=value
        ) from None
    if not scaled.is_finite() or scaled.adjusted() >= MAX_WHOLE_DIGITS + 12 or scaled < 0:
        raise LedgerError(f"{what} is not a non-negative number below 10**{MAX_WHOLE_DIGITS}", value=value)
    if scaled != scaled.to_integral_value():
        raise LedgerError(f"{what} is finer than 10**-12", value=value)
    return int(scaled)


def from_units(units: int) -> Decimal:
    """Ledger units to an exact Decimal."""
    return picos_to_decimal(units)


def _share(total: int, part: int, whole: int) -> int:
    """``total * part / whole`` rounded half up to one unit: the cost a partial sale takes."""
    return (2 * total * part + whole) // (2 * whole)


@dataclass(frozen=True, slots=True)
class PnlComponents:
    """Realized P&L by source, in USDC, named as the venue's ``/v2/user-pnl`` names its parts."""

    realized_market: Decimal = Decimal(0)
    """Trading: sales, merges, redeems and conversions against the cost of the shares they took."""
    fees: Decimal = Decimal(0)
    """Refunds minus charges, so negative when fees were paid (the venue's ``fees_paid`` sign)."""
    rebates: Decimal = Decimal(0)
    """Maker and taker rebates."""
    rewards: Decimal = Decimal(0)
    """Liquidity rewards."""
    referral: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        """Every realized component summed."""
        return self.realized_market + self.fees + self.rebates + self.rewards + self.referral


@dataclass(slots=True)
class _Totals:
    """The ledger's running realized components, in units."""

    realized_market: int = 0
    fees: int = 0
    rebates: int = 0
    rewards: int = 0
    referral: int = 0

    def public(self) -> PnlComponents:
        return PnlComponents(
            from_units(self.realized_market),
            from_units(self.fees),
            from_units(self.rebates),
            from_units(self.rewards),
            from_units(self.referral),
        )

    def copy(self) -> _Totals:
        return _Totals(self.realized_market, self.fees, self.rebates, self.rewards, self.referral)


@dataclass(slots=True)
class _Holding:
    """One outcome's open shares and what they cost, plus the life totals a closed position reports."""

    size: int = 0
    cost: int = 0
    paid: int = 0
    received: int = 0
    opened_s: int = 0


@dataclass(frozen=True, slots=True)
class Position:
    """An open position in one outcome, marked when a price is known."""

    condition_id: str
    outcome_index: int
    token_id: str | None
    size: Decimal
    cost: Decimal
    """What the shares still held cost (average cost)."""
    mark: Decimal | None
    value: Decimal | None
    unrealized: Decimal | None
    """``value - cost``: this outcome alone, without netting against the market's other outcomes."""

    @property
    def average_price(self) -> Decimal:
        """Cost per share held (0 for shares that cost nothing, e.g. ones seeded without a cost)."""
        return self.cost / self.size if self.size else Decimal(0)


@dataclass(frozen=True, slots=True)
class ClosedPosition:
    """A position that went from its first share back to none: what it cost, what it returned."""

    wallet: str
    condition_id: str
    outcome_index: int
    paid: Decimal
    """All the cash put into the position (buys, its share of splits, cost carried in by conversions)."""
    received: Decimal
    """All the cash it returned (sales, its share of merges, redeems, conversion cash)."""
    opened_s: int
    closed_s: int

    @property
    def pnl(self) -> Decimal:
        """What the position made, exactly: ``received - paid``."""
        return self.received - self.paid

    @property
    def roi(self) -> Decimal | None:
        """``pnl / paid``, on the cash this position's own token cost: a NO position's cost is what its
        NO shares were bought for, never one minus a YES price. None for a position that cost nothing."""
        return self.pnl / self.paid if self.paid else None


@dataclass(frozen=True, slots=True)
class ConditionValue:
    """One market's open shares valued with netting: complete sets at 1, the rest at their marks."""

    condition_id: str
    complete_sets: Decimal
    cost: Decimal
    value: Decimal | None
    """None when a share left over after netting has no mark."""

    @property
    def unrealized(self) -> Decimal | None:
        return None if self.value is None else self.value - self.cost


@dataclass(frozen=True, slots=True)
class Valuation:
    """A ledger at one moment: realized components, and the open positions marked with netting."""

    realized: PnlComponents
    positions: tuple[Position, ...]
    conditions: tuple[ConditionValue, ...]

    @property
    def unrealized(self) -> Decimal:
        """Unrealized P&L of the markets that could be valued (see :attr:`unmarked`)."""
        return sum((c.unrealized for c in self.conditions if c.unrealized is not None), Decimal(0))

    @property
    def unmarked(self) -> tuple[str, ...]:
        """Conditions left out of :attr:`unrealized` for want of a mark."""
        return tuple(c.condition_id for c in self.conditions if c.value is None)

    @property
    def open_cost(self) -> Decimal:
        return sum((c.cost for c in self.conditions), Decimal(0))

    @property
    def total(self) -> Decimal:
        """Realized plus the unrealized that could be marked."""
        return self.realized.total + self.unrealized


def marks_from_books(books: Mapping[str, OrderBook]) -> MarkProvider:
    """Marks from books by token: each token's mid, None while its book is one-sided or empty."""

    def mark(token_id: str) -> Decimal | None:
        book = books.get(token_id)
        return None if book is None else book.mid()

    return mark


class LiveBookReader(Protocol):
    """What :func:`marks_from_live_books` reads: :class:`~polyinfra.clob.live_books.LiveBooks` is one."""

    def book(self, token_id: str) -> OrderBook: ...

    def state(self, token_id: str) -> SyncState: ...


def marks_from_live_books(books: LiveBookReader) -> MarkProvider:
    """Marks from live books: a token's mid while its book is LIVE; None while it is stale or syncing
    (a mid the venue may have moved away from is no mark) and for a token not subscribed."""

    def mark(token_id: str) -> Decimal | None:
        try:
            if books.state(token_id) is not SyncState.LIVE:
                return None
            return books.book(token_id).mid()
        except InvalidValueError:
            return None

    return mark


@dataclass(slots=True)
class WalletLedger:
    """One wallet's holdings and realized P&L, fed its activity rows in time order."""

    wallet: str
    markets: MarketMap = field(default_factory=MarketMap, repr=False)
    _holdings: dict[tuple[str, int], _Holding] = field(default_factory=dict, init=False, repr=False)
    _tokens: dict[tuple[str, int], str] = field(default_factory=dict, init=False, repr=False)
    _totals: _Totals = field(default_factory=_Totals, init=False, repr=False)
    _history: list[tuple[int, _Totals]] = field(default_factory=list, init=False, repr=False)
    _closed: list[ClosedPosition] = field(default_factory=list, init=False, repr=False)
    _volume: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.wallet = self.wallet.lower()

    # --- reading ---------------------------------------------------------------------------------------

    @property
    def realized(self) -> PnlComponents:
        return self._totals.public()

    @property
    def closed_positions(self) -> tuple[ClosedPosition, ...]:
        """Positions closed so far, in the order they closed."""
        return tuple(self._closed)

    @property
    def volume(self) -> Decimal:
        """Cash traded: the ``usdc_size`` of every trade row, bought or sold."""
        return from_units(self._volume)

    def history(self) -> list[tuple[int, PnlComponents]]:
        """Realized components after each applied row, with the row's time (one point per row)."""
        return [(time_s, totals.public()) for time_s, totals in self._history]

    def realized_series(self) -> list[tuple[int, Decimal]]:
        """Total realized P&L after each applied row, with the row's time: the series a chart draws."""
        return [(time_s, totals.public().total) for time_s, totals in self._history]

    def realized_at(self, time_s: int) -> PnlComponents:
        """Realized components as of ``time_s`` (every row up to and including that second)."""
        # Rows come in time order, so the history's times are sorted: the last one at or before time_s.
        found = bisect_right(self._history, time_s, key=lambda point: point[0])
        return (self._history[found - 1][1] if found else _Totals()).public()

    def positions(self, marks: MarkProvider | None = None) -> tuple[Position, ...]:
        """Open positions, each marked alone (no netting), ordered by condition and outcome."""
        found = []
        for (condition_id, index), holding in sorted(self._holdings.items()):
            if holding.size == 0:
                continue
            token_id = self._token(condition_id, index)
            mark = self._mark(marks, token_id)
            value = None if mark is None else _value(holding.size, mark)
            found.append(
                Position(
                    condition_id,
                    index,
                    token_id,
                    from_units(holding.size),
                    from_units(holding.cost),
                    None if mark is None else from_units(mark),
                    None if value is None else from_units(value),
                    None if value is None else from_units(value - holding.cost),
                )
            )
        return tuple(found)

    def valuation(self, marks: MarkProvider | None = None) -> Valuation:
        """Realized components and open positions marked with YES/NO netting (complete sets at 1)."""
        by_condition: dict[str, list[tuple[int, _Holding]]] = {}
        for (condition_id, index), holding in sorted(self._holdings.items()):
            if holding.size:
                by_condition.setdefault(condition_id, []).append((index, holding))
        conditions = []
        for condition_id, held in by_condition.items():
            count = self.markets.outcome_count(condition_id)
            sets = min(h.size for _, h in held) if len(held) == count else 0
            value: int | None = sets
            for index, holding in held:
                left = holding.size - sets
                if left == 0 or value is None:
                    continue
                mark = self._mark(marks, self._token(condition_id, index))
                value = None if mark is None else value + _value(left, mark)
            cost = sum(h.cost for _, h in held)
            conditions.append(
                ConditionValue(
                    condition_id, from_units(sets), from_units(cost), None if value is None else from_units(value)
                )
            )
        return Valuation(self.realized, self.positions(marks), tuple(conditions))

    # --- feeding ---------------------------------------------------------------------------------------

    def seed(
        self, condition_id: str, outcome_index: int, size: Decimal, cost: Decimal, *, timestamp_s: int = 0
    ) -> None:
        """Open the ledger with shares held before its first row (from the Data API's positions)."""
        holding = self._holding(condition_id.lower(), outcome_index, timestamp_s)
        holding.size += to_units(size, "size")
        units = to_units(cost, "cost")
        holding.cost += units
        holding.paid += units

    def apply_all(self, rows: Iterable[WalletActivity], fees: Mapping[object, Decimal] | None = None) -> None:
        """Apply rows in order; consecutive CONVERSION rows of one transaction are applied as one conversion.
        ``fees`` maps a row's :attr:`~polyinfra.model.wallet_activity.WalletActivity.key` to the fee it was
        charged."""
        legs: list[WalletActivity] = []
        for row in rows:
            if legs and (row.kind is not ActivityKind.CONVERSION or row.transaction_hash != legs[0].transaction_hash):
                self.apply_conversion(legs)
                legs = []
            if row.kind is ActivityKind.CONVERSION:
                legs.append(row)
            else:
                self.apply(row, fee_usdc=_NO_FEE if fees is None else fees.get(row.key, _NO_FEE))
        if legs:
            self.apply_conversion(legs)

    def apply(self, row: WalletActivity, *, fee_usdc: Decimal = _NO_FEE) -> None:
        """Apply one row (a conversion's legs go to :meth:`apply_conversion` together); ``fee_usdc`` is the
        fee the venue charged on it, negative for a refund."""
        self._check_row(row)
        if row.kind is ActivityKind.CONVERSION:
            self.apply_conversion([row])
            return
        cash = to_units(row.usdc_size, "usdc_size")
        charged = _NO_FEE if fee_usdc is _NO_FEE else bounded_decimal(fee_usdc)  # finite before comparing
        fee = 0 if charged is _NO_FEE else to_units(abs(charged), "fee")
        if row.kind in _CASH_ONLY:
            name = _CASH_ONLY[row.kind]
            setattr(self._totals, name, getattr(self._totals, name) + cash)
        elif row.kind is ActivityKind.TRADE:
            self._trade(row, cash)
        elif row.kind is ActivityKind.SPLIT:
            self._split(row, cash)
        elif row.kind is ActivityKind.MERGE:
            self._merge(row, cash)
        else:
            self._redeem(row, cash)
        # Charged once the row is known to apply: a refused row leaves the ledger as it was.
        self._totals.fees += -fee if charged > 0 else fee
        self._record(row.timestamp_s)

    def apply_conversion(self, legs: Sequence[WalletActivity]) -> None:
        """Apply one neg-risk conversion: the ``SELL`` legs' NO shares are given up, the ``BUY`` legs'
        shares received, the legs' ``usdc_size`` summed is the collateral released. The cost given up,
        less that cash, is carried equally into the shares received; cash beyond it is realized."""
        if not legs:
            return
        for leg in legs:
            self._check_row(leg)
        given = [leg for leg in legs if leg.side is Side.SELL]
        taken = [leg for leg in legs if leg.side is Side.BUY]
        cash = sum(to_units(leg.usdc_size, "usdc_size") for leg in legs)
        if not given:
            raise _refused("a conversion that gives up no shares", legs[0])
        # Checked before any is taken: a refused conversion leaves the ledger as it was.
        received = [(*self._outcome(leg), to_units(leg.size, "size")) for leg in taken]
        sizes = [to_units(leg.size, "size") for leg in given]
        costs = [
            _cost_of(self._check_held(leg, *self._outcome(leg), size), size)
            for leg, size in zip(given, sizes, strict=True)
        ]
        carried = sum(costs)
        gain = max(cash - carried, 0) if taken else cash - carried
        # Each NO given up is closed as if sold for its own cost plus its share of the gain.
        left = gain
        for position, (leg, size, cost) in enumerate(zip(given, sizes, costs, strict=True)):
            if position == len(given) - 1:
                share = left
            else:
                share = _share(gain, cost, carried) if carried else gain // len(given)
            left -= share
            condition_id, index = self._outcome(leg)
            self._take(leg, condition_id, index, size, cost + share)
        carried = max(carried - cash, 0) if taken else 0
        for position, (leg, (condition_id, index, size)) in enumerate(zip(taken, received, strict=True)):
            share = carried // len(taken) + (carried % len(taken) if position == 0 else 0)
            holding = self._holding(condition_id, index, leg.timestamp_s)
            holding.size += size
            holding.cost += share
            holding.paid += share
        self._record(legs[-1].timestamp_s)

    # --- the row kinds ---------------------------------------------------------------------------------

    def _trade(self, row: WalletActivity, cash: int) -> None:
        condition_id, index = self._outcome(row)
        size = to_units(row.size, "size")
        if row.side is Side.BUY:
            holding = self._holding(condition_id, index, row.timestamp_s)
            holding.size += size
            holding.cost += cash
            holding.paid += cash
        elif row.side is Side.SELL:
            self._take(row, condition_id, index, size, cash)
        else:
            raise _refused("a trade row without a side", row)
        self._volume += cash

    def _split(self, row: WalletActivity, cash: int) -> None:
        condition_id = row.condition_id
        size = to_units(row.size, "size")
        count = self.markets.outcome_count(condition_id)
        for index in range(count):
            share = cash // count + (cash % count if index == 0 else 0)
            holding = self._holding(condition_id, index, row.timestamp_s)
            holding.size += size
            holding.cost += share
            holding.paid += share

    def _merge(self, row: WalletActivity, cash: int) -> None:
        condition_id = row.condition_id
        size = to_units(row.size, "size")
        count = self.markets.outcome_count(condition_id)
        for index in range(count):
            # Checked for every outcome before any is taken: a refused merge leaves the ledger as it was.
            self._check_held(row, condition_id, index, size)
        for index in range(count):
            self._take(row, condition_id, index, size, cash // count + (cash % count if index == 0 else 0))

    def _redeem(self, row: WalletActivity, cash: int) -> None:
        condition_id = row.condition_id
        if row.outcome_index is not None or row.token_id is not None:
            _, index = self._outcome(row)
            self._take(row, condition_id, index, to_units(row.size, "size"), cash)
            return
        # A redeem from before 2026-08 is one row per condition: it burns every outcome held and pays the
        # winners. The winner is the outcome whose shares equal the cash (1 a share); when that is not
        # one outcome, the cash is shared in proportion to the shares.
        held = [(i, h.size) for (c, i), h in sorted(self._holdings.items()) if c == condition_id and h.size]
        winners = [i for i, size in held if size == cash]
        whole = sum(size for _, size in held)
        given = 0
        for position, (index, size) in enumerate(held):
            if len(winners) == 1:
                share = cash if index == winners[0] else 0
            else:
                share = cash - given if position == len(held) - 1 else _share(cash, size, whole)
            given += share
            self._take(row, condition_id, index, size, share)
        if not held and cash:
            raise _refused("a redeem paid for shares the wallet does not hold", row)

    # --- inventory -------------------------------------------------------------------------------------

    def _take(self, row: WalletActivity, condition_id: str, index: int, size: int, cash: int) -> int:
        """Remove ``size`` shares for ``cash``; realize the difference with their average cost, which is
        returned. A position that reaches zero is closed."""
        if size == 0:
            # The losing side of a per-outcome redeem when none of it is held: nothing to take.
            self._totals.realized_market += cash
            return 0
        holding = self._check_held(row, condition_id, index, size)
        cost = _cost_of(holding, size)
        holding.size -= size
        holding.cost -= cost
        holding.received += cash
        self._totals.realized_market += cash - cost
        if holding.size == 0:
            self._closed.append(
                ClosedPosition(
                    self.wallet,
                    condition_id,
                    index,
                    from_units(holding.paid),
                    from_units(holding.received),
                    holding.opened_s,
                    row.timestamp_s,
                )
            )
            del self._holdings[(condition_id, index)]
        return cost

    def _check_held(self, row: WalletActivity, condition_id: str, index: int, size: int) -> _Holding:
        holding = self._holdings.get((condition_id, index))
        held = 0 if holding is None else holding.size
        if holding is None or size > held:
            raise _refused(
                "the row takes more shares than the wallet holds (the venue allows no shorts)",
                row,
                held=held,
                size=size,
            )
        return holding

    def _holding(self, condition_id: str, index: int, timestamp_s: int) -> _Holding:
        holding = self._holdings.get((condition_id, index))
        if holding is None:
            holding = self._holdings[(condition_id, index)] = _Holding(opened_s=timestamp_s)
        return holding

    def _outcome(self, row: WalletActivity) -> tuple[str, int]:
        """The row's (condition, outcome index), from the row or, failing that, the market map."""
        index = row.outcome_index
        if index is None and row.token_id is not None:
            located = self.markets.locate(row.token_id)
            index = None if located is None else located[1]
        if index is None or not 0 <= index < self.markets.outcome_count(row.condition_id):
            raise _refused("the row names no outcome the market map can place", row)
        if row.token_id is not None:
            self._tokens[(row.condition_id, index)] = row.token_id
        return row.condition_id, index

    def _token(self, condition_id: str, index: int) -> str | None:
        return self.markets.token_id(condition_id, index) or self._tokens.get((condition_id, index))

    @staticmethod
    def _mark(marks: MarkProvider | None, token_id: str | None) -> int | None:
        if marks is None or token_id is None:
            return None
        price = marks(token_id)
        if price is None:
            return None
        units = to_units(price, "mark")
        if units > UNIT:
            raise LedgerError("a mark above 1", token_id=token_id, mark=price)
        return units

    def _check_row(self, row: WalletActivity) -> None:
        if row.wallet.lower() != self.wallet:
            raise _refused("a row of another wallet", row, ledger_wallet=self.wallet)
        if self._history and row.timestamp_s < self._history[-1][0]:
            raise _refused(
                "a row older than one already applied (rows go in time order)", row, last_s=self._history[-1][0]
            )

    def _record(self, timestamp_s: int) -> None:
        self._history.append((timestamp_s, self._totals.copy()))


def _cost_of(holding: _Holding, size: int) -> int:
    """What ``size`` of the holding's shares cost at its average cost (all of it for the last share)."""
    return holding.cost if size == holding.size else _share(holding.cost, size, holding.size)


def _value(size: int, mark: int) -> int:
    """``size`` shares at ``mark``, in units, rounded half up."""
    return (2 * size * mark + UNIT) // (2 * UNIT)


def _refused(
    message: str,
    row: WalletActivity,
    *,
    held: int | None = None,
    size: int | None = None,
    ledger_wallet: str | None = None,
    last_s: int | None = None,
) -> LedgerError:
    """The error for a row the ledger cannot follow, naming the row and the amounts involved."""
    return LedgerError(
        message,
        wallet=row.wallet,
        timestamp_s=row.timestamp_s,
        kind=row.kind.value,
        transaction_hash=row.transaction_hash,
        condition_id=row.condition_id,
        outcome_index=row.outcome_index,
        held=None if held is None else from_units(held),
        size=None if size is None else from_units(size),
        ledger_wallet=ledger_wallet,
        last_s=last_s,
    )
