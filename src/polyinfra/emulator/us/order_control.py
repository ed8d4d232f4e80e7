"""The emulator's control endpoints for US order entry (not part of the venue), on its REST port.

* ``GET /_emulator/us/orders/faults``: the knobs of :class:`~polyinfra.emulator.us.order_faults.UsOrderFaults`
  as JSON; ``POST`` with a JSON object of knobs to change (all-or-nothing; 400 ``{"error": ...}`` for an
  unknown knob or a bad value), answered with the knobs after the change;
* ``POST /_emulator/us/orders/drop``: abort every open order and position stream with UNAVAILABLE, answered
  with ``{"dropped": n}``;
* ``POST /_emulator/us/instruments/state`` with ``{"symbol": ..., "state": "HALTED"}`` moves an instrument to
  that state now (published as an instrument state change; orders for a book that is not OPEN are refused),
  or at unix time ``"at_s"`` when given; answered with ``{"symbol", "state"}`` (the state now).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

import msgspec
from aiohttp import web

from polyinfra.core.us_instruments import UsInstrumentState
from polyinfra.emulator.knob_routes import json_response, knob_routes
from polyinfra.emulator.us.order_engine import UsOrderEngine
from polyinfra.emulator.us.order_entry_service import StreamHub
from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["order_routes"]


class _StateChange(msgspec.Struct, forbid_unknown_fields=True):
    symbol: str
    state: str
    at_s: float | None = None


_STATE_CHANGE: Final[JsonDecoder[_StateChange]] = JsonDecoder(_StateChange, what="instrument state change")


def order_routes(engine: UsOrderEngine, hub: StreamHub) -> list[web.RouteDef]:
    async def drop(request: web.Request) -> web.Response:
        return json_response({"dropped": hub.drop_all()})

    async def set_state(request: web.Request) -> web.Response:
        try:
            change = _STATE_CHANGE.decode(await request.read())
            if change.state not in UsInstrumentState.__members__:
                raise InvalidValueError("unknown instrument state", known=sorted(UsInstrumentState.__members__))
            state = UsInstrumentState[change.state]
            if change.at_s is None:
                engine.set_state(change.symbol, state)
            else:
                engine.schedule_state(change.symbol, state, change.at_s)
        except (MalformedMessageError, InvalidValueError) as exc:
            return json_response({"error": str(exc)}, status=HTTPStatus.BAD_REQUEST)
        instrument = engine.instrument(change.symbol)
        return json_response({"symbol": change.symbol, "state": instrument.state.name})

    return [
        *knob_routes("/_emulator/us/orders/faults", engine.faults, what="US order-entry knobs"),
        web.post("/_emulator/us/orders/drop", drop),
        web.post("/_emulator/us/instruments/state", set_state),
    ]
