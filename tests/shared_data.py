"""Where the project's shared fact sheets and real venue captures live: ``../shared`` beside the
checkout (as CI lays it out), or ``POLYINFRA_SHARED_DIR``."""

from __future__ import annotations

import os
from pathlib import Path

SHARED = Path(os.environ.get("POLYINFRA_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
CAPTURES = SHARED / "captures"
NAUTILUS_CAPTURES = CAPTURES / "nautilus"

if not NAUTILUS_CAPTURES.is_dir():
    raise RuntimeError(f"the shared captures are missing: {NAUTILUS_CAPTURES} (set POLYINFRA_SHARED_DIR)")
