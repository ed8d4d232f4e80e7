"""Sans-I/O core: protocol state machines, book hashing and sync, matching. Bytes in, events out."""
