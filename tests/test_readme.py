"""The README's Python snippets run as written (at a smaller size) and do what they say."""

import re
from pathlib import Path

import numpy as np
import pytest

README = (Path(__file__).parent.parent / "README.md").read_text()
SNIPPETS = re.findall(r"```python\n(.*?)```", README, flags=re.S)

# The snippets' sizes, made small: the code is otherwise run exactly as written.
SMALLER = [
    (r"n_samples=20_000", "n_samples=1_000"),
    (r"(?<![.\w])xCEBRAAttributor\(", "xCEBRAAttributor(max_iter=20, device='cpu', "),
    (r"n_surrogates=99", "n_surrogates=19"),
    (r"n_seeds=5", "n_seeds=2"),
]


@pytest.mark.slow
def test_readme_snippets_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the snippets save a model file
    assert len(SNIPPETS) >= 4
    namespace = {}
    for snippet in SNIPPETS:
        for pattern, replacement in SMALLER:
            snippet = re.sub(pattern, replacement, snippet)
        exec(compile(snippet, "README.md", "exec"), namespace)
    X, y, model = namespace["X"], namespace["y"], namespace["model"]
    # What the comments say.
    assert namespace["embedding"].shape == (1_000, 6)
    assert model.attribution_map_.shape == (6, 50)
    assert model.attribute(X, method="igc", target=y).shape == (3, 50)
    assert namespace["search"].best_params_["regularizer_weight"] in (0.0, 0.03, 0.1)
    assert isinstance(model, namespace["xCEBRAAttributor"]) and model.n_iter_ == 20
    assert np.isfinite(namespace["null"].p_block).all()
