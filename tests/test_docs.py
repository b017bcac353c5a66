"""The documentation builds with warnings as errors, its gallery's figures included."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx_gallery")
pytest.importorskip("myst_parser")
pytest.importorskip("numpydoc")

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_docs_build_with_the_gallery(tmp_path):
    # Built from a copy, so that the run writes nothing into the source tree.
    for name in ("docs", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("_build", "generated", "auto_examples"))
    html = tmp_path / "html"
    environment = {**os.environ, "SKATTR_GALLERY_QUICK": "1", "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(tmp_path / "docs"), str(html)],
        env=environment, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    examples = sorted(p.stem for p in (ROOT / "examples").glob("plot_*.py"))
    for example in examples:
        page = (html / "auto_examples" / f"{example}.html").read_text()
        assert f"sphx_glr_{example}_001.png" in page, example
        assert (html / "_images" / f"sphx_glr_{example}_001.png").stat().st_size > 0
    for page in ("getting_started", "guide", "errors", "api", "benchmarks",
                 "generated/skattr.xCEBRAAttributor", "generated/skattr.callbacks.EarlyStopping"):
        assert (html / f"{page}.html").exists(), page
    index = (html / "index.html").read_text()
    assert "auto_examples/index.html" in index
