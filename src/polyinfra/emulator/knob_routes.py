"""The ``GET``/``POST`` control route pair that every emulator knob object gets, and its JSON answer.

A knob object (a :class:`~polyinfra.emulator.knobs.ValidatedKnobs` dataclass with ``as_dict``) is read
with ``GET PATH`` and changed with ``POST PATH`` and a JSON object of knobs: all-or-nothing, answered
with the knobs after the change, or 400 ``{"error": ...}`` for a body that is not a JSON object, an
unknown knob or a bad value (then nothing changes). One factory keeps that contract the same for the
order-entry, market-data, DropCopy and Data API knobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Final, Protocol

import msgspec
from aiohttp import web

from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["KnobObject", "json_response", "knob_routes"]

_encode: Final = msgspec.json.Encoder().encode


class KnobObject(Protocol):
    """What the routes need of a knob object: its knobs as JSON-ready data and a validated update."""

    def as_dict(self) -> dict[str, object]: ...

    def update(self, changes: Mapping[str, object]) -> None: ...


def knob_routes(path: str, knobs: KnobObject, *, what: str) -> list[web.RouteDef]:
    """``GET path`` and ``POST path`` for ``knobs``; ``what`` names the knobs in a malformed-body error."""
    changes: JsonDecoder[dict[str, object]] = JsonDecoder(dict[str, object], what=what)

    async def get_knobs(request: web.Request) -> web.Response:
        return json_response(knobs.as_dict())

    async def set_knobs(request: web.Request) -> web.Response:
        try:
            knobs.update(changes.decode(await request.read()))
        except (MalformedMessageError, InvalidValueError) as exc:
            return json_response({"error": str(exc)}, status=HTTPStatus.BAD_REQUEST)
        return json_response(knobs.as_dict())

    return [web.get(path, get_knobs), web.post(path, set_knobs)]


def json_response(body: object, *, status: int = HTTPStatus.OK) -> web.Response:
    """``body`` as an ``application/json`` answer."""
    return web.Response(body=_encode(body), status=status, content_type="application/json")
