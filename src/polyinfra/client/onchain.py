"""The client facade's on-chain operations: approve, wrap, unwrap, split, merge, redeem, redeem_all, convert.

:class:`OnChainMethods` is mixed into :class:`~polyinfra.client.async_client.AsyncPolymarket` (and so forwarded
by the blocking twin); each method is :class:`~polyinfra.chain.operations.ChainOperations` for a named wallet,
with amounts taken as the client takes them (``Decimal``, ``str`` or ``int`` pUSD, never a float) and the market
kind (standard or neg-risk, which picks the adapter) read from the CLOB. :class:`ChainAccess` holds the JSON-RPC
node (``rpc_url`` of the client's settings) and one operations object per wallet, whose sender signs with the
wallet's own :class:`~polyinfra.core.eip712.SigningKey`: the key is never needed in clear. After an operation the
wallet's CLOB balance cache is refreshed for pUSD and each outcome token it moved.

Who sends depends on the wallet's signature type: an EOA wallet sends its own transactions (and pays their gas);
a proxy, Safe or deposit wallet acts through the relayer (``relayer_url``, authenticated by ``relayer_api_key`` or
the builder credentials), which pays the gas, over the same node. Such a wallet is deployed on its first use if
the relayer does not see it deployed yet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Final, Protocol

from polyinfra.chain.operations import ChainOperations, OperationResult, RedeemCandidate
from polyinfra.chain.relayer import WALLET_TYPES, RelayerApiKey, RelayerAuth, RelayerSender, daily_quota_of
from polyinfra.chain.sender import CallSender, TransactionSender
from polyinfra.clob.trading import TradingClient
from polyinfra.core.approvals import Intent
from polyinfra.core.auth_headers import ApiCredentials
from polyinfra.core.relayer_polling import DEFAULT_RELAYER_MAX_POLLS, DEFAULT_RELAYER_POLL_INTERVAL_S
from polyinfra.errors import InvalidValueError
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import to_micros
from polyinfra.model.orders import SignatureType
from polyinfra.net.json_rpc import JsonRpcClient
from polyinfra.obs.redaction import Secret
from polyinfra.wallets.registry import WalletConfig
from polyinfra.wire.clob_rest import Market

__all__ = ["ChainAccess", "OnChainMethods"]

_EVERY_INTENT: Final = tuple(Intent)


class ChainAccess:
    """The node of ``rpc_url`` (opened on first use), the relayer of ``relayer_url`` authenticated by
    ``relayer_api_key`` (first) or ``builder`` credentials, polled every ``relayer_poll_interval_s`` up to
    ``relayer_max_polls`` times per transaction, and each wallet's :class:`ChainOperations`."""

    def __init__(
        self,
        rpc_url: str,
        chain_id: int,
        *,
        relayer_url: str,
        relayer_api_key: Secret | None = None,
        builder: ApiCredentials | None = None,
        relayer_poll_interval_s: float = DEFAULT_RELAYER_POLL_INTERVAL_S,
        relayer_max_polls: int = DEFAULT_RELAYER_MAX_POLLS,
    ) -> None:
        self._rpc_url = rpc_url
        self._chain_id = chain_id
        self._relayer_url = relayer_url
        self._relayer_api_key = relayer_api_key
        self._builder = builder
        self._relayer_poll_interval_s = relayer_poll_interval_s
        self._relayer_max_polls = relayer_max_polls
        self._rpc: JsonRpcClient | None = None
        self._operations: dict[tuple[str, str, SignatureType], ChainOperations] = {}
        self._relayed: list[RelayerSender] = []

    def __repr__(self) -> str:
        return (
            f"ChainAccess(rpc_url={self._rpc_url!r}, relayer_url={self._relayer_url!r}, "
            f"wallets={len(self._operations)})"
        )

    async def operations(
        self, config: WalletConfig, session: Callable[[], Awaitable[TradingClient]]
    ) -> ChainOperations:
        """``config``'s operations; ``session`` gives the wallet's trading client, for the balance refresh."""
        cache_key = (config.wallet_id, config.key.address, config.signature_type)
        operations = self._operations.get(cache_key)
        if operations is None:
            if self._rpc is None:
                self._rpc = JsonRpcClient(self._rpc_url)
            sender: CallSender
            if config.signature_type is SignatureType.EOA:
                sender = TransactionSender(self._rpc, config.key, chain_id=self._chain_id)
            else:
                sender = await self._relayer_sender(config, self._rpc)

            async def refresh(tokens: tuple[str, ...]) -> None:
                await (await session()).refresh_balances(tokens)

            operations = self._operations[cache_key] = ChainOperations(sender, self._rpc, refresh=refresh)
        return operations

    async def _relayer_sender(self, config: WalletConfig, rpc: JsonRpcClient) -> RelayerSender:
        """The relayer sender of ``config``'s smart wallet, deployed (module notes)."""
        auth = self._relayer_auth(config)
        sender = RelayerSender(
            self._relayer_url,
            rpc,
            config.key,
            wallet_type=WALLET_TYPES[config.signature_type],
            auth=auth,
            chain_id=self._chain_id,
            daily_quota=daily_quota_of(auth),
            poll_interval_s=self._relayer_poll_interval_s,
            max_polls=self._relayer_max_polls,
        )
        if sender.address != config.maker:
            await sender.aclose()
            raise InvalidValueError(
                "the relayer acts for the wallet derived from the key, which is not the wallet's funder",
                wallet=config.wallet_id,
                funder=config.maker,
                relayed_wallet=sender.address,
            )
        self._relayed.append(sender)
        await sender.deploy()
        return sender

    def _relayer_auth(self, config: WalletConfig) -> RelayerAuth:
        if self._relayer_api_key is not None:
            return RelayerApiKey(self._relayer_api_key, config.key.address)
        if self._builder is not None:
            return self._builder
        raise InvalidValueError(
            f"a {config.signature_type.name} wallet's on-chain operations go through the relayer: set "
            "relayer_api_key, or builder_api_key, builder_secret and builder_passphrase",
            wallet=config.wallet_id,
            signature_type=config.signature_type.name,
        )

    async def aclose(self) -> None:
        rpc, self._rpc = self._rpc, None
        relayed, self._relayed = self._relayed, []
        self._operations.clear()
        for sender in relayed:
            await sender.aclose()
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
