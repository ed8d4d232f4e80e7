"""The emulator's control endpoints for US DropCopy (not part of the venue), on its REST port.

* ``GET /_emulator/us/dropcopy/faults``: the knobs of
  :class:`~polyinfra.emulator.us.dropcopy_faults.UsDropCopyFaults` as JSON; ``POST`` with a JSON object of
  knobs to change (all-or-nothing; 400 ``{"error": ...}`` for an unknown knob or a bad value);
* ``POST /_emulator/us/dropcopy/generate`` ``{"executions": N, "symbols": [...], "seed": S}``: N synthetic
  fills, each with its trade report and position change, through the history's listener methods; answered
  with ``{"first": n, "executions": N}`` (ids ``exec-<n>``, ``trade-<n>``);
* ``POST /_emulator/us/dropcopy/bust`` ``{"trade_id": ...}``: the trade again in state BUSTED (404 unknown);
* instrument state changes come from the order engine (``POST /_emulator/us/instruments/state``), which
  reports them to the history like everything else the exchange does;
* ``POST /_emulator/us/dropcopy/expire-tokens``: every resume token issued so far is refused from now on;
* ``POST /_emulator/us/dropcopy/drop``: abort every open DropCopy stream with UNAVAILABLE (``{"dropped": n}``).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

import msgspec
from aiohttp import web

from polyinfra.emulator.knob_routes import json_response, knob_routes
from polyinfra.emulator.us.dropcopy_history import DropCopyHistory
from polyinfra.emulator.us.dropcopy_service import DropCopyService
from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["dropcopy_routes"]


class _Generate(msgspec.Struct, forbid_unknown_fields=True):
    executions: int
    symbols: list[str] = []
    seed: int = 0


class _Bust(msgspec.Struct, forbid_unknown_fields=True):
    trade_id: str


_GENERATE: Final[JsonDecoder[_Generate]] = JsonDecoder(_Generate, what="DropCopy generate request")
_BUST: Final[JsonDecoder[_Bust]] = JsonDecoder(_Bust, what="DropCopy bust request")


def dropcopy_routes(history: DropCopyHistory, service: DropCopyService) -> list[web.RouteDef]:
    async def generate(request: web.Request) -> web.Response:
        try:
            asked = _GENERATE.decode(await request.read())
            first = history.generate(asked.executions, symbols=asked.symbols, seed=asked.seed)
        except (MalformedMessageError, InvalidValueError) as exc:
            return json_response({"error": str(exc)}, status=HTTPStatus.BAD_REQUEST)
        return json_response({"first": first, "executions": asked.executions})

    async def bust(request: web.Request) -> web.Response:
        try:
            asked = _BUST.decode(await request.read())
        except MalformedMessageError as exc:
            return json_response({"error": str(exc)}, status=HTTPStatus.BAD_REQUEST)
        if not history.bust(asked.trade_id):
            return json_response({"error": "unknown trade"}, status=HTTPStatus.NOT_FOUND)
        return json_response({"busted": asked.trade_id})

    async def expire_tokens(request: web.Request) -> web.Response:
        return json_response({"epoch": history.expire_tokens()})

    async def drop(request: web.Request) -> web.Response:
        return json_response({"dropped": service.drop_all()})

    prefix = "/_emulator/us/dropcopy"
    return [
        *knob_routes(f"{prefix}/faults", history.faults, what="US DropCopy knobs"),
        web.post(f"{prefix}/generate", generate),
        web.post(f"{prefix}/bust", bust),
        web.post(f"{prefix}/expire-tokens", expire_tokens),
        web.post(f"{prefix}/drop", drop),
    ]
