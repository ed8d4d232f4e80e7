"""The emulator's wallet admin route, ``GET``/``POST /_emulator/wallets/{address}`` (server.py):
exact decimal amounts in and out, all-or-nothing changes, and a 400 that says what was wrong."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from polyinfra.core.eip712 import to_checksum_address
from polyinfra.core.order_signing import EXCHANGE_CONTRACTS, POLYGON_CHAIN_ID
from polyinfra.emulator.runner import Emulator

ADDRESS = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
CHECKSUMMED = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
CONTRACTS = EXCHANGE_CONTRACTS[POLYGON_CHAIN_ID]


@pytest.fixture
async def admin() -> AsyncIterator[httpx.AsyncClient]:
    async with (
        Emulator(markets=1, seed=5, rate=0) as emulator,
        httpx.AsyncClient(base_url=emulator.urls["rest"]) as client,
    ):
        yield client


async def test_a_deposit_and_an_approval_round_trip_exactly(admin: httpx.AsyncClient) -> None:
    seeded = (await admin.get(f"/_emulator/wallets/{ADDRESS}")).json()
    assert seeded["address"] == CHECKSUMMED
    assert seeded["chain"] == seeded["venue"]
    assert seeded["chain"]["collateral"] == "10000"
    assert set(seeded["chain"]["allowances"].values()) == {"unlimited"}

    # Spenders in any case; amounts with up to 6 decimals, kept exactly.
    change = {"collateral": "250.500001", "allowances": {CONTRACTS.neg_risk_exchange_v2.lower(): "0.000001"}}
    changed = (await admin.post(f"/_emulator/wallets/{ADDRESS}", json=change)).json()
    assert changed["chain"]["collateral"] == "250.500001"
    assert changed["chain"]["allowances"][CONTRACTS.neg_risk_exchange_v2] == "0.000001"
    assert changed["chain"]["allowances"][CONTRACTS.exchange_v2] == "unlimited"
    restored = {"allowances": {CONTRACTS.neg_risk_exchange_v2: "unlimited"}}
    again = (await admin.post(f"/_emulator/wallets/{ADDRESS}", json=restored)).json()
    assert again["chain"] == {**changed["chain"], "allowances": seeded["chain"]["allowances"]}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"collateral": 250.5}, "Expected `str | null`, got `float`"),
        ({"collateral": "-1"}, "not an exact non-negative decimal"),
        ({"collateral": "1.0000001"}, "more than 6 decimals"),
        ({"collateral": "1e3"}, "field='collateral'"),
        ({"allowances": {CONTRACTS.exchange_v2: "lots"}}, f"field='{CONTRACTS.exchange_v2}'"),
        ({"allowances": {"0x" + "12" * 20: "0"}}, "not a spender the venue checks allowances for"),
        ({"balance": "5"}, "unknown field `balance`"),
        ([], "expected {"),
        ({"owner": "0x1234"}, "field='owner'"),
        ({"owner": 7}, "Expected `str | null`, got `int` - at `$.owner`"),
        ({"owner": ADDRESS.upper().replace("0X", "0x")}, "owned by an EOA, not by itself"),
    ],
    ids=[
        "number",
        "negative",
        "seven-decimals",
        "exponent",
        "bad-allowance",
        "unknown-spender",
        "unknown-key",
        "list",
        "owner-not-an-address",
        "owner-not-a-string",
        "owner-itself",
    ],
)
async def test_bad_input_is_a_400_that_names_the_problem_and_changes_nothing(
    admin: httpx.AsyncClient, body: Any, says: str
) -> None:
    before = (await admin.get(f"/_emulator/wallets/{ADDRESS}")).json()
    # A valid part next to the bad one is not applied either.
    if isinstance(body, dict) and "collateral" not in body:
        body = {"collateral": "1", **body}
    answer = await admin.post(f"/_emulator/wallets/{ADDRESS}", json=body)
    assert answer.status_code == 400
    assert says in answer.json()["error"]
    assert (await admin.get(f"/_emulator/wallets/{ADDRESS}")).json() == before


async def test_a_bad_address_is_a_400(admin: httpx.AsyncClient) -> None:
    for answer in (
        await admin.get("/_emulator/wallets/0x1234"),
        await admin.post("/_emulator/wallets/0x1234", json={"collateral": "1"}),
    ):
        assert answer.status_code == 400
        assert "not an address" in answer.json()["error"]


async def test_a_deposit_wallet_gets_and_changes_its_owner(admin: httpx.AsyncClient) -> None:
    wallet = "0x" + "d1" * 20
    assert (await admin.get(f"/_emulator/wallets/{wallet}")).json()["owner"] is None
    owned = (await admin.post(f"/_emulator/wallets/{wallet}", json={"owner": ADDRESS})).json()
    assert owned["owner"] == CHECKSUMMED
    new_owner = "0x" + "e2" * 20
    transferred = (await admin.post(f"/_emulator/wallets/{wallet}", json={"owner": new_owner})).json()
    assert transferred["owner"] == to_checksum_address(new_owner)
    # Changing the pUSD of a deposit wallet leaves its owner alone.
    funded = (await admin.post(f"/_emulator/wallets/{wallet}", json={"collateral": "5"})).json()
    assert funded["owner"] == transferred["owner"] and funded["chain"]["collateral"] == "5"
