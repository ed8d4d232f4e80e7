"""The emulated Polygon: contracts as Python state machines over the CLOB emulator's balances
(:mod:`~polyinfra.emulator.chain.contracts`), a node with a pool, blocks, receipts and fault knobs
(:mod:`~polyinfra.emulator.chain.node`), and its JSON-RPC and control routes
(:mod:`~polyinfra.emulator.chain.rpc_api`)."""
