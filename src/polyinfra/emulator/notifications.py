"""Notifications of the emulated venue: one per fill and per cancel of a user's orders (L2).

They are made from the same order events the user channel carries, so REST and socket never
disagree: an order that trades (an ``UPDATE`` of a resting order, or a ``PLACEMENT`` that matched at
once) gives a notification of type 1 with the size this fill matched; an order taken off the book
(a cancel by the user, a heartbeat timeout, GTD expiry, a resolved market) gives one of type 2. The
payload names the order, its market and what changed (``matched_size``, ``remaining_size``, the
``trade_id`` of a fill); ``transaction_hash`` is empty, as nothing is mined at match time.

``GET /notifications?signature_type=N`` lists, oldest first, the notifications of the API key's
orders made for the wallet that signature type names; ``DELETE /notifications?ids=1,2`` drops
those of the key's notifications (unknown ids are ignored, as dropping is idempotent) and answers
``null``. Each key keeps its latest :data:`KEPT_PER_KEY`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from itertools import count
from typing import Final

from aiohttp import web

from polyinfra.core.eip712 import address_word
from polyinfra.emulator.account_keys import AccountGate
from polyinfra.emulator.client_input import whole_number
from polyinfra.emulator.exchange import Exchange
from polyinfra.errors import ApiError
from polyinfra.model.ids import TokenId
from polyinfra.model.numbers import format_micros, parse_micros
from polyinfra.wire.clob_account import Notification, NotificationPayload
from polyinfra.wire.clob_rest import JSON_ENCODER
from polyinfra.wire.clob_user import OrderMessage, TradeMessage

__all__ = ["CANCEL", "FILL", "KEPT_PER_KEY", "Notifications", "NotificationsApi"]

FILL: Final = 1
"""The notification type of an order that traded (in whole or in part)."""
CANCEL: Final = 2
"""The notification type of an order taken off the book without trading in full."""

KEPT_PER_KEY: Final = 1_000
"""Notifications kept per API key; older ones are dropped first."""

_ID_DIGITS: Final = 18
_IDS_LIMIT: Final = 1_000

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Notifications:
    """Every API key's notifications, made from its order events (:meth:`record`, a user-event sink)."""

    def __init__(self, exchange: Exchange) -> None:
        self._exchange = exchange
        self._ids = count(1)
        self._by_key: dict[str, deque[tuple[bytes, Notification]]] = {}
        """Per API key, each notification with the ABI word of its order's wallet, oldest first."""
        self._matched: dict[str, int] = {}
        """Each order's matched size at its last event, in micros: a fill's own size is the difference."""

    def record(self, api_key: str, condition_id: str, event: OrderMessage | TradeMessage) -> None:
        """Take one user-channel event; an order's fill or cancel becomes a notification."""
        if not isinstance(event, OrderMessage):
            return
        matched = parse_micros(event.size_matched)
        newly_matched = matched - self._matched.get(event.id, 0)
        self._matched[event.id] = matched
        if event.type == "CANCELLATION":
            kind, trade_id = CANCEL, ""
        elif newly_matched > 0:
            kind, trade_id = FILL, event.associate_trades[-1] if event.associate_trades else ""
        else:
            return
        token = TokenId(event.asset_id)
        market = self._exchange.market_of(token)
        if market is None:
            return
        listing = self._exchange.listing(condition_id)
        outcome_index = [outcome.token_id for outcome in market.tokens].index(token)
        payload = NotificationPayload(
            asset_id=event.asset_id,
            condition_id=condition_id,
            market=condition_id,
            market_slug=listing.slug,
            question=market.question,
            outcome=market.outcome_of(token),
            outcome_index=outcome_index,
            order_id=event.id,
            owner=api_key,
            side=event.side,
            price=event.price,
            original_size=event.original_size,
            matched_size=format_micros(max(newly_matched, 0)),
            remaining_size=format_micros(parse_micros(event.original_size) - matched),
            trade_id=trade_id,
            transaction_hash="",
            type="TRADE" if kind == FILL else "CANCELLATION",
            event_slug=listing.slug,
            series_slug="",
            icon="",
            image="",
        )
        notification = Notification(id=next(self._ids), type=kind, owner=api_key, payload=payload)
        self._by_key.setdefault(api_key, deque(maxlen=KEPT_PER_KEY)).append(
            (address_word(event.maker_address), notification)
        )

    def of(self, api_key: str, wallet: str) -> list[Notification]:
        """The key's notifications about orders of ``wallet``, oldest first."""
        word = address_word(wallet)
        return [notification for owner, notification in self._by_key.get(api_key, ()) if owner == word]

    def drop(self, api_key: str, ids: set[int]) -> None:
        """Drop the key's notifications with these ids; other ids are ignored."""
        kept = self._by_key.get(api_key)
        if kept is not None:
            self._by_key[api_key] = deque((item for item in kept if item[1].id not in ids), maxlen=KEPT_PER_KEY)


class NotificationsApi:
    """``GET`` and ``DELETE /notifications`` over :class:`Notifications`, authenticated through ``gate``."""

    def __init__(self, notifications: Notifications, gate: AccountGate) -> None:
        self._notifications = notifications
        self._gate = gate

    def routes(self) -> list[tuple[str, str, _Handler]]:
        return [("GET", "/notifications", self._list), ("DELETE", "/notifications", self._drop)]

    async def _list(self, request: web.Request) -> web.Response:
        key = await self._gate.authenticate(request)
        wallet = self._gate.funder(key, request)
        return _json(self._notifications.of(key.api_key, wallet))

    async def _drop(self, request: web.Request) -> web.Response:
        key = await self._gate.authenticate(request)
        self._notifications.drop(key.api_key, _ids(request.query.get("ids", "")))
        return _json(None)


def _ids(text: str) -> set[int]:
    """The ids of ``ids=1,2,3``; 400 for anything but comma-separated whole numbers."""
    parts = [part for part in text.split(",") if part] if text else []
    ids = {whole_number(part, max_digits=_ID_DIGITS) for part in parts[: _IDS_LIMIT + 1]}
    if None in ids or len(parts) > _IDS_LIMIT:
        raise ApiError(
            f"invalid ids: up to {_IDS_LIMIT} comma-separated notification ids", status=HTTPStatus.BAD_REQUEST
        )
    return {number for number in ids if number is not None}


def _json(body: object) -> web.Response:
    return web.Response(body=JSON_ENCODER.encode(body), content_type="application/json")
