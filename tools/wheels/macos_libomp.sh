#!/usr/bin/env bash
# cibuildwheel's before-build step on macOS: an LLVM OpenMP runtime for the wheel's
# architecture, in the prefix whose include/ and lib/ pyproject.toml's CFLAGS and LDFLAGS
# name. delocate then copies libomp.dylib into the wheel.
#
# It comes from conda-forge's llvm-openmp, as scikit-learn's wheels get theirs: those
# builds target old macOS releases, while Homebrew's libomp is built for the runner's own
# release and would raise the wheel's minimum macOS version. Needs conda (or mamba) on
# PATH, as on a CI runner set up with Miniforge. The prefix is reused when it already
# holds the runtime, so the step costs nothing after the first wheel of an architecture.
set -euo pipefail

arch="${BPNET_LIBOMP_ARCH:?set by pyproject.toml for each macOS architecture}"
prefix="${BPNET_LIBOMP_PREFIX:?set by pyproject.toml for each macOS architecture}"
# The oldest-targeting build, as scikit-learn pins it; newer ones need newer macOS.
version="11.1.0"

if [[ -f "$prefix/lib/libomp.dylib" ]]; then
    echo "libomp for $arch already in $prefix"
    exit 0
fi
case "$arch" in
    arm64) subdir="osx-arm64" ;;
    x86_64) subdir="osx-64" ;;
    *) echo "macos_libomp.sh: unknown architecture '$arch'" >&2; exit 2 ;;
esac
conda_exe="$(command -v mamba || command -v conda || true)"
if [[ -z "$conda_exe" ]]; then
    echo "macos_libomp.sh: needs conda or mamba on PATH to fetch llvm-openmp" >&2
    exit 2
fi
# CONDA_SUBDIR picks the wheel's architecture, which may differ from the runner's.
CONDA_SUBDIR="$subdir" "$conda_exe" create --yes --quiet --prefix "$prefix" \
    --channel conda-forge --override-channels "llvm-openmp=$version"
test -f "$prefix/lib/libomp.dylib" && test -f "$prefix/include/omp.h"
echo "libomp $version for $arch in $prefix"
