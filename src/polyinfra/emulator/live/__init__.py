"""The emulator's live-data side: the RTDS socket and the simulated sources that feed it."""
