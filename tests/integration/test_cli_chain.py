"""The on-chain commands as a user runs them, against the emulator: the approval plan, a dry run that sends
nothing, a wrap with its progress line, redeem --all after the market resolves, a neg-risk convert, doctor
applying the approval it finds missing, and a gasless wrap from a Safe through the relayer. The first wrap runs as a
real process (the key from the environment, the progress on stderr, the exit code); the rest run in this process,
where the process is not what is tested."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from polyinfra.core.chain_contracts import EXCHANGE_V2, NEG_RISK_EXCHANGE_V2
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.wallet_addresses import safe_wallet
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.rate_limits import RateLimitMode
from polyinfra.emulator.runner import Emulator
from polyinfra.emulator.trading_api import TradingSettings
from polyinfra.obs.redaction import register_secret
from tests.integration.cli_steps import run_polyinfra, run_polyinfra_in_process


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """The conftest venue plus a neg-risk event of three questions."""
    settings = TradingSettings(mined_after_s=0.05, confirmed_after_s=0.1)
    faults = FaultConfig(rate_limits=RateLimitMode.OFF)
    async with Emulator(markets=3, seed=5, rate=0, trading=settings, faults=faults, neg_risk_questions=3) as running:
        yield running


def new_key() -> str:
    private_key = "0x" + secrets.token_hex(32)
    register_secret(private_key)
    return private_key


async def test_approve_plan_wrap_and_redeem_all_from_the_command_line(emulator: Emulator) -> None:
    private_key = new_key()
    env = {"POLYINFRA_PRIVATE_KEY": private_key}
    urls = ["--rest", emulator.urls["rest"], "--rpc", emulator.urls["rpc"]]

    code, out, err = await run_polyinfra_in_process("approve", "--plan", *urls, env=env)
    assert code == 0, err
    plan = json.loads(out)
    address = plan["address"]
    assert any(row["optional"] for row in plan["approvals"])
    # The emulator seeds every wallet's pUSD allowances to the exchanges; nothing else is granted yet.
    granted = {(row["standard"], row["spender"]) for row in plan["approvals"] if row["granted"]}
    assert granted == {("ERC20", EXCHANGE_V2), ("ERC20", NEG_RISK_EXCHANGE_V2)}
    async with httpx.AsyncClient() as http:
        funded = await http.post(f"{emulator.urls['rest']}/_emulator/chain/accounts/{address}", json={"usdc_e": "20"})
    assert funded.json()["usdc_e"] == "20000000"
    balances = emulator.trading.balances
    pusd = balances.collateral(address)

    code, out, err = await run_polyinfra_in_process("wrap", "12.5", "--dry-run", *urls, env=env)
    assert code == 0, err
    dry = json.loads(out)
    assert dry["dry_run"] is True and dry["transactions"] == []
    assert [call["does"].split()[0] for call in dry["calls"]] == ["approve", "wrap"]
    assert balances.collateral(address) == pusd

    # One true process: the key from its environment, the progress lines on its stderr, its exit code.
    code, out, err = await run_polyinfra("wrap", "12.5", *urls, env=dict(os.environ, **env))
    assert code == 0, err
    assert len(json.loads(out)["transactions"]) == 2
    assert "confirming" in err and "mined in block" in err
    assert balances.collateral(address) == pusd + 12_500_000
    assert private_key[2:] not in out + err

    market = next(iter(emulator.exchange.markets.values()))
    yes = market.tokens[0].token_id
    held = balances.shares(address, yes)

    emulator.exchange.resolve_market(market.condition_id, yes)
    before = balances.collateral(address)
    code, out, err = await run_polyinfra_in_process("redeem", "--all", *urls, env=env)
    assert code == 0, err
    answer = json.loads(out)
    assert [row["operation"] for row in answer["redeemed"]] == ["redeem"]
    assert balances.collateral(address) == before + held
    assert held > 0


async def test_convert_from_the_command_line(emulator: Emulator) -> None:
    env = {"POLYINFRA_PRIVATE_KEY": new_key()}
    urls = ["--rest", emulator.urls["rest"], "--rpc", emulator.urls["rpc"]]
    event = emulator.neg_risk_event
    assert event is not None
    first, second, third = event.questions
    # The market id is what the venue lists as the question's negRiskMarketID.
    async with httpx.AsyncClient() as http:
        listed = (await http.get(f"{emulator.urls['rest']}/markets/{first.condition_id}")).json()
    assert listed["neg_risk_market_id"] == event.market_id
    code, out, err = await run_polyinfra_in_process("split", first.condition_id, "3", *urls, env=env)
    assert code == 0, err
    address = SigningKey(env["POLYINFRA_PRIVATE_KEY"]).address
    balances = emulator.trading.balances
    no_first, yes_second, yes_third = first.tokens[1].token_id, second.tokens[0].token_id, third.tokens[0].token_id
    before = [balances.shares(address, token) for token in (no_first, yes_second, yes_third)]
    pusd = balances.collateral(address)

    code, out, err = await run_polyinfra_in_process("convert", event.market_id, "1", "3", *urls, env=env)
    assert code == 0, err
    assert json.loads(out)["operation"] == "convert"
    # One NO given: as many YES of each other question, no collateral.
    assert [balances.shares(address, token) for token in (no_first, yes_second, yes_third)] == [
        before[0] - 3_000_000,
        before[1] + 3_000_000,
        before[2] + 3_000_000,
    ]
    assert balances.collateral(address) == pusd
    code, _, err = await run_polyinfra_in_process("convert", event.market_id, "8", "1", *urls, env=env)
    assert code == 1 and "InvalidIndexSet" in err


async def test_doctor_fix_grants_the_missing_approval(emulator: Emulator) -> None:
    private_key = new_key()
    env = {"POLYINFRA_PRIVATE_KEY": private_key}
    urls = ["--rest", emulator.urls["rest"], "--rpc", emulator.urls["rpc"]]
    address = SigningKey(private_key).address
    async with httpx.AsyncClient(base_url=emulator.urls["rest"]) as admin:
        cut = await admin.post(f"/_emulator/wallets/{address}", json={"allowances": {EXCHANGE_V2: "0"}})
    assert cut.status_code == 200, cut.text

    # Not a terminal and no --fix: the finding, the hint, nothing sent.
    code, out, err = await run_polyinfra_in_process("doctor", *urls, env=env)
    assert code == 1, out + err
    assert f"pUSD allowance to the V2 exchange {EXCHANGE_V2} is 0" in out
    assert "`polyinfra doctor --fix` grants the approvals for trade" in out
    assert emulator.trading.balances.on_chain(address, "").allowances[EXCHANGE_V2] == 0

    code, out, err = await run_polyinfra_in_process("doctor", "--fix", *urls, env=env)
    assert code == 0, out + err
    assert "fixed:" in out and out.rstrip().endswith(
        "no reason for invalid signature or not enough balance / allowance"
    )
    assert "mined in block" in err
    assert emulator.trading.balances.on_chain(address, "").allowances[EXCHANGE_V2] > 0


async def test_wrap_gaslessly_from_a_safe_on_the_command_line(emulator: Emulator) -> None:
    private_key = new_key()
    owner = SigningKey(private_key).address
    safe = safe_wallet(owner)
    async with httpx.AsyncClient() as http:
        issued = await http.post(f"{emulator.urls['rest']}/_emulator/relayer/api-keys/{owner}")
        await http.post(f"{emulator.urls['rest']}/_emulator/chain/accounts/{safe}", json={"usdc_e": "20"})
        # Each poll shows the final state: the command's 2 s poll interval never has to elapse.
        await http.post(f"{emulator.urls['rest']}/_emulator/relayer/faults", json={"states_per_poll": 3})
    relayer_key = issued.json()["apiKey"]
    register_secret(relayer_key)
    env = {"POLYINFRA_PRIVATE_KEY": private_key, "POLYINFRA_RELAYER_API_KEY": relayer_key}
    urls = ["--rest", emulator.urls["rest"], "--rpc", emulator.urls["rpc"], "--relayer", emulator.urls["relayer"]]
    balances = emulator.trading.balances
    pusd = balances.collateral(safe)

    code, out, err = await run_polyinfra_in_process("wrap", "5", "--wallet-type", "safe", *urls, env=env)
    assert code == 0, err
    assert len(json.loads(out)["transactions"]) == 2  # the onramp approval, then the wrap
    assert balances.collateral(safe) == pusd + 5_000_000
    assert "mined in block" in err
    assert relayer_key not in out + err and private_key[2:] not in out + err
