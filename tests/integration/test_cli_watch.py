"""``polyinfra watch`` as a real process against an emulator in this test's event loop, over real sockets.

The subprocess's stdout is a pipe, not a terminal: without ``--jsonl`` it prints plain lines.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import signal
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest

from polyinfra.clob.rest import ClobRestClient
from polyinfra.core.matching import Order
from polyinfra.emulator.runner import Emulator
from polyinfra.model.ids import TokenId
from polyinfra.model.numbers import Side
from tests.closed_ports import closed_port
from tests.integration.cli_steps import WAIT_S, run_polyinfra, start_polyinfra
from tests.integration.conftest import EmulatorFactory
from tests.integration.market_channel_steps import next_order_id

BOOK_LINE_FIELDS = {
    "type",
    "token_id",
    "market",
    "best_bid",
    "best_bid_size",
    "best_ask",
    "best_ask_size",
    "spread",
    "mid",
    "last_trade",
    "sync_state",
    "venue_timestamp_ms",
    "received_ns",
    "received_at",
}
TRADE_LINE_FIELDS = {
    "type",
    "token_id",
    "market",
    "price",
    "size",
    "side",
    "venue_timestamp_ms",
    "received_ns",
    "received_at",
}
# What a book line shows; the rest (times, mid) follows from it or from the clock.
SHOWN_FIELDS = ("best_bid", "best_bid_size", "best_ask", "best_ask_size", "last_trade", "sync_state")
DECIMAL = re.compile(r"\d+\.\d+|\d+")


async def _start_watch(*arguments: str) -> asyncio.subprocess.Process:
    return await start_polyinfra("watch", *arguments)


async def _run_watch(*arguments: str) -> tuple[int, str, str]:
    return await run_polyinfra("watch", *arguments)


def _urls(emulator: Emulator) -> list[str]:
    return ["--rest", emulator.urls["rest"], "--ws", emulator.urls["ws_market"]]


def _record(text: str) -> dict[str, object]:
    """One --jsonl record, checked: every field there, numbers as decimal strings (never JSON numbers)."""
    record = json.loads(text)
    if record["type"] == "trade":
        assert set(record) == TRADE_LINE_FIELDS, record
        numbers: tuple[str, ...] = ("price", "size")
    else:
        assert record["type"] == "book" and set(record) - {"bids", "asks"} == BOOK_LINE_FIELDS, record
        numbers = ("best_bid", "best_bid_size", "best_ask", "best_ask_size", "spread", "mid", "last_trade")
        assert record["sync_state"] in {"syncing", "live", "stale"}, record
        for pair in [*record.get("bids", []), *record.get("asks", [])]:
            assert all(isinstance(value, str) and DECIMAL.fullmatch(value) for value in pair), record
    for name in numbers:
        value = record[name]
        assert value is None or (isinstance(value, str) and DECIMAL.fullmatch(value)), record
    assert isinstance(record["venue_timestamp_ms"], int | None), record
    assert isinstance(record["received_ns"], int) and isinstance(record["received_at"], str), record
    return record


def _books(records: list[dict[str, object]]) -> list[dict[str, object]]:
    return [record for record in records if record["type"] == "book"]


async def _expected_tops(emulator: Emulator, tokens: list[str]) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    """Best bid, best ask and mid of each token's REST book (``POST /books``)."""
    async with ClobRestClient(emulator.urls["rest"]) as rest:
        books = await rest.get_books(tokens)
    tops = {}
    for book in books:
        bid = max(Decimal(level.price) for level in book.bids)
        ask = min(Decimal(level.price) for level in book.asks)
        tops[book.asset_id] = (bid, ask, (bid + ask) / 2)
    return tops


def _top(record: dict[str, object]) -> tuple[Decimal, Decimal, Decimal] | None:
    bid, ask, mid = record["best_bid"], record["best_ask"], record["mid"]
    if not (isinstance(bid, str) and isinstance(ask, str) and isinstance(mid, str)):
        return None
    return Decimal(bid), Decimal(ask), Decimal(mid)


async def test_jsonl_follows_every_update_until_the_books_equal_the_venue(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(rate=50)
    first, second, _ = emulator.exchange.markets.values()
    # Both tokens of one market and one of another, chosen by id.
    tokens = [first.tokens[0].token_id, first.tokens[1].token_id, second.tokens[1].token_id]
    process = await _start_watch(
        *_urls(emulator),
        *(argument for token in tokens for argument in ("--token", token)),
        "--jsonl",
        "--duration",
        str(WAIT_S),
        "--metrics-port",
        "0",
    )
    assert process.stdout is not None and process.stderr is not None
    records: list[dict[str, object]] = []
    try:
        announced = (await asyncio.wait_for(process.stderr.readline(), WAIT_S)).decode()
        metrics_url = re.search(r"http://\S+/metrics", announced)
        assert metrics_url is not None, announced

        async def read_until(done: Callable[[], bool]) -> None:
            assert process.stdout is not None
            while not done():
                line = await asyncio.wait_for(process.stdout.readline(), WAIT_S)
                assert line, "watch ended early"
                records.append(_record(line.decode()))

        # Every token's book arrives while the simulator trades; then trading stops.
        await read_until(lambda: {record["token_id"] for record in _books(records)} == set(tokens))
        emulator.pause()
        expected = await _expected_tops(emulator, tokens)

        def converged() -> bool:
            latest = {record["token_id"]: record for record in _books(records)}
            return all(
                _top(latest[token]) == expected[token] and latest[token]["sync_state"] == "live" for token in tokens
            )

        # The last line of each token ends equal to the venue's REST book.
        await read_until(converged)
        async with httpx.AsyncClient(timeout=WAIT_S) as http:
            scrape = await http.get(metrics_url.group())
        assert scrape.status_code == 200
        assert 'polyinfra_http_requests_total{endpoint="/markets-by-token/*"' in scrape.text

        process.send_signal(signal.SIGINT)
        rest_of_stdout, stderr = await asyncio.wait_for(process.communicate(), WAIT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    records.extend(_record(line) for line in rest_of_stdout.decode().splitlines())
    assert {record["token_id"] for record in records} == set(tokens)
    markets = {token.token_id: info.condition_id for info in (first, second) for token in info.tokens}
    assert all(record["market"] == markets[record["token_id"]] for record in records)


async def test_market_watches_both_tokens_in_plain_lines(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(rate=20)
    market = list(emulator.exchange.markets.values())[1]
    code, stdout, stderr = await _run_watch(
        *_urls(emulator), "--market", market.condition_id, "--duration", "3", "--refresh-s", "0.5"
    )
    assert code == 0, stderr
    assert "\x1b[" not in stdout, "no terminal escapes in a pipe"
    blocks = [block for block in stdout.split("--- ") if block.strip()]
    assert len(blocks) >= 2, stdout
    status, *token_lines = blocks[-1].strip().splitlines()
    assert "live 2/2" in status, status
    number = r"\d+(\.\d+)?"
    for outcome, line in zip(("Yes", "No"), token_lines, strict=True):
        assert re.fullmatch(
            rf"1\. {re.escape(market.question)} {outcome}: live bid {number} ask {number} mid {number} "
            rf"spread {number} depth5 \$[\d,]+/\$[\d,]+ last ({number}|-) msg/s {number} age {number}s",
            line,
        ), line


async def test_top_watches_the_first_sampling_markets_across_pages(emulator_factory: EmulatorFactory) -> None:
    # One market per page: --top 2 has to follow the cursor.
    emulator = await emulator_factory(markets=4, page_size=1, rate=20)
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        first_page = (await http.get("/sampling-markets")).json()
        second_page = (await http.get("/sampling-markets", params={"next_cursor": first_page["next_cursor"]})).json()
    expected = {token["token_id"] for page in (first_page, second_page) for token in page["data"][0]["tokens"]}
    assert len(expected) == 4

    code, stdout, stderr = await _run_watch(*_urls(emulator), "--top", "2", "--jsonl", "--duration", "3")
    assert code == 0, stderr
    assert {_record(line)["token_id"] for line in stdout.splitlines()} == expected


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        pytest.param(["--token", "not-a-number"], 2, "not a token id", id="malformed token"),
        pytest.param(["--token", "12345"], 2, "unknown token", id="unknown token"),
        pytest.param(["--market", "0x" + "ab" * 32], 2, "unknown market", id="unknown market"),
        pytest.param(["--market", "0x12"], 2, "not a condition id", id="malformed market"),
        pytest.param([], 2, "no tokens selected", id="no tokens"),
        pytest.param(["--live", "--top", "1"], 2, "drop --rest and --ws", id="live and urls"),
    ],
)
async def test_bad_input_is_one_line_and_exit_code_2(
    emulator_factory: EmulatorFactory, arguments: list[str], code: int, message: str
) -> None:
    emulator = await emulator_factory()
    returned, stdout, stderr = await _run_watch(*_urls(emulator), *arguments, "--duration", "1")
    assert (returned, stdout) == (code, "")
    assert stderr.startswith("polyinfra watch: ") and stderr.count("\n") == 1, stderr
    assert message in stderr, stderr


async def test_unreachable_venue_is_one_line_and_exit_code_1() -> None:
    rest = f"http://127.0.0.1:{closed_port()}"
    code, stdout, stderr = await _run_watch("--rest", rest, "--ws", "ws://127.0.0.1:1/ws/market", "--top", "1")
    assert (code, stdout) == (1, "")
    # The transport logs its retries (warnings) before it gives up; the command's own word is one line.
    *_, verdict = stderr.splitlines()
    assert verdict.startswith("polyinfra watch: cannot reach the CLOB REST API: "), stderr
    assert verdict.endswith(
        f"cannot connect to {rest}: connection refused: is the emulator running? (polyinfra emulator)"
    )
    assert "Traceback" not in stderr


def _add_order(emulator: Emulator, token: TokenId, side: Side, price_micros: int, size_micros: int) -> None:
    emulator.exchange.place(
        Order(
            order_id=next_order_id(),
            owner="test",
            token_id=token,
            side=side,
            price_micros=price_micros,
            size_micros=size_micros,
        )
    )


async def test_jsonl_writes_a_line_only_when_what_it_shows_changed(emulator_factory: EmulatorFactory) -> None:
    # No simulated activity: every change below is this test's, and each reaches the watcher in order.
    emulator = await emulator_factory(rate=0)
    token = next(iter(emulator.exchange.markets.values())).tokens[0].token_id
    process = await _start_watch(*_urls(emulator), "--token", token, "--jsonl", "--duration", str(WAIT_S))
    assert process.stdout is not None

    async def next_record() -> dict[str, object]:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), WAIT_S)
        assert line, "watch ended early"
        return _record(line.decode())

    try:
        first = await next_record()
        while first["sync_state"] != "live":
            first = await next_record()
        bids = sorted(emulator.exchange.levels(token).bids, reverse=True)  # best first
        assert len(bids) >= 2, bids
        best, deeper = bids[0], bids[1]

        # A change below the best level shows nowhere in a line: no line. The next change grows the
        # best bid; had the first made a line, it would be read here first (lines keep their order).
        _add_order(emulator, token, Side.BUY, deeper.price_micros, 5_000_000)
        _add_order(emulator, token, Side.BUY, best.price_micros, 7_000_000)
        grown = await next_record()
        assert grown["type"] == "book"
        assert Decimal(str(grown["best_bid_size"])) == Decimal(best.size_micros + 7_000_000) / 1_000_000, grown
        assert {key: grown[key] for key in ("best_bid", "best_ask", "best_ask_size", "last_trade")} == {
            key: first[key] for key in ("best_bid", "best_ask", "best_ask_size", "last_trade")
        }

        # A sell into the best bid is a trade: a line of its own, and the book lines of what it changed
        # (the level's size and the last trade: one line or two, as the reader catches up).
        _add_order(emulator, token, Side.SELL, best.price_micros, 5_000_000)
        left = str(Decimal(str(grown["best_bid_size"])) - 5)
        after_trade = [await next_record()]
        while not (
            any(record["type"] == "trade" for record in after_trade)
            and any(
                (book["last_trade"], book["best_bid_size"]) == (grown["best_bid"], left) for book in _books(after_trade)
            )
        ):
            after_trade.append(await next_record())
        trades = [record for record in after_trade if record["type"] == "trade"]
        assert len(trades) == 1 and trades[0]["price"] == grown["best_bid"] and trades[0]["size"] == "5", after_trade
        shown = [{key: record[key] for key in SHOWN_FIELDS} for record in [grown, *_books(after_trade)]]
        assert all(earlier != later for earlier, later in itertools.pairwise(shown)), shown
    finally:
        process.kill()
        await process.wait()


@pytest.mark.parametrize("one_shot", [["--duration", str(WAIT_S)], ["--jsonl"]], ids=["duration", "jsonl"])
async def test_unreachable_market_channel_fails_after_the_sessions_allowed(
    emulator_factory: EmulatorFactory, one_shot: list[str]
) -> None:
    emulator = await emulator_factory()
    token = next(iter(emulator.exchange.markets.values())).tokens[0].token_id
    ws = f"ws://127.0.0.1:{closed_port()}/ws/market"
    code, _, stderr = await _run_watch(
        "--rest", emulator.urls["rest"], "--ws", ws, "--token", token, "--max-failed-sessions", "2", *one_shot
    )
    # stdout shows the books stale meanwhile; the verdict is the last line on stderr.
    assert code == 1
    *_, verdict = stderr.splitlines()
    assert verdict.startswith("polyinfra watch: gave up after 2 market-channel sessions in a row failed"), stderr
    assert verdict.endswith(
        f"the last: cannot connect to the market channel at {ws}: connection refused: is the emulator running? "
        "(polyinfra emulator)"
    ), verdict
    assert "Traceback" not in stderr
