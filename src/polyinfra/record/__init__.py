"""The recorder: raw frames, REST snapshots and the connection lifecycle of the live clients into a
sink (SQLite, PostgreSQL or NATS JetStream), a coverage manifest that publishes its own gaps, exact replay,
books at any moment from the nearest checkpoint, and Parquet export.

Modules: :mod:`~polyinfra.record.records` (the model), :mod:`~polyinfra.record.tap` and
:mod:`~polyinfra.record.recorder` (recording), :mod:`~polyinfra.record.book_checkpoint` and
:mod:`~polyinfra.record.book_digest` (checkpoints), :mod:`~polyinfra.record.sink` (the contract),
:mod:`~polyinfra.record.sqlite_sink`, :mod:`~polyinfra.record.postgres_sink` (with
:mod:`~polyinfra.record.stored_rows`, what the two share), :mod:`~polyinfra.record.jetstream_sink`
(needs nats-py: the ``nats`` extra), :mod:`~polyinfra.record.sink_urls`,
:mod:`~polyinfra.record.coverage`, :mod:`~polyinfra.record.replay`, :mod:`~polyinfra.record.book_at`,
:mod:`~polyinfra.record.export` (needs pyarrow: the ``parquet`` extra); US exchange market-data tapes:
:mod:`~polyinfra.record.us_subscription` (what a subscription record keeps) and :mod:`~polyinfra.record.us_replay`.
"""
