"""The emulated Polymarket US exchange: its token endpoint (:mod:`.token_endpoint`) on the REST port, and its
gRPC services (:mod:`.grpc_server`) on their own port in the same process."""
