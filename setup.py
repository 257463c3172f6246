"""Extension list and compiler directives for bpnet's Cython kernels."""

import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

# BPNET_DEBUG=1 builds with bounds and initialisation checks for hunting memory errors.
DEBUG = os.environ.get("BPNET_DEBUG", "0") not in ("", "0")
# BPNET_NATIVE=1 tunes the code for the building machine; wheels stay portable without it.
NATIVE = os.environ.get("BPNET_NATIVE", "0") not in ("", "0")

# -fno-math-errno lets sqrt vectorise (nothing here reads errno). -ffp-contract=off: no
# a * b + c fused into one rounding where the target has FMA (BPNET_NATIVE=1 builds, the
# AVX2 and AVX-512 versions of target_clones functions), so every build and every
# version computes the same bits. -pthread: the epoch kernel runs a small team of POSIX
# threads.
compile_args = ["-O3" if not DEBUG else "-O0", "-fno-math-errno", "-ffp-contract=off", "-pthread"]
if DEBUG:
    compile_args.append("-g")
if NATIVE:
    compile_args.append("-march=native")

directives = {
    "language_level": "3",
    "boundscheck": DEBUG,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": DEBUG,
    "nonecheck": False,
    "embedsignature": True,
}

modules = ["_blas", "_numpy_math", "_activations", "_losses", "_kernels", "_team", "_sgd_fast"]
extensions = [
    Extension(
        f"bpnet.{name}",
        [f"bpnet/{name}.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
        extra_compile_args=compile_args,
        extra_link_args=["-pthread"],
    )
    for name in modules
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        # A debug build must not reuse C files generated without the checks.
        force=DEBUG,
    ),
)
