"""The recorder: raw frames, REST snapshots and the connection lifecycle of the live clients into a
sink (SQLite or PostgreSQL today), a coverage manifest that publishes its own gaps, and exact replay.

Modules: :mod:`~polyinfra.record.records` (the model), :mod:`~polyinfra.record.tap` and
:mod:`~polyinfra.record.recorder` (recording), :mod:`~polyinfra.record.sink` (the contract),
:mod:`~polyinfra.record.sqlite_sink`, :mod:`~polyinfra.record.postgres_sink` (with
:mod:`~polyinfra.record.stored_rows`, what the two share), :mod:`~polyinfra.record.sink_urls`,
:mod:`~polyinfra.record.coverage`, :mod:`~polyinfra.record.replay`.
"""
