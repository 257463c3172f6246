"""The C sources under bpnet/src are plain, portable C, and all of bpnet's C lives there.

Every ``.c`` file compiles on its own (plain C types: no Python or NumPy headers) with the
host's gcc in strict C99 and, as a stand-in for Windows, with MinGW-w64's gcc; every
header compiles on its own too. Anything tied to one OS, compiler or CPU sits in the
portability header only, and no Cython file hides C in a verbatim block.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bpnet"
SOURCES = PACKAGE / "src"
PORTABILITY_HEADER = SOURCES / "portable.h"

C_FILES = sorted(SOURCES.glob("*.c"))
HEADERS = sorted(SOURCES.glob("*.h"))
MINGW = "x86_64-w64-mingw32-gcc"
PACKAGES = {"gcc": "gcc", MINGW: "gcc-mingw-w64-x86-64-win32"}

# What only the portability header may use: POSIX-only headers and calls, GCC builtins,
# per-function CPU targets, intrinsics, and the macros that tell one OS, compiler or CPU
# from another.
NOT_PORTABLE = {
    "a POSIX-only or x86-only header": re.compile(
        r'#\s*include\s*[<"](pthread|sched|unistd|immintrin)\.h[>"]'
        r'|extern\s+from\s+"<?(pthread|sched|unistd|immintrin)\.h>?"'
    ),
    "Cython's POSIX declarations": re.compile(r"\bfrom\s+posix(\.\w+)?\s+cimport\b"),
    "a POSIX thread call": re.compile(r"\bpthread_\w+\s*\("),
    "clock_gettime": re.compile(r"\bclock_gettime\b"),
    "a GCC atomic builtin": re.compile(r"\b__(atomic|sync)_\w+"),
    "__builtin_cpu_supports": re.compile(r"\b__builtin_cpu_supports\b"),
    "a per-function CPU target": re.compile(r"__attribute__\s*\(\(\s*target"),
    "an OS, compiler or CPU test": re.compile(
        r"\b(_WIN32|_WIN64|_MSC_VER|__GNUC__|__clang__|__APPLE__|__linux__|__x86_64__"
        r"|__aarch64__|__AVX\w*__|__SSE\w*__|__has_attribute)\b"
    ),
}
# A Cython verbatim C block (`cdef extern from *:` with a docstring) may include headers
# and hold a few more lines (a macro naming a fused specialisation, say); C code goes in
# bpnet/src.
MAX_VERBATIM_LINES = 3


def _package_sources():
    """Every source file under bpnet/: Python, Cython, C and headers (the build writes
    Cython's C under build/, so a built checkout has no other C files there)."""
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix in (".py", ".pyx", ".pxd", ".c", ".h"):
            yield path


def _need_compiler(name):
    """The compilers are Linux's, where CI runs: elsewhere (cibuildwheel's macOS and
    Windows tests of a wheel) the checks skip. On Linux, CI (.ci/run, which installs
    them) fails without them; cibuildwheel's containers and a developer's machine skip,
    saying what to install."""
    if sys.platform != "linux":
        pytest.skip("the C sources are compiled by Linux's gcc and MinGW-w64, as in CI")
    if shutil.which(name) is None:
        message = f"{name} not found (Debian: apt-get install {PACKAGES[name]})"
        if os.environ.get("CI") and not os.environ.get("CIBUILDWHEEL"):
            pytest.fail(message)
        pytest.skip(message)


def _compile(command, path, tmp_path):
    result = subprocess.run(
        [*command, str(path)], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 0, f"{' '.join(command)} {path.name}:\n{result.stderr}"


def test_the_c_sources_exist():
    """The checks below must not pass for want of files: bpnet's C is in bpnet/src."""
    assert C_FILES, "bpnet/src holds no .c file"
    assert PORTABILITY_HEADER in HEADERS, "bpnet/src/portable.h is missing"


@pytest.mark.parametrize("vectors", [True, False], ids=["vectors", "no-vectors"])
@pytest.mark.parametrize("openmp", [False, True], ids=["serial", "openmp"])
@pytest.mark.parametrize("path", C_FILES + HEADERS, ids=lambda path: path.name)
def test_compiles_as_strict_c99_with_gcc(path, openmp, vectors, tmp_path):
    """Without -fopenmp too: that is how a build without OpenMP compiles the same files,
    so OpenMP pragmas must be guarded (gcc's -Wall reports unknown pragmas). Without
    vector extensions too (BPNET_NO_VECTORS): the branch MSVC compiles."""
    _need_compiler("gcc")
    command = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"]
    command += [f"-I{SOURCES}", *(["-fopenmp"] if openmp else []), "-x", "c"]
    command += [] if vectors else ["-DBPNET_NO_VECTORS"]
    _compile(command, path, tmp_path)


@pytest.mark.parametrize("path", C_FILES + HEADERS, ids=lambda path: path.name)
def test_compiles_for_windows_with_mingw(path, tmp_path):
    """MinGW-w64's gcc stands in for MSVC: the Windows branch of the portability header
    and the absence of POSIX headers are checked here, on Linux."""
    _need_compiler(MINGW)
    command = [MINGW, "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-fopenmp"]
    _compile([*command, f"-I{SOURCES}", "-x", "c"], path, tmp_path)


def test_only_the_portability_header_is_tied_to_a_platform():
    found = []
    for path in _package_sources():
        if path == PORTABILITY_HEADER:
            continue
        text = path.read_text()
        if text.startswith("/* Generated by Cython"):
            found.append(
                f"{path.relative_to(ROOT)}: C that Cython generated beside its .pyx (an older "
                "build's; builds now write it under build/cython): delete it"
            )
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            for what, pattern in NOT_PORTABLE.items():
                if pattern.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {what}: {line.strip()}")
    assert not found, "only bpnet/src/portable.h may use these:\n" + "\n".join(found)


def test_no_c_code_in_cython_strings():
    verbatim = re.compile(r'cdef\s+extern\s+from\s+\*\s*(?:nogil\s*)?:\s*\n\s*"""(.*?)"""', re.S)
    found = []
    for path in sorted(PACKAGE.glob("*.p[yx][xd]")):
        for block in verbatim.finditer(path.read_text()):
            lines = [
                line.strip()
                for line in block.group(1).splitlines()
                if line.strip() and not re.match(r"#\s*include\b", line.strip())
            ]
            if len(lines) > MAX_VERBATIM_LINES:
                line = path.read_text().count("\n", 0, block.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {len(lines)} lines of C")
    assert not found, "C belongs in bpnet/src, not in Cython strings:\n" + "\n".join(found)
