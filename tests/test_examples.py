"""The examples people copy run as shown: every Python block of the README and every
docstring example of the public API, without a single warning, and the README's parity
snippet prints what it says."""

import doctest
import importlib
import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The modules whose docstrings hold the public API's examples (bpnet.onnx and bpnet.dask
# need their extras).
PUBLIC_MODULES = ["bpnet._classes", "bpnet._display", "bpnet.callbacks", "bpnet.onnx", "bpnet.dask"]


def readme_blocks():
    """The README's Python code blocks, in order."""
    return re.findall(
        r"^```(?:python|py)\n(.*?)^```", (ROOT / "README.md").read_text(), re.M | re.S
    )


def test_readme_examples_run_without_a_warning(capsys):
    blocks = readme_blocks()
    assert len(blocks) >= 2
    namespace = {"__name__": "readme"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for number, block in enumerate(blocks, start=1):
            exec(compile(block, f"README.md, Python block {number}", "exec"), namespace)
    out = capsys.readouterr().out
    # The parity line shows the largest difference, and equality within the tolerance
    # of the parity tests, not two numbers that differ in their last digits.
    match = re.search(
        r"loss curves equal within 1e-07: True \(largest relative difference (\S+)\)", out
    )
    assert match, out
    assert float(match[1]) < 1e-7


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_docstring_examples_run_without_a_warning(name):
    if name == "bpnet.onnx":
        pytest.importorskip("onnxruntime")
    if name == "bpnet.dask":
        pytest.importorskip("dask.array")
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        failures, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert attempted > 0
    assert failures == 0


def _section_code(path, title):
    """The code blocks of the reStructuredText section ``title`` of ``path``."""
    text = path.read_text()
    body = text.split(f"{title}\n{'~' * len(title)}\n", 1)[1]
    body = re.split(r"^\S.*\n[-=~^]{3,}\n", body, maxsplit=1, flags=re.M)[0]
    return [
        "\n".join(line[3:] for line in block.splitlines())
        for block in re.findall(r"^\.\. code-block:: python\n\n((?:   .*\n|\n)+)", body, re.M)
    ]


def test_the_progress_bar_in_a_pipeline_and_a_search_as_the_docs_show(capsys):
    (code,) = _section_code(ROOT / "docs" / "monitoring.rst", "In a Pipeline or a search")
    assert "pipeline.set_callbacks(ProgressBar())" in code
    assert "search.set_callbacks(ProgressBar())" in code
    namespace = {"__name__": "monitoring"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec(compile(code, "docs/monitoring.rst", "exec"), namespace)
    assert namespace["search"].best_params_
    # The bars followed the fits inside, down to the networks' own.
    drawn = capsys.readouterr().out
    assert "Pipeline - fit" in drawn and "GridSearchCV - fit" in drawn
    assert "BPClassifier - fit" in drawn


def test_the_readme_shows_the_bar_on_a_pipeline_and_a_search():
    (block,) = [block for block in readme_blocks() if "ProgressBar" in block]
    assert "pipeline.set_callbacks(ProgressBar())" in block
    assert "search.set_callbacks(ProgressBar())" in block
