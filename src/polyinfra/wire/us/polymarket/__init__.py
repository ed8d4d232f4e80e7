"""Generated code for the ``polymarket`` proto namespace; see ``polyinfra.wire.us``."""
