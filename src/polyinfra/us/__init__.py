"""Clients of the Polymarket US exchange: access tokens (:mod:`.token_manager`) and gRPC auth (:mod:`.grpc_auth`)."""
