"""The emulated Polymarket US exchange: its token endpoint (:mod:`.token_endpoint`) so far."""
