"""The examples run (at a tiny size)."""

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_regularizer_on_off_runs(capsys):
    results = load("regularizer_on_off").main(n_samples=300, max_iter=5)
    assert set(results) == {0.0, 0.1}
    assert all(0.0 <= auc <= 1.0 for scores in results.values() for auc in scores.values())
    assert "lambda = 0.1" in capsys.readouterr().out
