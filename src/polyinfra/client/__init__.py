"""The client facade: :class:`~polyinfra.client.async_client.AsyncPolymarket` and its blocking twin
:class:`~polyinfra.client.blocking.Polymarket`, with their settings, wallets and result types."""
