"""``polyinfra keys derive``, ``order place | cancel | list`` and ``doctor`` against an in-process
emulator (venue notes: API keys, REST routes, Wallets, Failure modes). The commands run in-process
(tests.integration.cli_steps), except Ctrl-C, which is about the process: that one is a real one."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import msgspec
import pytest
from aiohttp import web

from polyinfra.cli.trading_commands import WalletSetup, setup_findings
from polyinfra.clob.trading import BalanceAllowance
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.order_signing import EXCHANGE_CONTRACTS, POLYGON_CHAIN_ID, signed_order_from_payload
from polyinfra.core.wallet_addresses import proxy_wallet, safe_wallet
from polyinfra.emulator.runner import Emulator
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import TickSize
from polyinfra.model.orders import SignatureType
from polyinfra.obs.redaction import SecretScanner
from polyinfra.wire.clob_orders import PostOrderBody
from tests.integration.cli_steps import run_polyinfra_in_process
from tests.unit.test_no_private_citations import PRIVATE_RE

SECOND_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
PROXY = "0x1111111111111111111111111111111111111111"


@dataclass(frozen=True, slots=True)
class Ran:
    code: int
    stdout: str
    stderr: str

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line]


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=3, seed=5, rate=0) as running:
        yield running


def _market(emulator: Emulator, *, neg_risk: bool | None = None) -> MarketInfo:
    """A 0.01-tick market (neg-risk or not, when told) with its simulated book cleared."""
    market = next(
        info
        for info in emulator.exchange.markets.values()
        if info.tick_size is TickSize.TICK_0_01 and neg_risk in (None, info.neg_risk)
    )
    tokens = {token.token_id for token in market.tokens}
    for order in emulator.exchange.open_orders():
        if order.token_id in tokens:
            emulator.exchange.cancel(order.order_id)
    return market


async def _polyinfra(
    emulator: Emulator, private_key: str, *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> Ran:
    """Run ``polyinfra ARGS --rest <emulator>`` as a process while the emulator keeps serving."""
    return await _command(private_key, *args, "--rest", emulator.urls["rest"], env=env, stdin=stdin)


async def _command(private_key: str, *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None) -> Ran:
    """Run ``polyinfra ARGS`` in-process, with the environment :func:`_start` gives a process."""
    environment: dict[str, str | None] = {name: None for name in os.environ if name.startswith("POLYINFRA_")}
    environment |= {"POLYINFRA_PRIVATE_KEY": private_key, **(env or {})}
    return Ran(*await run_polyinfra_in_process(*args, env=environment, stdin=stdin))


async def _start(private_key: str, *args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("POLYINFRA_")}
    environment |= {"POLYINFRA_PRIVATE_KEY": private_key, **(env or {})}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "polyinfra.cli.main",
        *args,
        env=environment,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _place(emulator: Emulator, private_key: str, token: str, side: str, price: str, size: str) -> Ran:
    return await _polyinfra(
        emulator, private_key, "order", "place", "--token", token, "--side", side, "--price", price, "--size", size
    )


@asynccontextmanager
async def _admin(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the emulator's control endpoints (server.py)."""
    async with httpx.AsyncClient(base_url=emulator.urls["rest"]) as client:
        yield client


async def _set_wallet(admin: httpx.AsyncClient, address: str, change: dict[str, Any]) -> dict[str, Any]:
    answer = await admin.post(f"/_emulator/wallets/{address}", json=change)
    assert answer.status_code == 200, answer.text
    wallet: dict[str, Any] = answer.json()
    return wallet


async def test_keys_derive_shows_the_secret_only_when_asked(emulator: Emulator, known_secrets: Any) -> None:
    plain = await _polyinfra(emulator, known_secrets.private_key, "keys", "derive")
    assert plain.code == 0, plain.stderr
    [shown] = plain.lines()
    assert list(shown) == ["api_key"]

    revealed = await _polyinfra(emulator, known_secrets.private_key, "keys", "derive", "--show-secret")
    assert revealed.code == 0, revealed.stderr
    [full] = revealed.lines()
    assert full["api_key"] == shown["api_key"]
    # The secret is the venue's: it signs an L2 request the emulator accepts (a wrong one would 401).
    env = {
        "POLYINFRA_API_KEY": full["api_key"],
        "POLYINFRA_API_SECRET": full["secret"],
        "POLYINFRA_API_PASSPHRASE": full["passphrase"],
    }
    listed = await _polyinfra(emulator, known_secrets.private_key, "order", "list", env=env)
    assert (listed.code, listed.stdout) == (0, ""), listed.stderr
    assert full["secret"] not in revealed.stderr + plain.stdout + plain.stderr + listed.stderr


async def test_place_list_cancel(emulator: Emulator, known_secrets: Any, secret_scanner: SecretScanner) -> None:
    market = _market(emulator)
    token = market.tokens[0].token_id
    key = known_secrets.private_key
    ran: list[Ran] = []

    async def place(price: str) -> str:
        placed = await _polyinfra(
            emulator, key, "order", "place", "--token", token, "--side", "BUY", "--price", price, "--size", "10"
        )
        ran.append(placed)
        assert placed.code == 0, placed.stderr
        [answer] = placed.lines()
        assert answer["status"] == "live"
        return str(answer["order_id"])

    first, second, third = [await place(price) for price in ("0.41", "0.42", "0.43")]
    listed = await _polyinfra(emulator, key, "order", "list")
    assert {row["id"]: (row["price"], row["original_size"], row["side"]) for row in listed.lines()} == {
        first: ("0.41", "10", "BUY"),
        second: ("0.42", "10", "BUY"),
        third: ("0.43", "10", "BUY"),
    }

    one = await _polyinfra(emulator, key, "order", "cancel", first)
    assert one.lines() == [{"canceled": [first], "not_canceled": {}}]
    by_market = await _polyinfra(emulator, key, "order", "cancel", "--market", market.condition_id)
    assert sorted(by_market.lines()[0]["canceled"]) == sorted([second, third])
    fourth = await place("0.44")
    everything = await _polyinfra(emulator, key, "order", "cancel", "--all")
    assert everything.lines()[0]["canceled"] == [fourth]
    assert (await _polyinfra(emulator, key, "order", "list")).stdout == ""

    ambiguous = await _polyinfra(emulator, key, "order", "cancel", first, "--all")
    assert ambiguous.code == 2 and "exactly one of" in ambiguous.stderr
    off_tick = await _polyinfra(
        emulator, key, "order", "place", "--token", token, "--side", "BUY", "--price", "0.425", "--size", "10"
    )
    assert off_tick.code == 2 and "0.425" in off_tick.stderr
    for result in [*ran, listed, one, by_market, everything, off_tick]:
        assert secret_scanner.scan(result.stdout + result.stderr) == []


async def test_place_for_a_proxy_or_safe_trades_the_derived_wallet(emulator: Emulator, known_secrets: Any) -> None:
    market = _market(emulator)
    token = market.tokens[0].token_id
    key = known_secrets.private_key
    signer = SigningKey(key).address
    order = ("order", "place", "--token", token, "--side", "BUY", "--price", "0.4", "--size", "10")
    for kind, wallet in (("1", proxy_wallet(signer)), ("2", safe_wallet(signer))):
        # Without --funder the order is the derived wallet's, the only one the venue takes.
        placed = await _polyinfra(emulator, key, *order, "--signature-type", kind)
        assert placed.code == 0, placed.stderr
        [answer] = placed.lines()
        assert emulator.trading.balances.collateral(wallet) > 0
        listed = {row["id"] for row in (await _polyinfra(emulator, key, "order", "list")).lines()}
        assert answer["order_id"] in listed
    # Any other funder is refused before anything is sent, with the right one named.
    wrong = await _polyinfra(emulator, key, *order, "--signature-type", "1", "--funder", PROXY)
    assert wrong.code == 1
    assert f"the signer's proxy wallet is {proxy_wallet(signer)}" in wrong.stderr
    deposit = await _polyinfra(emulator, key, *order, "--signature-type", "3")
    assert deposit.code == 2 and "needs --funder" in deposit.stderr


async def test_doctor_is_quiet_for_a_healthy_wallet(emulator: Emulator, known_secrets: Any) -> None:
    healthy = await _polyinfra(emulator, known_secrets.private_key, "doctor")
    assert healthy.code == 0, healthy.stdout + healthy.stderr
    assert "healthy" in healthy.stdout and "balance 10000 pUSD" in healthy.stdout


async def test_doctor_explains_invalid_signature(emulator: Emulator, known_secrets: Any) -> None:
    key = known_secrets.private_key
    eoa_with_funder = await _polyinfra(emulator, key, "doctor", "--funder", PROXY)
    assert eoa_with_funder.code == 1
    assert 'would answer "invalid signature": signature type 0 (EOA) with funder' in eoa_with_funder.stdout
    assert "drop --funder" in eoa_with_funder.stdout

    own_proxy, own_safe = proxy_wallet(SigningKey(key).address), safe_wallet(SigningKey(key).address)
    proxy_without_funder = await _polyinfra(emulator, key, "doctor", "--signature-type", "1")
    assert proxy_without_funder.code == 1
    assert "signature type 1 (POLY_PROXY) without a funder" in proxy_without_funder.stdout
    assert f"fix: use --funder {own_proxy}" in proxy_without_funder.stdout

    proxy = await _polyinfra(emulator, key, "doctor", "--signature-type", "1", "--funder", own_proxy)
    assert proxy.code == 0, proxy.stdout
    safe = await _polyinfra(emulator, key, "doctor", "--signature-type", "2", "--funder", own_safe.lower())
    assert safe.code == 0, safe.stdout

    # A funder that is not this signer's wallet: an arbitrary address, the signer's other wallet, another user's.
    other_users_safe = safe_wallet(SigningKey(SECOND_KEY).address)
    for kind, funder, right in [("1", PROXY, own_proxy), ("1", own_safe, own_proxy), ("2", other_users_safe, own_safe)]:
        wrong = await _polyinfra(emulator, key, "doctor", "--signature-type", kind, "--funder", funder)
        assert wrong.code == 1, wrong.stdout
        assert f'would answer "invalid signature": funder {funder} is not the' in wrong.stdout
        assert f"fix: use --funder {right}" in wrong.stdout

    # Credentials of another wallet (account #1) used with this key: the API key's address differs.
    other = await _polyinfra(emulator, SECOND_KEY, "keys", "derive", "--show-secret")
    [credentials] = other.lines()
    env = {
        "POLYINFRA_API_KEY": credentials["api_key"],
        "POLYINFRA_API_SECRET": credentials["secret"],
        "POLYINFRA_API_PASSPHRASE": credentials["passphrase"],
    }
    await _polyinfra(emulator, key, "keys", "derive")
    foreign = await _polyinfra(emulator, key, "doctor", env=env)
    assert foreign.code == 1
    assert "do not belong to the signer" in foreign.stdout

    market = next(info for info in emulator.exchange.markets.values() if not info.neg_risk)
    contracts = EXCHANGE_CONTRACTS[POLYGON_CHAIN_ID]
    token = market.tokens[0].token_id
    wrong_exchange = await _polyinfra(
        emulator, key, "doctor", "--token", token, "--exchange", contracts.neg_risk_exchange_v2
    )
    assert wrong_exchange.code == 1
    assert f"must be signed for exchange {contracts.exchange_v2}" in wrong_exchange.stdout
    right_exchange = await _polyinfra(emulator, key, "doctor", "--token", token, "--exchange", contracts.exchange_v2)
    assert right_exchange.code == 0, right_exchange.stdout


async def test_doctor_explains_not_enough_balance(emulator: Emulator, known_secrets: Any) -> None:
    market = _market(emulator)
    key = known_secrets.private_key
    # 19,000 shares at 0.50 hold 9,500 pUSD (and fit the 10,000 seeded with the taker fee they might
    # owe); then 500 pUSD leave the wallet, and what is left is all held.
    placed = await _place(emulator, key, market.tokens[0].token_id, "BUY", "0.5", "19000")
    assert placed.code == 0, placed.stderr
    async with _admin(emulator) as admin:
        await _set_wallet(admin, SigningKey(key).address, {"collateral": "9500"})
    drained = await _polyinfra(emulator, key, "doctor")
    assert drained.code == 1
    assert 'would answer "not enough balance / allowance": balance 9500 pUSD, of which 9500' in drained.stdout
    assert "polyinfra order cancel --all" in drained.stdout


async def test_doctor_finds_the_stale_cache_a_deposit_leaves_and_its_refresh_lets_the_order_in(
    emulator: Emulator, known_secrets: Any
) -> None:
    market = _market(emulator)
    key = known_secrets.private_key
    address = SigningKey(key).address
    assert (await _polyinfra(emulator, key, "keys", "derive")).code == 0
    async with _admin(emulator) as admin:
        knobs = await admin.post("/_emulator/faults", json={"stale_balance_cache": True})
        assert knobs.json()["stale_balance_cache"] is True
        wallet = await _set_wallet(admin, address, {"collateral": "20000"})
    # The chain has the deposit; the venue's cache still says the seeded 10,000 (venue notes: Failure modes).
    assert (wallet["chain"]["collateral"], wallet["venue"]["collateral"]) == ("20000", "10000")

    # 30,000 shares at 0.50: 15,000 pUSD plus fee, more than the cache's 10,000.
    token = market.tokens[0].token_id
    refused = await _place(emulator, key, token, "BUY", "0.5", "30000")
    assert refused.code == 1 and "not enough balance / allowance" in refused.stderr

    stale = await _polyinfra(emulator, key, "doctor")
    assert stale.code == 1, stale.stdout + stale.stderr
    assert "the venue's balance cache was stale: it said 10000 pUSD, the chain 20000 pUSD" in stale.stdout
    assert "GET /balance-allowance/update" in stale.stdout

    accepted = await _place(emulator, key, token, "BUY", "0.5", "30000")
    assert accepted.code == 0, accepted.stderr
    assert accepted.lines()[0]["status"] == "live"
    # Refreshed, nothing else is wrong: 15,000 of 20,000 held, 5,000 left.
    healthy = await _polyinfra(emulator, key, "doctor")
    assert healthy.code == 0, healthy.stdout
    assert "balance 20000 pUSD, 1 open orders holding 15000 pUSD" in healthy.stdout


async def test_doctor_finds_a_zero_allowance_to_the_exchange_the_order_needs(
    emulator: Emulator, known_secrets: Any
) -> None:
    key = known_secrets.private_key
    contracts = EXCHANGE_CONTRACTS[POLYGON_CHAIN_ID]
    normal = _market(emulator, neg_risk=False)
    neg_risk = _market(emulator, neg_risk=True)
    assert (await _polyinfra(emulator, key, "keys", "derive")).code == 0
    async with _admin(emulator) as admin:
        wallet = await _set_wallet(admin, SigningKey(key).address, {"allowances": {contracts.exchange_v2: "0"}})
    assert wallet["venue"]["allowances"] == {
        contracts.exchange_v2: "0",
        contracts.neg_risk_exchange_v2: "unlimited",
        contracts.exchange_v3: "unlimited",
    }

    everything = await _polyinfra(emulator, key, "doctor")
    assert everything.code == 1
    expected = (
        f'would answer "not enough balance / allowance": pUSD allowance to the V2 exchange {contracts.exchange_v2} '
        "is 0, below the balance 10000: BUYs on normal (not neg-risk) markets needing more are refused"
    )
    assert expected in everything.stdout
    assert "`polyinfra approve` does it" in everything.stdout
    assert "neg-risk exchange" not in everything.stdout
    for_normal = await _polyinfra(emulator, key, "doctor", "--token", normal.tokens[0].token_id)
    assert for_normal.code == 1 and expected in for_normal.stdout
    # The neg-risk exchange spends for neg-risk markets, whose allowance is intact.
    for_neg_risk = await _polyinfra(emulator, key, "doctor", "--token", neg_risk.tokens[0].token_id)
    assert for_neg_risk.code == 0, for_neg_risk.stdout

    refused = await _place(emulator, key, normal.tokens[0].token_id, "BUY", "0.4", "10")
    assert refused.code == 1 and "not enough balance / allowance" in refused.stderr
    # A SELL spends shares, not pUSD; a BUY on the neg-risk market goes through its own exchange.
    for token, side in ((normal.tokens[0].token_id, "SELL"), (neg_risk.tokens[0].token_id, "BUY")):
        placed = await _place(emulator, key, token, side, "0.4", "10")
        assert placed.code == 0, placed.stderr


def test_doctor_findings_for_allowances_and_a_stale_cache(known_secrets: Any) -> None:
    contracts = EXCHANGE_CONTRACTS[POLYGON_CHAIN_ID]
    signer = SigningKey(known_secrets.private_key).address
    cached = BalanceAllowance("0", {contracts.exchange_v2: "0"})
    chain = BalanceAllowance("25000000", {contracts.exchange_v2: "25000000"})
    setup = WalletSetup(signer, SignatureType.EOA, None, None, cached, chain, 0, 0)
    problems = [finding.problem for finding in setup_findings(setup)]
    assert problems == [
        "the venue's balance cache was stale: it said 0 pUSD, the chain 25 pUSD",
        f"pUSD allowance to the V2 neg-risk exchange {contracts.neg_risk_exchange_v2} is 0, below the balance 25: "
        "BUYs on neg-risk markets needing more are refused",
    ]


# --- order post, order get, balance, trades -----------------------------------------------------


def _order_line(token: str, side: str, price: str, size: str, *, neg_risk: bool) -> str:
    fields = {"token_id": token, "side": side, "price": price, "size": size, "tick_size": "0.01", "neg_risk": neg_risk}
    return json.dumps(fields)


async def test_post_sends_what_sign_wrote_and_reports_each_order(emulator: Emulator, known_secrets: Any) -> None:
    market = _market(emulator)
    token = market.tokens[0].token_id
    key = known_secrets.private_key
    # 16 resting BUYs (two requests: 15 and 1) and one far over the 10,000 pUSD balance.
    prices = [f"0.{10 + index}" for index in range(16)]
    requests = [_order_line(token, "BUY", price, "10", neg_risk=market.neg_risk) for price in prices]
    requests.append(_order_line(token, "BUY", "0.5", "30000", neg_risk=market.neg_risk))
    signed = await _command(key, "order", "sign", stdin="\n".join(requests).encode() + b"\n")
    assert signed.code == 0, signed.stderr
    signed_lines = signed.stdout.splitlines()
    # A line that is not a signed order is reported by number; the others are still posted.
    posted = await _polyinfra(
        emulator, key, "order", "post", stdin="\n".join([*signed_lines[:3], "{}", *signed_lines[3:]]).encode()
    )
    assert posted.code == 2
    assert posted.stderr.splitlines()[-1].startswith("polyinfra order post: line 4: ")
    results = posted.lines()
    assert [result["line"] for result in results] == [1, 2, 3, *range(5, 19)]
    assert all(result["status"] == "live" for result in results[:16])
    assert results[16]["error"].startswith("POST /orders answered 200: not enough balance / allowance: order needs ")
    assert "order needs 15000 pUSD, balance is " in results[16]["error"]
    listed = {row["id"]: row["price"] for row in (await _polyinfra(emulator, key, "order", "list")).lines()}
    assert listed == {
        result["order_id"]: str(Decimal(price).normalize()) for result, price in zip(results[:16], prices, strict=True)
    }

    got = await _polyinfra(emulator, key, "order", "get", results[0]["order_id"])
    assert got.code == 0, got.stderr
    assert got.lines()[0] | {"status": "?"} == {
        "id": results[0]["order_id"],
        "market": market.condition_id,
        "asset_id": token,
        "side": "BUY",
        "price": "0.1",
        "original_size": "10",
        "size_matched": "0",
        "status": "?",
    }


async def test_post_from_a_file_and_hostile_lines(emulator: Emulator, known_secrets: Any, tmp_path: Any) -> None:
    market = _market(emulator)
    key = known_secrets.private_key
    line = _order_line(market.tokens[0].token_id, "SELL", "0.9", "5", neg_risk=market.neg_risk)
    signed = await _command(key, "order", "sign", stdin=line.encode() + b"\n")
    orders = tmp_path / "orders.jsonl"
    hostile = [
        b"[" * 100_000,
        b'{"salt": 1e999999}',
        b"\xff\xfe",
        json.dumps({**json.loads(signed.stdout), "tokenId": "x"}),
    ]
    orders.write_bytes(
        signed.stdout.encode()
        + b"\n".join(line if isinstance(line, bytes) else line.encode() for line in hostile)
        + b"\n"
    )
    posted = await _polyinfra(emulator, key, "order", "post", "--file", str(orders))
    assert posted.code == 2
    assert [result["status"] for result in posted.lines()] == ["live"]
    errors = posted.stderr.splitlines()[-4:]
    assert [error.split(":")[1].strip() for error in errors] == ["line 2", "line 3", "line 4", "line 5"]
    assert "Traceback" not in posted.stderr
    missing = await _polyinfra(emulator, key, "order", "post", "--file", str(tmp_path / "none.jsonl"))
    assert missing.code == 2 and "does not exist" in missing.stderr


async def test_balance_prints_exact_amounts(emulator: Emulator, known_secrets: Any) -> None:
    market = _market(emulator)
    key = known_secrets.private_key
    contracts = EXCHANGE_CONTRACTS[POLYGON_CHAIN_ID]
    assert (await _polyinfra(emulator, key, "keys", "derive")).code == 0
    async with _admin(emulator) as admin:
        await _set_wallet(
            admin, SigningKey(key).address, {"collateral": "250.000001", "allowances": {contracts.exchange_v2: "12.5"}}
        )
    token = market.tokens[0].token_id
    shown = await _polyinfra(emulator, key, "balance", "--token", token)
    assert shown.code == 0, shown.stderr
    collateral, shares = shown.lines()
    assert (collateral["asset"], collateral["balance"]) == ("pUSD", "250.000001")
    assert collateral["allowances"][contracts.exchange_v2] == "12.5"
    # The unlimited approval is 2^256 - 1 units, printed to the last digit.
    whole, fraction = divmod((1 << 256) - 1, 10**6)
    assert collateral["allowances"][contracts.neg_risk_exchange_v2] == f"{whole}.{fraction:06d}"
    assert (shares["asset"], shares["balance"]) == (token, "1000")


async def test_trades_lists_the_wallets_fills(emulator: Emulator, known_secrets: Any) -> None:
    market = _market(emulator)
    token = market.tokens[0].token_id
    seller, buyer = known_secrets.private_key, SECOND_KEY
    assert (await _place(emulator, seller, token, "SELL", "0.6", "10")).code == 0
    assert (await _place(emulator, seller, token, "SELL", "0.61", "10")).code == 0
    filled = await _place(emulator, buyer, token, "BUY", "0.61", "15")
    assert filled.code == 0, filled.stderr
    listed = await _polyinfra(emulator, buyer, "trades", "--json")
    assert listed.code == 0, listed.stderr
    rows = listed.lines()
    # One taker trade over both resting orders, as the venue reports it to the taker.
    assert [(row["side"], row["size"], row["trader_side"], row["asset_id"]) for row in rows] == [
        ("BUY", "15", "TAKER", token)
    ]
    assert all(row["market"] == market.condition_id for row in rows)
    one = await _polyinfra(emulator, buyer, "trades", "--limit", "1", "--market", market.condition_id)
    assert one.code == 0 and len(one.stdout.splitlines()) == 1
    assert " BUY " in one.stdout and token in one.stdout
    none = await _polyinfra(emulator, buyer, "trades", "--market", "0x" + "00" * 32)
    assert (none.code, none.stdout) == (0, "")


# --- refusals that say which ------------------------------------------------------------------


async def test_cancelling_an_unknown_order_fails_with_the_venues_reason(emulator: Emulator, known_secrets: Any) -> None:
    unknown = "0x" + "ab" * 32
    ran = await _polyinfra(emulator, known_secrets.private_key, "order", "cancel", unknown)
    assert ran.code == 1
    assert ran.lines() == [{"canceled": [], "not_canceled": {unknown: ran.lines()[0]["not_canceled"][unknown]}}]
    reason = ran.lines()[0]["not_canceled"][unknown]
    assert reason
    assert ran.stderr.splitlines()[-1] == f"polyinfra order cancel: {unknown} not canceled: {reason}"


async def test_not_enough_balance_says_whether_the_size_or_the_venues_view_is_off(
    emulator: Emulator, known_secrets: Any
) -> None:
    market = _market(emulator)
    token = market.tokens[0].token_id
    key = known_secrets.private_key
    too_big = await _place(emulator, key, token, "BUY", "0.5", "30000")
    assert too_big.code == 1
    assert "not enough balance / allowance: order needs 15000 pUSD, balance is 10000: lower the size" in too_big.stderr
    # 9,500 pUSD held by a resting order: the next 1,000 fit the balance but not what is free.
    assert (await _place(emulator, key, token, "BUY", "0.5", "19000")).code == 0
    held = await _place(emulator, key, token, "BUY", "0.5", "2000")
    assert held.code == 1
    assert "balance 10000 pUSD covers the 1000 this order needs" in held.stderr
    assert "run polyinfra doctor" in held.stderr
    too_many_shares = await _place(emulator, key, token, "SELL", "0.5", "1500")
    assert too_many_shares.code == 1
    assert "order needs 1500 shares, balance is 1000" in too_many_shares.stderr
    for ran in (too_big, held, too_many_shares):
        assert PRIVATE_RE.search(ran.stderr) is None and "Traceback" not in ran.stderr


async def test_gtd_errors_name_the_flag(emulator: Emulator, known_secrets: Any) -> None:
    market = _market(emulator)
    order = ("order", "place", "--token", market.tokens[0].token_id, "--side", "BUY", "--price", "0.4", "--size", "10")
    key = known_secrets.private_key
    missing = await _polyinfra(emulator, key, *order, "--type", "GTD")
    assert missing.code == 2
    assert "a GTD order needs --expiration (unix seconds)" in missing.stderr
    too_soon = await _polyinfra(emulator, key, *order, "--type", "GTD", "--expiration", "1")
    assert too_soon.code == 2
    assert "GTD expiration 1 is within" in too_soon.stderr and "expiration=1" in too_soon.stderr
    not_gtd = await _polyinfra(emulator, key, *order, "--expiration", "4102444800")
    assert not_gtd.code == 2 and "--expiration is only for GTD orders" in not_gtd.stderr
    for ran in (missing, too_soon, not_gtd):
        assert "expiration_s" not in ran.stderr


# --- Ctrl-C ------------------------------------------------------------------------------------


@asynccontextmanager
async def _holding_proxy(emulator: Emulator) -> AsyncIterator[tuple[str, asyncio.Event, list[bytes]]]:
    """An HTTP proxy to the emulator that passes every request on, except ``POST /order``: that one
    it keeps, unanswered. Yields its URL, an event set when an order arrived, and the orders' bodies."""
    arrived = asyncio.Event()
    bodies: list[bytes] = []

    async def relay(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.method == "POST" and request.path == "/order":
            bodies.append(body)
            arrived.set()
            await asyncio.Event().wait()  # held until the client goes away
        headers = {
            name: value for name, value in request.headers.items() if name.lower() not in {"host", "content-length"}
        }
        async with httpx.AsyncClient(base_url=emulator.urls["rest"]) as upstream:
            answer = await upstream.request(
                request.method, request.path, params=list(request.query.items()), content=body, headers=headers
            )
        return web.Response(status=answer.status_code, body=answer.content, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", relay)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", arrived, bodies
    finally:
        await runner.cleanup()


async def test_ctrl_c_while_an_order_is_in_flight_says_it_may_be_live(emulator: Emulator, known_secrets: Any) -> None:
    market = _market(emulator)
    token = market.tokens[0].token_id
    async with _holding_proxy(emulator) as (url, arrived, bodies):
        process = await _start(
            known_secrets.private_key,
            *("order", "place", "--token", token, "--side", "BUY", "--price", "0.3", "--size", "10"),
            *("--rest", url),
        )
        await asyncio.wait_for(arrived.wait(), 60)  # the barrier: the order reached the venue's door
        process.send_signal(signal.SIGINT)
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    [body] = bodies
    payload = msgspec.json.decode(body, type=PostOrderBody).order
    order_hash = signed_order_from_payload(payload, chain_id=POLYGON_CHAIN_ID, neg_risk=market.neg_risk).order_hash
    assert process.returncode == 130
    assert stdout == b""
    assert stderr.decode().splitlines()[-1] == (
        f"polyinfra order place: interrupted while posting order {order_hash}: it may be live. "
        f"Check with: polyinfra order get {order_hash} --rest {url} (or polyinfra order list --rest {url}); "
        f"cancel with: polyinfra order cancel {order_hash} --rest {url}"
    )
