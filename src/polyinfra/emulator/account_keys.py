"""The emulated venue's account extras: read-only API keys, builder API keys and the closed-only flag.

All three belong to an account, the EOA an API key was created for, and are managed over L2:

* ``POST /auth/readonly-api-key`` answers ``{"apiKey": "<uuid>"}``; ``GET /auth/readonly-api-keys``
  lists the account's read-only keys; ``DELETE /auth/readonly-api-key`` with ``{"key": "<uuid>"}``
  deletes one. The venue hands out no secret with a read-only key: a client signs with the key it
  was created under, sending the read-only key as ``POLY_API_KEY`` (the HMAC and passphrase are
  that key's). Such a request reads what the account reads, and only reads: anything but a GET is
  refused with the venue's 401 ``Unauthorized/Invalid api key``, orders and cancels included.
* ``POST /auth/builder-api-key`` answers ``{"key", "secret", "passphrase"}``; ``GET`` lists the
  account's builder keys with ``created_at`` and ``revoked_at`` (ISO-8601 UTC, null while live);
  ``DELETE`` revokes every live one. Revoked keys stay listed, as a record of when they stopped.
* ``GET /auth/ban-status/closed-only`` answers ``{"closed_only": bool}``: false unless set with the
  control route ``POST /_emulator/wallets/{address}`` and ``{"closed_only": true}``. An account in
  closed-only mode may only reduce its positions: its BUY orders are refused with the venue's
  ``'<address>' address in closed only mode``, its SELLs and cancels go through.

Secrets are generated here and registered for log redaction the moment they exist.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Final, Protocol

from aiohttp import web
from msgspec import Struct

from polyinfra.core.eip712 import to_checksum_address
from polyinfra.emulator.accounts import ApiKey
from polyinfra.errors import ApiError, MalformedMessageError
from polyinfra.obs.redaction import register_secret
from polyinfra.wire.clob_account import BuilderApiKey, BuilderApiKeyInfo, ClosedOnlyStatus, ReadonlyApiKey
from polyinfra.wire.clob_rest import JSON_ENCODER
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["AccountGate", "AccountKeys", "AccountKeysApi"]

_INVALID_PAYLOAD: Final = "Invalid payload"
_NO_SUCH_KEY: Final = "read-only api key not found"

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AccountGate(Protocol):
    """What the account routes outside the trading API ask of it."""

    async def authenticate(self, request: web.Request) -> ApiKey:
        """The API key an L2 request proves it holds, or :class:`ApiError` with the venue's 401."""
        ...

    def funder(self, key: ApiKey, request: web.Request) -> str:
        """The wallet of ``key`` the request's ``signature_type`` names (400 if it owns none)."""
        ...


@dataclass(slots=True)
class _BuilderKey:
    key: str
    secret: str
    passphrase: str
    created_at: str
    revoked_at: str | None = None


class _DeleteReadonlyBody(Struct, gc=False):
    key: str


_DELETE_READONLY: Final[JsonDecoder[_DeleteReadonlyBody]] = JsonDecoder(_DeleteReadonlyBody, what="key to delete")


class AccountKeys:
    """Read-only keys, builder keys and closed-only flags per account (checksummed EOA)."""

    def __init__(self, *, clock_ms: Callable[[], int]) -> None:
        self._clock_ms = clock_ms
        self._readonly: dict[str, tuple[str, str]] = {}
        """Read-only key -> (account, the API key it was created under)."""
        self._builder: dict[str, list[_BuilderKey]] = {}
        self._closed_only: set[str] = set()

    def create_readonly(self, key: ApiKey) -> str:
        readonly = str(uuid.uuid4())
        self._readonly[readonly] = (key.address, key.api_key)
        return readonly

    def readonly_keys(self, account: str) -> list[str]:
        return [readonly for readonly, (owner, _) in self._readonly.items() if owner == account]

    def delete_readonly(self, account: str, readonly: str) -> bool:
        """Delete one of ``account``'s read-only keys; False when it has no such key."""
        found = self._readonly.get(readonly)
        if found is None or found[0] != account:
            return False
        del self._readonly[readonly]
        return True

    def signing_key_of(self, readonly: str) -> str | None:
        """The API key a read-only key was created under (whose secret signs its requests), or None."""
        found = self._readonly.get(readonly)
        return None if found is None else found[1]

    def create_builder(self, account: str) -> _BuilderKey:
        secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        passphrase = secrets.token_hex(32)
        register_secret(secret)
        register_secret(passphrase)
        builder = _BuilderKey(str(uuid.uuid4()), secret, passphrase, self._now())
        self._builder.setdefault(account, []).append(builder)
        return builder

    def builder_keys(self, account: str) -> list[_BuilderKey]:
        return list(self._builder.get(account, ()))

    def revoke_builder_keys(self, account: str) -> None:
        now = self._now()
        for builder in self._builder.get(account, ()):
            if builder.revoked_at is None:
                builder.revoked_at = now

    def closed_only(self, account: str) -> bool:
        return to_checksum_address(account) in self._closed_only

    def set_closed_only(self, account: str, closed_only: bool) -> None:
        checksummed = to_checksum_address(account)
        if closed_only:
            self._closed_only.add(checksummed)
        else:
            self._closed_only.discard(checksummed)

    def _now(self) -> str:
        return datetime.fromtimestamp(self._clock_ms() // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AccountKeysApi:
    """The L2 routes over :class:`AccountKeys`, authenticated through ``gate``."""

    def __init__(self, keys: AccountKeys, gate: AccountGate) -> None:
        self._keys = keys
        self._gate = gate

    def routes(self) -> list[tuple[str, str, _Handler]]:
        return [
            ("GET", "/auth/ban-status/closed-only", self._closed_only),
            ("POST", "/auth/readonly-api-key", self._create_readonly),
            ("GET", "/auth/readonly-api-keys", self._readonly_keys),
            ("DELETE", "/auth/readonly-api-key", self._delete_readonly),
            ("POST", "/auth/builder-api-key", self._create_builder),
            ("GET", "/auth/builder-api-key", self._builder_keys),
            ("DELETE", "/auth/builder-api-key", self._revoke_builder),
        ]

    async def _closed_only(self, request: web.Request) -> web.Response:
        key = await self._gate.authenticate(request)
        return _json(ClosedOnlyStatus(closed_only=self._keys.closed_only(key.address)))

    async def _create_readonly(self, request: web.Request) -> web.Response:
        key = await self._gate.authenticate(request)
        return _json(ReadonlyApiKey(api_key=self._keys.create_readonly(key)))

    async def _readonly_keys(self, request: web.Request) -> web.Response:
        key = await self._gate.authenticate(request)
        return _json(self._keys.readonly_keys(key.address))

    async def _delete_readonly(self, request: web.Request) -> web.Response:
        key = await self._gate.authenticate(request)
        try:
            body = _DELETE_READONLY.decode(await request.read())
        except MalformedMessageError:
            raise ApiError(_INVALID_PAYLOAD, status=HTTPStatus.BAD_REQUEST) from None
        if not self._keys.delete_readonly(key.address, body.key):
            raise ApiError(_NO_SUCH_KEY, status=HTTPStatus.NOT_FOUND)
        return _json("OK")

    async def _create_builder(self, request: web.Request) -> web.Response:
        key = await self._gate.authenticate(request)
        builder = self._keys.create_builder(key.address)
        return _json(BuilderApiKey(key=builder.key, secret=builder.secret, passphrase=builder.passphrase))

    async def _builder_keys(self, request: web.Request) -> web.Response:
        key = await self._gate.authenticate(request)
        listed = [
            BuilderApiKeyInfo(key=builder.key, created_at=builder.created_at, revoked_at=builder.revoked_at)
            for builder in self._keys.builder_keys(key.address)
        ]
        return _json(listed)

    async def _revoke_builder(self, request: web.Request) -> web.Response:
        key = await self._gate.authenticate(request)
        self._keys.revoke_builder_keys(key.address)
        return _json("OK")


def _json(body: object) -> web.Response:
    return web.Response(body=JSON_ENCODER.encode(body), content_type="application/json")
