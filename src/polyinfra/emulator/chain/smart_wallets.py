"""The emulated smart wallets: Safes, proxy wallets and deposit wallets, as the relayer's transactions reach them.

A relayed transaction (a ``/submit`` body) is checked here as the wallet contracts on chain check it, with the
same recipes the client signs with (:mod:`polyinfra.core.relayer_signing`):

    SAFE         proxyWallet is the owner's derived Safe, deployed; nonce is the Safe's; the SafeTx signature
                 (eth_sign, v 31/32, or plain) recovers the owner, else the Safe reverts "GS026"
    PROXY        to is the proxy factory; the rlx relay hash signature recovers the owner, else it reverts;
                 the proxy deploys itself on its first call
    WALLET       to is the deposit-wallet factory; the wallet is the owner's derived one, deployed; the deadline
                 has not passed; the Batch signature recovers the owner, else the wallet reverts
    SAFE-CREATE  the CreateProxy signature recovers the owner: the Safe is deployed
    WALLET-CREATE  the owner's deposit wallet is deployed

What the relayer itself refuses before the chain (a malformed body, a wrong ``to``, an undeployed wallet) is a
:class:`WalletRefusal` with ``invalid`` set; a nonce other than the wallet's is :class:`NonceMismatch` (the
relayer answers 400). A signature the wallet refuses is *not* refused here: it is an on-chain revert, so
:meth:`SmartWallets.prepare` returns it as the ``refusal`` the node mines as a failed transaction. Nonces move
only when a transaction succeeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from polyinfra.core.eip712 import address_word, to_checksum_address
from polyinfra.core.relayer_signing import (
    DEPOSIT_WALLET_FACTORY,
    MULTISEND,
    PROXY_FACTORY,
    Call,
    Operation,
    SafeTransaction,
    batch_digest,
    decode_multisend,
    decode_proxy_calls,
    deposit_wallet,
    proxy_relay_hash,
    recover_batch_signer,
    recover_proxy_signer,
    recover_safe_create_signer,
    recover_safe_signer,
    safe_tx_digest,
)
from polyinfra.core.wallet_addresses import proxy_wallet, safe_wallet
from polyinfra.errors import InvalidSignatureError, InvalidValueError, MalformedMessageError
from polyinfra.wire.relayer import SubmitRequest, decimal_field

__all__ = ["NonceMismatch", "RelayedAction", "SmartWallets", "WalletRefusal"]

_SAFE_BAD_OWNER: Final = "GS026"
"""The Safe's revert for a signature that does not recover an owner ("Invalid owner provided")."""


class WalletRefusal(Exception):  # noqa: N818 - the relayer's refusal; it never leaves the emulator
    """The relayer refuses the transaction before the chain (state INVALID or a 400)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NonceMismatch(Exception):  # noqa: N818
    def __init__(self, submitted: int, on_chain: int) -> None:
        super().__init__(f"batch nonce {submitted} does not match on-chain nonce {on_chain}")
        self.reason = str(self)


@dataclass(slots=True)
class RelayedAction:
    """What the chain will run for an accepted submit: the wallet, its calls, and the revert of a wallet that
    refuses it (None when it runs). ``settle`` is called once it has run, with whether it succeeded."""

    kind: str
    owner: str
    wallet: str
    calls: list[tuple[str, bytes]]
    refusal: str | None = None
    on_success: Callable[[], None] = field(default=lambda: None)


class SmartWallets:
    """Deployments and nonces of every smart wallet (module notes); ``clock_s`` is the emulator's unix time."""

    def __init__(self, *, clock_s: Callable[[], int], chain_id: int = 137) -> None:
        self._clock_s = clock_s
        self._chain_id = chain_id
        self._deployed: set[str] = set()
        self._nonces: dict[tuple[str, str], int] = {}

    def is_deployed(self, wallet: str) -> bool:
        return to_checksum_address(wallet) in self._deployed

    def nonce(self, kind: str, owner: str) -> int:
        """The nonce of ``owner``'s wallet of ``kind`` (SAFE, PROXY or WALLET)."""
        return self._nonces.get((kind, to_checksum_address(owner)), 0)

    def wallet_of(self, kind: str, owner: str) -> str:
        if kind in ("SAFE", "SAFE-CREATE"):
            return safe_wallet(owner, chain_id=self._chain_id)
        if kind == "PROXY":
            return proxy_wallet(owner, chain_id=self._chain_id)
        if kind in ("WALLET", "WALLET-CREATE"):
            return deposit_wallet(owner)
        raise WalletRefusal(f"invalid type {kind!r}")

    def prepare(self, request: SubmitRequest) -> RelayedAction:
        """Check ``request`` (module notes) and say what the chain runs for it."""
        try:
            owner = to_checksum_address(request.sender)
            handler = _HANDLERS.get(request.type)
            if handler is None:
                raise WalletRefusal(f"invalid type {request.type!r}")
            return handler(self, request, owner)
        except (InvalidValueError, MalformedMessageError) as exc:
            raise WalletRefusal(f"invalid transaction request payload: {exc.message}") from None

    # --- one handler per transaction type ---------------------------------------------------------

    def _safe(self, request: SubmitRequest, owner: str) -> RelayedAction:
        safe = self.wallet_of("SAFE", owner)
        if request.proxy_wallet is None or address_word(request.proxy_wallet) != address_word(safe):
            raise WalletRefusal("proxyWallet is not the signer's Safe")
        if not self.is_deployed(safe):
            raise WalletRefusal("safe not deployed")
        nonce = self._check_nonce("SAFE", owner, request.nonce)
        data = _hex(request.data)
        code = decimal_field((request.signature_params or {}).get("operation", "0"), what="operation")
        if code not in (Operation.CALL, Operation.DELEGATECALL):
            raise WalletRefusal("a Safe operation is 0 (CALL) or 1 (DELEGATECALL)")
        operation = Operation(code)
        target = to_checksum_address(request.to)
        if operation is Operation.DELEGATECALL:
            if target != MULTISEND:
                raise WalletRefusal("a DELEGATECALL goes to MultiSend only")
            calls = [(call.to, call.data) for call in decode_multisend(data)]
        else:
            calls = [(target, data)]
        digest = safe_tx_digest(
            SafeTransaction(target, data, operation), safe=safe, nonce=nonce, chain_id=self._chain_id
        )
        refusal = _refusal(lambda: recover_safe_signer(digest, _hex(request.signature)), owner, _SAFE_BAD_OWNER)
        return self._action("SAFE", owner, safe, calls, refusal)

    def _proxy(self, request: SubmitRequest, owner: str) -> RelayedAction:
        if to_checksum_address(request.to) != PROXY_FACTORY:
            raise WalletRefusal("invalid 'to' field: must be the proxy wallet factory")
        wallet = self.wallet_of("PROXY", owner)
        nonce = self._check_nonce("PROXY", owner, request.nonce)
        params = request.signature_params or {}
        data = _hex(request.data)
        calls = [(call.to, call.data) for call in decode_proxy_calls(data)]
        relay_hash = proxy_relay_hash(
            signer=owner,
            data=data,
            gas_limit=decimal_field(params.get("gasLimit", ""), what="gasLimit"),
            nonce=nonce,
            relay=params.get("relay", ""),
        )
        refusal = _refusal(
            lambda: recover_proxy_signer(relay_hash, _hex(request.signature)), owner, "invalid signature"
        )
        return self._action("PROXY", owner, wallet, calls, refusal, deploys=True)

    def _wallet(self, request: SubmitRequest, owner: str) -> RelayedAction:
        if to_checksum_address(request.to) != DEPOSIT_WALLET_FACTORY:
            raise WalletRefusal("invalid 'to' field: must be deposit wallet factory")
        params = request.deposit_wallet_params
        wallet = self.wallet_of("WALLET", owner)
        if params is None or address_word(params.deposit_wallet) != address_word(wallet):
            raise WalletRefusal("depositWallet is not the signer's deposit wallet")
        if not self.is_deployed(wallet):
            raise WalletRefusal("deposit wallet not deployed")
        nonce = self._check_nonce("WALLET", owner, request.nonce)
        deadline = decimal_field(params.deadline, what="deadline")
        if deadline < self._clock_s():
            raise WalletRefusal("the batch's deadline has passed")
        calls = [
            Call(to_checksum_address(c.target), _hex(c.data), decimal_field(c.value, what="value"))
            for c in params.calls
        ]
        if not calls:
            raise WalletRefusal("a batch makes at least one call")
        digest = batch_digest(wallet=wallet, nonce=nonce, deadline=deadline, calls=calls, chain_id=self._chain_id)
        refusal = _refusal(lambda: recover_batch_signer(digest, _hex(request.signature)), owner, "invalid signature")
        return self._action("WALLET", owner, wallet, [(call.to, call.data) for call in calls], refusal)

    def _safe_create(self, request: SubmitRequest, owner: str) -> RelayedAction:
        safe = self.wallet_of("SAFE", owner)
        refusal = _refusal(lambda: recover_safe_create_signer(_hex(request.signature)), owner, "invalid signature")
        return RelayedAction("SAFE-CREATE", owner, safe, [], refusal, lambda: self._deployed.add(safe))

    def _wallet_create(self, request: SubmitRequest, owner: str) -> RelayedAction:
        if to_checksum_address(request.to) != DEPOSIT_WALLET_FACTORY:
            raise WalletRefusal("invalid 'to' field: must be deposit wallet factory")
        wallet = self.wallet_of("WALLET", owner)
        return RelayedAction("WALLET-CREATE", owner, wallet, [], None, lambda: self._deployed.add(wallet))

    def _check_nonce(self, kind: str, owner: str, submitted: str | None) -> int:
        nonce = decimal_field(submitted or "", what="nonce")
        current = self.nonce(kind, owner)
        if nonce != current:
            raise NonceMismatch(nonce, current)
        return nonce

    def _action(
        self,
        kind: str,
        owner: str,
        wallet: str,
        calls: list[tuple[str, bytes]],
        refusal: str | None,
        *,
        deploys: bool = False,
    ) -> RelayedAction:
        def bump() -> None:
            self._nonces[kind, owner] = self.nonce(kind, owner) + 1
            if deploys:
                self._deployed.add(wallet)

        return RelayedAction(kind, owner, wallet, calls, refusal, bump)


_HANDLERS: Final[dict[str, Callable[[SmartWallets, SubmitRequest, str], RelayedAction]]] = {
    "SAFE": SmartWallets._safe,
    "PROXY": SmartWallets._proxy,
    "WALLET": SmartWallets._wallet,
    "SAFE-CREATE": SmartWallets._safe_create,
    "WALLET-CREATE": SmartWallets._wallet_create,
}


def _refusal(recover: Callable[[], str], owner: str, reason: str) -> str | None:
    """None when the signature recovers ``owner``, else the wallet's revert ``reason``."""
    try:
        signer = recover()
    except (InvalidSignatureError, InvalidValueError):
        return reason
    return None if address_word(signer) == address_word(owner) else reason


def _hex(text: str | None) -> bytes:
    if text is None or not text.startswith("0x"):
        raise MalformedMessageError("expected 0x-prefixed hex")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise MalformedMessageError("expected 0x-prefixed hex") from None
