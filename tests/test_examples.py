"""Every example runs as a script, at the gallery's small size."""

import runpy
from pathlib import Path

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("plot_*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path, monkeypatch, capsys):
    monkeypatch.setenv("SKATTR_GALLERY_QUICK", "1")
    namespace = runpy.run_path(str(path), run_name="__main__")
    assert capsys.readouterr().out
    assert matplotlib.pyplot.get_fignums()
    matplotlib.pyplot.close("all")
    if path.stem == "plot_regularizer_on_off":
        assert set(namespace["results"]) == {0.0, 0.1}
        assert all(0.0 <= auc <= 1.0 for aucs in namespace["results"].values() for auc in aucs)


def test_there_are_examples():
    assert {p.stem for p in EXAMPLES} >= {"plot_demo", "plot_regularizer_on_off",
                                          "plot_training_loop"}
