"""The emulator's control endpoints for US market data (not part of the venue), on its REST port.

* ``GET /_emulator/us/market-data/faults``: the knobs of
  :class:`~polyinfra.emulator.us.market_data_faults.UsMarketDataFaults` as JSON; ``POST`` with a JSON object
  of knobs to change (all-or-nothing; 400 ``{"error": ...}`` for an unknown knob or a bad value), answered
  with the knobs after the change;
* ``POST /_emulator/us/market-data/drop``: abort every open market-data stream with UNAVAILABLE, answered
  with ``{"dropped": n}``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

import msgspec
from aiohttp import web

from polyinfra.emulator.us.market_data import MarketDataService
from polyinfra.emulator.us.market_data_faults import UsMarketDataFaults
from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["market_data_routes"]

_KNOB_CHANGES: Final[JsonDecoder[dict[str, object]]] = JsonDecoder(dict[str, object], what="US market-data knobs")
_encode: Final = msgspec.json.Encoder().encode


def market_data_routes(service: MarketDataService, faults: UsMarketDataFaults) -> list[web.RouteDef]:
    async def get_faults(request: web.Request) -> web.Response:
        return _json(faults.as_dict())

    async def set_faults(request: web.Request) -> web.Response:
        try:
            faults.update(_KNOB_CHANGES.decode(await request.read()))
        except (MalformedMessageError, InvalidValueError) as exc:
            return _json({"error": str(exc)}, status=HTTPStatus.BAD_REQUEST)
        return _json(faults.as_dict())

    async def drop(request: web.Request) -> web.Response:
        return _json({"dropped": service.drop_all()})

    return [
        web.get("/_emulator/us/market-data/faults", get_faults),
        web.post("/_emulator/us/market-data/faults", set_faults),
        web.post("/_emulator/us/market-data/drop", drop),
    ]


def _json(body: object, *, status: int = HTTPStatus.OK) -> web.Response:
    return web.Response(body=_encode(body), status=status, content_type="application/json")
