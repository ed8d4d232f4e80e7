"""Live data beyond the order books: wallet activity, prices and comments (RTDS; PolyBolt next)."""
