"""The demo's on-chain lines, on the embedded emulator's Polygon, through the client facade.

The wallet that pays its own gas: a fresh EOA wallet holding only USDC.e has a BUY refused, approves the exchange
and wraps pUSD, and the same BUY goes live. The gasless wallet: a fresh Safe of a fresh owner key, holding only
USDC.e, wraps pUSD and splits it into YES and NO shares through the relayer, which deploys the Safe first. Its
line counts the transactions the relayer's account sent (read from the chain: its nonce before and after) and
shows the owner key's native POL before and after: the relayer paid the gas, the key nothing.

Either line, when the demo's fault knobs stop it, says which error did: the proof goes on.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Final

import httpx

from polyinfra.client.async_client import AsyncPolymarket
from polyinfra.core.approvals import Intent
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.wallet_addresses import safe_wallet
from polyinfra.emulator.chain.relayer_api import RELAY_ADDRESS
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import InsufficientBalanceError, MalformedMessageError, PolyinfraError
from polyinfra.obs.redaction import Secret
from polyinfra.wire.json_decoding import decode_json

__all__ = ["gasless_line", "self_paid_line"]

# The USDC.e the fresh EOA wallet is given and wraps into pUSD.
_EOA_WRAP: Final = "25"
# The USDC.e the fresh Safe is given and wraps, and the pUSD of it split into YES and NO shares.
_SAFE_WRAP: Final = "10"
_SAFE_SPLIT: Final = "5"
_WEI_DECIMALS: Final = 18
# NEW -> EXECUTED -> MINED -> CONFIRMED: three steps from the state a submit answers.
_STATES_TO_CONFIRMED: Final = 3


async def self_paid_line(emulator: Emulator) -> str:
    """A fresh EOA wallet: its BUY refused, then approved and wrapped, then the same BUY live."""
    try:
        before, sent, after = await _eoa_round_trip(emulator)
    except (PolyinfraError, httpx.HTTPError) as error:
        return f"  on chain: not shown, {type(error).__name__}: {error}"
    return (
        f"  on chain: a fresh wallet's BUY {before}; approve and wrap {_EOA_WRAP} pUSD\n"
        f"  ({sent} transactions), then the same BUY {after}"
    )


async def _eoa_round_trip(emulator: Emulator) -> tuple[str, int, str]:
    token = next(info for info in emulator.exchange.markets.values() if not info.neg_risk).tokens[0].token_id
    wallet_key = Secret("0x" + secrets.token_hex(32))
    async with AsyncPolymarket(rest_url=emulator.urls["rest"], private_key=wallet_key, environ={}) as client:
        await _fund(emulator, client.address(), _EOA_WRAP)
        try:
            await client.place_order(token, "BUY", "0.01", "10")
            before = "accepted (NOT refused)"
        except InsufficientBalanceError:
            before = "refused"
        sent = len((await client.approve([Intent.TRADE])).transactions)
        sent += len((await client.wrap(_EOA_WRAP)).transactions)
        placed = await client.place_order(token, "BUY", "0.01", "10")
        await client.cancel(placed.order_id)
    return before, sent, placed.status


async def gasless_line(emulator: Emulator) -> str:
    """A fresh Safe wraps and splits through the relayer: how many transactions the relayer sent, and the owner
    key's POL before and after."""
    # The relayer sender polls a transaction's state every 2 s until CONFIRMED, and the emulated relayer walks one
    # state per poll by default (EXECUTED, MINED, CONFIRMED after a submit's NEW): 4 s a transaction, 20 s for
    # these five. The demo's own embedded emulator shows the final state on the first poll instead, so the
    # gasless line costs the demo no waiting.
    emulator.relayer_knobs.update({"states_per_poll": _STATES_TO_CONFIRMED})
    chain = emulator.chain
    relayer_nonce = chain.transaction_count(RELAY_ADDRESS, pending=False)
    owner_key = Secret("0x" + secrets.token_hex(32))
    owner = SigningKey(owner_key).address
    pol_before = chain.contracts.native_balance(owner)
    try:
        await _safe_wrap_and_split(emulator, owner_key, owner)
    except (PolyinfraError, httpx.HTTPError) as error:
        return f"  gasless: not shown, {type(error).__name__}: {error}"
    relayed = chain.transaction_count(RELAY_ADDRESS, pending=False) - relayer_nonce
    pol_after = chain.contracts.native_balance(owner)
    paid = "paid no gas" if pol_after == pol_before else "PAID GAS"
    return (
        f"  gasless: a fresh Safe wraps {_SAFE_WRAP} pUSD and splits {_SAFE_SPLIT} through the relayer,\n"
        f"  which sent {relayed} transactions (deploying the Safe first); the owner key\n"
        f"  {paid}: its POL {_pol(pol_before)} before, {_pol(pol_after)} after"
    )


async def _safe_wrap_and_split(emulator: Emulator, owner_key: Secret, owner: str) -> None:
    market = next(info for info in emulator.exchange.markets.values() if not info.neg_risk)
    safe = safe_wallet(owner)
    async with httpx.AsyncClient() as http:
        issued = await http.post(f"{emulator.urls['rest']}/_emulator/relayer/api-keys/{owner}")
        issued.raise_for_status()
    answer = decode_json(issued.content, dict[str, str], what="the emulator's relayer API key")
    if "apiKey" not in answer:
        raise MalformedMessageError("the emulator issues a relayer API key as apiKey")
    relayer_key = Secret(answer.pop("apiKey"))
    await _fund(emulator, safe, _SAFE_WRAP)
    async with AsyncPolymarket(
        rest_url=emulator.urls["rest"],
        private_key=owner_key,
        signature_type="POLY_GNOSIS_SAFE",
        funder=safe,
        relayer_api_key=relayer_key,
        environ={},
    ) as client:
        await client.wrap(_SAFE_WRAP)
        await client.split(market.condition_id, _SAFE_SPLIT)


async def _fund(emulator: Emulator, address: str, usdc_e: str) -> None:
    """Give ``address`` only ``usdc_e`` USDC.e, as a wallet new to Polymarket (the emulator's faucet)."""
    async with httpx.AsyncClient() as http:
        faucet = f"{emulator.urls['rest']}/_emulator/chain/accounts/{address}"
        (await http.post(faucet, json={"usdc_e": usdc_e, "fresh": True})).raise_for_status()


def _pol(wei: int) -> str:
    return f"{Decimal(wei).scaleb(-_WEI_DECIMALS).normalize():f}"
