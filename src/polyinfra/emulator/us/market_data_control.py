"""The emulator's control endpoints for US market data (not part of the venue), on its REST port.

* ``GET /_emulator/us/market-data/faults``: the knobs of
  :class:`~polyinfra.emulator.us.market_data_faults.UsMarketDataFaults` as JSON; ``POST`` with a JSON object
  of knobs to change (all-or-nothing; 400 ``{"error": ...}`` for an unknown knob or a bad value), answered
  with the knobs after the change;
* ``POST /_emulator/us/market-data/drop``: abort every open market-data stream with UNAVAILABLE, answered
  with ``{"dropped": n}``.
"""

from __future__ import annotations

from aiohttp import web

from polyinfra.emulator.knob_routes import json_response, knob_routes
from polyinfra.emulator.us.market_data import MarketDataService
from polyinfra.emulator.us.market_data_faults import UsMarketDataFaults

__all__ = ["market_data_routes"]


def market_data_routes(service: MarketDataService, faults: UsMarketDataFaults) -> list[web.RouteDef]:
    async def drop(request: web.Request) -> web.Response:
        return json_response({"dropped": service.drop_all()})

    return [
        *knob_routes("/_emulator/us/market-data/faults", faults, what="US market-data knobs"),
        web.post("/_emulator/us/market-data/drop", drop),
    ]
