import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from skattr.metrics import attribution_auc, check_ground_truth


def test_auc_is_sklearns_pooled_auc(rng):
    truth = rng.random((4, 9)) > 0.5
    scores = rng.random((4, 9))
    assert attribution_auc(truth, scores) == roc_auc_score(truth.ravel(), scores.ravel())


def test_zero_one_integers_are_accepted():
    assert attribution_auc([[1, 0], [0, 1]], [[2.0, 1.0], [0.0, 3.0]]) == 1.0


@pytest.mark.parametrize(
    ("truth", "message"),
    [
        ([[True, False, True]], r"shape \(1, 3\) but the attribution map has shape \(2, 2\)"),
        ([[2, 0], [0, 1]], "must hold booleans"),
        ([["a", "b"], ["c", "d"]], "must hold booleans"),
        ([[True, True], [True, True]], "both True and False"),
        ([[0, 0], [0, 0]], "both True and False"),
    ],
)
def test_bad_ground_truth_is_named(truth, message):
    with pytest.raises(ValueError, match=message):
        attribution_auc(truth, np.ones((2, 2)))


def test_non_finite_map_is_rejected():
    with pytest.raises(ValueError, match="attribution_map contains NaN"):
        attribution_auc([[True, False]], [[np.nan, 1.0]])


def test_check_ground_truth_returns_bool():
    assert check_ground_truth([[1, 0]]).dtype == bool
