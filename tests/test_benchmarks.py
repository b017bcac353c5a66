"""The benchmarks run; the robustness benchmark's quick subset also guards the defaults."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def load(name):
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_robustness_summary_is_the_mean_and_worst_of_its_cells():
    robustness = load("robustness")
    cells = {"a": [{"inverted_gradient": 0.9, "gradient": 0.8},
                   {"inverted_gradient": 0.7, "gradient": 0.9}],
             "b": [{"inverted_gradient": 1.0, "gradient": 0.5}]}
    summary = robustness.summarise(cells)
    assert summary["inverted_mean"] == pytest.approx((0.8 + 1.0) / 2)
    assert summary["worst_setting"] == "a" and summary["inverted_worst"] == pytest.approx(0.8)
    assert summary["inverted_worst_fit"] == pytest.approx(0.7)
    assert summary["settings_where_inverted_beats_gradient"] == 1


def test_robustness_resumes_from_its_cache(tmp_path, capsys):
    robustness = load("robustness")
    args = ["--quick", "--settings", "T=1k", "--params", '{"max_iter": 3}', "--cache",
            str(tmp_path / "cache.jsonl")]
    summary = robustness.main(args)
    assert "worst setting" in capsys.readouterr().out
    assert robustness.main(args) == summary and "1 of 1 cells cached" in capsys.readouterr().out


# The quick subset guards the defaults on data unlike the demo, each against a floor a little
# below what the defaults of 0.15 score (seed 0, one thread): T=1k, 4 encoders at batch 250 and
# λ 0.03, 0.936 (0.929 without unmixing the blocks with 0.14, 0.906 at λ 0.1 with 0.13, 0.890
# at batch 512 with 0.12; one encoder: 0.877 with 0.11, 0.793 with 0.9); Poisson counts and
# split 2+4 at T = 3,000, one encoder at batch 512 and λ 0.1, 0.921 and 0.983 (0.920 and 0.982
# with 0.14). docs/benchmarks.md, "Ensembles on short recordings (0.12)", "The batch on short
# recordings (0.13)", "The regulariser on short recordings (0.14)", "Unmixing the blocks
# (0.15)".
@pytest.mark.slow
@pytest.mark.parametrize(("setting", "floor"),
                         [("T=1k", 0.90), ("Poisson, 1 count/bin", 0.90), ("split 2+4", 0.96)])
def test_robustness_quick_subset_with_the_defaults(setting, floor, tmp_path):
    summary = load("robustness").main(["--quick", "--settings", setting, "--cache",
                                       str(tmp_path / "cache.jsonl")])
    assert summary["inverted_worst"] >= floor


def test_paper_table_bootstrap_interval_brackets_the_mean():
    paper_table = load("paper_table")
    values = paper_table.np.array([0.9, 0.95, 0.97, 0.99, 0.93])
    low, high = paper_table.bootstrap_interval(values)
    assert low < values.mean() < high and low >= values.min() and high <= values.max()


def test_paper_table_runs_every_method_and_encoder(tmp_path, capsys):
    paper_table = load("paper_table")
    result = paper_table.main(["--seeds", "2", "--n-samples", "600", "--map-samples", "200",
                               "--max-iter", "5", "--jobs", "1", "--cache",
                               str(tmp_path / "cache.jsonl")])
    out = capsys.readouterr().out
    assert "| linear R² of the latents |" in out
    assert len(result["table"]) == (len(paper_table.METHODS) + 1) * len(paper_table.ENCODERS)
    for mean, low, high in result["table"].values():
        assert 0.0 <= low <= mean <= high <= 1.0


def test_map_normalization_variants_are_what_their_names_say():
    import numpy as np

    variants = load("map_normalization").normalized_maps
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(5, 2, 4)), rng.normal(size=(3, 2, 4))]
    maps = variants(iter(batches), np.array([2.0, 0.5]))
    values = np.abs(np.concatenate(batches))
    raw = values.mean(0)
    np.testing.assert_allclose(maps["raw"], raw)
    np.testing.assert_allclose(maps["max"], raw / raw.max(1, keepdims=True))
    np.testing.assert_allclose(maps["l2"], raw / np.linalg.norm(raw, axis=1, keepdims=True))
    np.testing.assert_allclose(maps["sd"], raw * [[2.0], [0.5]])
    np.testing.assert_allclose(
        maps["sample-l2"], (values / np.linalg.norm(values, axis=2, keepdims=True)).mean(0))
    np.testing.assert_allclose(maps["sample-l1"],
                               (values / values.sum(2, keepdims=True)).mean(0))


def test_inverse_averaging_windows_run_from_per_sample_maps_to_the_signed_mean():
    import torch

    magnitude = load("inverse_averaging").windowed_magnitude
    maps = torch.randn(10, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(magnitude(maps, 1), maps.abs().mean(0))
    torch.testing.assert_close(magnitude(maps, None), maps.mean(0).abs())
    # windows of 4: the last two samples are dropped
    expected = (maps[:4].mean(0).abs() + maps[4:8].mean(0).abs()) / 2
    torch.testing.assert_close(magnitude(maps, 4), expected)


def test_inverse_damping_columns_are_the_estimator_s_maps(tmp_path, capsys):
    damping = load("inverse_damping")
    args = ["--seeds", "1", "--settings", "T=1k", "--params", '{"max_iter": 3}', "--cache",
            str(tmp_path / "cache.jsonl")]
    result = damping.main(args)
    assert "worst setting" in capsys.readouterr().out
    assert damping.main(args) == result and "1 of 1 cells cached" in capsys.readouterr().out
    robustness = load("robustness")
    for column, params in (("inverse d=0/l2", {"row_norm": "l2", "inverse_damping": 0.0}),
                           ("inverse d=1/max", {})):  # the second is the default map
        cell = robustness.run_cell(robustness.SETTINGS["T=1k"], 0, {"max_iter": 3, **params},
                                   "skattr")
        assert result["table"]["T=1k"][column] == [pytest.approx(cell["inverted_gradient"])]


def test_unmixing_screen_s_maps_are_the_estimator_s(tmp_path):
    from skattr._unmixing import block_unmixing
    from skattr.attribution import attribute
    from skattr.metrics import attribution_auc

    screen = load("unmixing_screen")
    rng = np.random.default_rng(0)
    n_samples, lag = 400, 3
    walks = np.cumsum(0.1 * rng.standard_normal((n_samples, 4)), axis=0)
    embedding = walks @ np.array([[1, 0, 0.5, 0], [0, 1, 0, -0.3], [0, 0, 1, 0], [0, 0, 0, 1]]).T
    jacobians = rng.standard_normal((n_samples, 4, 6))
    truth = rng.random((4, 6)) < 0.5
    path = tmp_path / "cell.npz"
    np.savez(path, J=jacobians, Z=embedding, truth=truth, lag=lag, n_behavior=2, seconds=0.0)
    scores = screen.score_cell(path)
    # 0.15's unmixing: the time block's increments over the lag regressed on the behaviour's.
    increments = embedding[lag:] - embedding[:-lag]
    increments -= increments.mean(0)
    coefficients = np.linalg.lstsq(increments[:, :2], increments[:, 2:], rcond=None)[0]
    regression = np.eye(4)
    regression[2:, :2] = -coefficients.T

    class Recorded(torch.nn.Module):  # sample b's Jacobian is the recorded J_b
        def __init__(self):
            super().__init__()
            self.jacobians = torch.nn.Parameter(torch.as_tensor(jacobians))

        def forward(self, inputs):
            return torch.einsum("bkn,bn->bk", self.jacobians, inputs)

    inputs = torch.ones(n_samples, 6, dtype=torch.float64)
    own = attribute(Recorded(), inputs, "inverted-gradient", damping=1.0, return_per_sample=True)
    sparse = block_unmixing(own, [0, 1], [2, 3])  # 400 samples: all of them
    for name, params in (("own", {}), ("behaviour rows", {"output_map": regression}),
                         ("sparse", {"output_map": sparse}),
                         ("sparse, window", {"output_map": sparse, "window": lag}),
                         ("sparse, windows", {"output_map": sparse, "window": lag,
                                              "map_window": "auto"})):
        expected = attribute(Recorded(), inputs, "inverted-gradient", damping=1.0,
                             row_norm="max", **params)
        assert scores[name] == pytest.approx(attribution_auc(truth, expected))
    # Every row unmixed is another map, and so is the window: the comparisons above tell
    # them apart.
    assert scores["increments offset"] != pytest.approx(scores["behaviour rows"])
    assert scores["sparse, window"] != pytest.approx(scores["sparse"])
    # Independent Jacobians are all white: the maps' window is the whole lag.
    assert scores["sparse, windows"] != pytest.approx(scores["sparse, window"])
