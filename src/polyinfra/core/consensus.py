"""Consensus signals: when enough independent wallets back the same outcome, sans-I/O.

A :class:`Stake` is one wallet putting money on one outcome of one market at one time (a buy from its
activity or from live trades). :func:`consensus_signals` looks at the stakes inside a time window and
reports a :class:`ConsensusSignal` for a market when

* at least ``min_wallets`` voters back one outcome,
* those voters are at least ``min_agreement`` of every voter in that market (any outcome), and
* each voter counted staked at least ``min_stake_usdc`` in the window on the outcome it backs.

A *voter* is a wallet, or a cluster of wallets known to be one actor. Counting raw wallets lets one
trader with five addresses look like five: :class:`WalletClusters` joins wallets on evidence the caller
passes in as :class:`WalletLink` (same funding source, trading in the same block, identical sizes;
the links are transitive, a union-find) and a cluster votes once, with its members' stakes summed.
A voter that staked on several outcomes of a market backs the one it staked most on (ties: no vote).

Exact: stakes are ``Decimal`` USDC and the agreement a ``Decimal`` ratio. Pure: the caller passes ``now_s``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from polyinfra.core.whale_radar import notional_usdc
from polyinfra.errors import InvalidNumberError, InvalidValueError
from polyinfra.model.live_events import ActivityTrade
from polyinfra.model.market_outcomes import MarketMap
from polyinfra.model.numbers import Side, bounded_decimal
from polyinfra.model.wallet_activity import ActivityKind, WalletActivity

__all__ = [
    "ConsensusSignal",
    "LinkReason",
    "Stake",
    "WalletClusters",
    "WalletLink",
    "consensus_signals",
    "stake_from_live",
    "stakes_from_activity",
]


@dataclass(frozen=True, slots=True)
class Stake:
    """``usdc`` put on ``outcome_index`` of ``condition_id`` by ``wallet`` at ``timestamp_s``."""

    wallet: str
    condition_id: str
    outcome_index: int
    usdc: Decimal
    timestamp_s: int

    def __post_init__(self) -> None:
        """Refuses a stake that is not a finite, bounded, non-negative amount (``InvalidNumberError``)."""
        if bounded_decimal(self.usdc) < 0:
            raise InvalidNumberError("a negative stake", wallet=self.wallet, usdc=self.usdc)


def stakes_from_activity(rows: Iterable[WalletActivity]) -> Iterator[Stake]:
    """The buys among activity rows as stakes (a sale takes money off the table, it backs nothing)."""
    for row in rows:
        if row.kind is ActivityKind.TRADE and row.side is Side.BUY and row.outcome_index is not None:
            yield Stake(row.wallet, row.condition_id, row.outcome_index, row.usdc_size, row.timestamp_s)


def stake_from_live(trade: ActivityTrade, markets: MarketMap) -> Stake | None:
    """A live buy as a stake, its outcome found from its token in ``markets`` (None for a sale or a token
    of no listed market). The notional is exact: price times size."""
    located = markets.locate(trade.token_id)
    if trade.side is not Side.BUY or located is None:
        return None
    return Stake(trade.wallet, located[0], located[1], notional_usdc(trade.price, trade.size), trade.timestamp_s)


class LinkReason(StrEnum):
    """Why two wallets are taken for one actor."""

    SAME_FUNDING = "same_funding"
    SAME_BLOCK = "same_block"
    IDENTICAL_SIZES = "identical_sizes"


@dataclass(frozen=True, slots=True)
class WalletLink:
    """Evidence that two wallets are one actor."""

    wallet_a: str
    wallet_b: str
    reason: LinkReason


@dataclass(slots=True)
class WalletClusters:
    """Wallets joined by links into clusters (union-find with path halving and union by size)."""

    _parent: dict[str, str] = field(default_factory=dict)
    _size: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, links: Iterable[WalletLink]) -> WalletClusters:
        clusters = cls()
        for link in links:
            clusters.join(link.wallet_a, link.wallet_b)
        return clusters

    def find(self, wallet: str) -> str:
        """The cluster's representative: the same for every wallet of a cluster, the wallet itself alone."""
        wallet = wallet.lower()
        parent = self._parent
        while parent.get(wallet, wallet) != wallet:
            parent[wallet] = parent.get(parent[wallet], parent[wallet])
            wallet = parent[wallet]
        return wallet

    def join(self, wallet_a: str, wallet_b: str) -> None:
        root_a, root_b = self.find(wallet_a), self.find(wallet_b)
        if root_a == root_b:
            return
        if self._size.get(root_a, 1) < self._size.get(root_b, 1):
            root_a, root_b = root_b, root_a
        self._parent[root_b] = root_a
        self._size[root_a] = self._size.get(root_a, 1) + self._size.get(root_b, 1)


@dataclass(frozen=True, slots=True)
class ConsensusSignal:
    """A market where independent voters agree on one outcome."""

    condition_id: str
    outcome_index: int
    voters: int
    """Independent voters backing the outcome (a cluster counts once)."""
    wallets: tuple[str, ...]
    """Every wallet behind those voters, sorted."""
    all_voters: int
    """Voters in the market on any outcome."""
    agreement: Decimal
    """``voters / all_voters``."""
    stake_usdc: Decimal
    """What the backing voters staked on the outcome within the window."""
    first_s: int
    last_s: int


def consensus_signals(
    stakes: Iterable[Stake],
    *,
    now_s: int,
    window_s: int,
    min_wallets: int,
    min_agreement: Decimal = Decimal("0.6"),
    min_stake_usdc: Decimal = Decimal(0),
    links: Iterable[WalletLink] = (),
) -> list[ConsensusSignal]:
    """The markets where consensus holds over stakes in ``(now_s - window_s, now_s]``, strongest first
    (most voters, then most stake; ties by condition id)."""
    if window_s <= 0 or min_wallets < 1 or not 0 <= min_agreement <= 1 or min_stake_usdc < 0:
        raise InvalidValueError(
            "window_s and min_wallets must be positive, min_agreement within 0..1, min_stake_usdc not negative",
            window_s=window_s,
            min_wallets=min_wallets,
            min_agreement=min_agreement,
        )
    clusters = WalletClusters.of(links)
    # condition -> voter -> outcome -> [stake, first, last, wallets]
    table: dict[str, dict[str, dict[int, _Tally]]] = {}
    for stake in stakes:
        if not now_s - window_s < stake.timestamp_s <= now_s:
            continue
        voter = clusters.find(stake.wallet)
        tally = table.setdefault(stake.condition_id, {}).setdefault(voter, {}).setdefault(stake.outcome_index, _Tally())
        tally.add(stake)
    signals = []
    for condition_id, voters in table.items():
        backing: dict[int, list[_Tally]] = {}
        for by_outcome in voters.values():
            ranked = sorted(by_outcome.items(), key=lambda item: item[1].usdc, reverse=True)
            if len(ranked) > 1 and ranked[0][1].usdc == ranked[1][1].usdc:
                continue  # staked equally on two outcomes: backs neither
            outcome, tally = ranked[0]
            if tally.usdc >= min_stake_usdc:
                backing.setdefault(outcome, []).append(tally)
        all_voters = sum(len(tallies) for tallies in backing.values())
        for outcome, tallies in backing.items():
            agreement = Decimal(len(tallies)) / Decimal(all_voters)
            if len(tallies) >= min_wallets and agreement >= min_agreement:
                signals.append(
                    ConsensusSignal(
                        condition_id=condition_id,
                        outcome_index=outcome,
                        voters=len(tallies),
                        wallets=tuple(sorted(w for t in tallies for w in t.wallets)),
                        all_voters=all_voters,
                        agreement=agreement,
                        stake_usdc=sum((t.usdc for t in tallies), Decimal(0)),
                        first_s=min(t.first_s for t in tallies),
                        last_s=max(t.last_s for t in tallies),
                    )
                )
    signals.sort(key=lambda s: s.condition_id)
    signals.sort(key=lambda s: (s.voters, s.stake_usdc), reverse=True)
    return signals


@dataclass(slots=True)
class _Tally:
    """One voter's stakes on one outcome."""

    usdc: Decimal = Decimal(0)
    first_s: int = 0
    last_s: int = 0
    wallets: set[str] = field(default_factory=set)

    def add(self, stake: Stake) -> None:
        self.first_s = stake.timestamp_s if not self.wallets else min(self.first_s, stake.timestamp_s)
        self.last_s = max(self.last_s, stake.timestamp_s)
        self.usdc += stake.usdc
        self.wallets.add(stake.wallet.lower())
