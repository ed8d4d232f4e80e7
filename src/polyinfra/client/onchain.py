"""The client facade's on-chain operations: approve, wrap, unwrap, split, merge, redeem, redeem_all, convert.

:class:`OnChainMethods` is mixed into :class:`~polyinfra.client.async_client.AsyncPolymarket` (and so forwarded
by the blocking twin); each method is :class:`~polyinfra.chain.operations.ChainOperations` for a named wallet,
with amounts taken as the client takes them (``Decimal``, ``str`` or ``int`` pUSD, never a float) and the market
kind (standard or neg-risk, which picks the adapter) read from the CLOB. :class:`ChainAccess` holds the JSON-RPC
node (``rpc_url`` of the client's settings) and one operations object per wallet, whose transaction sender
signs with the wallet's own :class:`~polyinfra.core.eip712.SigningKey`: the key is never needed in clear.
After an operation the wallet's CLOB balance cache is refreshed for pUSD and each outcome token it moved.

Only EOA wallets send transactions themselves; proxy, Safe and deposit wallets act through the relayer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Final, Protocol

from polyinfra.chain.operations import ChainOperations, OperationResult, RedeemCandidate
from polyinfra.chain.sender import TransactionSender
from polyinfra.clob.trading import TradingClient
from polyinfra.core.approvals import Intent
from polyinfra.errors import InvalidValueError
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import to_micros
from polyinfra.model.orders import SignatureType
from polyinfra.net.json_rpc import JsonRpcClient
from polyinfra.wallets.registry import WalletConfig
from polyinfra.wire.clob_rest import Market

__all__ = ["ChainAccess", "OnChainMethods"]

_EVERY_INTENT: Final = tuple(Intent)


class ChainAccess:
    """The node of ``rpc_url`` (opened on first use) and each wallet's :class:`ChainOperations`."""

    def __init__(self, rpc_url: str, chain_id: int) -> None:
        self._rpc_url = rpc_url
        self._chain_id = chain_id
        self._rpc: JsonRpcClient | None = None
        self._operations: dict[tuple[str, str], ChainOperations] = {}

    def __repr__(self) -> str:
        return f"ChainAccess(rpc_url={self._rpc_url!r}, wallets={len(self._operations)})"

    def operations(self, config: WalletConfig, session: Callable[[], Awaitable[TradingClient]]) -> ChainOperations:
        """``config``'s operations; ``session`` gives the wallet's trading client, for the balance refresh."""
        if config.signature_type is not SignatureType.EOA:
            raise InvalidValueError(
                "on-chain operations are sent from an EOA wallet; a proxy, Safe or deposit wallet acts through "
                "the relayer",
                wallet=config.wallet_id,
                signature_type=config.signature_type.name,
            )
        cache_key = (config.wallet_id, config.key.address)
        operations = self._operations.get(cache_key)
        if operations is None:
            if self._rpc is None:
                self._rpc = JsonRpcClient(self._rpc_url)

            async def refresh(tokens: tuple[str, ...]) -> None:
                await (await session()).refresh_balances(tokens)

            sender = TransactionSender(self._rpc, config.key, chain_id=self._chain_id)
            operations = self._operations[cache_key] = ChainOperations(sender, self._rpc, refresh=refresh)
        return operations

    async def aclose(self) -> None:
        rpc, self._rpc = self._rpc, None
        self._operations.clear()
        if rpc is not None:
            await rpc.aclose()


class _Host(Protocol):
    """What :class:`OnChainMethods` needs of the client it is mixed into."""

    async def _chain_operations(self, wallet: str | None) -> ChainOperations: ...

    async def market(self, condition_id: str) -> MarketInfo: ...

    def markets(self) -> AsyncIterator[Market]: ...


class OnChainMethods:
    """The on-chain methods of the client (module notes), over what :class:`_Host` names."""

    async def approve(
        self: _Host,
        intents: Iterable[Intent | str] = _EVERY_INTENT,
        *,
        amount: Decimal | str | int | None = None,
        dry_run: bool = False,
        key: str | None = None,
        wallet: str | None = None,
    ) -> OperationResult:
        """Grant the approvals ``intents`` need that the chain does not show (default: trading both market kinds,
        wrapping, splitting, merging, redeeming, converting): unlimited, or exactly ``amount`` pUSD."""
        chosen = [Intent(intent) for intent in intents]
        micros = None if amount is None else _positive_micros(amount)
        operations = await self._chain_operations(wallet)
        return await operations.approve(chosen, amount_micros=micros, dry_run=dry_run, key=key)

    async def wrap(
        self: _Host,
        amount: Decimal | str | int,
        *,
        dry_run: bool = False,
        key: str | None = None,
        wallet: str | None = None,
    ) -> OperationResult:
        """USDC.e into pUSD (approving the onramp first if needed)."""
        operations = await self._chain_operations(wallet)
        return await operations.wrap(_positive_micros(amount), dry_run=dry_run, key=key)

    async def unwrap(
        self: _Host,
        amount: Decimal | str | int,
        *,
        dry_run: bool = False,
        key: str | None = None,
        wallet: str | None = None,
    ) -> OperationResult:
        """pUSD back into USDC.e."""
        operations = await self._chain_operations(wallet)
        return await operations.unwrap(_positive_micros(amount), dry_run=dry_run, key=key)

    async def split(
        self: _Host,
        condition_id: str,
        amount: Decimal | str | int,
        *,
        dry_run: bool = False,
        key: str | None = None,
        wallet: str | None = None,
    ) -> OperationResult:
        """``amount`` pUSD into as many YES and NO shares of the market."""
        operations, neg_risk = await _for_market(self, condition_id, wallet)
        return await operations.split(
            condition_id, _positive_micros(amount), neg_risk=neg_risk, dry_run=dry_run, key=key
        )

    async def merge(
        self: _Host,
        condition_id: str,
        amount: Decimal | str | int,
        *,
        dry_run: bool = False,
        key: str | None = None,
        wallet: str | None = None,
    ) -> OperationResult:
        """``amount`` YES and NO shares of the market back into pUSD."""
        operations, neg_risk = await _for_market(self, condition_id, wallet)
        return await operations.merge(
            condition_id, _positive_micros(amount), neg_risk=neg_risk, dry_run=dry_run, key=key
        )

    async def redeem(
        self: _Host, condition_id: str, *, dry_run: bool = False, key: str | None = None, wallet: str | None = None
    ) -> OperationResult:
        """The wallet's whole YES and NO of a resolved market into pUSD by its payouts
        (:class:`~polyinfra.errors.ConditionNotResolvedError` before they are reported)."""
        operations, neg_risk = await _for_market(self, condition_id, wallet)
        return await operations.redeem(condition_id, neg_risk=neg_risk, dry_run=dry_run, key=key)

    async def redeem_all(
        self: _Host, *, dry_run: bool = False, key: str | None = None, wallet: str | None = None
    ) -> list[OperationResult]:
        """Redeem every closed market of the CLOB whose payouts are reported and where the wallet holds shares."""
        candidates = [
            candidate async for market in self.markets() if (candidate := RedeemCandidate.of(market)) is not None
        ]
        operations = await self._chain_operations(wallet)
        return await operations.redeem_all(candidates, dry_run=dry_run, key=key)

    async def convert(
        self: _Host,
        market_id: str,
        index_set: int,
        amount: Decimal | str | int,
        *,
        dry_run: bool = False,
        key: str | None = None,
        wallet: str | None = None,
    ) -> OperationResult:
        """Give up ``amount`` NO of each question of the neg-risk market ``market_id`` in ``index_set`` (bit i:
        question i) for as many YES of every other question, plus pUSD for each NO given beyond the first."""
        operations = await self._chain_operations(wallet)
        return await operations.convert(market_id, index_set, _positive_micros(amount), dry_run=dry_run, key=key)


async def _for_market(host: _Host, condition_id: str, wallet: str | None) -> tuple[ChainOperations, bool]:
    """The wallet's operations and whether the market is neg-risk (which picks the adapter)."""
    neg_risk = (await host.market(condition_id)).neg_risk
    return await host._chain_operations(wallet), neg_risk


def _positive_micros(amount: Decimal | str | int) -> int:
    micros = to_micros(amount)
    if micros <= 0:
        raise InvalidValueError("an amount is positive", amount=str(amount))
    return micros
