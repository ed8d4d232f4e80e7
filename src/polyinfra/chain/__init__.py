"""On-chain operations from an EOA: the transaction sender (:mod:`~polyinfra.chain.sender`), its nonce book
(:mod:`~polyinfra.chain.nonces`) and the Polymarket operations over them (:mod:`~polyinfra.chain.operations`)."""
