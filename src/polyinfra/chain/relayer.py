"""Gasless transactions: calls made by a Safe, a proxy wallet or a deposit wallet, paid for by Polymarket's relayer.

:class:`RelayerSender` has the surface of :class:`~polyinfra.chain.sender.TransactionSender` (``address``,
``estimate_gas``, ``send``), so :class:`~polyinfra.chain.operations.ChainOperations` runs approve, wrap, split,
merge and redeem through it unchanged; its ``address`` is the smart wallet, which holds the funds. One relayed
transaction's life in :meth:`RelayerSender.send_calls`::

    read the wallet's nonce (SAFE: /nonce, PROXY: /relay-payload, WALLET: /v1/account/transactions/params)
         │
    sign by the wallet's recipe (core/relayer_signing) ─▶ POST /submit (the limiter holds it to 25 a minute and the
         │                                                  daily quota; both auth schemes)
         │── 400 wallet busy ──────▶ wait a poll interval, read the nonce again, re-sign, submit again
         │── 400 nonce mismatch ───▶ the same when signed below the chain's nonce (the wallet moved on); signed
         │                           above it, a transaction is still on its way: raised, never raced
         │                           (at most ``max_submit_retries`` submits in all)
         ▼
    poll GET /v1/account/transactions/{id} every ``poll_interval_s``, at most ``max_polls`` times
         │── STATE_CONFIRMED ─▶ the receipt read from the node: SentTransaction (logs decoded)
         │── STATE_FAILED ────▶ RelayedTransactionFailedError (reverted on chain)
         │── STATE_INVALID ───▶ RelayedTransactionInvalidError (refused before the chain)
         └── NEW / EXECUTED / MINED ─▶ keep polling; past the last poll TransactionTimeoutError

A relayed transaction is done only when CONFIRMED: MINED is not counted (the official SDK's rule; older clients
stopped at MINED). The retries on busy and nonce answers are the SDK's, read there and written here.

Idempotency is by the caller's key, as for the EOA sender: the same key returns the settled result or waits for
the one in flight, and never submits a second time. Auth: a builder API key (HMAC over the exact body bytes, the
secret and passphrase held as :class:`~polyinfra.obs.redaction.Secret`) or a relayer API key (the key held as a
Secret). Time is the injected ``sleep`` and ``clock_s``, so tests drive polling without waiting.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from polyinfra.chain.once_per_key import OncePerKey
from polyinfra.chain.sender import SentTransaction, settled_transaction
from polyinfra.core.auth_headers import ApiCredentials
from polyinfra.core.eip712 import SigningKey, to_checksum_address
from polyinfra.core.relayer_polling import DEFAULT_RELAYER_MAX_POLLS, DEFAULT_RELAYER_POLL_INTERVAL_S
from polyinfra.core.relayer_signing import (
    DEPOSIT_WALLET_FACTORY,
    PROXY_FACTORY,
    RELAY_HUB,
    SAFE_FACTORY,
    Call,
    batch_digest,
    deposit_wallet,
    encode_proxy_calls,
    proxy_relay_hash,
    safe_transaction,
    safe_tx_digest,
    sign_batch,
    sign_proxy,
    sign_safe,
    sign_safe_create,
)
from polyinfra.core.venue_errors import error_from_response
from polyinfra.core.venue_rate_limits import RELAYER_DAILY_QUOTAS, relayer_limits
from polyinfra.core.wallet_addresses import proxy_wallet, safe_wallet
from polyinfra.errors import (
    InvalidValueError,
    MalformedMessageError,
    PolyinfraError,
    RelayedTransactionFailedError,
    RelayedTransactionInvalidError,
    RelayerNonceMismatchError,
    TransactionTimeoutError,
    WalletBusyError,
)
from polyinfra.model.orders import SignatureType
from polyinfra.net.http import HttpTransport
from polyinfra.net.http_request import HeaderValues
from polyinfra.net.json_rpc import JsonRpcClient
from polyinfra.net.retry import RetryPolicy
from polyinfra.obs.redaction import Secret
from polyinfra.wire.json_decoding import decode_json
from polyinfra.wire.relayer import (
    ACCOUNT_TRANSACTION,
    NONCE_ANSWER,
    RELAY_PAYLOAD,
    STATE_CONFIRMED,
    STATE_FAILED,
    STATE_INVALID,
    SUBMIT_ANSWER,
    BatchCall,
    DepositWalletParams,
    SubmitRequest,
    decimal_field,
    encode_submit,
)

__all__ = [
    "WALLET_TYPES",
    "RelayerApiKey",
    "RelayerSender",
    "WalletType",
    "daily_quota_of",
]


_ZERO_ADDRESS: Final = "0x" + "00" * 20
_PROXY_GAS_LIMIT: Final = 500_000
"""The proxy relay's gas limit when none is given: inside the relay hub's budget of about 650k."""
_NONCE_MISMATCH: Final = re.compile(r"nonce (\d{1,78}) does not match on-chain nonce (\d{1,78})")
_BATCH_LIFETIME_S: Final = 600
"""A deposit-wallet batch is valid this long after signing (the official SDK's choice)."""


class WalletType(StrEnum):
    """The smart wallet the relayer runs calls through."""

    SAFE = "safe"
    PROXY = "proxy"
    DEPOSIT = "deposit"


WALLET_TYPES: Final[Mapping[SignatureType, WalletType]] = {
    SignatureType.POLY_PROXY: WalletType.PROXY,
    SignatureType.POLY_GNOSIS_SAFE: WalletType.SAFE,
    SignatureType.POLY_1271: WalletType.DEPOSIT,
}
"""The smart wallet that acts for each signature type other than EOA (which sends its own transactions)."""


@dataclass(frozen=True, slots=True)
class RelayerApiKey:
    """A relayer API key (created in the web app) and the address that owns it; no daily quota for own wallets."""

    api_key: Secret
    address: str

    def __repr__(self) -> str:
        return f"RelayerApiKey(address={self.address!r})"


RelayerAuth = ApiCredentials | RelayerApiKey


def daily_quota_of(auth: RelayerAuth) -> int | None:
    """The daily quota of relayed transactions ``auth`` has: none for a relayer API key (own wallets), an
    unverified builder's otherwise."""
    return None if isinstance(auth, RelayerApiKey) else RELAYER_DAILY_QUOTAS["unverified"]


class RelayerSender:
    """Sends calls as the ``wallet_type`` wallet of ``private_key``'s EOA through the relayer at ``relayer_url``
    (module notes). ``private_key`` is best a :class:`SigningKey`, which never shows the key in clear. ``rpc``
    estimates gas and reads receipts; ``daily_quota`` sizes the limiter (None for a relayer API key, which has
    none; :func:`daily_quota_of`); ``retry`` and ``limiter_clock`` are the HTTP pipeline's (tests inject them)."""

    def __init__(
        self,
        relayer_url: str,
        rpc: JsonRpcClient,
        private_key: SigningKey | Secret | str,
        *,
        wallet_type: WalletType,
        auth: RelayerAuth,
        chain_id: int = 137,
        daily_quota: int | None = RELAYER_DAILY_QUOTAS["unverified"],
        retry: RetryPolicy | None = None,
        limiter_clock: Callable[[], float] = time.monotonic,
        poll_interval_s: float = DEFAULT_RELAYER_POLL_INTERVAL_S,
        max_polls: int = DEFAULT_RELAYER_MAX_POLLS,
        max_submit_retries: int = 10,
        proxy_gas_limit: int = _PROXY_GAS_LIMIT,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        self._key = private_key if isinstance(private_key, SigningKey) else SigningKey(private_key)
        self._rpc = rpc
        self._wallet_type = WalletType(wallet_type)
        self._auth = auth
        self._chain_id = chain_id
        base, _, rest = relayer_url.partition("://")
        host, slash, path = rest.partition("/")
        self._prefix = (slash + path).rstrip("/")
        self._transport = HttpTransport(
            f"{base}://{host}",
            rate_limits=relayer_limits(daily_quota),
            retry=retry,
            clock=limiter_clock,
            answer_errors=self._answer_error,
        )
        self._poll_interval_s = poll_interval_s
        self._max_polls = max(1, max_polls)
        self._max_submit_retries = max_submit_retries
        self._proxy_gas_limit = proxy_gas_limit
        self._sleep = sleep
        self._clock_s = clock_s
        self._runs: OncePerKey[SentTransaction] = OncePerKey()
        self.owner: str = self._key.address
        """The EOA that signs for the wallet."""
        self.address: str = _wallet_of(self._wallet_type, self.owner, chain_id)
        """The smart wallet: the address that holds the funds and makes the calls."""

    def __repr__(self) -> str:
        return f"RelayerSender(wallet={self.address}, type={self._wallet_type.value}, owner={self.owner})"

    async def aclose(self) -> None:
        await self._transport.aclose()

    # --- the sender surface -------------------------------------------------------------------------

    async def estimate_gas(self, to: str, data: bytes) -> int:
        """The gas the call needs when the wallet makes it (the relayer pays it)."""
        answer = await self._rpc.call("eth_estimateGas", {"from": self.address, "to": to, "data": "0x" + data.hex()})
        if not isinstance(answer, str) or not answer.startswith("0x"):
            raise MalformedMessageError("eth_estimateGas answers a hex quantity", answer=answer)
        return int(answer, 16)

    async def send(self, to: str, data: bytes, *, key: str | None = None, gas: int | None = None) -> SentTransaction:
        """One call, relayed and confirmed (``gas`` is the relayer's business and ignored)."""
        return await self.send_calls([Call(to, data)], key=key)

    async def send_calls(self, calls: Sequence[Call], *, key: str | None = None) -> SentTransaction:
        """Several calls in one relayed transaction (one unit of the daily quota), confirmed (module notes)."""

        async def once() -> SentTransaction:
            transaction_id, nonce = await self._submit(list(calls))
            return await self._await_confirmed(transaction_id, nonce)

        return await self._runs.run(key, once)

    # --- deployment ---------------------------------------------------------------------------------

    async def deployed(self) -> bool:
        """Whether the relayer sees the wallet deployed (a proxy deploys itself on its first call)."""
        kind = "WALLET" if self._wallet_type is WalletType.DEPOSIT else "SAFE"
        answer = await self._get("/deployed", {"address": self.address, "type": kind})
        deployed = answer.get("deployed") if isinstance(answer, dict) else None
        if not isinstance(deployed, bool):
            raise MalformedMessageError("the relayer's /deployed answers a boolean", answer=str(answer)[:200])
        return deployed

    async def deploy(self) -> str | None:
        """Deploy the Safe or the deposit wallet unless it is already (SAFE-CREATE / WALLET-CREATE), waiting until
        CONFIRMED; the transaction hash, or None when there was nothing to do."""
        if self._wallet_type is WalletType.PROXY or await self.deployed():
            return None
        if self._wallet_type is WalletType.SAFE:
            signature = sign_safe_create(self._key, chain_id=self._chain_id)
            request = SubmitRequest(
                type="SAFE-CREATE",
                sender=self.owner,
                to=SAFE_FACTORY,
                proxy_wallet=self.address,
                data="0x",
                signature="0x" + signature.hex(),
                signature_params={"paymentToken": _ZERO_ADDRESS, "payment": "0", "paymentReceiver": _ZERO_ADDRESS},
            )
        else:
            request = SubmitRequest(type="WALLET-CREATE", sender=self.owner, to=DEPOSIT_WALLET_FACTORY)

        async def build() -> tuple[SubmitRequest, int]:
            return request, 0

        transaction_id, nonce = await self._submit_retrying(build)
        return (await self._await_confirmed(transaction_id, nonce)).tx_hash

    # --- internals ----------------------------------------------------------------------------------

    async def _submit(self, calls: list[Call]) -> tuple[str, int]:
        if not calls:
            raise InvalidValueError("a relayed transaction makes at least one call")
        return await self._submit_retrying(lambda: self._signed_request(calls))

    async def _submit_retrying(self, build: Callable[[], Awaitable[tuple[SubmitRequest, int]]]) -> tuple[str, int]:
        """Submit what ``build`` signs, signing again after a wallet-busy or nonce-mismatch answer (module notes)."""
        for attempt in range(self._max_submit_retries + 1):
            request, nonce = await build()
            try:
                return await self._post_submit(request), nonce
            except (WalletBusyError, RelayerNonceMismatchError) as refused:
                if attempt == self._max_submit_retries or _ahead_of_chain(refused):
                    raise
                await self._sleep(self._poll_interval_s)
        raise AssertionError("unreachable: the last attempt raises")

    async def _signed_request(self, calls: list[Call]) -> tuple[SubmitRequest, int]:
        if self._wallet_type is WalletType.SAFE:
            nonce = await self._nonce("/nonce", {"address": self.owner, "type": "SAFE"})
            transaction = safe_transaction(calls)
            digest = safe_tx_digest(transaction, safe=self.address, nonce=nonce, chain_id=self._chain_id)
            return SubmitRequest(
                type="SAFE",
                sender=self.owner,
                to=transaction.to,
                proxy_wallet=self.address,
                data="0x" + transaction.data.hex(),
                nonce=str(nonce),
                signature="0x" + sign_safe(self._key, digest).hex(),
                signature_params={
                    "gasPrice": "0",
                    "operation": str(int(transaction.operation)),
                    "safeTxnGas": "0",
                    "baseGas": "0",
                    "gasToken": _ZERO_ADDRESS,
                    "refundReceiver": _ZERO_ADDRESS,
                },
            ), nonce
        if self._wallet_type is WalletType.PROXY:
            payload = RELAY_PAYLOAD.decode(
                await self._get_bytes("/relay-payload", {"address": self.owner, "type": "PROXY"})
            )
            nonce = decimal_field(payload.nonce, what="proxy nonce")
            relay = to_checksum_address(payload.address)
            data = encode_proxy_calls(calls)
            relay_hash = proxy_relay_hash(
                signer=self.owner, data=data, gas_limit=self._proxy_gas_limit, nonce=nonce, relay=relay
            )
            return SubmitRequest(
                type="PROXY",
                sender=self.owner,
                to=PROXY_FACTORY,
                proxy_wallet=self.address,
                data="0x" + data.hex(),
                nonce=str(nonce),
                signature="0x" + sign_proxy(self._key, relay_hash).hex(),
                signature_params={
                    "gasPrice": "0",
                    "gasLimit": str(self._proxy_gas_limit),
                    "relayerFee": "0",
                    "relayHub": RELAY_HUB,
                    "relay": relay,
                },
            ), nonce
        nonce = await self._nonce("/v1/account/transactions/params", {"address": self.owner, "type": "WALLET"})
        deadline = int(self._clock_s()) + _BATCH_LIFETIME_S
        digest = batch_digest(wallet=self.address, nonce=nonce, deadline=deadline, calls=calls, chain_id=self._chain_id)
        return SubmitRequest(
            type="WALLET",
            sender=self.owner,
            to=DEPOSIT_WALLET_FACTORY,
            nonce=str(nonce),
            signature="0x" + sign_batch(self._key, digest).hex(),
            deposit_wallet_params=DepositWalletParams(
                deposit_wallet=self.address,
                deadline=str(deadline),
                calls=[BatchCall(to_checksum_address(c.to), str(c.value), "0x" + c.data.hex()) for c in calls],
            ),
        ), nonce

    async def _post_submit(self, request: SubmitRequest) -> str:
        body = encode_submit(request)
        response = await self._transport.request(
            "POST",
            self._prefix + "/submit",
            endpoint="POST /submit",
            content=body,
            headers=self._auth_headers("POST", "/submit", body),
            state_changing=True,
        )
        return SUBMIT_ANSWER.decode(response.content).transaction_id

    async def _await_confirmed(self, transaction_id: str, nonce: int) -> SentTransaction:
        for poll in range(self._max_polls):
            answer = ACCOUNT_TRANSACTION.decode(
                await self._get_bytes(
                    f"/v1/account/transactions/{transaction_id}", None, endpoint_rule="GET /v1/account/transactions/*"
                )
            )
            context: dict[str, Any] = {"transaction_id": transaction_id, "state": answer.state}
            if answer.state == STATE_CONFIRMED:
                if not answer.transaction_hash:
                    raise MalformedMessageError("a confirmed relayed transaction names its hash", **context)
                receipt = await self._rpc.call("eth_getTransactionReceipt", answer.transaction_hash)
                if not isinstance(receipt, dict):
                    raise MalformedMessageError("the node has no receipt of a confirmed transaction", **context)
                return settled_transaction(receipt, nonce)
            if answer.state == STATE_INVALID:
                raise RelayedTransactionInvalidError(
                    f"the relayer refused the transaction: {answer.error_msg or 'invalid'}",
                    error_msg=answer.error_msg,
                    **context,
                )
            if answer.state == STATE_FAILED:
                raise RelayedTransactionFailedError(
                    f"the relayed transaction failed on chain: {answer.error_msg or 'reverted'}",
                    error_msg=answer.error_msg,
                    tx_hash=answer.transaction_hash,
                    **context,
                )
            if poll + 1 < self._max_polls:
                await self._sleep(self._poll_interval_s)
        raise TransactionTimeoutError(
            "the relayed transaction is not confirmed yet; it may still be", transaction_id=transaction_id
        )

    async def _nonce(self, path: str, params: Mapping[str, str]) -> int:
        return decimal_field(NONCE_ANSWER.decode(await self._get_bytes(path, params)).nonce, what="nonce")

    async def _get(self, path: str, params: Mapping[str, str]) -> Any:
        return decode_json(await self._get_bytes(path, params), Any, what=f"relayer GET {path} answer")

    async def _get_bytes(
        self, path: str, params: Mapping[str, str] | None, *, endpoint_rule: str | None = None
    ) -> bytes:
        response = await self._transport.request(
            "GET", self._prefix + path, endpoint=endpoint_rule or f"GET {path}", params=params
        )
        return response.content

    def _auth_headers(self, method: str, path: str, body: bytes) -> HeaderValues:
        if isinstance(self._auth, RelayerApiKey):
            return {"RELAYER_API_KEY": self._auth.api_key, "RELAYER_API_KEY_ADDRESS": self._auth.address}
        timestamp = str(int(self._clock_s()))
        signature = self._auth.hmac_signature(timestamp=timestamp, method=method, request_path=path, body=body)
        return {
            "POLY_BUILDER_API_KEY": self._auth.api_key,
            "POLY_BUILDER_TIMESTAMP": timestamp,
            "POLY_BUILDER_PASSPHRASE": self._auth.passphrase,
            "POLY_BUILDER_SIGNATURE": Secret(signature, register=False),
        }

    def _answer_error(
        self, status: int, body: bytes, *, method: str, endpoint: str, headers: Mapping[str, str] | None = None
    ) -> PolyinfraError:
        # The venue table knows the relayer's paths without the URL's prefix (the emulator serves it under one).
        return error_from_response(
            status, body, method=method, endpoint=endpoint.removeprefix(self._prefix), headers=headers
        )


def _ahead_of_chain(refused: PolyinfraError) -> bool:
    """Whether a nonce mismatch was signed *above* the chain's nonce: a transaction of the wallet is still on its
    way, and signing again at the chain's nonce would race it (the official SDK retries only the other way)."""
    found = _NONCE_MISMATCH.search(str(refused.context.get("venue_message") or ""))
    return found is not None and int(found.group(1)) > int(found.group(2))


def _wallet_of(wallet_type: WalletType, owner: str, chain_id: int) -> str:
    if wallet_type is WalletType.SAFE:
        return safe_wallet(owner, chain_id=chain_id)
    if wallet_type is WalletType.PROXY:
        return proxy_wallet(owner, chain_id=chain_id)
    return deposit_wallet(owner)
