"""The documentation agrees with the code, in three parts.

* Pages: the compatibility table lists exactly the estimators' parameters and defaults,
  the API reference has a page for every public name, the pages quote the README's
  commands, and the gallery's examples follow the rules of the docs build (offline, a
  figure each).
* Docstrings: the estimators' examples run, they document every parameter and fitted
  attribute, their methods have numpydoc sections, and the version is exported.
* numpydoc validation of every public docstring: the public names of bpnet and of its
  public modules, and their public methods.
"""

import ast
import doctest
import importlib
import inspect
import re
import runpy
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

import bpnet
from bpnet import BPClassifier, BPRegressor, _classes

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"

NOT_IN_MLP = "not in MLP"
ESTIMATORS = {"classifier": (BPClassifier, MLPClassifier), "regressor": (BPRegressor, MLPRegressor)}


def _public_modules():
    """bpnet and its public modules, by name."""
    yield "bpnet"
    for path in sorted((ROOT / "bpnet").glob("*.py")):
        if not path.name.startswith("_"):
            yield f"bpnet.{path.stem}"


def _declared_all(module):
    """The ``__all__`` of a public module, read from its source (so that modules with
    optional dependencies count too)."""
    path = ROOT / "bpnet" / ("__init__.py" if module == "bpnet" else f"{module[6:]}.py")
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            return ast.literal_eval(node.value)
    return []


def _public_names():
    """Every public name: bpnet's ``__all__`` and that of each public module."""
    return [
        f"{module}.{name}"
        for module in _public_modules()
        for name in _declared_all(module)
        if name != "__version__"
    ]


# --- pages ----------------------------------------------------------------------------


def _section(text, title):
    """The body of the reStructuredText section ``title`` (up to the next one)."""
    match = re.search(
        rf"^{re.escape(title)}\n([-=~^])\1+\n(.*?)(?=^[^\n]+\n[-=~^]{{4,}}\n|\Z)", text, re.M | re.S
    )
    assert match, f"no section {title!r}"
    return match[2]


def _list_table_rows(text):
    """The rows of the first list-table in ``text``, each a list of cell texts."""
    rows = []
    for line in text.splitlines():
        if line.startswith("   * - "):
            rows.append([line[len("   * - ") :].strip()])
        elif line.startswith("     - ") and rows:
            rows[-1].append(line[len("     - ") :].strip())
        elif line.startswith("       ") and rows:
            rows[-1][-1] += " " + line.strip()
    return rows


def _parameter_table():
    """{name: (scopes, default, scikit-learn cell)} from compatibility.rst's table."""
    body = _section((DOCS / "compatibility.rst").read_text(), "Parameters")
    header, *rows = _list_table_rows(body)
    assert header == ["parameter", "default", "scikit-learn 1.9", "bpnet"]
    table = {}
    for name_cell, default_cell, sklearn_cell, _ in rows:
        match = re.fullmatch(r"``(\w+)``(?: \((classifier|regressor)\))?", name_cell)
        assert match, f"parameter cell {name_cell!r} is not ``name`` or ``name`` (estimator)"
        name, scope = match[1], match[2]
        assert name not in table, f"{name} is listed twice"
        default = re.fullmatch(r"``(.+)``", default_cell)
        assert default, f"the default of {name} is not a ``literal``"
        scopes = [scope] if scope else list(ESTIMATORS)
        table[name] = (scopes, ast.literal_eval(default[1]), sklearn_cell)
    return table


@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_compatibility_table_lists_exactly_bpnets_parameters_and_defaults(kind):
    Estimator, _ = ESTIMATORS[kind]
    params = Estimator().get_params()
    listed = {
        name: default for name, (scopes, default, _) in _parameter_table().items() if kind in scopes
    }
    assert set(listed) == set(params), "the table and get_params() disagree"
    for name, default in listed.items():
        assert default == params[name], f"{name}: the table says {default!r}"


@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_compatibility_table_marks_exactly_mlps_parameters(kind):
    _, MLP = ESTIMATORS[kind]
    params = MLP().get_params()
    in_mlp = {
        name: default
        for name, (scopes, default, sklearn_cell) in _parameter_table().items()
        if kind in scopes and sklearn_cell != NOT_IN_MLP
    }
    assert set(in_mlp) == set(params), f"the table's MLP parameters are not {MLP.__name__}'s"
    for name, default in in_mlp.items():
        assert default == params[name], f"{MLP.__name__}'s default of {name} is {params[name]!r}"


def _fitted_attributes(estimator):
    return {name for name in vars(estimator) if name.endswith("_") and not name.startswith("_")}


def test_compatibility_page_names_every_fitted_attribute():
    pd = pytest.importorskip("pandas")
    from sklearn.datasets import make_classification, make_regression

    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    X = pd.DataFrame(X, columns=[f"f{i}" for i in range(4)])
    X_reg, y_reg = make_regression(n_samples=60, n_features=4, random_state=0)
    settings = dict(hidden_layer_sizes=(3,), max_iter=2, early_stopping=True, random_state=0)
    attributes = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # two epochs only
        for Estimator in (BPClassifier, MLPClassifier):
            attributes |= _fitted_attributes(Estimator(**settings).fit(X, y))
        for Estimator in (BPRegressor, MLPRegressor):
            attributes |= _fitted_attributes(Estimator(**settings).fit(X_reg, y_reg))
    page = _section((DOCS / "compatibility.rst").read_text(), "Fitted attributes")
    named = set(re.findall(r"``(\w+_)``", page))
    assert attributes - named == set(), "fitted attributes the page does not name"
    assert named - attributes == set(), "the page names attributes no estimator sets"


def test_api_reference_has_a_page_for_every_public_name():
    api = (DOCS / "api.rst").read_text()
    pages = {path.stem for path in (DOCS / "api").glob("*.rst")}
    names = _public_names()
    assert {"bpnet.BPClassifier", "bpnet.BPRegressor"} <= set(names)
    for name in names:
        assert name in pages, f"add docs/api/{name}.rst and list it in docs/api.rst"
        assert f"api/{name}\n" in api, f"docs/api.rst's toctree does not list api/{name}"
        page = (DOCS / "api" / f"{name}.rst").read_text()
        assert re.search(rf"^\.\. auto(class|function):: {name.rsplit('.', 1)[1]}$", page, re.M)
    assert pages <= set(names), f"API pages of names that are not public: {pages - set(names)}"


def test_pages_quote_the_readme():
    """getting_started.rst includes the README's quickstart and its two commands, cut out
    of the README by an anchor line (and a line number after it): the anchors must stay,
    and the lines they pick must be the README's commands."""
    readme = (ROOT / "README.md").read_text()
    page = (DOCS / "getting_started.rst").read_text()
    includes = re.findall(r"literalinclude:: \.\./README\.md\n((?:   :.*\n)+)", page)
    assert len(includes) == 3
    commands = []
    for options in includes:
        anchor = re.search(r":start-after: (.+)", options)[1]
        assert readme.count(anchor) == 1, f"the README must contain {anchor!r} exactly once"
        after = readme.split(anchor, 1)[1].split("\n")[1:]  # the lines after the anchor's
        lines = re.search(r":lines: (\d+)", options)
        if lines:
            commands.append(after[int(lines[1]) - 1])
    assert commands[0].endswith("pip install -e . && python -m bpnet compare")
    assert commands[1].endswith("cython-lint bpnet/ && python -m pytest")
    assert all(command.startswith("python3 -m venv .venv && ") for command in commands)


def test_default_build_is_offline(monkeypatch):
    monkeypatch.delenv("BPNET_DOCS_INTERSPHINX", raising=False)
    conf = runpy.run_path(str(DOCS / "conf.py"))
    assert "sphinx.ext.intersphinx" not in conf["extensions"]
    assert not conf["intersphinx_mapping"]
    monkeypatch.setenv("BPNET_DOCS_INTERSPHINX", "1")
    conf = runpy.run_path(str(DOCS / "conf.py"))
    assert "sphinx.ext.intersphinx" in conf["extensions"]
    assert {"python", "numpy", "sklearn"} <= set(conf["intersphinx_mapping"])
    # Reading the configuration changes nothing in this process: only Sphinx's call of
    # docs_extra_check's setup installs its import finder.
    assert conf["extensions"][0] == "docs_extra_check"
    assert not [f for f in sys.meta_path if type(f).__name__ == "OutsideTheExtra"]


EXAMPLE_FILES = sorted(EXAMPLES.glob("plot_*.py"))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[path.name for path in EXAMPLE_FILES])
def test_examples_follow_the_gallery_rules(path):
    source = path.read_text()
    docstring = ast.get_docstring(ast.parse(source))
    assert docstring and re.match(r"=+\n.+\n=+\n", docstring), "a title between = lines"
    assert "plt.show()" in source, "each example draws a figure"
    for download in ("fetch_", "urlopen", "urllib", "requests"):
        assert download not in source, "the gallery builds offline"


def test_markdown_conversion():
    pytest.importorskip("sphinx")
    bpnet_docs = runpy.run_path(str(DOCS / "_ext" / "bpnet_docs.py"))
    markdown = (
        "## Added\n\n- `fit(X,\n  y)` and `coefs_`s, [a link](https://example.org), a_b *c*"
        " **d**\n\n| a | b |\n|---|---|\n| `x` | 2 |\n"
    )
    assert bpnet_docs["markdown_to_rst"](markdown) == [
        "",
        "Added",
        "-----",
        "",
        "",
        "- ``fit(X, y)`` and ``coefs_``\\ s, `a link <https://example.org>`__, a\\_b *c* **d**",
        "",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - a",
        "     - b",
        "   * - ``x``",
        "     - 2",
        "",
    ]


# --- docstrings -----------------------------------------------------------------------


def test_examples_run():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        failures, attempted = doctest.testmod(_classes, optionflags=doctest.ELLIPSIS)
    assert attempted >= 4
    assert failures == 0


@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
def test_every_parameter_and_attribute_is_documented(Estimator):
    doc = Estimator.__doc__
    for name in inspect.signature(Estimator).parameters:
        assert re.search(rf"^    {name} : ", doc, re.M), f"{name} is not documented"
    for attribute in [
        "loss_",
        "best_loss_",
        "loss_curve_",
        "validation_scores_",
        "coefs_",
        "intercepts_",
        "n_iter_",
        "n_layers_",
        "n_outputs_",
        "out_activation_",
        "t_",
    ]:
        assert re.search(rf"^    {attribute} : ", doc, re.M), f"{attribute} is not documented"


@pytest.mark.parametrize("method", ["fit", "predict", "partial_fit", "score"])
@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
def test_methods_have_numpydoc_sections(Estimator, method):
    doc = getattr(Estimator, method).__doc__
    assert "Parameters\n" in doc and "Returns\n" in doc


def test_version_is_exported():
    # A release, or the development version before it (PEP 440's ".devN").
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+)?", bpnet.__version__)


# --- numpydoc validation --------------------------------------------------------------

# Checks left out everywhere, each with its reason.
EXCLUDED_EVERYWHERE = {
    # scikit-learn's convention, which bpnet follows and its inherited methods use:
    # a returned value has a name, "self : object".
    "RT02": "the returned value is named, as in scikit-learn ('self : object')",
}

# Checks left out for methods: the class's docstring carries them.
EXCLUDED_FOR_METHODS = {
    "ES01": "a method's one-line summary can say it all (predict, fit); the class has the "
    "extended summary",
    "SA01": "See Also sits on the class, as in scikit-learn",
    "EX01": "Examples sit on the class, as in scikit-learn, and run as doctests there",
}

# The hooks of scikit-learn's callback protocol (sklearn.callback), which scikit-learn
# calls: public by the protocol's naming, documented by it, and left without docstrings
# in scikit-learn's own ProgressBar and ScoringMonitor as well.
CALLBACK_HOOKS = {"setup", "teardown", "on_fit_task_begin", "on_fit_task_end"}

# Methods scikit-learn generates for metadata routing (set_fit_request, ...): their
# docstrings are scikit-learn's, and they are not in the API reference.
GENERATED = ("set_", "_request")

# Docstrings in bpnet allowed to fail a check until they are fixed in the source (a
# docstring listed here may fail these codes and no others). Keep it empty.
PENDING_FIXES = {}


def _documented_objects():
    """(qualified name, kind, skip reason or None) of every public docstring."""
    for module_name in _public_modules():
        names = [name for name in _declared_all(module_name) if name != "__version__"]
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:  # an optional dependency is missing
            for name in names:
                yield f"{module_name}.{name}", "object", f"{module_name}: {error}"
            continue
        for name in names:
            obj = getattr(module, name)
            yield f"{module_name}.{name}", "object", None
            if not inspect.isclass(obj):
                continue
            for attribute in sorted(dir(obj)):
                member = getattr(obj, attribute, None)
                if attribute.startswith("_") or not callable(member):
                    continue
                if attribute.startswith(GENERATED[0]) and attribute.endswith(GENERATED[1]):
                    continue
                kind = "hook" if attribute in CALLBACK_HOOKS else "method"
                yield f"{module_name}.{name}.{attribute}", kind, None


OBJECTS = list(_documented_objects())


@pytest.mark.parametrize("name,kind,skip_reason", OBJECTS, ids=[name for name, _, _ in OBJECTS])
def test_docstring_passes_numpydoc_validation(name, kind, skip_reason):
    validate = pytest.importorskip("numpydoc.validate").validate
    if skip_reason:
        pytest.skip(skip_reason)
    excluded = set(EXCLUDED_EVERYWHERE)
    if kind in ("method", "hook"):
        excluded |= set(EXCLUDED_FOR_METHODS)
    if kind == "hook":
        excluded.add("GL08")  # no docstring: see CALLBACK_HOOKS
    errors = {code: message for code, message in validate(name)["errors"] if code not in excluded}
    pending = PENDING_FIXES.get(name, set())
    unexpected = {code: message for code, message in errors.items() if code not in pending}
    assert not unexpected, f"{name}: {unexpected}"


def test_pending_fixes_name_public_objects():
    names = {name for name, _, _ in OBJECTS}
    assert set(PENDING_FIXES) <= names


def test_the_docs_build_reports_an_import_that_the_docs_extra_does_not_install():
    pytest.importorskip("sphinx")
    check = runpy.run_path(str(DOCS / "_ext" / "docs_extra_check.py"))
    closure = check["requirement_closure"]("bpnet", {"docs"})
    # The extra's own packages, the extras it names (onnx, dask) and what they all need.
    assert {"sphinx", "sphinx-gallery", "numpydoc", "matplotlib", "palmerpenguins"} <= closure
    assert {"onnxruntime", "skl2onnx", "distributed", "dask-ml", "jinja2"} <= closure
    # Not the test extra's, nor the run-time requirements' closure without the extra.
    assert not {"pytest", "hypothesis", "polars", "cibuildwheel", "ruff"} & closure
    assert "scipy" in check["requirement_closure"]("bpnet", set())
    assert "sphinx" not in check["requirement_closure"]("bpnet", set())
    # This process imported pytest and hypothesis (the test extra's) besides NumPy and
    # Sphinx (the docs extra's): the check names the first two only.
    import hypothesis  # noqa: F401

    outside = check["outside_the_extra"]()
    assert {"pytest", "hypothesis"} <= set(outside)
    assert outside["pytest"] in ("pytest", "_pytest")
    assert not {"numpy", "sphinx", "scikit-learn", "bpnet", "pip", "setuptools"} & set(outside)


def test_the_docs_build_cannot_import_what_the_docs_extra_does_not_install():
    pytest.importorskip("sphinx")
    # In a process of its own: the finder stays installed for the rest of the process.
    code = """import sys
sys.path.insert(0, sys.argv[1])
import docs_extra_check
docs_extra_check.install()
import numpy, sklearn, sphinx_gallery, matplotlib  # the docs extra's
for name in ("hypothesis", "polars"):  # the test extra's
    try:
        __import__(name)
    except ModuleNotFoundError as error:
        print(error)
    else:
        print("imported", name)
"""
    run = subprocess.run(
        [sys.executable, "-c", code, str(DOCS / "_ext")], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 2 and "imported" not in run.stdout
    assert lines[0].startswith("No module named 'hypothesis' in the docs build")
    assert "'polars' is not installed by the docs extra" in lines[1]
