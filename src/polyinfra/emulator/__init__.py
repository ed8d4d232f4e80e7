"""The local exchange emulator: speaks the venue's protocols on 127.0.0.1, with fault knobs."""
