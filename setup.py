"""Extension list, compiler directives, and the compiler features the build detects."""

import os
import shutil
import tempfile
import textwrap

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def flag(name):
    return os.environ.get(name, "0") not in ("", "0")


# BPNET_DEBUG=1 builds with bounds and initialisation checks for hunting memory errors.
DEBUG = flag("BPNET_DEBUG")
# BPNET_NATIVE=1 tunes the code for the building machine; wheels stay portable without it.
NATIVE = flag("BPNET_NATIVE")
# BPNET_NO_OPENMP=1 builds without OpenMP, as a compiler without an OpenMP runtime must
# (Apple's clang without libomp): the kernels then run on one thread.
NO_OPENMP = flag("BPNET_NO_OPENMP")

directives = {
    "language_level": "3",
    "boundscheck": DEBUG,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": DEBUG,
    "nonecheck": False,
    "embedsignature": True,
}

# Each module, and the plain C files it links (bpnet/src).
MODULES = {
    "_blas": [],
    "_numpy_math": [],
    "_activations": ["elementwise.c"],
    "_losses": [],
    "_rules": [],
    "_kernels": ["elementwise.c", "short_products.c"],
    "_parallel": [],
    "_sgd_fast": ["elementwise.c"],
}

# Test programs for the features the build uses where the compiler has them.
OPENMP_PROGRAM = """
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+ : n)
    n += omp_get_num_threads() > 0;
    return n > 0 ? 0 : 1;
}
"""
# Two files, as in bpnet: the cloned function is called from another translation unit,
# which needs its plain name to resolve to the ifunc (Clang 14 names only "twice.ifunc",
# and the link then fails: no target_clones there).
TARGET_CLONES_PROGRAM = [
    """
#include <stdlib.h>
#if !defined(__GLIBC__) || !defined(__x86_64__)
#error "target_clones needs glibc's ifunc, on x86-64"
#endif
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
int twice(int x) { return 2 * x; }
""",
    """
int twice(int x);
int main(void) { return twice(0); }
""",
]


class BuildExt(build_ext):
    """build_ext that first asks the compiler what it supports.

    OpenMP: a test program compiled and linked with each candidate flag set; the first
    that works is used for every module, and none (a one-thread build) if none does or
    BPNET_NO_OPENMP=1. target_clones: a test program compiled and linked; where it works
    BPNET_HAVE_TARGET_CLONES is defined (bpnet/src/portable.h).
    """

    def finalize_options(self):
        # Compile the modules side by side, one per core, unless -j/--parallel says
        # otherwise: each is a separate compiler process, so the build's result does not
        # depend on it, and `pip install` on a many-core machine (no way to pass -j through
        # it) gains most.
        if self.parallel is None:
            self.parallel = os.cpu_count() or 1
        super().finalize_options()

    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        compile_args, link_args, macros = [], [], []
        if msvc:
            # /fp:precise (MSVC's default) neither reassociates nor contracts; the C files
            # need C11 (declarations in for loops, inline).
            compile_args += ["/O2" if not DEBUG else "/Od", "/std:c11"]
        else:
            # -fno-math-errno lets sqrt vectorise (nothing here reads errno).
            # -ffp-contract=off: no a * b + c fused into one rounding, so that every
            # build, and every version of a target_clones function, computes the same
            # bits. Hidden visibility keeps each module's copy of the C helpers its own.
            compile_args += ["-O3" if not DEBUG else "-O0", "-fno-math-errno",
                             "-ffp-contract=off", "-fvisibility=hidden"]  # fmt: skip
            if DEBUG:
                compile_args.append("-g")
            if NATIVE:
                compile_args.append("-march=native")
        openmp = None if NO_OPENMP else self._first_that_builds(OPENMP_PROGRAM, OPENMP_FLAGS[msvc])
        if openmp is not None:
            compile_args += openmp[0]
            link_args += openmp[1]
        if not msvc and self._builds(TARGET_CLONES_PROGRAM, [], []):
            macros.append(("BPNET_HAVE_TARGET_CLONES", "1"))
        print(
            f"bpnet: OpenMP {'on (' + ' '.join(openmp[0]) + ')' if openmp else 'off'}, "
            f"target_clones {'on' if macros else 'off'}"
        )
        for extension in self.extensions:
            extension.extra_compile_args += compile_args
            extension.extra_link_args += link_args
            extension.define_macros += macros
        super().build_extensions()

    def _first_that_builds(self, program, candidates):
        for compile_flags, link_flags in candidates:
            if self._builds(program, compile_flags, link_flags):
                return compile_flags, link_flags
        return None

    def _builds(self, program, compile_flags, link_flags):
        """Whether `program` (a C source, or a list of them) compiles and links with
        these flags."""
        directory = tempfile.mkdtemp(prefix="bpnet-probe-")
        try:
            sources = []
            for index, text in enumerate([program] if isinstance(program, str) else program):
                sources.append(os.path.join(directory, f"probe{index}.c"))
                with open(sources[-1], "w") as file:
                    file.write(textwrap.dedent(text))
            objects = self.compiler.compile(
                sources, output_dir=directory, extra_postargs=compile_flags
            )
            self.compiler.link_executable(
                objects, "probe", output_dir=directory, extra_postargs=link_flags
            )
            return True
        except Exception:  # any compile or link error: the feature is absent
            return False
        finally:
            shutil.rmtree(directory, ignore_errors=True)


# (compile flags, link flags) to try, in order: GCC and clang; Apple's clang with
# Homebrew's or another libomp on the paths given by CPPFLAGS/LDFLAGS; MSVC.
OPENMP_FLAGS = {
    False: [
        (["-fopenmp"], ["-fopenmp"]),
        (["-Xpreprocessor", "-fopenmp"], ["-lomp"]),
    ],
    True: [(["/openmp"], [])],
}

extensions = [
    Extension(
        f"bpnet.{name}",
        [f"bpnet/{name}.pyx", *(f"bpnet/src/{source}" for source in sources)],
        include_dirs=[np.get_include(), "bpnet/src"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
    )
    for name, sources in MODULES.items()
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        # Cython's C goes under build/, never beside the .pyx files: bpnet/ holds only the
        # sources we write (tests/test_c_sources.py checks their portability; Cython's
        # own C guards its compiler-specific parts itself). A debug build has a folder of
        # its own, so that neither build reuses C files generated for the other.
        build_dir="build/cython-debug" if DEBUG else "build/cython",
    ),
    cmdclass={"build_ext": BuildExt},
)
