"""The fuzz suite's fixed budget.

Every property test here runs under the ``fuzz`` Hypothesis profile: a fixed number of examples
(``POLYINFRA_FUZZ_EXAMPLES``, 200 by default), no per-example deadline (a loaded CI machine is
slow, not wrong), and under CI the same derandomized examples every run, so a red run reproduces.
Locally each run explores new inputs; raise the budget for a longer hunt:
``POLYINFRA_FUZZ_EXAMPLES=20000 python -m pytest tests/fuzz``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("POLYINFRA_FUZZ_EXAMPLES", "200")),
    deadline=None,
    derandomize=os.environ.get("CI") == "true",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("fuzz")
