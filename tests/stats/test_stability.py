import numpy as np
import pytest

from skattr import xCEBRAAttributor
from skattr.metrics import attribution_auc
from skattr.stats import agreement, seed_stability

from ..conftest import FAST


def test_agreement_is_one_for_proportional_maps_and_low_for_unrelated_ones(rng):
    base = rng.uniform(size=(1, 2, 30))
    assert np.allclose(agreement(np.concatenate([base, 3 * base, 0.5 * base])), 1.0)
    assert np.all(np.abs(agreement(rng.uniform(size=(40, 2, 30)))) < 0.1)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        agreement(base)


def test_seed_stability_summarises_the_fits(synthetic):
    X, y, _, truth = synthetic
    result = seed_stability(xCEBRAAttributor(2, 2, **FAST), X, y, n_seeds=3, ground_truth=truth,
                            random_state=0, threads=1)
    assert result.block_maps.shape == (3, 2, 20) and result.block_names == ["behavior", "time"]
    np.testing.assert_allclose(result.mean, result.block_maps.mean(0))
    np.testing.assert_allclose(result.auc, [attribution_auc(truth, m) for m in result.row_maps])
    assert result.auc_std == pytest.approx(result.auc.std())
    assert len(set(result.seeds)) == 3 and result.agreement.shape == (2,)
