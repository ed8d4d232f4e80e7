"""What the wallet watch's decisions cost per Data API request, against decoding the answer.

Run: ``python bench/wallet_watch_core.py [--wallets N] [--requests R] [--repeat K]``

(a) anchor: ``msgspec.json.decode`` of one ``/activity`` page of 10 rows, untyped: the least any
    client does per request it makes.
(b) polyinfra: :class:`WalletWatchState` scheduling ``--wallets`` wallets under one budget: for each
    request, ``next_request`` (the earliest-due wallet, the sliding-window budget), ``on_page`` with
    a page of 10 new rows (deduplication, watermark, the next due time) and ``drain``.

The ratio (b)/(a) says how the watch's bookkeeping compares with the bytes it has to read anyway
(measured 4-6x on a busy 2-core machine, about 9 us per row); what matters is the
absolute figure: at the Data API's whole general limit (100 requests per second) 100 us per
decision is 1 % of one core. Only the core's calls are timed, not making the pages. Each repetition
builds a fresh state; best and median are shown.
"""

from __future__ import annotations

import argparse
import statistics
import time
from decimal import Decimal

import msgspec

from polyinfra.core.wallet_watch_state import PageRequest, WalletWatchState, WatchSettings
from polyinfra.model.numbers import Side
from polyinfra.model.wallet_activity import ActivityKind, ActivityPage, WalletActivity

T0 = 1_790_000_000
ROWS_PER_PAGE = 10


def _rows(wallet: str, page: int) -> tuple[WalletActivity, ...]:
    return tuple(
        WalletActivity(
            wallet=wallet,
            kind=ActivityKind.TRADE,
            timestamp_s=T0 + page,
            condition_id="0x" + "c" * 64,
            token_id=f"{page}{index}",
            outcome_index=index % 2,
            side=Side.BUY,
            size=Decimal("10"),
            usdc_size=Decimal("5"),
            price=Decimal("0.5"),
            transaction_hash=f"0x{page:032x}{index:032x}",
        )
        for index in range(ROWS_PER_PAGE)
    )


def _page_json(rows: tuple[WalletActivity, ...]) -> bytes:
    return msgspec.json.encode(
        [
            {
                "proxyWallet": row.wallet,
                "timestamp": row.timestamp_s,
                "conditionId": row.condition_id,
                "type": row.kind.value,
                "size": 10,
                "usdcSize": 5,
                "transactionHash": row.transaction_hash,
                "price": 0.5,
                "asset": row.token_id,
                "side": "BUY",
                "outcomeIndex": row.outcome_index,
                "title": "Will it happen?",
                "slug": "will-it-happen",
            }
            for row in rows
        ]
    )


def run_core(wallets: int, requests: int) -> float:
    pages = {index: _rows(f"0x{index:040x}", index) for index in range(requests)}
    settings = WatchSettings(budget_rps=1e6, min_interval_s=0.001, max_interval_s=0.001)
    state = WalletWatchState(settings)
    for index in range(wallets):
        state.add(f"0x{index:040x}", now_s=T0, since_s=T0)
    now = float(T0)
    spent = 0.0
    clock = time.perf_counter
    for index in range(requests):
        started = clock()
        step = state.next_request(now)
        while not isinstance(step, PageRequest):
            now = now + 0.001 if step is None else step
            step = state.next_request(now)
        spent += clock() - started
        # The page, as the source would hand it over (not timed: that is the source's work).
        page = ActivityPage(
            step.wallet, tuple(msgspec.structs.replace(row, wallet=step.wallet) for row in pages[index]), None, int(now)
        )
        started = clock()
        state.on_page(step, page, now)
        state.drain()
        spent += clock() - started
    return spent


def run_decode(requests: int) -> float:
    body = _page_json(_rows("0x" + "0" * 40, 1))
    decode = msgspec.json.decode
    started = time.perf_counter()
    for _ in range(requests):
        decode(body)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wallets", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    anchor = [run_decode(args.requests) for _ in range(args.repeat)]
    core = [run_core(args.wallets, args.requests) for _ in range(args.repeat)]
    per = 1e6 / args.requests
    print(f"{args.wallets} wallets, {args.requests} requests of {ROWS_PER_PAGE} rows, best / median of {args.repeat}")
    print(f"(a) anchor: decode one page     {min(anchor) * per:8.1f} / {statistics.median(anchor) * per:8.1f} us")
    print(f"(b) polyinfra: one decision     {min(core) * per:8.1f} / {statistics.median(core) * per:8.1f} us")
    print(f"ratio (b)/(a), best: {min(core) / min(anchor):.2f}x")


if __name__ == "__main__":
    main()
