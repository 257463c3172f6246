"""numpydoc's validation of every public docstring: the public names of bpnet and of its
public modules, and their public methods."""

import ast
import importlib
import inspect
from pathlib import Path

import pytest

validate = pytest.importorskip("numpydoc.validate").validate

ROOT = Path(__file__).resolve().parent.parent

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


def _public_modules():
    yield "bpnet"
    for path in sorted((ROOT / "bpnet").glob("*.py")):
        if not path.name.startswith("_"):
            yield f"bpnet.{path.stem}"


def _declared_all(module):
    path = ROOT / "bpnet" / ("__init__.py" if module == "bpnet" else f"{module[6:]}.py")
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            return ast.literal_eval(node.value)
    return []


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
