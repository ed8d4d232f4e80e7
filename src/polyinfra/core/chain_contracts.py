"""The Polygon (chain 137) address book of the contracts polyinfra calls on chain (venue notes: Hosts and contracts,
On chain).

There are two pairs of pUSD collateral adapters: the first deploy, bound for good inside the V2 exchanges, and
the current pair that the official SDK and the venue's contract list use for users' own split, merge, redeem
and convert. polyinfra sends users' operations to the current pair (:data:`CTF_COLLATERAL_ADAPTER`,
:data:`NEG_RISK_COLLATERAL_ADAPTER`); the first pair is listed so the emulated chain can hold both.
"""

from __future__ import annotations

from typing import Final

from polyinfra.core.order_signing import EXCHANGE_CONTRACTS, POLYGON_CHAIN_ID

__all__ = [
    "CTF",
    "CTF_COLLATERAL_ADAPTER",
    "CTF_COLLATERAL_ADAPTER_FIRST",
    "EXCHANGE_V2",
    "NEG_RISK_ADAPTER",
    "NEG_RISK_COLLATERAL_ADAPTER",
    "NEG_RISK_COLLATERAL_ADAPTER_FIRST",
    "NEG_RISK_EXCHANGE_V2",
    "NO_TOKEN_BURN_ADDRESS",
    "OFFRAMP",
    "ONRAMP",
    "POLYGON_CHAIN_ID",
    "PUSD",
    "USDC",
    "USDC_E",
    "WCOL",
]

CTF: Final = "0x4D97DCd97eC945f40cF65F87097ACe5EA0476045"
"""Gnosis Conditional Tokens: the ERC-1155 every outcome token of the V2 CLOB is a position of."""
USDC_E: Final = "0x2791Bca1f2de4661ED88A30C99A7a9449Aa84174"
"""Bridged USDC: the collateral inside standard markets' position ids, and what the onramp wraps into pUSD."""
USDC: Final = "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359"
"""Native Polygon USDC (the onramp contract accepts it too unless paused)."""
PUSD: Final = "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB"
"""Polymarket USD, the V2 CLOB's collateral: never inside a position id."""
WCOL: Final = "0x3A3BD7bb9528E159577F7C2e685CC81A765002E2"
"""The neg-risk adapter's wrapped collateral: the collateral inside neg-risk position ids."""
NEG_RISK_ADAPTER: Final = "0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296"
"""The neg-risk adapter: oracle of every neg-risk condition; pays USDC.e for its own split/merge/redeem."""
ONRAMP: Final = "0x93070a847efEf7F70739046A929D47a521F5B8ee"
"""CollateralOnramp: ``wrap(asset, to, amount)`` turns USDC.e into pUSD (approve the onramp for the asset)."""
OFFRAMP: Final = "0x2957922Eb93258b93368531d39fAcCA3B4dC5854"
"""CollateralOfframp: ``unwrap(asset, to, amount)`` turns pUSD back into USDC.e (approve the offramp for pUSD)."""
CTF_COLLATERAL_ADAPTER: Final = "0xAdA100Db00Ca00073811820692005400218FcE1f"
"""The current pUSD adapter for standard markets' split, merge and redeem."""
NEG_RISK_COLLATERAL_ADAPTER: Final = "0xadA2005600Dec949baf300f4C6120000bDB6eAab"
"""The current pUSD adapter for neg-risk markets' split, merge, redeem and convert."""
CTF_COLLATERAL_ADAPTER_FIRST: Final = "0xADa100874d00e3331D00F2007a9c336a65009718"
"""The first-deploy standard adapter, the one bound inside the V2 exchange."""
NEG_RISK_COLLATERAL_ADAPTER_FIRST: Final = "0xAdA200001000ef00D07553cEE7006808F895c6F1"
"""The first-deploy neg-risk adapter, bound inside the neg-risk V2 exchange."""
NO_TOKEN_BURN_ADDRESS: Final = "0xa5Ef39C3D3e10d0B270233af41CaC69796B12966"
"""Where the neg-risk adapter sends the NO tokens a conversion gives up."""
EXCHANGE_V2: Final = EXCHANGE_CONTRACTS[POLYGON_CHAIN_ID].exchange_v2
NEG_RISK_EXCHANGE_V2: Final = EXCHANGE_CONTRACTS[POLYGON_CHAIN_ID].neg_risk_exchange_v2
