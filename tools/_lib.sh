# Shell helpers shared by the build checks in tools/ (sourced, not run).

# The repository root, whatever directory the calling script was started from.
BPNET_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The calling script, for its --help.
BPNET_SCRIPT="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
# Work from elsewhere: a `python -c` started in the checkout would import its bpnet/
# instead of the build under test.
cd "${TMPDIR:-/tmp}"
# The extras every full run installs: those of the README's test command, so no test
# skips for a missing add-on.
BPNET_FULL_EXTRAS="test,lint,onnx,dask,docs"
# Shared libraries that are an OpenMP runtime (GCC's, LLVM's, Intel's).
BPNET_OPENMP_LIBS='^lib(g|i|)omp[0-9]*[.-]'

log() { printf '%s: %s\n' "$BPNET_TOOL" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# copy_sources DEST: the working tree's sources as git sees them (tracked files and new
# files git does not ignore), without build products, so that a build starts clean and
# sees uncommitted changes.
copy_sources() {
    mkdir -p "$1"
    git -C "$BPNET_REPO" ls-files -z --cached --others --exclude-standard \
        | (cd "$BPNET_REPO" && tar --null --files-from=- --ignore-failed-read -cf -) \
        | tar -xf - -C "$1"
}

# fresh_venv DIR: a new virtual environment with a current pip, from $PYTHON.
fresh_venv() {
    "${PYTHON:-python3}" -m venv "$1"
    "$1/bin/python" -m pip install --quiet --upgrade pip
}

# openmp_needed FILE...: the OpenMP runtimes the ELF files ask the loader for.
openmp_needed() {
    local file
    for file in "$@"; do
        readelf --dynamic "$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
    done | grep -E "$BPNET_OPENMP_LIBS" | sort -u || true
}

# extension_modules DIR: bpnet's compiled modules under DIR.
extension_modules() {
    find "$1" -path '*bpnet/*' -name '_*.so' | sort
}

# run_suite PYTHON CHECKOUT LOG [PYTEST ARGS...]: the full suite against the bpnet
# installed for PYTHON, its output kept in LOG; prints pytest's closing line. Quiet (-q)
# unless the arguments set the verbosity themselves: a second -q would drop that line.
run_suite() {
    local python="$1" checkout="$2" logfile="$3"
    shift 3
    local status=0 quiet=(-q) arg
    for arg in "$@"; do
        case $arg in -q* | -v* | --quiet | --verbose | --verbosity*) quiet=() ;; esac
    done
    nice -n 19 "$python" "$checkout/tools/run_installed_tests.py" "$checkout" "${quiet[@]}" "$@" \
        2>&1 | tee "$logfile" >&2 || status=$?
    grep -E '^=*[ ]*[0-9]+ (passed|failed)' "$logfile" | tail -n 1 | tr -d '='
    return "$status"
}
