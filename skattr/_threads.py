"""OpenMP threads that sleep instead of spinning: fits side by side must not collapse.

torch's CPU kernels run on OpenMP threads (GNU OpenMP in the PyPI wheels). Between parallel
regions those threads *spin* by default, holding their core. Two processes that each keep two
spinning threads on two cores (two notebooks, a test run next to a fit, joblib workers) then
take each other's cores in turns, and a fit beside any busy process waits for its descheduled
thread at every parallel region. Measured on 2 cores (``benchmarks/threads.py``,
``docs/benchmarks.md``): two 300-step fits side by side took 1.67x the time of the same fits
one after the other with spinning threads and 0.64x with passive ones; a fit beside a busy
core 2.37x and 1.19x the time of a fit alone. Alone, the training loop is about 18%
slower with passive threads (a sleeping thread wakes more slowly).

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
