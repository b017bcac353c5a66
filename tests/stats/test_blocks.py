import copy

import numpy as np
import pytest
import torch

from skattr import xCEBRAAttributor
from skattr.attribution import attribute
from skattr.stats import block_map, blocks

from ..conftest import FAST


@pytest.fixture(scope="module")
def model(synthetic):
    X, y, _, _ = synthetic
    return xCEBRAAttributor(2, 2, **{**FAST, "max_iter": 60}).fit(X, y)


def test_blocks_follow_the_fitted_objectives(model, synthetic):
    assert {k: v.tolist() for k, v in blocks(model).items()} == {"behavior": [0, 1],
                                                                 "time": [2, 3]}
    X, _, _, _ = synthetic
    without_y = xCEBRAAttributor(2, 2, **FAST).fit(X)
    assert {k: v.tolist() for k, v in blocks(without_y).items()} == {"time": [0, 1, 2, 3]}


def test_block_map_is_the_mean_norm_of_each_blocks_rows(model, synthetic):
    X, _, _, _ = synthetic
    # (T, K, N), signed and raw: block maps take the norm of each block's raw rows.
    # The exact inverse (block_map's default), not the estimator's damped one.
    per_sample = model.attribute(X, return_per_sample=True, row_norm=None, damping=0.0)
    expected = np.stack([np.linalg.norm(per_sample[:, rows], axis=1).mean(0)
                         for rows in ([0, 1], [2, 3])])
    np.testing.assert_allclose(block_map(model, X, normalize=False), expected, rtol=1e-10)
    # Normalised: each block's row over its mean, so that the arbitrary scale of a block drops.
    np.testing.assert_allclose(block_map(model, X), expected / expected.mean(1, keepdims=True),
                               rtol=1e-10)


class _Rotated(torch.nn.Module):
    """An encoder followed by an orthogonal mixing of the behaviour block's two latents."""

    def __init__(self, encoder, angle):
        super().__init__()
        self.encoder = encoder
        c, s = np.cos(angle), np.sin(angle)
        mixing = torch.eye(4)
        mixing[:2, :2] = torch.tensor([[c, -s], [s, c]])
        self.register_buffer("mixing", mixing)

    def forward(self, inputs):
        return self.encoder(inputs) @ self.mixing.T


def test_block_map_does_not_change_when_a_block_is_mixed_orthogonally(model, synthetic):
    # Rows of one block identified up to rotation: single rows change, the block map does not.
    X, _, _, _ = synthetic
    inputs = torch.tensor(X, dtype=torch.float64)
    encoder = copy.deepcopy(model.module_).double()
    rotated = _Rotated(encoder, 0.7).double()
    plain = attribute(encoder, inputs, return_per_sample=True)
    mixed = attribute(rotated, inputs, return_per_sample=True)
    assert not np.allclose(plain[:, :2], mixed[:, :2], atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(mixed[:, :2], axis=1),
                               np.linalg.norm(plain[:, :2], axis=1), rtol=1e-8)
