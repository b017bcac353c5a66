"""OpenMP threads that sleep instead of spinning: fits side by side must not collapse.

torch's CPU kernels run on OpenMP threads (GNU OpenMP in the PyPI wheels). Between parallel
regions those threads *spin* by default, holding their core. Two processes that each keep two
spinning threads on two cores (two notebooks, a test run next to a fit, joblib workers) then
take each other's cores in turns: measured on 2 cores, two 300-step fits side by side took
1.45x the time of the same fits one after the other, while with passive waiting they took
0.56x, and a fit alone was as fast either way (``benchmarks/threads.py``,
``docs/benchmarks.md``).

OpenMP reads ``OMP_WAIT_POLICY`` once, when torch loads it, so skattr sets the default
``PASSIVE`` here, before it imports torch. It applies when skattr is imported before torch
(and to every process started from this one, e.g. joblib's workers); a value the user set is
kept. After ``import torch`` it is too late: set ``OMP_WAIT_POLICY=PASSIVE`` in the
environment then.
"""

from __future__ import annotations

import os
import sys

#: Whether this process's OpenMP threads wait passively: the policy was set before torch was
#: loaded (by the user, or here).
PASSIVE_WAIT: bool = (
    os.environ.get("OMP_WAIT_POLICY", "PASSIVE").upper() == "PASSIVE"
    and ("torch" not in sys.modules or "OMP_WAIT_POLICY" in os.environ)
)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
