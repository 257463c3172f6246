"""Repeated fit/predict cycles do not leak memory.

Method: run some warm-up cycles (first calls fill caches, import lazily loaded modules
and let the allocator settle), then measure after N and after 2N more cycles. A leak
grows memory linearly with the number of cycles, so the growth between N and 2N is
the signal, while the one-off costs of the warm-up are not counted.

Two measures:
* resident memory (RSS, from /proc/self/statm where there is one), which sees every
  allocation, the C and Cython kernels' own included;
* sys.getallocatedblocks(), the number of live blocks of Python's object allocator,
  which counts every leaked Python object (array headers, memoryviews, dicts, ...)
  one by one, however small.

Tolerances: each cycle below handles arrays of at least 0.12 MB (inputs, outputs and
the kernels' scratch buffers), so leaking any of them once per cycle adds 18 MB or more
over N cycles, three times the 6 MB allowed for allocator and page-granularity noise.
For objects, each cycle makes at least eight fit, predict or kernel calls, so a leak of
one object per call adds 8 N blocks, against the 2 N allowed for caches that may still
settle and for objects that other threads of the process (a process pool's manager
left by an earlier test, for example) allocate meanwhile.
"""

import gc
import os
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from bpnet import BPClassifier, BPRegressor
from bpnet._data import KernelInput
from bpnet._kernels import loss_function, loss_gradient
from bpnet._kernels import predict as predict_kernel
from bpnet._layout import NetworkLayout

from ._helpers import classification_data, regression_data

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MB = 1 << 20
WARMUP, N = 30, 150
RSS_TOLERANCE = 6 * MB
BLOCKS_TOLERANCE = 2 * N


def _resident_bytes():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE_SIZE
    except OSError:
        # No /proc: the peak RSS, which a leak raises as well (kilobytes on Linux, bytes
        # on macOS; either way a steady leak shows as growth).
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _measure():
    gc.collect()
    return _resident_bytes(), sys.getallocatedblocks()


def _assert_no_growth(cycle):
    for i in range(WARMUP):
        cycle(i)
    rss_0, blocks_0 = _measure()
    for i in range(N):
        cycle(i)
    rss_1, blocks_1 = _measure()
    for i in range(N):
        cycle(i)
    rss_2, blocks_2 = _measure()
    report = (
        f"RSS after warm-up / N / 2N cycles: {rss_0 / MB:.1f} / {rss_1 / MB:.1f} / "
        f"{rss_2 / MB:.1f} MB; allocated blocks: {blocks_0} / {blocks_1} / {blocks_2}"
    )
    print(report)
    assert rss_2 - rss_1 < RSS_TOLERANCE, report
    assert rss_2 - rss_0 < 2 * RSS_TOLERANCE, report
    assert blocks_2 - blocks_1 < BLOCKS_TOLERANCE, report
    assert blocks_2 - blocks_0 < 2 * BLOCKS_TOLERANCE, report


@pytest.fixture(scope="module")
def data():
    X, y = classification_data(n_samples=2000, n_features=50, n_classes=3)
    Xr, yr = regression_data(n_samples=2000, n_features=50)
    return {
        "X": X,
        "y": y,
        "Xr": Xr,
        "yr": yr,
        "X32": X.astype(np.float32),
        "Xs": sp.csr_matrix(np.where(np.abs(X) > 1, X, 0)),
        "X_big": np.random.RandomState(0).randn(4000, 50),
    }


def test_fit_predict_cycles_do_not_leak(data):
    d = data
    huge = d["Xr"] * 1e3

    def cycle(i):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = BPClassifier(hidden_layer_sizes=(32,), max_iter=2, random_state=i)
            clf.fit(d["X"], d["y"])
            clf.predict_proba(d["X_big"])
            clf.predict(d["Xs"])
            reg = BPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=3, random_state=i)
            reg.fit(d["X32"], d["yr"]).predict(d["X_big"])
            es = BPRegressor(
                hidden_layer_sizes=(16,), solver="sgd", early_stopping=True, max_iter=2,
                random_state=i,
            )  # fmt: skip
            es.fit(d["Xs"], d["yr"]).predict(d["X32"])
            inc = BPClassifier(hidden_layer_sizes=(16,), solver="sgd", random_state=i)
            inc.partial_fit(d["X32"], d["y"], classes=[0, 1, 2]).partial_fit(d["Xs"], d["y"])
        # Error paths: a divergence and a rejected input, each raising from deep inside.
        try:
            BPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1e10,
                        random_state=i).fit(huge, d["yr"])  # fmt: skip
        except ValueError as exc:
            assert "non-finite" in str(exc)
        else:
            raise AssertionError("expected divergence")
        try:
            clf.predict(d["X"][:, :3])
        except ValueError as exc:
            assert "features" in str(exc)
        else:
            raise AssertionError("expected a feature-count error")

    _assert_no_growth(cycle)


def test_kernel_calls_do_not_leak(data):
    """The kernels allocate their own scratch buffers on each call; all must be freed."""
    layout = NetworkLayout([50, 32, 16, 3], ["tanh", "relu", "softmax"])
    calls = []
    for dtype in (np.float32, np.float64):
        X = data["X_big"][:600].astype(dtype)
        params = np.random.RandomState(0).uniform(-0.1, 0.1, layout.n_params).astype(dtype)
        Y = np.eye(3, dtype=dtype)[np.arange(X.shape[0]) % 3]
        out = np.empty((X.shape[0], 3), dtype=dtype)
        dense = KernelInput(X).x_args
        sparse = KernelInput(sp.csr_matrix(np.where(np.abs(X) > 1, X, 0))).x_args
        calls.append((params, Y, out, np.empty_like(params), dense, sparse))

    def cycle(i):
        for params, Y, out, grads, dense, sparse in calls:
            for x_args in (dense, sparse):
                # Chunks of ~300 rows: a 0.12 MB activation buffer in float64.
                predict_kernel(layout.table, params, *x_args, out, chunk_rows=300 + i % 7)
                loss_gradient(
                    layout.table, loss_function("log_loss"), 1e-4, params, *x_args, Y,
                    np.empty(0, params.dtype), grads, layout.n_coefs,
                )  # fmt: skip
            # A call rejected after its arguments were taken must not leak either.
            try:
                predict_kernel(layout.table, params, *dense, out[:-1])
            except ValueError as exc:
                assert "out must have shape" in str(exc)
            else:
                raise AssertionError("expected a shape error")

    _assert_no_growth(cycle)
