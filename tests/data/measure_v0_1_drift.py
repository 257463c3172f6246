"""Measure how far today's bpnet is from what bpnet 0.1 computed on the files it saved.

For each of OpenBLAS's x86-64 kernels that this CPU runs (set by OPENBLAS_CORETYPE; the
first row is the kernel OpenBLAS picks itself), load every model in tests/data, predict
the held-out rows and continue training with one partial_fit, and print the largest
distance from bpnet 0.1's numbers in units of eps, as tests/test_persistence_v0_1.py
measures it. V0_1_DRIFT_EPS there must stay above every number printed, with a margin.

    python tests/data/measure_v0_1_drift.py
"""

import os
import subprocess
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The kernel OpenBLAS picks, then the kernels of older CPUs; a kernel this CPU cannot run
# ends its subprocess, which is reported and skipped.
KERNELS = ["", "SkylakeX", "Haswell", "Zen", "Sandybridge", "Nehalem", "Prescott"]


def measure():
    """{case: (largest drift of the predictions, of the continued training)} in eps."""
    sys.path.insert(0, str(ROOT))
    from bpnet import BPClassifier
    from tests.test_persistence_v0_1 import (
        SCRIPT,
        _expected_and_new_rows,
        _load,
        _solver,
        drift_in_eps,
    )

    results = {}
    for case in SCRIPT.CASES:
        model = _load(case, "pickle")
        expected, X_new, y_new = _expected_and_new_rows(case)
        dtype = model.coefs_[0].dtype
        predicted = [("predict", model.predict(X_new))]
        if isinstance(model, BPClassifier):
            predicted = [("predict_proba", model.predict_proba(X_new))]
        prediction = max(drift_in_eps(got, expected[name], dtype) for name, got in predicted)
        training = None
        if _solver(case) != "lbfgs":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.partial_fit(X_new, y_new)
            pairs = [(coef, expected[f"coef_{i}"]) for i, coef in enumerate(model.coefs_)]
            pairs += [(b, expected[f"intercept_{i}"]) for i, b in enumerate(model.intercepts_)]
            pairs += zip(
                model._optimizer.kernel_moments(), (expected["moment_1"], expected["moment_2"])
            )
            pairs.append((model.loss_curve_, expected["loss_curve"]))
            training = max(drift_in_eps(got, want, dtype) for got, want in pairs)
        results[case] = (prediction, training)
    return results


def _openblas_kernel():
    from threadpoolctl import threadpool_info

    pools = [pool for pool in threadpool_info() if pool.get("internal_api") == "openblas"]
    kernels = sorted({str(pool.get("architecture")) for pool in pools})
    return ", ".join(kernels) or "no OpenBLAS"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        results = measure()
        print(f"kernel {_openblas_kernel()}")
        for case, (prediction, training) in results.items():
            shown = "-" if training is None else f"{training:.2f}"
            print(f"  {case:28s} predictions {prediction:6.2f}   continued training {shown}")
        return
    for kernel in KERNELS:
        env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_CORETYPE"}
        if kernel:
            env["OPENBLAS_CORETYPE"] = kernel
        print(f"OPENBLAS_CORETYPE={kernel or '(unset)'}:", flush=True)
        completed = subprocess.run(
            [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True
        )
        if completed.returncode != 0:
            print(f"  cannot run here (exit {completed.returncode})")
            continue
        print(completed.stdout, end="")


if __name__ == "__main__":
    main()
