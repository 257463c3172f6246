"""Callbacks: scikit-learn's protocol, bpnet's Checkpoint and ProgressText, LossCurveDisplay.

A fit is a task whose subtasks are its epochs (sgd, adam) or iterations (lbfgs); a
callback asking to stop ends training after that epoch; interruption, divergence and a
failing callback each leave a defined state, with teardown always run.
"""

import contextlib
import doctest
import io
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
import tomllib
from numpy.testing import assert_array_equal
from sklearn.callback import ProgressBar, ScoringMonitor
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import bpnet
from bpnet import BPClassifier, BPRegressor, LossCurveDisplay, _display, callbacks
from bpnet._training import FitTasks
from bpnet.callbacks import Checkpoint, ProgressText, progress

from ._helpers import NoOpCallback, assert_same_model, quiet_fit

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)


def _digits(n=300):
    X, y = load_digits(return_X_y=True)
    return X[:n] / 16, y[:n]


class Recorder:
    """A callback that records every hook call, and can ask to stop or raise."""

    def __init__(self, stop_at=None, raise_at=None, interrupt_at=None):
        self.events = []
        self.stop_at, self.raise_at, self.interrupt_at = stop_at, raise_at, interrupt_at
        self.error = RuntimeError("a user's callback failed")

    def setup(self, estimator, context):
        self.events.append(("setup", context.task_name))

    def teardown(self, estimator, context):
        self.events.append(("teardown", context.task_name))

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None, metadata=None):
        self.events.append(("begin", context.task_name, context.task_id, context.max_subtasks))
        if self.interrupt_at is not None and context.task_name == "epoch":
            if context.task_id + 1 == self.interrupt_at:
                signal.raise_signal(signal.SIGINT)  # a real Ctrl-C, at this epoch's start

    def on_fit_task_end(self, estimator, context, *, X=None, y=None, metadata=None,
                        fitted_estimator=None):  # fmt: skip
        self.events.append(("end", context.task_name, context.task_id, fitted_estimator is not None,
                            None if metadata is None else sorted(metadata)))  # fmt: skip
        step = context.task_id + 1
        if self.raise_at == step and context.task_name in ("epoch", "iteration"):
            raise self.error
        return self.stop_at == step and context.task_name in ("epoch", "iteration")

    def of(self, kind, name=None):
        return [e for e in self.events if e[0] == kind and (name is None or e[1] == name)]


# --- the protocol ---------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_each_epoch_is_a_subtask(solver):
    X, y = _digits()
    recorder = Recorder()
    est = BPClassifier(hidden_layer_sizes=(10,), solver=solver, max_iter=6, random_state=0)
    est.set_callbacks(recorder).fit(X, y, sample_weight=np.ones(len(y)))
    assert recorder.of("begin", "fit") == [("begin", "fit", 0, 6)]
    assert [e[2] for e in recorder.of("begin", "epoch")] == list(range(6))
    ends = recorder.of("end", "epoch")
    assert [e[2] for e in ends] == list(range(6))
    # Every epoch hands over the sample weights and an estimator of that epoch.
    assert all(e[3] and e[4] == ["sample_weight"] for e in ends)
    assert recorder.events[0] == ("setup", "fit") and recorder.events[-1] == ("teardown", "fit")


def test_fitted_estimator_predicts_with_that_epochs_weights():
    X, y = _digits()
    seen = {}

    class Keep(Recorder):
        def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
            if context.task_name == "epoch":
                seen[context.task_id + 1] = fitted_estimator
            return False

    est = BPClassifier(hidden_layer_sizes=(10,), max_iter=5, random_state=0)
    est.set_callbacks(Keep()).fit(X, y)
    for epochs in (2, 5):
        reference = quiet_fit(
            BPClassifier(hidden_layer_sizes=(10,), max_iter=epochs, random_state=0), X, y
        )
        assert_same_model(seen[epochs], reference)
        assert_array_equal(seen[epochs].predict_proba(X), reference.predict_proba(X))
        assert seen[epochs].loss_curve_ == reference.loss_curve_
    # Later epochs did not change the earlier epochs' estimators.
    assert seen[2].n_iter_ == 2


@pytest.mark.parametrize("early_stopping", [False, True])
def test_a_callback_asking_to_stop_ends_training_as_a_normal_stop(early_stopping):
    X, y = _digits()
    params = dict(hidden_layer_sizes=(10,), random_state=0, early_stopping=early_stopping)
    stopped = BPClassifier(max_iter=50, **params).set_callbacks(Recorder(stop_at=4)).fit(X, y)
    reference = quiet_fit(BPClassifier(max_iter=4, **params), X, y)
    assert stopped.n_iter_ == 4
    assert_same_model(stopped, reference)  # with early stopping, both keep the best epoch
    assert stopped.loss_curve_ == reference.loss_curve_


def test_lbfgs_iterations_are_subtasks_and_can_be_stopped():
    X, y = _digits()
    recorder = Recorder(stop_at=7)
    est = BPClassifier(hidden_layer_sizes=(10,), solver="lbfgs", max_iter=100, random_state=0)
    est.set_callbacks(recorder).fit(X, y)
    assert est.n_iter_ == 7
    ends = recorder.of("end", "iteration")
    # Seven iterations with an estimator each; no other iteration task ran.
    assert [e[2] for e in ends] == list(range(7)) and all(e[3] for e in ends)
    assert recorder.of("begin", "fit")[0][3] == 101


def test_lbfgs_subtasks_begin_and_end_in_pairs():
    X, y = _digits()
    recorder = Recorder()
    est = BPClassifier(hidden_layer_sizes=(10,), solver="lbfgs", max_iter=15, random_state=0)
    est.set_callbacks(recorder).fit(X, y)
    begins, ends = recorder.of("begin", "iteration"), recorder.of("end", "iteration")
    assert len(begins) == len(ends) == est.n_iter_ + 1  # and the one SciPy never ran
    assert sum(e[3] for e in ends) == est.n_iter_


def test_partial_fit_is_one_task():
    X, y = _digits()
    recorder = Recorder()
    est = BPClassifier(hidden_layer_sizes=(10,), random_state=0).set_callbacks(recorder)
    est.partial_fit(X, y, classes=np.arange(10))
    assert recorder.of("begin") == [("begin", "fit", 0, 0)]
    assert len(recorder.of("end")) == 1


def test_no_callback_no_tasks(monkeypatch):
    """A fit without callbacks sets no task up: nothing is paid per epoch."""
    calls = []
    monkeypatch.setattr(FitTasks, "__init__", lambda *a, **k: calls.append(a))
    X, y = _digits()
    quiet_fit(BPClassifier(hidden_layer_sizes=(10,), max_iter=3, random_state=0), X, y)
    assert calls == []
    assert FitTasks.start(BPClassifier(), X, y, None, 3) is None


# --- scikit-learn's own callbacks -----------------------------------------------------


def test_scoring_monitor_logs_one_row_per_epoch():
    X, y = _digits()
    monitor = ScoringMonitor(scoring=["accuracy", "neg_log_loss"])
    est = BPClassifier(hidden_layer_sizes=(10,), max_iter=5, random_state=0).set_callbacks(monitor)
    est.fit(X, y)
    rows = [row for row in monitor.get_logs().data if row["task_name"] == "epoch"]
    assert [row["task_id"] for row in rows] == list(range(5))
    reference = quiet_fit(BPClassifier(hidden_layer_sizes=(10,), max_iter=2, random_state=0), X, y)
    assert rows[1]["accuracy"] == reference.score(X, y)
    assert all(np.isfinite(row["neg_log_loss"]) for row in rows)


def test_scoring_monitor_inside_a_grid_search():
    X, y = _digits()
    monitor = ScoringMonitor(scoring="accuracy")
    model = make_pipeline(
        StandardScaler(), BPClassifier(hidden_layer_sizes=(10,), max_iter=3, random_state=0)
    )
    model[-1].set_callbacks(monitor)
    search = GridSearchCV(model, {"bpclassifier__alpha": [1e-4, 1e-1]}, cv=2)
    search.fit(X, y)
    rows = [row for log in monitor.get_logs(select="all") for row in log.data]
    epochs = [row for row in rows if row["task_name"] == "epoch"]
    # 2 candidates x 2 splits + the refit, 3 epochs each, one row per epoch.
    assert len(epochs) == 5 * 3
    assert all(0 <= row["accuracy"] <= 1 for row in epochs)


def test_progress_bar_draws_nested_bars_down_to_the_epochs():
    X, y = _digits()
    search = GridSearchCV(
        make_pipeline(
            StandardScaler(), BPClassifier(hidden_layer_sizes=(10,), max_iter=3, random_state=0)
        ),
        {"bpclassifier__alpha": [1e-4]},
        cv=2,
    ).set_callbacks(ProgressBar(max_propagation_depth=None))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        search.fit(X, y)
    text = out.getvalue()
    assert "GridSearchCV - fit" in text
    assert "BPClassifier - fit" in text
    assert "100%" in text


def test_progress_bar_on_a_bare_estimator():
    X, y = _digits()
    out = io.StringIO()
    est = BPRegressor(hidden_layer_sizes=(5,), max_iter=4, random_state=0).set_callbacks(
        ProgressBar()
    )
    with contextlib.redirect_stdout(out):
        est.fit(X, y.astype(float))
    assert "BPRegressor - fit" in out.getvalue() and "100%" in out.getvalue()


# --- interruption, divergence and failing callbacks -----------------------------------


def test_ctrl_c_with_callbacks_keeps_the_last_complete_epoch_and_tears_down():
    X, y = _digits()
    recorder = Recorder(interrupt_at=4)
    est = BPClassifier(hidden_layer_sizes=(10,), max_iter=20, random_state=0).set_callbacks(
        recorder
    )
    with pytest.warns(UserWarning, match="interrupted"):
        est.fit(X, y)
    reference = quiet_fit(BPClassifier(hidden_layer_sizes=(10,), max_iter=3, random_state=0), X, y)
    assert est.n_iter_ == 3
    assert_same_model(est, reference)
    assert recorder.events[-1] == ("teardown", "fit")
    begins, ends = recorder.of("begin", "epoch"), recorder.of("end", "epoch")
    assert len(begins) == len(ends) == 4  # the interrupted epoch is ended, as empty
    assert [e[3] for e in ends] == [True, True, True, False]


def test_divergence_with_callbacks_raises_and_tears_down():
    rng = np.random.RandomState(0)
    X, y = rng.randn(60, 3) * 1e150, rng.randn(60) * 1e150
    recorder = Recorder()
    est = BPRegressor(hidden_layer_sizes=(5,), solver="sgd", learning_rate_init=1.0, max_iter=50,
                      random_state=0).set_callbacks(recorder)  # fmt: skip
    with pytest.raises(ValueError, match="non-finite"):
        est.fit(X, y)
    assert recorder.events[-1] == ("teardown", "fit")
    assert all(np.isfinite(c).all() for c in est.coefs_)  # the last finite epoch's weights


def test_a_failing_callback_reaches_the_user_and_leaves_the_last_complete_epoch():
    X, y = _digits()
    recorder = Recorder(raise_at=3)
    est = BPClassifier(hidden_layer_sizes=(10,), max_iter=20, random_state=0, early_stopping=True)
    with pytest.raises(RuntimeError) as raised:
        est.set_callbacks(recorder).fit(X, y)
    assert raised.value is recorder.error
    assert recorder.events[-1] == ("teardown", "fit")
    # Epoch 3 completed before its end hook ran: the model is the one after 3 epochs
    # (its current weights, not the best one, as training did not stop normally).
    assert est.n_iter_ == 3 and len(est.loss_curve_) == 3 and len(est.validation_scores_) == 3
    seen = {}

    class Keep(Recorder):
        def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
            if context.task_name == "epoch" and context.task_id == 2:
                seen["model"] = fitted_estimator
            return context.task_name == "epoch" and context.task_id == 2

    BPClassifier(
        hidden_layer_sizes=(10,), max_iter=20, random_state=0, early_stopping=True
    ).set_callbacks(Keep()).fit(X, y)
    for got, expected in zip(est.coefs_, seen["model"].coefs_, strict=True):
        assert_array_equal(got, expected)


# --- ProgressText and progress() ------------------------------------------------------


def test_progress_text_writes_a_line_per_epoch():
    X, y = _digits()
    out = io.StringIO()
    est = BPClassifier(hidden_layer_sizes=(10,), max_iter=4, early_stopping=True, random_state=0)
    est.set_callbacks(ProgressText(out)).fit(X, y)
    lines = out.getvalue().splitlines()
    assert len(lines) == est.n_iter_
    for epoch, line in enumerate(lines, start=1):
        assert line.startswith(f"BPClassifier epoch {epoch}/4")
        assert f"loss {est.loss_curve_[epoch - 1]:.6g}" in line
        assert f"validation {est.validation_scores_[epoch - 1]:.6g}" in line
        assert "elapsed" in line and "eta" in line


def test_progress_chooses_the_bar_only_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert isinstance(progress(io.StringIO()), ProgressText)
    assert isinstance(progress(Terminal()), ProgressBar)


# --- Checkpoint -------------------------------------------------------------------------


def _load(path):
    return sio.load(path, trusted=sio.get_untrusted_types(file=path))


def test_checkpoint_every_n_epochs_holds_that_epochs_model(tmp_path):
    X, y = _digits()
    path = tmp_path / "model-{epoch}.skops"
    checkpoint = Checkpoint(path, every=2)
    quiet_fit(
        BPClassifier(hidden_layer_sizes=(10,), max_iter=5, random_state=0).set_callbacks(
            checkpoint
        ),
        X,
        y,
    )
    assert [p.name for p in checkpoint.written_] == ["model-2.skops", "model-4.skops"]
    loaded = _load(tmp_path / "model-4.skops")
    reference = quiet_fit(BPClassifier(hidden_layer_sizes=(10,), max_iter=4, random_state=0), X, y)
    assert_same_model(loaded, reference)
    assert not hasattr(loaded, "_skl_callbacks")
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_checkpoint_on_improvement(tmp_path):
    X, y = _digits()
    checkpoint = Checkpoint(tmp_path / "best.skops", every=None, on_improvement=True)
    est = BPClassifier(hidden_layer_sizes=(10,), max_iter=15, early_stopping=True, random_state=0)
    quiet_fit(est.set_callbacks(checkpoint), X, y)
    improvements = sum(
        score == max(est.validation_scores_[: i + 1])
        and score > max([-np.inf, *est.validation_scores_[:i]])
        for i, score in enumerate(est.validation_scores_)
    )
    assert len(checkpoint.written_) == improvements
    best = _load(tmp_path / "best.skops")
    assert best.validation_scores_[-1] == est.best_validation_score_
    assert_array_equal(best.predict(X), est.predict(X))  # early stopping kept that epoch


def test_checkpoint_falls_back_to_joblib_with_a_warning(tmp_path, monkeypatch):
    import joblib

    monkeypatch.setitem(sys.modules, "skops.io", None)
    X, y = _digits()
    checkpoint = Checkpoint(tmp_path / "model.joblib")
    with pytest.warns(UserWarning, match="skops is not installed"):
        quiet_fit(
            BPClassifier(hidden_layer_sizes=(10,), max_iter=2, random_state=0).set_callbacks(
                checkpoint
            ),
            X,
            y,
        )
    assert joblib.load(tmp_path / "model.joblib").n_iter_ == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [({"every": 0}, "every must be"), ({"every": None}, "on_improvement=True"),
     ({"format": "pickle"}, "format must be")],
)  # fmt: skip
def test_checkpoint_rejects_bad_settings(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Checkpoint(tmp_path / "m.skops", **kwargs)


@pytest.mark.parametrize("path", [None, 123, 1.5, b"model.skops", ["model.skops"]])
def test_checkpoint_needs_a_path(path):
    with pytest.raises(TypeError, match="str or a path-like object"):
        Checkpoint(path)


@pytest.mark.parametrize(
    "path, message",
    [
        ("m{}.skops", "uses {}: only {epoch}"),
        ("m{foo}.skops", "uses {foo}: only {epoch}"),
        ("m{epoch}-{n}.skops", "uses {n}: only {epoch}"),
        ("m{.skops", "is not a template"),
        ("m{epoch:q}.skops", "cannot format an epoch number"),
        ("run{epoch}/m.skops", "has {epoch} in its folder"),
        ("", "names no file"),
    ],
)
def test_checkpoint_rejects_a_template_when_made(path, message):
    # At construction, not after the first epoch has trained.
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        Checkpoint(path)
    assert repr(path) in str(error.value)  # names the path


def test_checkpoint_formats_the_epoch_and_keeps_literal_braces(tmp_path):
    X, y = _digits()
    numbered = Checkpoint(tmp_path / "m{epoch:03d}.skops", every=2)
    braces = Checkpoint(tmp_path / "m{{v1}}.skops", every=3)
    est = BPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    quiet_fit(est.set_callbacks(numbered, braces), X, y)
    assert [p.name for p in numbered.written_] == ["m002.skops"]
    assert [p.name for p in braces.written_] == ["m{v1}.skops"]


@pytest.mark.parametrize("folder", ["missing", "a-file"])
def test_checkpoint_checks_its_folder_before_the_first_epoch(tmp_path, folder):
    (tmp_path / "a-file").write_text("not a folder")
    path = tmp_path / folder / "model.skops"
    recorder = Recorder()
    est = BPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    with pytest.raises(FileNotFoundError, match=re.escape(repr(str(path)))):
        est.set_callbacks(recorder, Checkpoint(path)).fit(*_digits())
    assert recorder.events  # the fit had started ...
    assert not [
        event for event in recorder.events if event[:2] == ("begin", "epoch")
    ]  # ... no epoch


class _RemoveFolder(NoOpCallback):
    """A callback that removes a folder at the end of the first epoch."""

    def __init__(self, folder):
        self.folder = folder

    def on_fit_task_end(self, estimator, context):
        if context.task_name == "epoch" and self.folder.exists():
            self.folder.rmdir()
        return False


def test_checkpoint_write_error_names_the_users_file(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    est = BPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    est.set_callbacks(_RemoveFolder(folder), Checkpoint(folder / "model.skops"))
    with pytest.raises(FileNotFoundError) as error:
        est.fit(*_digits())
    message = str(error.value)
    assert repr(str(folder / "model.skops")) in message and ".tmp" not in message


_KILLED_WRITE = textwrap.dedent(
    """
    import os, signal, sys, warnings
    from sklearn.datasets import load_digits
    from bpnet import BPClassifier
    from bpnet.callbacks import Checkpoint

    def killed(fd):  # the process dies between writing the temporary file and renaming it
        os.kill(os.getpid(), signal.SIGKILL)

    warnings.simplefilter("ignore")
    os.fsync = killed
    X, y = load_digits(return_X_y=True)
    est = BPClassifier(hidden_layer_sizes=(10,), max_iter=3, random_state=0)
    est.set_callbacks(Checkpoint(sys.argv[1])).fit(X[:300] / 16, y[:300])
    """
)


def test_a_new_checkpoint_removes_what_a_killed_write_left(tmp_path):
    path = tmp_path / "model.skops"
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITE, str(path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr
    (left,) = tmp_path.glob(".model.skops.*.tmp")
    assert left.stat().st_size > 0 and not path.exists()
    # Temporary files of running processes and of other targets stay.
    running = tmp_path / f".model.skops.{os.getppid()}.tmp"
    other = tmp_path / f".other.skops.{left.name.split('.')[-2]}.tmp"
    for kept in (running, other):
        kept.write_bytes(b"partial")
    est = BPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0)
    quiet_fit(est.set_callbacks(Checkpoint(path)), *_digits())
    assert not left.exists() and path.exists()
    assert running.exists() and other.exists()


def test_a_new_checkpoint_removes_stale_files_of_every_epoch(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    stale = [tmp_path / f".model-{epoch}.skops.{dead}.tmp" for epoch in (4, 12)]
    for file in stale:
        file.write_bytes(b"partial")
    est = BPClassifier(hidden_layer_sizes=(5,), max_iter=1, random_state=0)
    quiet_fit(est.set_callbacks(Checkpoint(tmp_path / "model-{epoch}.skops")), *_digits())
    assert not any(file.exists() for file in stale)
    assert (tmp_path / "model-1.skops").exists()


_KILLED_FIT = textwrap.dedent(
    """
    import os, signal, sys, warnings
    import numpy as np
    from sklearn.datasets import load_digits
    from bpnet import BPClassifier
    from bpnet.callbacks import Checkpoint

    class KillAt:
        def setup(self, estimator, context): pass
        def teardown(self, estimator, context): pass
        def on_fit_task_begin(self, estimator, context): pass
        def on_fit_task_end(self, estimator, context):
            if context.task_name == "epoch" and estimator.n_iter_ == 5:
                os.kill(os.getpid(), signal.SIGKILL)

    warnings.simplefilter("ignore")
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16, y[:300]
    est = BPClassifier(hidden_layer_sizes=(10,), solver="{solver}", max_iter=50, random_state=0)
    est.set_callbacks(Checkpoint(sys.argv[1], every=2), KillAt()).fit(X, y)
    """
)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_sigkill_loses_at_most_n_epochs_and_the_checkpoint_continues_exactly(tmp_path, solver):
    path = tmp_path / "model.skops"
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_FIT.replace("{solver}", solver), str(path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr
    loaded = _load(path)
    assert loaded.n_iter_ == 4  # killed after epoch 5: one epoch lost, at most every=2
    X, y = _digits()
    params = dict(hidden_layer_sizes=(10,), solver=solver, random_state=0)
    reference = quiet_fit(BPClassifier(max_iter=4, **params), X, y)
    assert_same_model(loaded, reference)
    assert loaded.loss_curve_ == reference.loss_curve_ and loaded.t_ == reference.t_
    moments = zip(
        loaded._optimizer.kernel_moments(), reference._optimizer.kernel_moments(), strict=True
    )
    for got, expected in moments:
        assert_array_equal(got, expected)
    assert_array_equal(loaded.predict_proba(X), reference.predict_proba(X))
    # Both continue alike, with partial_fit and with warm_start.
    for continued in (loaded, reference):
        continued.partial_fit(X, y)
    assert_same_model(loaded, reference)
    for continued in (loaded, reference):
        quiet_fit(continued.set_params(warm_start=True, max_iter=3), X, y)
    assert_same_model(loaded, reference)
    assert loaded.loss_curve_ == reference.loss_curve_


# --- LossCurveDisplay -----------------------------------------------------------------


def test_display_plots_the_curves_and_the_kept_epoch(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    X, y = _digits()
    est = quiet_fit(BPClassifier(hidden_layer_sizes=(10,), max_iter=30, early_stopping=True,
                                 n_iter_no_change=3, random_state=0), X, y)  # fmt: skip
    display = LossCurveDisplay.from_estimator(est)
    epochs = np.arange(1, est.n_iter_ + 1)
    assert_array_equal(display.line_.get_xdata(), epochs)
    assert_array_equal(display.line_.get_ydata(), est.loss_curve_)
    assert_array_equal(display.validation_line_.get_ydata(), est.validation_loss_curve_)
    assert display.validation_line_.axes is display.ax_  # a loss: the same axis
    kept = int(np.argmax(est.validation_scores_)) + 1
    assert display.best_epoch_line_.get_xdata()[0] == kept
    # The kept epoch is the one whose weights the model holds.
    assert est.validation_scores_[kept - 1] == est.best_validation_score_
    display.figure_.savefig(tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 1000


def test_display_draws_an_mlps_scores_on_a_second_axis():
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    X, y = _digits()
    mlp = quiet_fit(
        MLPClassifier(hidden_layer_sizes=(10,), max_iter=15, early_stopping=True, random_state=0),
        X,
        y,
    )
    fig, ax = plt.subplots()
    display = LossCurveDisplay.from_estimator(mlp, ax=ax, name="MLP")
    assert display.ax_ is ax and display.score_ax_ is not ax
    assert display.validation_line_.axes is display.score_ax_
    assert_array_equal(display.validation_line_.get_ydata(), mlp.validation_scores_)
    assert ax.get_title() == "MLP"
    plt.close(fig)


def test_display_without_validation_and_for_lbfgs():
    import matplotlib

    matplotlib.use("Agg")
    X, y = _digits()
    est = quiet_fit(
        BPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0), X, y.astype(float)
    )
    display = LossCurveDisplay.from_estimator(est)
    assert display.validation_line_ is None and display.best_epoch_line_ is None
    lbfgs = quiet_fit(
        BPRegressor(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=5), X, y.astype(float)
    )
    with pytest.raises(ValueError, match="no loss_curve_"):
        LossCurveDisplay.from_estimator(lbfgs)


def test_display_draws_the_final_step_of_a_pipeline():
    import matplotlib

    matplotlib.use("Agg")
    from sklearn.compose import TransformedTargetRegressor

    X, y = _digits()
    pipe = quiet_fit(
        make_pipeline(StandardScaler(), BPClassifier(hidden_layer_sizes=(5,), max_iter=4)), X, y
    )
    display = LossCurveDisplay.from_estimator(pipe)
    assert_array_equal(display.line_.get_ydata(), pipe[-1].loss_curve_)
    assert display.ax_.get_title() == "BPClassifier"
    # A regressor whose targets are scaled, inside a Pipeline.
    target_scaled = TransformedTargetRegressor(
        BPRegressor(hidden_layer_sizes=(5,), max_iter=4), transformer=StandardScaler()
    )
    pipe = quiet_fit(make_pipeline(StandardScaler(), target_scaled), X, y.astype(float))
    display = LossCurveDisplay.from_estimator(pipe)
    assert_array_equal(display.line_.get_ydata(), pipe[-1].regressor_.loss_curve_)
    # An lbfgs network is named, with its solver, not the Pipeline.
    lbfgs = quiet_fit(
        make_pipeline(StandardScaler(), BPClassifier(hidden_layer_sizes=(5,), solver="lbfgs")),
        X,
        y,
    )
    with pytest.raises(ValueError, match=r"^BPClassifier \(solver='lbfgs'\) has no loss_curve_"):
        LossCurveDisplay.from_estimator(lbfgs)
    with pytest.raises(NotFittedError):
        LossCurveDisplay.from_estimator(make_pipeline(StandardScaler(), BPClassifier()))


def test_display_names_the_extra_when_matplotlib_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"bpnet\[matplotlib\]"):
        _display._pyplot()


# --- versions, docs -------------------------------------------------------------------


def test_scikit_learn_lower_bound_is_the_first_with_callbacks():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "scikit-learn>=1.9" in project["dependencies"]
    assert "sklearn.callback" in (ROOT / "CHANGELOG.md").read_text()


def test_examples_in_the_docstrings_run():
    for module in (callbacks, _display):
        failures, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert attempted > 0 and failures == 0
    assert "LossCurveDisplay" in bpnet.__all__
