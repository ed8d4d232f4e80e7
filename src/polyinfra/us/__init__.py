"""Clients of the Polymarket US exchange: access tokens (:mod:`.token_manager`), gRPC auth (:mod:`.grpc_auth`),
reference data (:mod:`.client`) and the venue's proto bundle (:mod:`.proto_bundle`)."""
