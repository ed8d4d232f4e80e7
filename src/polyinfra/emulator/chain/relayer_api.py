"""The emulated relayer: Polymarket's gasless-transaction service, under ``/relayer`` on the REST port.

Endpoints (the venue's, venue notes: Relayer): ``GET /nonce``, ``/relay-payload``, ``/deployed``,
``/v1/account/transactions/params``, ``/v1/account/transactions/{id}``, ``/transaction?id=`` (the legacy array),
``/transactions`` (authenticated) and ``POST /submit`` (authenticated by a builder API key, HMAC over the raw
body, or a relayer API key and its address).

A submit's life::

    auth ─(401 invalid authorization)   throttle ─(429: 25 a minute, and the daily quota for builder keys)
      ▼
    body checked by the wallet (emulator/chain/smart_wallets) ─(400 nonce mismatch, wallet busy, bad payload;
      │                                                         INVALID for what the relayer refuses itself)
      ▼
    mined at once by the node as the relayer's transaction for the wallet (a wrong signature reverts there)
      ▼
    state on each poll of it: NEW → EXECUTED → MINED → CONFIRMED   (or NEW → EXECUTED → FAILED when it reverted)

Advancing one state per poll makes the progression visible without a clock. A wallet with a transaction not yet
CONFIRMED or FAILED is busy ("wallet busy: active action"). Fault knobs (:class:`RelayerKnobs`,
``POST /_emulator/relayer/faults``): ``throttle_next`` (429s), ``fail_next`` (reverts: FAILED),
``invalid_next`` (INVALID), ``busy_next`` (400 wallet busy), the limits ``per_minute`` and ``daily_quota``, and
``states_per_poll`` (1: each poll shows the next state; 3 or more: the first poll shows the final one), and
``stale_nonce_next`` (nonce reads one behind the chain: the submit meets a nonce mismatch).
Keys: ``POST /_emulator/relayer/builder-keys`` issues builder credentials, ``POST
/_emulator/relayer/api-keys/{address}`` a relayer API key for that address.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import ClassVar, Final

import msgspec
from aiohttp import web

from polyinfra.core.auth_headers import ApiCredentials, verify_hmac
from polyinfra.core.eip712 import to_checksum_address
from polyinfra.emulator.chain.node import ChainNode
from polyinfra.emulator.chain.smart_wallets import NonceMismatch, RelayedAction, SmartWallets, WalletRefusal
from polyinfra.emulator.faults import knob_count
from polyinfra.emulator.knobs import KnobValidator, ValidatedKnobs
from polyinfra.errors import AuthError, InvalidValueError, MalformedMessageError
from polyinfra.wire.json_decoding import JsonDecoder
from polyinfra.wire.relayer import (
    STATE_CONFIRMED,
    STATE_EXECUTED,
    STATE_FAILED,
    STATE_INVALID,
    STATE_MINED,
    STATE_NEW,
    SUBMIT_REQUEST,
)

__all__ = ["RELAYER_PREFIX", "RelayerKnobs", "relayer_routes"]

RELAYER_PREFIX: Final = "/relayer"
RELAY_ADDRESS: Final = "0xae700edfd9ab986395f3999fe11177b9903a52f1"
"""The GSN relay the emulated relayer names in ``/relay-payload`` (and whose EOA sends relayed transactions)."""
_MINUTE_MS: Final = 60_000
_DAY_MS: Final = 86_400_000
_SUCCESS_PATH: Final = (STATE_NEW, STATE_EXECUTED, STATE_MINED, STATE_CONFIRMED)
_FAILURE_PATH: Final = (STATE_NEW, STATE_EXECUTED, STATE_FAILED)
_KNOB_CHANGES: Final[JsonDecoder[dict[str, object]]] = JsonDecoder(dict[str, object], what="relayer knobs")
_encode: Final = msgspec.json.Encoder().encode


def _positive(name: str, value: object) -> int:
    count = knob_count(name, value)
    if count == 0:
        raise InvalidValueError("must be at least 1", field=name, value=value)
    return count


@dataclass(slots=True)
class RelayerKnobs(ValidatedKnobs):
    """The emulated relayer's fault knobs and limits (module notes)."""

    _validators: ClassVar[dict[str, KnobValidator]] = {
        "throttle_next": knob_count,
        "fail_next": knob_count,
        "invalid_next": knob_count,
        "busy_next": knob_count,
        "per_minute": knob_count,
        "daily_quota": knob_count,
        "states_per_poll": _positive,
        "stale_nonce_next": knob_count,
    }
    _kind: ClassVar[str] = "relayer knob"

    throttle_next: int = 0
    fail_next: int = 0
    invalid_next: int = 0
    busy_next: int = 0
    per_minute: int = 25
    daily_quota: int = 100
    states_per_poll: int = 1
    stale_nonce_next: int = 0


@dataclass(slots=True)
class _Relayed:
    """A submitted transaction: its path of states, how far the polls have walked it, and what it ran."""

    transaction_id: str
    action: RelayedAction | None
    path: tuple[str, ...]
    tx_hash: str | None
    error_msg: str | None
    created_ms: int
    step: int = 0
    owner_key: str = ""

    @property
    def state(self) -> str:
        return self.path[self.step]

    def advance(self, steps: int) -> None:
        self.step = min(self.step + steps, len(self.path) - 1)


@dataclass(slots=True)
class _Relayer:
    node: ChainNode
    wallets: SmartWallets
    clock_ms: Callable[[], int]
    knobs: RelayerKnobs = field(default_factory=RelayerKnobs)
    builder_keys: dict[str, ApiCredentials] = field(default_factory=dict)
    api_keys: dict[str, str] = field(default_factory=dict)
    """Relayer API key → owner address."""
    transactions: dict[str, _Relayed] = field(default_factory=dict)
    minute: deque[int] = field(default_factory=deque)
    day: deque[int] = field(default_factory=deque)


def relayer_routes(node: ChainNode, *, clock_ms: Callable[[], int]) -> tuple[list[web.RouteDef], RelayerKnobs]:
    """The relayer's routes over ``node`` and the knobs that steer them."""
    relayer = _Relayer(node, SmartWallets(clock_s=lambda: clock_ms() // 1000), clock_ms)
    p = RELAYER_PREFIX

    async def nonce(request: web.Request) -> web.Response:
        kind = request.query.get("type", "")
        if kind not in ("SAFE", "PROXY"):
            return _error("invalid type")
        owner = _address(request.query.get("address"))
        if owner is None:
            return _error("invalid address")
        return _json({"nonce": str(_nonce_read(relayer, kind, owner))})

    async def relay_payload(request: web.Request) -> web.Response:
        owner = _address(request.query.get("address"))
        if owner is None:
            return _error("invalid address")
        return _json({"address": RELAY_ADDRESS, "nonce": str(_nonce_read(relayer, "PROXY", owner))})

    async def params(request: web.Request) -> web.Response:
        kind = request.query.get("type", "")
        owner = _address(request.query.get("address"))
        if kind not in ("SAFE", "WALLET"):
            return _error("invalid type")
        if owner is None:
            return _error("invalid address")
        wallet = relayer.wallets.wallet_of(kind, owner)
        return _json({"address": wallet, "nonce": str(_nonce_read(relayer, kind, owner))})

    async def deployed(request: web.Request) -> web.Response:
        wallet = _address(request.query.get("address"))
        if wallet is None:
            return _error("invalid address")
        return _json({"deployed": relayer.wallets.is_deployed(wallet)})

    async def submit(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            owner_key, unlimited = _authenticate(relayer, request, body)
        except AuthError:
            return _error("invalid authorization", HTTPStatus.UNAUTHORIZED)
        throttled = _throttle(relayer, unlimited=unlimited)
        if throttled is not None:
            return throttled
        try:
            submitted = SUBMIT_REQUEST.decode(body)
        except MalformedMessageError:
            return _error("invalid transaction request payload")
        if unlimited and submitted.type == "WALLET-CREATE" and _address(submitted.sender) != owner_key:
            # A relayer key creates wallets only for the address that owns it.
            return _error(f"from {submitted.sender} does not match auth {owner_key}")
        if relayer.knobs.busy_next > 0 or _busy(relayer, submitted.sender):
            relayer.knobs.busy_next = max(0, relayer.knobs.busy_next - 1)
            return _error("wallet busy: the wallet has an active action")
        now = relayer.clock_ms()
        transaction_id = str(uuid.UUID(int=secrets.randbits(128)))
        try:
            action = relayer.wallets.prepare(submitted)
        except NonceMismatch as exc:
            return _error(exc.reason)
        except WalletRefusal as exc:
            relayer.transactions[transaction_id] = _Relayed(
                transaction_id, None, (STATE_INVALID,), None, exc.reason, now, owner_key=owner_key
            )
            return _json({"transactionID": transaction_id, "state": STATE_NEW})
        relayed = _run(relayer, transaction_id, action, now)
        relayed.owner_key = owner_key
        return _json({"transactionID": transaction_id, "state": STATE_NEW})

    async def account_transaction(request: web.Request) -> web.Response:
        relayed = relayer.transactions.get(request.match_info["id"])
        if relayed is None:
            return _error("transaction not found", HTTPStatus.NOT_FOUND)
        relayed.advance(relayer.knobs.states_per_poll)
        hash_shown = relayed.tx_hash if relayed.state not in (STATE_NEW, STATE_INVALID) else None
        answer: dict[str, object] = {
            "transaction_id": relayed.transaction_id,
            "transaction_hash": hash_shown,
            "state": relayed.state,
        }
        if relayed.state in (STATE_FAILED, STATE_INVALID):
            answer["error_msg"] = relayed.error_msg
        return _json(answer)

    async def legacy_transaction(request: web.Request) -> web.Response:
        relayed = relayer.transactions.get(request.query.get("id", ""))
        if relayed is None:
            return _error("transaction not found", HTTPStatus.NOT_FOUND)
        return _json([_legacy(relayed)])

    async def transactions(request: web.Request) -> web.Response:
        try:
            owner_key, _ = _authenticate(relayer, request, b"")
        except AuthError:
            return _error("invalid authorization", HTTPStatus.UNAUTHORIZED)
        return _json([_legacy(t) for t in relayer.transactions.values() if t.owner_key == owner_key])

    async def builder_keys(request: web.Request) -> web.Response:
        api_key = str(uuid.UUID(int=secrets.randbits(128)))
        secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        passphrase = secrets.token_hex(16)
        relayer.builder_keys[api_key] = ApiCredentials(api_key, secret, passphrase)
        return _json({"key": api_key, "secret": secret, "passphrase": passphrase})

    async def api_keys(request: web.Request) -> web.Response:
        address = _address(request.match_info["address"])
        if address is None:
            return _error("invalid address")
        api_key = str(uuid.UUID(int=secrets.randbits(128)))
        relayer.api_keys[api_key] = address
        return _json({"apiKey": api_key, "address": address})

    async def get_faults(request: web.Request) -> web.Response:
        return _json(relayer.knobs.as_dict())

    async def set_faults(request: web.Request) -> web.Response:
        try:
            relayer.knobs.update(_KNOB_CHANGES.decode(await request.read()))
        except (MalformedMessageError, InvalidValueError) as exc:
            return _error(str(exc))
        return _json(relayer.knobs.as_dict())

    routes = [
        web.get(p + "/nonce", nonce),
        web.get(p + "/relay-payload", relay_payload),
        web.get(p + "/deployed", deployed),
        web.get(p + "/v1/account/transactions/params", params),
        web.get(p + "/v1/account/transactions/{id}", account_transaction),
        web.get(p + "/transaction", legacy_transaction),
        web.get(p + "/transactions", transactions),
        web.post(p + "/submit", submit),
        web.post("/_emulator/relayer/builder-keys", builder_keys),
        web.post("/_emulator/relayer/api-keys/{address}", api_keys),
        web.get("/_emulator/relayer/faults", get_faults),
        web.post("/_emulator/relayer/faults", set_faults),
    ]
    return routes, relayer.knobs


def _authenticate(relayer: _Relayer, request: web.Request, body: bytes) -> tuple[str, bool]:
    """Who submits (a builder key or a relayer key's owner) and whether the daily quota spares them; raises
    :class:`AuthError` for missing or wrong credentials."""
    headers = request.headers
    relayer_key = headers.get("RELAYER_API_KEY")
    if relayer_key is not None:
        owner = relayer.api_keys.get(relayer_key)
        claimed = _address(headers.get("RELAYER_API_KEY_ADDRESS"))
        if owner is None or claimed != owner:
            raise AuthError("invalid authorization")
        return owner, True
    credentials = relayer.builder_keys.get(headers.get("POLY_BUILDER_API_KEY", ""))
    timestamp = headers.get("POLY_BUILDER_TIMESTAMP", "")
    if credentials is None or headers.get("POLY_BUILDER_PASSPHRASE") != credentials.passphrase.reveal():
        raise AuthError("invalid authorization")
    path = request.path.removeprefix(RELAYER_PREFIX)
    try:
        verify_hmac(
            credentials,
            headers.get("POLY_BUILDER_SIGNATURE", ""),
            timestamp=timestamp,
            method=request.method,
            request_path=path,
            body=body,
        )
    except (AuthError, InvalidValueError):
        raise AuthError("invalid authorization") from None
    return credentials.api_key, False


def _throttle(relayer: _Relayer, *, unlimited: bool) -> web.Response | None:
    """The 429 of a submit over the per-minute limit or the daily quota (a relayer API key has none), or None."""
    now = relayer.clock_ms()
    knobs = relayer.knobs
    for window, span in ((relayer.minute, _MINUTE_MS), (relayer.day, _DAY_MS)):
        while window and window[0] <= now - span:
            window.popleft()
    if knobs.throttle_next > 0:
        knobs.throttle_next -= 1
        return _error("too many requests", HTTPStatus.TOO_MANY_REQUESTS)
    if len(relayer.minute) >= knobs.per_minute:
        return _error("too many requests", HTTPStatus.TOO_MANY_REQUESTS)
    if not unlimited and len(relayer.day) >= knobs.daily_quota:
        resets_s = (relayer.day[0] + _DAY_MS - now) // 1000 if relayer.day else _DAY_MS // 1000
        return _error(f"quota exceeded: 0 units remaining, resets in {resets_s} seconds", HTTPStatus.TOO_MANY_REQUESTS)
    relayer.minute.append(now)
    if not unlimited:
        relayer.day.append(now)
    return None


def _nonce_read(relayer: _Relayer, kind: str, owner: str) -> int:
    """A wallet's nonce as the relayer answers it: one behind the truth while ``stale_nonce_next`` lasts (relayer
    nonce reads have been seen to lag the chain)."""
    nonce = relayer.wallets.nonce(kind, owner)
    if relayer.knobs.stale_nonce_next > 0 and nonce > 0:
        relayer.knobs.stale_nonce_next -= 1
        return nonce - 1
    return nonce


def _busy(relayer: _Relayer, sender: str) -> bool:
    return any(
        t.action is not None and t.action.owner.lower() == sender.lower() and t.state not in _SETTLED
        for t in relayer.transactions.values()
    )


_SETTLED: Final = frozenset({STATE_CONFIRMED, STATE_FAILED, STATE_INVALID})


def _run(relayer: _Relayer, transaction_id: str, action: RelayedAction, now: int) -> _Relayed:
    knobs = relayer.knobs
    if knobs.invalid_next > 0:
        knobs.invalid_next -= 1
        relayed = _Relayed(transaction_id, None, (STATE_INVALID,), None, "emulated invalid transaction", now)
        relayer.transactions[transaction_id] = relayed
        return relayed
    refusal = action.refusal
    if refusal is None and knobs.fail_next > 0:
        knobs.fail_next -= 1
        refusal = "emulated revert"
    receipt = relayer.node.mine_relayed(
        to_checksum_address(RELAY_ADDRESS), action.wallet, action.calls, refusal=refusal
    )
    if receipt.status == 1:
        action.on_success()
        path: tuple[str, ...] = _SUCCESS_PATH
        error_msg = None
    else:
        path, error_msg = _FAILURE_PATH, f"execution reverted: {receipt.revert_reason}"
    relayed = _Relayed(transaction_id, action, path, "0x" + receipt.tx.hash.hex(), error_msg, now)
    relayer.transactions[transaction_id] = relayed
    return relayed


def _legacy(relayed: _Relayed) -> dict[str, object]:
    action = relayed.action
    return {
        "transactionID": relayed.transaction_id,
        "transactionHash": relayed.tx_hash or "",
        "from": action.owner if action else "",
        "proxyAddress": action.wallet if action else "",
        "state": relayed.state,
        "type": action.kind if action else "",
        "createdAt": relayed.created_ms,
    }


def _address(text: str | None) -> str | None:
    try:
        return to_checksum_address(text) if text is not None else None
    except InvalidValueError:
        return None


def _json(body: object, status: int = HTTPStatus.OK) -> web.Response:
    return web.Response(body=_encode(body), status=status, content_type="application/json")


def _error(message: str, status: int = HTTPStatus.BAD_REQUEST) -> web.Response:
    return _json({"error": message}, status)
