import os
import subprocess
import sys

import pytest


def _run(code: str, **env) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", code], env=environment, check=True,
                          capture_output=True, text=True).stdout.split()


@pytest.mark.parametrize(("env", "expected"), [
    ({}, ["PASSIVE", "True"]),                                # set before torch loads
    ({"OMP_WAIT_POLICY": "ACTIVE"}, ["ACTIVE", "False"]),      # the user's choice is kept
    ({"OMP_WAIT_POLICY": "passive"}, ["passive", "True"]),
])
def test_importing_skattr_first_makes_openmp_wait_passively(env, expected):
    code = "import os, skattr; print(os.environ['OMP_WAIT_POLICY'], skattr._threads.PASSIVE_WAIT)"
    assert _run(code, **env) == expected


def test_after_torch_is_loaded_the_policy_is_known_not_to_apply():
    code = "import torch, skattr; print(skattr._threads.PASSIVE_WAIT)"
    assert _run(code) == ["False"]
