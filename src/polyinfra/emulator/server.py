"""The emulator's one-port aiohttp application.

One port serves what the venue spreads over hosts: the public CLOB REST API
(:mod:`polyinfra.emulator.rest_api`), the market and user channels at ``/ws/market`` and
``/ws/user`` (:mod:`polyinfra.emulator.market_channel`), plus control endpoints that are not part
of the venue:

* ``GET /_emulator/faults``: the fault knobs as JSON; ``POST /_emulator/faults`` with a JSON object
  of knobs to change (all-or-nothing; 400 ``{"error": ...}`` for an unknown knob or a bad value),
  answered with the knobs after the change;
* ``POST /_emulator/pause`` and ``POST /_emulator/resume``: stop and restart the market simulator,
  answered with ``{"paused": bool}``;
* ``GET /_emulator/stats``: counters (connections, frames sent / dropped / duplicated, HTTP faults
  injected, simulator steps, ...).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol

import msgspec
from aiohttp import web

from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.market_channel import ChannelSettings, ChannelStats, MarketChannel, UserChannel
from polyinfra.emulator.rest_api import DEFAULT_PAGE_SIZE, RestApi, RestStats
from polyinfra.errors import InvalidValueError

__all__ = ["EmulatorServer", "EmulatorStats", "SimulatorControl"]

_encode = msgspec.json.Encoder().encode


class SimulatorControl(Protocol):
    """What the control endpoints need from whatever drives the market simulator."""

    @property
    def paused(self) -> bool: ...

    @property
    def steps(self) -> int:
        """Simulator actions taken so far."""
        ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...


@dataclass(frozen=True, slots=True)
class EmulatorStats:
    """Live counters of the servers (each part keeps counting after you read it)."""

    http: RestStats
    market_channel: ChannelStats
    user_channel: ChannelStats

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {
            "http": dataclasses.asdict(self.http),
            "market_channel": dataclasses.asdict(self.market_channel),
            "user_channel": dataclasses.asdict(self.user_channel),
        }


class EmulatorServer:
    """The aiohttp application (:attr:`app`) over one exchange; run it with any aiohttp runner.

    ``clock_ms`` must be the exchange's clock. The application closes every socket when it shuts
    down; call :meth:`detach` once it has, to stop listening to the exchange.
    """

    def __init__(
        self,
        exchange: Exchange,
        *,
        faults: FaultConfig,
        clock_ms: Callable[[], int],
        simulator: SimulatorControl,
        channel_settings: ChannelSettings | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        settings = channel_settings or ChannelSettings()
        self._faults = faults
        self._simulator = simulator
        self._rest = RestApi(exchange, faults=faults, clock_ms=clock_ms, page_size=page_size)
        self._market_channel = MarketChannel(exchange, faults, settings)
        self._user_channel = UserChannel(faults, settings)
        self.stats = EmulatorStats(
            http=self._rest.stats,
            market_channel=self._market_channel.stats,
            user_channel=self._user_channel.stats,
        )
        self.app = web.Application()
        self.app.add_routes(self._rest.routes())
        self.app.add_routes(
            [
                web.get("/ws/market", self._market_channel.handle),
                web.get("/ws/user", self._user_channel.handle),
                web.get("/_emulator/faults", self._get_faults),
                web.post("/_emulator/faults", self._patch_faults),
                web.post("/_emulator/pause", self._pause),
                web.post("/_emulator/resume", self._resume),
                web.get("/_emulator/stats", self._get_stats),
            ]
        )
        self.app.on_shutdown.append(self._close_sockets)

    def detach(self) -> None:
        """Stop listening to the exchange."""
        self._market_channel.detach()

    async def _close_sockets(self, app: web.Application) -> None:
        await self._market_channel.close_all()
        await self._user_channel.close_all()

    async def _get_faults(self, request: web.Request) -> web.Response:
        return _json(self._faults.as_dict())

    async def _patch_faults(self, request: web.Request) -> web.Response:
        try:
            changes = msgspec.json.decode(await request.read(), type=dict[str, object])
            self._faults.update(changes)
        except msgspec.DecodeError as exc:
            return _json({"error": f"expected a JSON object of fault knobs: {exc}"}, status=HTTPStatus.BAD_REQUEST)
        except InvalidValueError as exc:
            return _json({"error": str(exc)}, status=HTTPStatus.BAD_REQUEST)
        return _json(self._faults.as_dict())

    async def _pause(self, request: web.Request) -> web.Response:
        self._simulator.pause()
        return _json({"paused": self._simulator.paused})

    async def _resume(self, request: web.Request) -> web.Response:
        self._simulator.resume()
        return _json({"paused": self._simulator.paused})

    async def _get_stats(self, request: web.Request) -> web.Response:
        body: dict[str, object] = dict(self.stats.as_dict())
        body["simulator"] = {"paused": self._simulator.paused, "steps": self._simulator.steps}
        return _json(body)


def _json(body: object, *, status: int = HTTPStatus.OK) -> web.Response:
    return web.Response(body=_encode(body), status=status, content_type="application/json")
