"""The emulator's Gamma API and Data API on its one port: Gamma under :data:`GAMMA_PREFIX`, the Data
API under :data:`DATA_PREFIX` (the venue's two hosts; the emulator's JSON line announces them as the
``"gamma"`` and ``"data"`` URLs), each behind its :class:`~polyinfra.emulator.data.edge.HostEdge`.

Control endpoints (not the venue's):

* ``GET /_emulator/data/knobs``: the knobs of :mod:`~polyinfra.emulator.data.knobs` as JSON;
  ``POST`` a JSON object of knobs to change (all-or-nothing, 400 ``{"error": ...}`` for a bad one);
* ``GET /_emulator/data/stats``: per host the rate-limit counters (mode, scale, per scope the
  requests, ``over_limit``, throttled, rejected and each window's limit and peak);
* ``POST /_emulator/data/redeem`` with ``{"wallet": "0x...", "condition_id": "0x..."}``: the wallet
  redeems its tokens of a resolved market (the REDEEM rows it adds are answered).
* ``POST /_emulator/data/transfer`` with ``{"sender": "0x...", "receiver": "0x...", "token_id": "...",
  "size_micros": n}``: shares move between wallets as a token transfer moves them; positions follow, the
  activity feeds list nothing (:meth:`~polyinfra.emulator.data.ledger.WalletLedger.transfer`).
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Final

import msgspec
from aiohttp import web

from polyinfra.emulator.data.cursors import CursorSigner
from polyinfra.emulator.data.data_v1 import DataApiV1
from polyinfra.emulator.data.data_v2 import DataApiV2
from polyinfra.emulator.data.edge import DATA_SCOPES, GAMMA_SCOPES, HostEdge, data_error, gamma_error, v2_error
from polyinfra.emulator.data.gamma_api import GammaApi
from polyinfra.emulator.data.knobs import DataApiKnobs
from polyinfra.emulator.data.ledger import WalletLedger
from polyinfra.emulator.data.views import DataView
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.knob_routes import json_response, knob_routes
from polyinfra.emulator.live.rtds_sources import RtdsSources
from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["DATA_PREFIX", "GAMMA_PREFIX", "DataApis"]

GAMMA_PREFIX: Final = "/gamma"
DATA_PREFIX: Final = "/data-api"


class _Redeem(msgspec.Struct, forbid_unknown_fields=True):
    wallet: str
    condition_id: str


_REDEEM: Final[JsonDecoder[_Redeem]] = JsonDecoder(_Redeem, what="redeem request")


class _Transfer(msgspec.Struct, forbid_unknown_fields=True):
    sender: str
    receiver: str
    token_id: str
    size_micros: int


_TRANSFER: Final[JsonDecoder[_Transfer]] = JsonDecoder(_Transfer, what="transfer request")


class DataApis:
    """Gamma and the Data API over ``exchange``; ``trader_address`` names an API key's wallet, ``clock_ms``
    is the exchange's clock (:attr:`view`'s ``clock_ms`` may be swapped by a test to move the Data
    API's time), ``faults`` gives the rate-limit mode and scale."""

    def __init__(
        self,
        exchange: Exchange,
        *,
        faults: FaultConfig,
        rtds_sources: RtdsSources,
        trader_address: Callable[[str], str | None],
        clock_ms: Callable[[], int],
    ) -> None:
        self.knobs = DataApiKnobs()
        self.ledger = WalletLedger(exchange, trader_address=trader_address, clock_ms=clock_ms)
        self.view = DataView(exchange, self.ledger, self.knobs, clock_ms=clock_ms)
        self._gamma = GammaApi(exchange, rtds_sources=rtds_sources, ledger=self.ledger)
        self._v1 = DataApiV1(self.view)
        self._v2 = DataApiV2(self.view, CursorSigner())
        self.gamma_edge = HostEdge(GAMMA_PREFIX, GAMMA_SCOPES, faults=faults, knobs=self.knobs, refusal=_gamma_refusal)
        self.data_edge = HostEdge(DATA_PREFIX, DATA_SCOPES, faults=faults, knobs=self.knobs, refusal=_data_refusal)
        self._faults = faults

    def close(self) -> None:
        self.ledger.close()

    def routes(self) -> list[web.RouteDef]:
        routes = [
            web.route(method, GAMMA_PREFIX + path, self.gamma_edge.wrap(handler))
            for method, path, handler in self._gamma.routes()
        ]
        routes += [
            web.route(method, DATA_PREFIX + path, self.data_edge.wrap(handler))
            for method, path, handler in (*self._v1.routes(), *self._v2.routes())
        ]
        routes += [
            *knob_routes("/_emulator/data/knobs", self.knobs, what="data API knobs"),
            web.get("/_emulator/data/stats", self._stats),
            web.post("/_emulator/data/redeem", self._redeem),
            web.post("/_emulator/data/transfer", self._transfer),
        ]
        return routes

    def stats(self) -> dict[str, object]:
        """Per host, the rate-limit mode, scale and counters (as ``GET /_emulator/data/stats``)."""
        result: dict[str, object] = {}
        for name, edge in (("gamma", self.gamma_edge), ("data", self.data_edge)):
            edge.limiter.scale = self._faults.rate_limit_scale
            result[name] = {"mode": self._faults.rate_limits.value, **edge.limiter.as_dict()}
        return result

    async def _stats(self, request: web.Request) -> web.Response:
        return json_response(self.stats())

    async def _redeem(self, request: web.Request) -> web.Response:
        try:
            asked = _REDEEM.decode(await request.read())
            rows = self.ledger.redeem(asked.wallet, asked.condition_id)
        except (MalformedMessageError, InvalidValueError) as exc:
            return json_response({"error": str(exc)}, status=HTTPStatus.BAD_REQUEST)
        return json_response({"redeemed": [{"token_id": row.token_id, "size_micros": row.size_micros} for row in rows]})

    async def _transfer(self, request: web.Request) -> web.Response:
        try:
            asked = _TRANSFER.decode(await request.read())
            rows = self.ledger.transfer(asked.sender, asked.receiver, asked.token_id, asked.size_micros)
        except (MalformedMessageError, InvalidValueError) as exc:
            return json_response({"error": str(exc)}, status=HTTPStatus.BAD_REQUEST)
        return json_response({"transaction_hash": rows[0].transaction_hash})


def _gamma_refusal(message: str, status: int, retryable: bool, path: str) -> web.Response:
    return gamma_error(
        message, status, kind="rate limit error" if status == HTTPStatus.TOO_MANY_REQUESTS else "internal error"
    )


def _data_refusal(message: str, status: int, retryable: bool, path: str) -> web.Response:
    if path.startswith("/v2/"):
        code = "RATE_LIMITED" if status == HTTPStatus.TOO_MANY_REQUESTS else "SERVICE_UNAVAILABLE"
        return v2_error(message, status, code=code, retryable=retryable)
    return data_error(message, status)
