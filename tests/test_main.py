import numpy as np

from skattr.__main__ import main


def test_demo_runs_and_saves_the_maps(tmp_path, capsys):
    output = tmp_path / "maps.npz"
    assert main(["demo", "--n-samples", "500", "--max-iter", "20", "--device", "cpu",
                 "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "ROC AUC, inverted neuron gradient" in printed and "Trained 20 steps" in printed
    assert (tmp_path / "maps.png").stat().st_size > 0
    maps = np.load(output)
    assert maps["inverted_gradient"].shape == maps["ground_truth"].shape == (6, 50)
