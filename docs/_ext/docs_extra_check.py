"""Sphinx extension: the build sees only the packages that the ``docs`` extra installs.

What ``pip install bpnet[docs]`` installs is the closure of bpnet's requirements under
the ``docs`` extra, read from the installed packages' metadata with their markers
evaluated. From the moment this extension loads (first in conf.py's list; conf.py
imports nothing of bpnet's, so this is before the other extensions, autodoc and the
gallery import anything), an import of any other installed package (a test-only
package, say, that the build's environment happens to have) fails as it would where the
package is absent: a hard import then fails the example or the page that needs it, and
a guarded, optional one takes its fallback. At the end of the build, every module that
the process imported is mapped to its distribution, and one from outside the closure
(imported before the finder was installed) is reported as a Sphinx warning, which the
``-W`` build turns into a failure. So the build checks the docs extra in any environment
that has at least that extra, without installing a fresh one. Only Sphinx calls
``setup``, so reading conf.py (as the tests do) installs nothing.
"""

import importlib.abc
import importlib.metadata as metadata
import sys

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from sphinx.util import logging

logger = logging.getLogger(__name__)

# Every venv brings these with it, whatever it installs.
VENV_BASE = {"pip", "setuptools"}


def requirement_closure(root, extras):
    """Canonical names of the distributions that installing ``root[extras]`` installs,
    as far as the installed metadata tells: markers evaluated on this interpreter, and an
    extra of a requirement followed into its own requirements."""
    environment = default_environment()
    found = set()
    seen = set()
    todo = [(canonicalize_name(root), frozenset(extras))]
    while todo:
        name, wanted = todo.pop()
        if (name, wanted) in seen:
            continue
        seen.add((name, wanted))
        found.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue  # not installed here, so nothing below it was imported either
        for text in requires:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is not None and not any(
                marker.evaluate({**environment, "extra": extra}) for extra in ("", *wanted)
            ):
                continue
            todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return found


def imported_distributions():
    """{canonical distribution name: a top-level module of it imported in this process}."""
    owners = metadata.packages_distributions()
    imported = {}
    for module in list(sys.modules):
        top = module.partition(".")[0]
        for distribution in owners.get(top, ()):
            imported.setdefault(canonicalize_name(distribution), top)
    return imported


def outside_the_extra(root="bpnet", extra="docs"):
    """{distribution: module} imported here but not installed by ``root[extra]``."""
    closure = requirement_closure(root, {extra}) | VENV_BASE
    return {d: m for d, m in sorted(imported_distributions().items()) if d not in closure}


def outside_top_level_modules(root="bpnet", extra="docs"):
    """{top-level module: distribution} of the installed packages that ``root[extra]``
    does not install (a module that one of its distributions does install is not here)."""
    allowed = requirement_closure(root, {extra}) | VENV_BASE
    return {
        module: distributions[0]
        for module, distributions in metadata.packages_distributions().items()
        if not any(canonicalize_name(d) in allowed for d in distributions)
    }


class OutsideTheExtra(importlib.abc.MetaPathFinder):
    """A finder, first on sys.meta_path, that makes the given top-level modules absent."""

    def __init__(self, blocked):
        self.blocked = blocked

    def find_spec(self, name, path=None, target=None):
        if path is None and name in self.blocked:
            raise ModuleNotFoundError(
                f"No module named {name!r} in the docs build: its distribution "
                f"{self.blocked[name]!r} is not installed by the docs extra",
                name=name,
            )
        return None


def _check(app, exception):
    if exception is not None:
        return
    for distribution, module in outside_the_extra().items():
        logger.warning(
            "the build imported %r, from the distribution %r, which the docs extra does "
            "not install: add it to [project.optional-dependencies] docs in pyproject.toml",
            module,
            distribution,
        )


def install():
    """Put the finder first on sys.meta_path (once)."""
    if not any(isinstance(finder, OutsideTheExtra) for finder in sys.meta_path):
        sys.meta_path.insert(0, OutsideTheExtra(outside_top_level_modules()))


def setup(app):
    install()
    app.connect("build-finished", _check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
