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


def test_bare_command_prints_the_help(capsys):
    assert main([]) == 0
    printed = capsys.readouterr().out
    assert "usage: skattr" in printed and "demo" in printed


def test_demo_help_is_plain_text_with_defaults(capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--help"])
    assert exit_.value.code == 0
    printed = capsys.readouterr().out
    assert "``" not in printed and ":class:" not in printed
    assert "(default: 20000)" in printed and "(default: auto)" in printed
