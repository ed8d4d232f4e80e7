"""Generated code for ``polymarket.v1``; see ``polyinfra.wire.us``."""
