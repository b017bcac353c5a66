import numpy as np
import pytest

from skattr.datasets import make_synthetic

# One encoder: the ensemble that n_encoders="auto" trains on short recordings has tests of its own.
FAST = dict(max_iter=30, batch_size=64, hidden_units=16, n_encoders=1, device="cpu",
            random_state=0)


@pytest.fixture(scope="session")
def synthetic():
    """A small synthetic benchmark: X (600, 20), y (600, 2), latents, ground truth (4, 20)."""
    return make_synthetic(
        n_samples=600, n_time_latents=2, n_behavior_latents=2, n_time_neurons=10,
        n_behavior_neurons=10, random_state=0,
    )


@pytest.fixture
def rng():
    return np.random.default_rng(0)
