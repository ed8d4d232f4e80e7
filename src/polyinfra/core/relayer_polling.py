"""How a relayed transaction is followed, by default.

The relayer accepts a transaction at once and mines it later, so its sender polls the transaction's
state until it is final (:class:`~polyinfra.chain.relayer.RelayerSender`). These defaults are shared by
the sender and the client settings that override them (``relayer_poll_interval_s``,
``relayer_max_polls``), which must not load the sender's I/O to know them.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_RELAYER_MAX_POLLS", "DEFAULT_RELAYER_POLL_INTERVAL_S"]

DEFAULT_RELAYER_POLL_INTERVAL_S: Final = 2.0
"""Seconds between two polls of a relayed transaction's state, unless told otherwise."""
DEFAULT_RELAYER_MAX_POLLS: Final = 100
"""Polls of a relayed transaction's state before it counts as timed out, unless told otherwise."""
