"""The emulator's US exchange: a gRPC server (its own port, same process) speaking ``polymarket.v1``."""
