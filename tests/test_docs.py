"""The documentation builds with warnings as errors, and its gallery runs every example.

The build is the examples' test: sphinx-gallery runs each ``examples/plot_*.py`` (at the
gallery's small size, ``SKATTR_GALLERY_QUICK=1``), stops on an example's error and renders its
figures and printed output into its page; the tests below read those pages. Running the
examples a second time as plain scripts would double the suite's longest part for nothing.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx_gallery")
pytest.importorskip("myst_parser")
pytest.importorskip("numpydoc")

ROOT = Path(__file__).parent.parent
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("plot_*.py"))


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    """The built documentation (its html folder); the build fails the tests that use it."""
    source = tmp_path_factory.mktemp("docs")
    # Built from a copy, so that the run writes nothing into the source tree.
    for name in ("docs", "examples"):
        shutil.copytree(ROOT / name, source / name,
                        ignore=shutil.ignore_patterns("_build", "generated", "auto_examples"))
    html = source / "html"
    environment = {**os.environ, "SKATTR_GALLERY_QUICK": "1", "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(source / "docs"), str(html)],
        env=environment, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return html


def test_there_are_examples():
    assert set(EXAMPLES) >= {"plot_demo", "plot_regularizer_on_off", "plot_training_loop"}


@pytest.mark.slow
def test_docs_build_with_their_pages(html):
    for page in ("getting_started", "guide", "errors", "api", "benchmarks",
                 "generated/skattr.xCEBRAAttributor", "generated/skattr.callbacks.EarlyStopping"):
        assert (html / f"{page}.html").exists(), page
    index = (html / "index.html").read_text()
    assert "auto_examples/index.html" in index


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES)
def test_example_runs_and_renders_a_figure_and_its_output(html, example):
    page = (html / "auto_examples" / f"{example}.html").read_text()
    assert f"sphx_glr_{example}_001.png" in page
    assert (html / "_images" / f"sphx_glr_{example}_001.png").stat().st_size > 0
    assert 'class="sphx-glr-script-out' in page  # what the example printed


@pytest.mark.slow
def test_regularizer_example_reports_an_auc_per_weight(html):
    page = (html / "auto_examples" / "plot_regularizer_on_off.html").read_text()
    for weight in ("0.0", "0.1"):
        aucs = re.findall(rf"lambda = {re.escape(weight)}: (.*)", page)
        assert aucs, weight
        values = [float(v) for v in re.findall(r"AUC (\d\.\d{3})", aucs[0])]
        assert values and all(0.0 <= v <= 1.0 for v in values), aucs[0]
