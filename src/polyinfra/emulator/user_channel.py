"""The emulated venue's user channel, ``/ws/user`` (venue notes: WebSockets, User channel).

The first message authenticates with the API key, secret and passphrase (venue notes: WebSockets) and names the
markets (condition ids; empty or omitted: all of the key's). Later messages add or remove markets
with ``operation``. The channel then carries the key's ``order`` and ``trade`` events, one JSON
object per frame, as :mod:`polyinfra.emulator.trading_records` shapes them.

Credentials that are not a live key's (unknown key, wrong secret or passphrase) get the socket
dropped at once, without a close frame, and a warning says so. The venue's answer is undocumented
(venue notes: WebSockets); what users report is exactly that: "Connection to remote host was lost" and
"ResetWithoutClosingHandshake" from the official examples run with keys of the wrong wallet
(Polymarket/py-clob-client#204, Polymarket/rs-clob-client#218). Credentials are never logged.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field

import msgspec

from polyinfra.emulator.accounts import Accounts
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.market_channel import ChannelSettings, _Channel, _Connection
from polyinfra.errors import MalformedMessageError
from polyinfra.wire.clob_user import OrderMessage, TradeMessage
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["UserChannel"]

_log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode


class _Credentials(msgspec.Struct):
    apiKey: str  # noqa: N815 - the venue's key names
    secret: str
    passphrase: str


class _UserRequest(msgspec.Struct):
    """A user-channel client message (venue notes: WebSockets): the first carries ``auth`` and ``type``,
    later ones ``operation``; the user channel filters by condition ids (``markets``)."""

    auth: _Credentials | None = None
    type: str | None = None
    operation: str | None = None
    markets: list[str] = []


@dataclass(slots=True)
class _UserSubscription:
    api_key: str | None = None
    markets: set[str] = field(default_factory=set)

    def wants(self, api_key: str, market: str) -> bool:
        return api_key == self.api_key and (not self.markets or market in self.markets)


class UserChannel(_Channel[_UserSubscription]):
    """``/ws/user``: authenticated subscriptions and the events :meth:`publish` hands it."""

    name = "user"

    def __init__(self, accounts: Accounts, faults: FaultConfig, settings: ChannelSettings) -> None:
        super().__init__(faults, settings)
        self._accounts = accounts
        self._request_decoder: JsonDecoder[_UserRequest] = JsonDecoder(_UserRequest, what="user-channel message")

    def publish(self, api_key: str, market: str, event: OrderMessage | TradeMessage) -> None:
        """Queue ``event`` for every socket of ``api_key`` subscribed to ``market``."""
        frame: bytes | None = None
        for connection, subscription in self._connections.items():
            if connection.subscribed and subscription.wants(api_key, market):
                if frame is None:
                    frame = _encode(event)
                connection.enqueue_data(frame)

    def _new_subscription(self) -> _UserSubscription:
        return _UserSubscription()

    def _on_client_text(self, connection: _Connection, subscription: _UserSubscription, text: str) -> None:
        try:
            request = self._request_decoder.decode(text)
        except MalformedMessageError:
            self._invalid("<undecodable user-channel message>")
            return
        operation = (request.operation or "").lower()
        added = 0 if operation == "unsubscribe" else len(set(request.markets) - subscription.markets)
        if self._over_limit(connection, len(request.markets), len(subscription.markets) + added):
            return
        if not operation and (request.type or "").lower() == "user" and request.auth is not None:
            if not self._authentic(request.auth):
                _log.warning("user channel: credentials of no live API key; dropping the socket")
                connection.abort()
                return
            subscription.api_key = request.auth.apiKey
            subscription.markets = set(request.markets)
            connection.subscribed = True
        elif operation == "subscribe" and connection.subscribed:
            subscription.markets.update(request.markets)
        elif operation == "unsubscribe" and connection.subscribed:
            subscription.markets.difference_update(request.markets)
        else:
            # Logged without its text: it may hold credentials.
            self._invalid("<user-channel message without valid auth or operation>")

    def _authentic(self, auth: _Credentials) -> bool:
        key = self._accounts.get(auth.apiKey)
        if key is None:
            return False
        credentials = key.credentials
        # Both compared in constant time, as the REST side compares its HMAC.
        secret_ok = hmac.compare_digest(auth.secret.encode(), credentials.secret.reveal().encode())
        passphrase_ok = hmac.compare_digest(auth.passphrase.encode(), credentials.passphrase.reveal().encode())
        return secret_ok and passphrase_ok
