#!/usr/bin/env bash
# The full suite against bpnet built two other ways than the default (GCC with OpenMP):
#
#   clang      CC=clang: the extensions compiled by clang, with LLVM's OpenMP runtime
#   no-openmp  BPNET_NO_OPENMP=1: no OpenMP at all, as Apple's clang without libomp builds
#
#   tools/test_build_variants.sh [--only clang|no-openmp] [-- PYTEST ARGS...]
#
# Each variant gets its own copy of the working tree's sources (so no object file is
# shared between builds) and a fresh virtual environment, where `pip install` builds and
# installs bpnet with the extras of the README's test command; the suite then runs
# against the installed package (tools/run_installed_tests.py). Before the suite, each
# build is checked to be the variant it claims: clang's name in the extensions'
# .comment section, and the OpenMP runtime they link (none for no-openmp).
#
# Installs clang and libomp-dev with apt-get when they are missing (as root). The last
# line is a summary; the exit status is 0 only if every variant passed.
set -euo pipefail
BPNET_TOOL="test_build_variants"
source "$(dirname "$0")/_lib.sh"

variants=(clang no-openmp)
while [[ $# -gt 0 ]]; do
    case "$1" in
        --only) variants=("$2"); shift 2 ;;
        --) shift; break ;;
        -h | --help) sed -n '2,17p' "$BPNET_SCRIPT"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
command -v readelf > /dev/null || die "readelf not found (install binutils)"

# clang's OpenMP is LLVM's runtime, which Debian packages apart from clang.
if [[ " ${variants[*]} " == *" clang "* ]] \
    && ! { command -v clang > /dev/null && dpkg -s libomp-dev > /dev/null 2>&1; }; then
    [[ $(id -u) -eq 0 ]] || die "clang or libomp-dev missing: apt-get install clang libomp-dev"
    log "installing clang and libomp-dev"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libomp-dev > /dev/null
fi

scratch="$(mktemp -d "${TMPDIR:-/tmp}/bpnet-build-variants.XXXXXX")"
failed=0
trap 'if [[ $failed -eq 0 ]]; then rm -rf "$scratch"; else log "kept $scratch"; fi' EXIT

# check_variant NAME PYTHON: the bpnet installed for PYTHON is built the way NAME says,
# by its extensions' .comment sections and linked libraries, and by its own word.
check_variant() {
    local name="$1" python="$2" site modules openmp says
    site="$("$python" -c 'import sysconfig; print(sysconfig.get_path("platlib"))')"
    mapfile -t modules < <(extension_modules "$site")
    [[ ${#modules[@]} -gt 0 ]] || { echo "no compiled extension installed"; return 1; }
    openmp="$(openmp_needed "${modules[@]}" | tr '\n' ' ')"
    says="$("$python" -c 'from bpnet._parallel import openmp_available as a; print(int(a()))')"
    case "$name" in
        clang)
            for module in "${modules[@]}"; do
                readelf -p .comment "$module" | grep -q "clang version" \
                    || { echo "$(basename "$module") was not compiled by clang"; return 1; }
            done
            [[ -n "$openmp" && $says -eq 1 ]] \
                || { echo "the clang build has no OpenMP (links: ${openmp:-none})"; return 1; }
            echo "compiled by $(clang --version | head -n 1), OpenMP from ${openmp% }"
            ;;
        no-openmp)
            [[ -z "$openmp" && $says -eq 0 ]] \
                || { echo "the BPNET_NO_OPENMP=1 build has OpenMP (links: ${openmp:-none})"; return 1; }
            echo "no OpenMP: none linked, openmp_available() False"
            ;;
    esac
}

summary=()
for name in "${variants[@]}"; do
    case "$name" in
        clang) build_env=(CC=clang CXX=clang++) ;;
        no-openmp) build_env=(BPNET_NO_OPENMP=1) ;;
        *) die "unknown variant $name (clang or no-openmp)" ;;
    esac
    started=$SECONDS
    log "$name: building and installing (${build_env[*]})"
    copy_sources "$scratch/$name/src"
    fresh_venv "$scratch/$name/venv"
    if ! env "${build_env[@]}" nice -n 19 "$scratch/$name/venv/bin/pip" install --quiet \
        "$scratch/$name/src[$BPNET_FULL_EXTRAS]" >&2; then
        summary+=("$name: FAILED (build)")
        failed=1
        continue
    fi
    if ! what="$(check_variant "$name" "$scratch/$name/venv/bin/python")"; then
        summary+=("$name: FAILED ($what)")
        failed=1
        continue
    fi
    log "$name: $what; running the suite"
    if closing="$(run_suite "$scratch/$name/venv/bin/python" "$scratch/$name/src" \
        "$scratch/$name/pytest.log" "$@")"; then
        summary+=("$name: PASSED ($what; $closing; $(((SECONDS - started) / 60)) min)")
    else
        summary+=("$name: FAILED ($what; $closing; log $scratch/$name/pytest.log)")
        failed=1
    fi
done

status="PASSED"
[[ $failed -eq 0 ]] || status="FAILED"
(IFS="|"; echo "test_build_variants: $status | ${summary[*]}")
exit "$failed"
