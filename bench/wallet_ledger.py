"""How fast the exact wallet ledger follows activity rows, against a Decimal reference loop.

Run: ``python bench/wallet_ledger.py [--rows N] [--repeat R]``

Both process the same seeded history of one wallet trading across many markets (buys, partial sales,
splits, merges, redeems):

(a) anchor, what a plain script would write: a dict of ``[shares, cost]`` per outcome in ``Decimal``,
    average cost on every sale, realized P&L summed; no checks, no history, no closed positions.
(b) polyinfra: ``WalletLedger.apply`` on every row: exact integer units, oversell and ordering checks,
    the realized series kept per row, closed positions recorded.

Prints rows per second and (b)'s time as a ratio to (a)'s (best of R). The ledger is not a hot path
(a wallet's whole history is a few thousand rows); this keeps it from becoming a slow one.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from decimal import Decimal

from polyinfra.core.wallet_ledger import WalletLedger
from polyinfra.model.numbers import Side
from polyinfra.model.wallet_activity import ActivityKind, WalletActivity

WALLET = "0x" + "ab" * 20


def history(rows: int, *, markets: int = 200, seed: int = 7) -> list[WalletActivity]:
    """A plausible history: mostly trades, some splits and merges, each market redeemed at the end."""
    rng = random.Random(seed)
    held: dict[tuple[str, int], int] = {}
    found: list[WalletActivity] = []

    def add(kind: ActivityKind, condition: str, outcome: int | None, side: Side | None, size: int, usdc: int) -> None:
        found.append(
            WalletActivity(
                wallet=WALLET,
                kind=kind,
                timestamp_s=len(found),
                condition_id=condition,
                token_id=None,
                outcome_index=outcome,
                side=side,
                size=Decimal(size).scaleb(-6),
                usdc_size=Decimal(usdc).scaleb(-6),
                price=None,
                transaction_hash=f"0x{len(found):x}",
            )
        )

    conditions = [f"0x{n:064x}" for n in range(markets)]
    while len(found) < rows - 2 * markets:
        condition = rng.choice(conditions)
        outcome = rng.randrange(2)
        roll = rng.random()
        size = rng.randrange(1, 500) * 10**6
        if roll < 0.55 or held.get((condition, outcome), 0) == 0:
            price = rng.randrange(10_000, 990_000)
            add(ActivityKind.TRADE, condition, outcome, Side.BUY, size, size * price // 10**6)
            held[(condition, outcome)] = held.get((condition, outcome), 0) + size
        elif roll < 0.85:
            size = min(size, held[(condition, outcome)])
            add(ActivityKind.TRADE, condition, outcome, Side.SELL, size, size * rng.randrange(10_000, 990_000) // 10**6)
            held[(condition, outcome)] -= size
        elif roll < 0.93:
            add(ActivityKind.SPLIT, condition, None, None, size, size)
            for index in (0, 1):
                held[(condition, index)] = held.get((condition, index), 0) + size
        else:
            sets = min(size, held.get((condition, 0), 0), held.get((condition, 1), 0))
            if sets:
                add(ActivityKind.MERGE, condition, None, None, sets, sets)
                for index in (0, 1):
                    held[(condition, index)] -= sets
    for condition in conditions:
        for outcome in (0, 1):
            size = held.get((condition, outcome), 0)
            add(ActivityKind.REDEEM, condition, outcome, None, size, size if outcome == 0 else 0)
    return found


def reference(rows: list[WalletActivity]) -> Decimal:
    """The anchor: Decimal average cost in dicts."""
    book: dict[tuple[str, int], list[Decimal]] = {}
    realized = Decimal(0)
    for row in rows:
        if row.kind is ActivityKind.TRADE:
            assert row.outcome_index is not None
            entry = book.setdefault((row.condition_id, row.outcome_index), [Decimal(0), Decimal(0)])
            if row.side is Side.BUY:
                entry[0] += row.size
                entry[1] += row.usdc_size
            else:
                cost = entry[1] * row.size / entry[0]
                realized += row.usdc_size - cost
                entry[0] -= row.size
                entry[1] -= cost
        elif row.kind in (ActivityKind.SPLIT, ActivityKind.MERGE):
            for index in (0, 1):
                entry = book.setdefault((row.condition_id, index), [Decimal(0), Decimal(0)])
                if row.kind is ActivityKind.SPLIT:
                    entry[0] += row.size
                    entry[1] += row.usdc_size / 2
                else:
                    cost = entry[1] * row.size / entry[0]
                    realized += row.usdc_size / 2 - cost
                    entry[0] -= row.size
                    entry[1] -= cost
        elif row.kind is ActivityKind.REDEEM and row.outcome_index is not None:
            entry = book.get((row.condition_id, row.outcome_index), [Decimal(0), Decimal(0)])
            realized += row.usdc_size - (entry[1] if row.size else 0)
            entry[0] = entry[1] = Decimal(0)
    return realized


def ledger(rows: list[WalletActivity]) -> Decimal:
    book = WalletLedger(WALLET)
    apply = book.apply
    for row in rows:
        apply(row)
    return book.realized.realized_market


def best_of(run: Callable[[list[WalletActivity]], Decimal], rows: list[WalletActivity], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run(rows)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    rows = history(arguments.rows)
    exact, approximate = ledger(rows), reference(rows)
    anchor = best_of(reference, rows, arguments.repeat)
    measured = best_of(ledger, rows, arguments.repeat)
    print(f"{len(rows):,} activity rows, best of {arguments.repeat}")
    print(f"  (a) anchor, Decimal dicts:   {len(rows) / anchor:>10,.0f} rows/s   realized {approximate:.6f}")
    print(f"  (b) polyinfra WalletLedger:  {len(rows) / measured:>10,.0f} rows/s   realized {exact}")
    print(f"  ratio (b)/(a) time: {measured / anchor:.2f}x")


if __name__ == "__main__":
    main()
