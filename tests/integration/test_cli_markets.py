"""``polyinfra markets`` and ``polyinfra book``, run in-process (tests.integration.cli_steps), against an
emulator in this test's loop."""

from __future__ import annotations

import json
from decimal import Decimal

from polyinfra.emulator.runner import Emulator
from tests.integration.cli_steps import run_polyinfra_in_process
from tests.integration.conftest import EmulatorFactory


def _records(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


async def test_markets_lists_questions_condition_ids_and_token_ids(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(markets=4, page_size=1)  # one market a page: the listing is walked
    code, stdout, stderr = await run_polyinfra_in_process("markets", "--rest", emulator.urls["rest"], "--json")
    assert code == 0, stderr
    listed = _records(stdout)
    assert [record["condition_id"] for record in listed] == list(emulator.exchange.markets)
    for record in listed:
        info = emulator.exchange.markets[str(record["condition_id"])]
        assert record["question"] == info.question
        tokens = record["tokens"]
        assert isinstance(tokens, list)
        assert [(token["outcome"], token["token_id"]) for token in tokens] == [
            (token.outcome, token.token_id) for token in info.tokens
        ]
        assert all(isinstance(token["price"], str) for token in tokens)

    code, text, stderr = await run_polyinfra_in_process("markets", "--rest", emulator.urls["rest"], "--limit", "2")
    assert code == 0, stderr
    first, second = list(emulator.exchange.markets.values())[:2]
    assert text.startswith(first.question + "\n") and f"\n{second.question}\n" in text
    assert f"condition id {first.condition_id}" in text and first.tokens[0].token_id in text
    assert list(emulator.exchange.markets.values())[2].question not in text


async def test_markets_search_is_any_case_over_question_and_slug(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(markets=4)
    wanted = list(emulator.exchange.markets.values())[2]
    word = max(wanted.question.rstrip("?").split(), key=len)
    code, stdout, stderr = await run_polyinfra_in_process(
        "markets", "--rest", emulator.urls["rest"], "--search", word.swapcase(), "--active", "--json"
    )
    assert code == 0, stderr
    found = _records(stdout)
    assert wanted.condition_id in {record["condition_id"] for record in found}
    assert all(word.casefold() in str(record["question"]).casefold() + str(record["slug"]) for record in found)

    code, stdout, stderr = await run_polyinfra_in_process(
        "markets", "--rest", emulator.urls["rest"], "--search", "no-such-thing"
    )
    assert (code, stdout) == (0, "no market matches\n"), stderr


Ladder = list[tuple[Decimal, Decimal, Decimal]]


def _ladder_side(levels: object) -> Ladder:
    """``(price, size, cumulative)`` of each level of a ladder side, its strings read exactly."""
    assert isinstance(levels, list)
    return [(Decimal(level["price"]), Decimal(level["size"]), Decimal(level["cumulative"])) for level in levels]


def _cumulated(levels: list[tuple[Decimal, Decimal]]) -> Ladder:
    return [
        (price, size, sum((size for _, size in levels[: index + 1]), Decimal(0)))
        for index, (price, size) in enumerate(levels)
    ]


def _token_with_two_sided_book(emulator: Emulator) -> str:
    for token in emulator.exchange.tokens():
        levels = emulator.exchange.levels(token)
        if len(levels.bids) >= 3 and len(levels.asks) >= 3:
            return token
    raise AssertionError("the seeded books should be two-sided")


async def test_book_shows_the_ladder_of_the_rest_book(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()  # no simulated activity: the book stays as read here
    token = _token_with_two_sided_book(emulator)
    levels = emulator.exchange.levels(token)
    million = Decimal(1_000_000)
    bids = [(Decimal(level.price_micros) / million, Decimal(level.size_micros) / million) for level in levels.bids]
    asks = [(Decimal(level.price_micros) / million, Decimal(level.size_micros) / million) for level in levels.asks]
    best_bids, best_asks = sorted(bids, reverse=True)[:2], sorted(asks)[:2]

    code, stdout, stderr = await run_polyinfra_in_process(
        "book", token, "--rest", emulator.urls["rest"], "--depth", "2", "--json"
    )
    assert code == 0, stderr
    (ladder,) = _records(stdout)

    assert _ladder_side(ladder["bids"]) == _cumulated(best_bids)
    assert _ladder_side(ladder["asks"]) == _cumulated(best_asks)
    assert Decimal(str(ladder["spread"])) == best_asks[0][0] - best_bids[0][0]
    assert Decimal(str(ladder["mid"])) == (best_asks[0][0] + best_bids[0][0]) / 2

    code, text, stderr = await run_polyinfra_in_process("book", token, "--rest", emulator.urls["rest"], "--depth", "2")
    assert code == 0, stderr
    rows = text.splitlines()
    sides = [row.split()[0] for row in rows if row.startswith(("ask ", "bid "))]
    assert sides == ["ask", "ask", "bid", "bid"], text  # asks above, bids below
    spread_row = next(index for index, row in enumerate(rows) if "spread" in row)
    assert rows[spread_row - 1].startswith("ask") and rows[spread_row + 1].startswith("bid"), text
    # The best ask sits right above the spread, the best bid right below it.
    assert Decimal(rows[spread_row - 1].split()[1]) == best_asks[0][0]
    assert Decimal(rows[spread_row + 1].split()[1]) == best_bids[0][0]


async def test_book_of_an_unknown_token_is_one_line_and_exit_code_2(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    for token, message in (("12345", "unknown token"), ("not-a-token", "not a token id")):
        code, stdout, stderr = await run_polyinfra_in_process("book", token, "--rest", emulator.urls["rest"])
        assert (code, stdout) == (2, ""), stderr
        assert stderr.startswith("polyinfra book: ") and stderr.count("\n") == 1 and message in stderr, stderr
