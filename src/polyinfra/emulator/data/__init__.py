"""The emulator's Gamma API and Data API (v1 and v2), served from the simulated world.

:mod:`~polyinfra.emulator.data.ledger` derives every wallet's activity from the matching engine's
fills; :mod:`~polyinfra.emulator.data.gamma_api` lists the markets grouped in events with tags;
:mod:`~polyinfra.emulator.data.data_v1` and :mod:`~polyinfra.emulator.data.data_v2` answer the Data
API's two generations; :mod:`~polyinfra.emulator.data.edge` enforces their documented rate limits
and the knobs of :mod:`~polyinfra.emulator.data.knobs`; :mod:`~polyinfra.emulator.data.apis` puts
them on the emulator's port under ``/gamma`` and ``/data-api``.
"""
