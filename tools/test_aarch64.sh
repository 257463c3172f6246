#!/usr/bin/env bash
# The full suite on aarch64, emulated: a Debian arm64 root made with debootstrap, run
# through qemu-user-static, in which bpnet is built from a clone of the repository.
#
#   tools/test_aarch64.sh [--fresh] [-- PYTEST ARGS...]
#
# Runs as root (debootstrap, mount, chroot) on a Debian or Ubuntu x86-64 host; installs
# debootstrap, qemu-user-static and binfmt-support with apt-get when they are missing and
# registers qemu's aarch64 handler with binfmt_misc. The root is kept between runs in
# $BPNET_AARCH64_ROOT (default /var/tmp/bpnet-aarch64-root) with its virtual environment,
# so later runs skip debootstrap and the dependencies' installs; --fresh makes a new one.
# Each run clones the repository's committed HEAD into the root, installs it there with
# the extras of the README's test command but onnx (NumPy, SciPy and scikit-learn come as
# aarch64 wheels; bpnet is compiled by the root's gcc) and runs the suite. onnxruntime's
# aarch64 wheel crashes on import under qemu-user (a segmentation fault in its native
# module, before any bpnet code runs), so the ONNX export tests skip there.
# $BPNET_DEBIAN_MIRROR picks the Debian mirror (debootstrap's default otherwise), and
# $BPNET_TEST_TIMEOUT_SCALE the factor on the tests' subprocess time limits (default 40)
# and $BPNET_AARCH64_WORKERS the number of pytest-xdist workers (default: the host's cores).
#
# Slow: emulation runs the suite many times slower than native. It stays out of CI. The
# last line is a summary; the exit status is 0 only if the suite passed.
set -euo pipefail
BPNET_TOOL="test_aarch64"
source "$(dirname "$0")/_lib.sh"

root="${BPNET_AARCH64_ROOT:-/var/tmp/bpnet-aarch64-root}"
release="bookworm"
fresh=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --fresh) fresh=1; shift ;;
        --) shift; break ;;
        -h | --help) sed -n '2,21p' "$BPNET_SCRIPT"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
[[ $(id -u) -eq 0 ]] || die "run as root (debootstrap, mount and chroot need it)"
started=$SECONDS

missing=()
command -v debootstrap > /dev/null || missing+=(debootstrap)
[[ -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P || -x /usr/bin/qemu-aarch64-static ]] \
    || missing+=(qemu-user-static)
command -v update-binfmts > /dev/null || missing+=(binfmt-support)
if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" > /dev/null
fi
# In a container binfmt_misc may not be mounted, and the handler not yet enabled.
binfmt=/proc/sys/fs/binfmt_misc
[[ -e $binfmt/register ]] || mount -t binfmt_misc binfmt_misc "$binfmt"
[[ -e $binfmt/qemu-aarch64 ]] || update-binfmts --enable qemu-aarch64
grep -q '^enabled' "$binfmt/qemu-aarch64" || die "qemu's aarch64 handler is not enabled"

# Mounts inside the root, in mounting order; unmounted in reverse on every exit, before
# anything could delete the root.
mounts=(proc sys dev dev/pts dev/shm)
unmount_all() {
    local i
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
        if mountpoint -q "$root/${mounts[i]}"; then umount -l "$root/${mounts[i]}"; fi
    done
}
trap unmount_all EXIT
unmount_all

if [[ $fresh -eq 1 && -d $root ]]; then
    findmnt -rn -o TARGET | grep -q "^$root/" && die "something is still mounted under $root"
    log "removing the old root $root"
    rm -rf --one-file-system "$root"
fi
phase=$SECONDS
if [[ ! -e $root/.bpnet-root-ready ]]; then
    log "debootstrap: Debian $release arm64 into $root"
    mkdir -p "$root"
    nice -n 19 debootstrap --arch=arm64 --variant=minbase \
        --include=python3,python3-venv,python3-dev,gcc,g++,ca-certificates \
        "$release" "$root" ${BPNET_DEBIAN_MIRROR:+"$BPNET_DEBIAN_MIRROR"} >&2
    touch "$root/.bpnet-root-ready"
    root_time="$(((SECONDS - phase) / 60)) min"
else
    root_time="reused"
fi

mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t tmpfs tmpfs "$root/dev/shm"
# The host's name resolution and certificate authorities (a proxy's may be among them).
cp /etc/resolv.conf "$root/etc/resolv.conf"
[[ -f /etc/ssl/certs/ca-certificates.crt ]] \
    && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"

rm -rf "$root/work/bpnet"
mkdir -p "$root/work"
git clone --quiet --no-hardlinks "$BPNET_REPO" "$root/work/bpnet"
commit="$(git -C "$root/work/bpnet" rev-parse --short HEAD)"

chroot="$(command -v chroot)"
# The tests' subprocess time limits are sized for native hardware; emulated, a child that
# imports NumPy, SciPy and scikit-learn takes 20 to 40 times as long.
timeout_scale="${BPNET_TEST_TIMEOUT_SCALE:-40}"
# A clean environment inside: only the proxy settings pass from the host.
inside() {
    local passed=() name
    for name in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
        [[ -n "${!name:-}" ]] && passed+=("$name=${!name}")
    done
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        LANG=C.UTF-8 BPNET_TEST_TIMEOUT_SCALE="$timeout_scale" "${passed[@]}" \
        nice -n 19 "$chroot" "$root" "$@"
}

log "building bpnet $commit inside (python: $(inside python3 --version))"
phase=$SECONDS
if [[ ! -x $root/work/venv/bin/python ]]; then
    inside python3 -m venv /work/venv
    inside /work/venv/bin/pip install --quiet --upgrade pip >&2
fi
inside /work/venv/bin/pip install --quiet -e "/work/bpnet[${BPNET_FULL_EXTRAS/,onnx/}]" >&2 \
    || die "bpnet did not build or install in the arm64 root"
# After the install: the docs extra brings the onnx extra back by name.
inside /work/venv/bin/pip uninstall --quiet --yes onnxruntime > /dev/null 2>&1 || true
inside /work/venv/bin/python -c 'import onnxruntime' > /dev/null 2>&1 \
    && die "onnxruntime is still importable in the arm64 root"
build_time="$(((SECONDS - phase) / 60)) min"
machine="$(inside /work/venv/bin/python -c 'import platform; print(platform.machine())')"
[[ $machine == aarch64 ]] || die "the root's Python runs as $machine, not aarch64"

log "running the suite inside"
RESET_SIGINT='import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.executable, [sys.executable, "-m", "pytest", *sys.argv[1:]])' 
phase=$SECONDS
status=0
# SIGINT back to its default first: a shell without job control starts background
# commands with it ignored, which Python would keep, and the Ctrl-C tests need it.
# pytest-xdist (the test extra's) runs one worker per host core: it halves the hours.
workers="${BPNET_AARCH64_WORKERS:-$(nproc)}"
# Quiet (-q) unless the arguments set the verbosity themselves, as run_suite does: a -v
# given after -q would only cancel it, and leave the failures unnamed until the end.
quiet=(-q)
for arg in "$@"; do
    case $arg in -q* | -v* | --quiet | --verbose | --verbosity*) quiet=() ;; esac
done
inside sh -c 'cd /work/bpnet && n="$1" && shift && exec /work/venv/bin/python -c "$0" -n "$n" "$@"' \
    "$RESET_SIGINT" "$workers" "${quiet[@]}" "$@" \
    2>&1 | tee "$root/work/pytest.log" >&2 || status=$?
closing="$(grep -E '^=*[ ]*[0-9]+ (passed|failed)' "$root/work/pytest.log" | tail -n 1 | tr -d '=')"
suite_time="$(((SECONDS - phase) / 60)) min"

result="PASSED"
[[ $status -eq 0 ]] || result="FAILED"
echo "test_aarch64: $result bpnet $commit on Debian $release arm64 under qemu;" \
    "root $root_time, build $build_time, suite $suite_time: ${closing:-no result};" \
    "total $(((SECONDS - started) / 60)) min (log: $root/work/pytest.log)"
exit "$status"
