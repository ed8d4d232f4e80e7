"""The client facade's on-chain operations against the emulator: a fresh wallet approves and wraps (and the venue
sees the pUSD), splits, converts neg-risk NO shares, all from the blocking client; a Safe wallet wraps and splits
gaslessly through the relayer (deployed on first use, each transaction CONFIRMED); a smart wallet without relayer
auth is refused naming the settings, and no key shows in reprs, errors or traceback locals."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

import httpx
import pytest

from polyinfra import AsyncPolymarket, Polymarket
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.relayer_signing import deposit_wallet
from polyinfra.core.wallet_addresses import safe_wallet
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import InvalidNumberError, InvalidValueError, TransactionRevertedError, TransactionTimeoutError
from polyinfra.obs.redaction import SecretScanner, register_secret
from tests.traceback_locals import secrets_in_traceback_locals

NO_ENVIRONMENT: dict[str, str] = {}


def test_fresh_wallet_approves_wraps_splits_and_converts_blocking() -> None:
    private_key = "0x" + secrets.token_hex(32)
    register_secret(private_key)
    options = {"rate": 0, "neg_risk_questions": 3}
    with Polymarket.emulator(
        start=True, emulator_options=options, private_key=private_key, environ=NO_ENVIRONMENT
    ) as pm:
        embedded = pm.async_client.embedded_emulator
        assert embedded is not None and embedded.neg_risk_event is not None
        assert pm.config.rpc_url == embedded.urls["rpc"]
        address = pm.address()
        funded = httpx.post(
            f"{pm.config.rest_url}/_emulator/chain/accounts/{address}", json={"usdc_e": "50", "fresh": True}
        )
        assert funded.json()["pusd"] == "0"

        preview = pm.approve(dry_run=True)
        assert preview.transactions == () and preview.plan.calls
        assert len(pm.approve().transactions) == len(preview.plan.calls)
        assert pm.approve().plan.calls == ()
        pm.wrap("20")
        assert pm.balance().balance == Decimal(20)
        with pytest.raises(InvalidNumberError):
            pm.wrap(1.5)  # type: ignore[arg-type]  # a float is refused, never rounded

        event = embedded.neg_risk_event
        first, second, third = event.questions
        for question in (first, second):
            pm.split(question.condition_id, "5")
        no_first = first.tokens[1].token_id
        yes_third = third.tokens[0].token_id
        before = pm.balance(token_id=no_first).balance, pm.balance(token_id=yes_third).balance
        pm.convert(event.market_id, 0b011, "2")
        assert pm.balance(token_id=no_first).balance == before[0] - 2
        assert pm.balance(token_id=yes_third).balance == before[1] + 2
        assert pm.balance().balance == Decimal(20) - 10 + 2


async def test_onchain_refusals_show_no_secret(
    emulator: Emulator, known_secrets: Any, secret_scanner: SecretScanner
) -> None:
    async with AsyncPolymarket(
        rest_url=emulator.urls["rest"], private_key=known_secrets.private_key, environ=NO_ENVIRONMENT
    ) as pm:
        assert pm.config.rpc_url == emulator.urls["rpc"]
        pm.add_wallet("proxy", private_key=known_secrets.private_key, signature_type="POLY_PROXY")
        with pytest.raises(InvalidValueError, match="set relayer_api_key, or builder_api_key") as refused:
            await pm.wrap("1", wallet="proxy")
        assert refused.value.context["signature_type"] == "POLY_PROXY"
        assert not secrets_in_traceback_locals(refused.value, secret_scanner)
        with pytest.raises(TransactionRevertedError, match="MarketNotPrepared") as reverted:
            await pm.convert("0x" + "12" * 31 + "00", 0b1, "1")
        assert not secrets_in_traceback_locals(reverted.value, secret_scanner)
        assert not secret_scanner.scan(str(reverted.value))
        for shown in (repr(pm), repr(pm.config), repr(await pm._chain_operations(None))):
            assert not secret_scanner.scan(shown), shown

    async with AsyncPolymarket(
        rest_url=emulator.urls["rest"],
        private_key=known_secrets.private_key,
        signature_type="POLY_1271",
        funder="0x" + "11" * 20,  # not the key's deposit wallet: the relayer would act for another
        relayer_api_key="relayer-key",
        environ=NO_ENVIRONMENT,
    ) as deposit:
        with pytest.raises(InvalidValueError, match="not the wallet's funder") as elsewhere:
            await deposit.wrap("1")
        assert elsewhere.value.context["relayed_wallet"] == deposit_wallet(
            SigningKey(known_secrets.private_key).address
        )
        assert not secrets_in_traceback_locals(elsewhere.value, secret_scanner)


async def _safe_with_relayer_key(emulator: Emulator) -> tuple[str, str, str, str]:
    """A new key, its owner, its Safe funded with 20 USDC.e, and a relayer API key of the owner."""
    private_key = "0x" + secrets.token_hex(32)
    register_secret(private_key)
    owner = SigningKey(private_key).address
    safe = safe_wallet(owner)
    rest = emulator.urls["rest"]
    async with httpx.AsyncClient() as http:
        relayer_key = (await http.post(f"{rest}/_emulator/relayer/api-keys/{owner}")).json()["apiKey"]
        register_secret(relayer_key)
        await http.post(f"{rest}/_emulator/chain/accounts/{safe}", json={"usdc_e": "20", "fresh": True})
    return private_key, owner, safe, relayer_key


async def test_safe_wallet_wraps_and_splits_through_the_relayer(emulator: Emulator) -> None:
    private_key, owner, safe, relayer_key = await _safe_with_relayer_key(emulator)
    rest = emulator.urls["rest"]
    async with httpx.AsyncClient() as http:
        # Each poll shows the final state: the sender's 2 s poll interval never has to elapse.
        await http.post(f"{rest}/_emulator/relayer/faults", json={"states_per_poll": 3})
    balances = emulator.trading.balances
    market = next(iter(emulator.exchange.markets.values()))
    yes, no = (token.token_id for token in market.tokens)
    environ = {"POLYINFRA_RELAYER_API_KEY": relayer_key}  # read as the client's other settings are

    async with AsyncPolymarket(
        rest_url=rest, private_key=private_key, signature_type="POLY_GNOSIS_SAFE", funder=safe, environ=environ
    ) as pm:
        assert pm.config.relayer_url == emulator.urls["relayer"]
        wrapped = await pm.wrap("12")
        assert len(wrapped.transactions) == 2  # the onramp approval, then the wrap
        assert balances.collateral(safe) == 12_000_000
        held = balances.shares(safe, yes), balances.shares(safe, no)
        split = await pm.split(market.condition_id, "5")
        assert split.transactions
        assert (balances.shares(safe, yes), balances.shares(safe, no)) == (held[0] + 5_000_000, held[1] + 5_000_000)
        assert balances.collateral(safe) == 7_000_000
        assert (await pm.balance()).balance == Decimal(7)  # the venue's cache refreshed after the split
        assert relayer_key not in repr(pm) + repr(pm.config) + repr(await pm._chain_operations(None))

    async with httpx.AsyncClient() as http:
        listed = await http.get(
            f"{emulator.urls['relayer']}/transactions",
            headers={"RELAYER_API_KEY": relayer_key, "RELAYER_API_KEY_ADDRESS": owner},
        )
    relayed = listed.json()
    assert relayed[0]["type"] == "SAFE-CREATE"  # deployed on first use
    assert {row["proxyAddress"] for row in relayed[1:]} == {safe}
    assert len(relayed) == 1 + len(wrapped.transactions) + len(split.transactions)
    assert {row["state"] for row in relayed} == {"STATE_CONFIRMED"}
    assert all(row["from"] == owner for row in relayed)


async def test_the_relayer_polling_settings_reach_the_sender(emulator: Emulator) -> None:
    rest = emulator.urls["rest"]
    async with httpx.AsyncClient() as http:
        # One state per poll: a Safe's deployment is CONFIRMED at the fourth poll (NEW, EXECUTED, MINED, CONFIRMED).
        await http.post(f"{rest}/_emulator/relayer/faults", json={"states_per_poll": 1})
    private_key, _, safe, relayer_key = await _safe_with_relayer_key(emulator)
    async with AsyncPolymarket(
        rest_url=rest,
        private_key=private_key,
        signature_type="POLY_GNOSIS_SAFE",
        funder=safe,
        environ={"POLYINFRA_RELAYER_API_KEY": relayer_key},
        relayer_poll_interval_s=0.01,
        relayer_max_polls=2,
    ) as impatient:
        with pytest.raises(TransactionTimeoutError):
            await impatient.wrap("1")
    private_key, _, safe, relayer_key = await _safe_with_relayer_key(emulator)
    environ = {
        "POLYINFRA_RELAYER_API_KEY": relayer_key,
        "POLYINFRA_RELAYER_POLL_INTERVAL_S": "0.01",
        "POLYINFRA_RELAYER_MAX_POLLS": "8",
    }
    async with AsyncPolymarket(
        rest_url=rest, private_key=private_key, signature_type="POLY_GNOSIS_SAFE", funder=safe, environ=environ
    ) as patient:
        assert (patient.config.relayer_poll_interval_s, patient.config.relayer_max_polls) == (0.01, 8)
        wrapped = await patient.wrap("1")
    assert len(wrapped.transactions) == 2
    assert emulator.trading.balances.collateral(safe) == 1_000_000
