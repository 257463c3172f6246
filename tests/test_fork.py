"""Forked children compute what their parent computes, whatever bpnet's threads did first.

``fork()`` copies only the calling thread: a pool whose workers predicted in the parent, a
lock another thread held, a count of threads in use all come to the child broken unless
bpnet renews them. Each scenario runs in its own interpreter with a timeout, because the
failure is a child that waits forever: the parent fits (its epochs run on a team of
threads), predicts on enough rows that the rows are shared among threads, or forks while
another thread is in the middle of a fit; then children made by ``os.fork``, a
multiprocessing ``fork`` Pool, joblib's ``multiprocessing`` backend (started by fork) and
joblib's ``loky`` backend fit and predict, and their numbers must equal the parent's.
"""

import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import bpnet

from ._helpers import hang_limit

ROOT = Path(__file__).resolve().parent.parent

# A deadlocked child shows as a scenario that does not finish; a healthy one takes a few
# seconds, more on a loaded machine.
SCENARIO_TIMEOUT = hang_limit(240)

SCENARIO = textwrap.dedent(
    """
    import os
    import pickle
    import sys
    import threading
    import traceback
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    from bpnet import BPClassifier
    from _helpers import NoOpCallback

    warnings.simplefilter("ignore", ConvergenceWarning)
    MECHANISM, PARENT = sys.argv[1], sys.argv[2]

    # 20000 rows of 100 features: prediction shares the rows among threads, and a fit's
    # epochs carry enough work for a team of threads.
    rng = np.random.RandomState(0)
    X = rng.randn(20000, 100)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)


    def fit(callbacks=()):
        model = BPClassifier(hidden_layer_sizes=(50,), max_iter=2, random_state=0)
        if callbacks:
            model.set_callbacks(*callbacks)
        return model.fit(X, y)


    def numbers(model):
        # lbfgs products of 1024 x 100 x 256 multiply-adds ask BLAS for all its threads
        # (a setting other calls must wait for); one thread keeps its bits independent
        # of the thread count a worker process is given.
        with threadpool_limits(1):
            lbfgs = BPClassifier(
                hidden_layer_sizes=(256,), solver="lbfgs", max_iter=2, random_state=0
            ).fit(X[:2048], y[:2048])
        return [model.predict_proba(X), fit().coefs_[0], lbfgs.coefs_[0]]


    def in_os_fork(model):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            code = 1
            try:
                with os.fdopen(write_end, "wb") as pipe:
                    pickle.dump(numbers(model), pipe)
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "the forked child failed"
        return [pickle.loads(data)]


    def in_fork_pool(model):
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(2) as pool:
            return pool.map(numbers, [model, model])


    def in_joblib(model, backend):
        from joblib import Parallel, delayed

        return Parallel(n_jobs=2, backend=backend)(delayed(numbers)(model) for _ in range(2))


    class HoldFit(NoOpCallback):
        # A callback that keeps a fit inside its first epoch's end until released: the
        # fit then holds its thread team and its BLAS thread setting.
        def __init__(self):
            self.inside, self.release = threading.Event(), threading.Event()

        def on_fit_task_end(self, estimator, context):
            self.inside.set()
            self.release.wait()
            return False


    model = fit()
    hold = None
    if PARENT == "predict":
        model.predict_proba(X)
    elif PARENT == "fitting":
        hold = HoldFit()
        fitting = threading.Thread(target=fit, args=([hold],))
        fitting.start()
        assert hold.inside.wait(120), "the other thread's fit did not reach its epoch's end"
    try:
        if MECHANISM == "os.fork":
            results = in_os_fork(model)
        elif MECHANISM == "fork-pool":
            results = in_fork_pool(model)
        else:
            results = in_joblib(model, MECHANISM.removeprefix("joblib-"))
    finally:
        if hold is not None:
            hold.release.set()
            fitting.join()
    expected = numbers(model)
    assert len(results) >= 1
    for result in results:
        for got, want in zip(result, expected, strict=True):
            np.testing.assert_array_equal(got, want)
    print("children:", len(results))
    """
)

MECHANISMS = ["os.fork", "fork-pool", "joblib-multiprocessing", "joblib-loky"]
PARENT_STATES = ["fit", "predict"]


def _env_for_bpnet_under_test():
    # On the path: the directory of the bpnet under test first (the checkout, or the
    # installed package's site-packages when tools/run_installed_tests.py runs the suite
    # against a wheel), then the tests' own folder, for _helpers (not the repository
    # root: an installed package named tests would shadow it, and the root's bpnet/ the
    # installed one).
    path = [str(Path(bpnet.__file__).resolve().parent.parent), str(ROOT / "tests")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


def _run_scenario(tmp_path, mechanism, parent):
    script = tmp_path / "scenario.py"
    script.write_text(SCENARIO)
    # joblib's multiprocessing backend starts its workers by fork only where that is
    # the start method (Python 3.14 made forkserver the default on Linux).
    env = {**_env_for_bpnet_under_test(), "JOBLIB_START_METHOD": "fork"}
    try:
        completed = subprocess.run(
            [sys.executable, str(script), mechanism, parent],
            capture_output=True,
            text=True,
            timeout=SCENARIO_TIMEOUT,
            env=env,
            cwd=tmp_path,
        )
    except subprocess.TimeoutExpired as timeout:
        pytest.fail(
            f"{mechanism} after a parent {parent}: no result in {SCENARIO_TIMEOUT} s (a child "
            f"waits forever)\n{timeout.stdout or ''}{timeout.stderr or ''}"
        )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "children:" in completed.stdout


@pytest.mark.parametrize("parent", PARENT_STATES)
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_children_compute_what_the_parent_computes(tmp_path, mechanism, parent):
    _run_scenario(tmp_path, mechanism, parent)


@pytest.mark.parametrize("mechanism", ["os.fork", "fork-pool"])
def test_fork_while_another_thread_fits(tmp_path, mechanism):
    _run_scenario(tmp_path, mechanism, "fitting")


def test_the_issue_reproduction_finishes(tmp_path):
    # The command of the report: a child forked after a large predict predicted again.
    command = (
        "import os,numpy as np;from bpnet import BPClassifier;X=np.random.randn(20000,100);"
        "y=(X[:,0]>0)*1;m=BPClassifier(max_iter=1).fit(X[:500],y[:500]);m.predict(X);"
        "pid=os.fork();m.predict(X);print('child' if pid==0 else 'parent',flush=True);"
        "pid==0 and os._exit(0);os.waitpid(pid,0)"
    )
    try:
        completed = subprocess.run(
            [sys.executable, "-W", "ignore", "-c", command],
            capture_output=True,
            text=True,
            timeout=SCENARIO_TIMEOUT,
            cwd=tmp_path,
            env=_env_for_bpnet_under_test(),
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the child never printed within {SCENARIO_TIMEOUT} s")
    assert completed.returncode == 0, completed.stderr
    # Parent and child print at the same time into one pipe, and a word's newline may
    # come after the other's word ("childparent\n\n"): each word once, in either order.
    assert sorted(re.findall(r"child|parent", completed.stdout)) == ["child", "parent"]


def test_the_fork_handler_tells_its_own_kernel_threads_from_other_threads():
    # _before_fork leaves LLVM's runtime alone while *other* threads hold kernel threads
    # (they may be inside a parallel region); what the forking thread holds is its own.
    from bpnet import _threading

    inside, seen = threading.Event(), {}

    def other():
        with _threading.kernel_threads() as granted:
            seen["granted"] = granted
            inside.set()
            leave.wait(30)

    leave = threading.Event()
    worker = threading.Thread(target=other)
    worker.start()
    try:
        assert inside.wait(30)
        assert _threading.own_threads() == 0
        assert _threading._threads_in_use >= seen["granted"] >= 1
        with _threading.kernel_threads() as mine:
            assert _threading.own_threads() == mine
            assert _threading._threads_in_use - _threading.own_threads() >= seen["granted"]
        assert _threading.own_threads() == 0
    finally:
        leave.set()
        worker.join()
    assert _threading._threads_in_use == 0
