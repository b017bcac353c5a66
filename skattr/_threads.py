"""OpenMP threads that sleep instead of spinning: fits side by side must not collapse.

torch's CPU kernels run on OpenMP threads (GNU OpenMP in the PyPI wheels). Between parallel
regions those threads *spin* by default, holding their core. Two processes that each keep two
spinning threads on two cores (two notebooks, a test run next to a fit, joblib workers) then
take each other's cores in turns, and a fit beside any busy process waits for its descheduled
thread at every parallel region. With passive waiting, fits side by side share the cores; a
fit alone pays a little, since a sleeping thread wakes more slowly (the measurements, with
their commands, are in ``docs/benchmarks.md``; ``benchmarks/threads.py`` repeats them).

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
