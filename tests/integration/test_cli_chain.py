"""The on-chain commands as a user runs them, against the emulator: the approval plan, a dry run that sends
nothing, a wrap with its progress line, and redeem --all after the market resolves."""

from __future__ import annotations

import json
import os
import secrets

import httpx

from polyinfra.core.chain_contracts import EXCHANGE_V2, NEG_RISK_EXCHANGE_V2
from polyinfra.emulator.runner import Emulator
from polyinfra.obs.redaction import register_secret
from tests.integration.cli_steps import run_polyinfra


async def test_approve_plan_wrap_and_redeem_all_from_the_command_line(emulator: Emulator) -> None:
    private_key = "0x" + secrets.token_hex(32)
    register_secret(private_key)
    env = dict(os.environ, POLYINFRA_PRIVATE_KEY=private_key)
    urls = ["--rest", emulator.urls["rest"], "--rpc", emulator.urls["rpc"]]

    code, out, err = await run_polyinfra("approve", "--plan", *urls, env=env)
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

    code, out, err = await run_polyinfra("wrap", "12.5", "--dry-run", *urls, env=env)
    assert code == 0, err
    dry = json.loads(out)
    assert dry["dry_run"] is True and dry["transactions"] == []
    assert [call["does"].split()[0] for call in dry["calls"]] == ["approve", "wrap"]
    assert balances.collateral(address) == pusd

    code, out, err = await run_polyinfra("wrap", "12.5", *urls, env=env)
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
    code, out, err = await run_polyinfra("redeem", "--all", *urls, env=env)
    assert code == 0, err
    answer = json.loads(out)
    assert [row["operation"] for row in answer["redeemed"]] == ["redeem"]
    assert balances.collateral(address) == before + held
    assert held > 0
