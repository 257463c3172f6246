"""Callbacks for long fits: checkpoints that survive a crash, and plain-text progress.

They follow scikit-learn's callback protocol (``sklearn.callback``): set them with
``estimator.set_callbacks(...)``, alone or beside scikit-learn's own ``ProgressBar`` and
``ScoringMonitor``. A bpnet fit is a task whose subtasks are its epochs ('sgd', 'adam')
or iterations ('lbfgs').
"""

import copy
import os
import re
import string
import sys
import time
import warnings
from numbers import Integral
from pathlib import Path

__all__ = ["Checkpoint", "ProgressText", "progress"]

# The names of the subtasks a bpnet fit creates (see bpnet/_training.py, FitTasks).
_STEP_TASKS = ("epoch", "iteration")

# What a fitted estimator carries only because a fit with callbacks is running.
_CALLBACK_ATTRIBUTES = (
    "_skl_callbacks",
    "_callback_fit_ctx",
    "_skl_callbacks_to_teardown",
    "_parent_callback_ctx",
)


def _is_step(context):
    return context.task_name in _STEP_TASKS


class Checkpoint:
    """Write the model to a file during fit, so that a crash loses little work.

    The file holds the model as it was at the end of an epoch (or L-BFGS iteration):
    weights, optimizer state and records, so that it loads, predicts, and continues with
    ``partial_fit`` or ``warm_start`` exactly as the uninterrupted model would have from
    that epoch. Each write is atomic: the model goes to a temporary file beside the
    target (``.<name>.<process id>.tmp``), is flushed to disk (fsync), and is renamed
    over the target, so the file is always a complete checkpoint, whenever the process
    dies. A process killed during a write (``SIGKILL``) leaves its temporary file
    behind; the next fit with a Checkpoint for the same file removes it.

    The path is checked when the Checkpoint is made, and its folder when a fit starts,
    before any epoch runs: a path that cannot be written fails at once, not after an
    epoch of training.

    Parameters
    ----------
    path : str or path-like
        The file to write. ``{epoch}`` in the file name, if present, is replaced by the
        epoch number (a format such as ``{epoch:04d}`` is allowed), keeping one file per
        checkpoint; otherwise each checkpoint replaces the last. No other ``{...}``
        field may appear; write ``{{`` and ``}}`` for literal braces.

    every : int or None, default=1
        Write every ``every`` epochs. None writes only on improvement.

    on_improvement : bool, default=False
        Also write whenever the early-stopping validation score improves (needs
        ``early_stopping=True``).

    format : {'auto', 'skops', 'joblib'}, default='auto'
        'skops' writes a skops file, which loads without running arbitrary code
        (``skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))``);
        'joblib' a joblib (pickle) file. 'auto' is 'skops' when skops is installed, else
        'joblib' with a warning.

    Attributes
    ----------
    written_ : list of pathlib.Path
        The files written, in order (a name appears once per write).

    See Also
    --------
    ProgressText : A line of text per epoch.

    Examples
    --------
    >>> from bpnet import BPClassifier
    >>> from bpnet.callbacks import Checkpoint
    >>> from sklearn.datasets import load_iris
    >>> import tempfile, os
    >>> X, y = load_iris(return_X_y=True)
    >>> path = os.path.join(tempfile.mkdtemp(), "model-{epoch}.skops")
    >>> checkpoint = Checkpoint(path, every=50)
    >>> clf = BPClassifier(learning_rate_init=0.01, max_iter=1000, random_state=0)
    >>> clf = clf.set_callbacks(checkpoint).fit(X, y)
    >>> [file.name for file in checkpoint.written_]
    ['model-50.skops', 'model-100.skops', 'model-150.skops']
    """

    def __init__(self, path, *, every=1, on_improvement=False, format="auto"):
        if every is not None and (
            isinstance(every, bool) or not isinstance(every, Integral) or every < 1
        ):
            raise ValueError(f"every must be a positive int or None, got {every!r}.")
        if every is None and not on_improvement:
            raise ValueError("With every=None, set on_improvement=True, or nothing is written.")
        if format not in ("auto", "skops", "joblib"):
            raise ValueError(f"format must be 'auto', 'skops' or 'joblib', got {format!r}.")
        _check_path_template(path)
        self.path = path
        self.every = every
        self.on_improvement = on_improvement
        self.format = format
        self.written_ = []

    def _writer(self):
        if self.format in ("auto", "skops"):
            try:
                import skops.io as sio
            except ImportError:
                if self.format == "skops":
                    raise ImportError(
                        "Checkpoint(format='skops') needs skops: pip install 'bpnet[skops]'."
                    ) from None
                warnings.warn(
                    "skops is not installed, so Checkpoint writes joblib (pickle) files, "
                    "which can run arbitrary code when loaded: load only files you wrote, "
                    "or install skops ('bpnet[skops]').",
                    UserWarning,
                    stacklevel=3,
                )
            else:
                return sio.dumps
        import io

        import joblib

        def dumps(obj):
            buffer = io.BytesIO()
            joblib.dump(obj, buffer)
            return buffer.getvalue()

        return dumps

    def setup(self, estimator, context):
        self._dumps = self._writer()
        _remove_stale_temporaries(self.path)
        _check_folder_is_writable(self.path)

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        if not _is_step(context) or fitted_estimator is None:
            return False
        epoch = fitted_estimator.n_iter_
        due = self.every is not None and epoch % self.every == 0
        if self.on_improvement and not due:
            # Improved as early stopping counts it: better than every earlier epoch.
            scores = getattr(fitted_estimator, "validation_scores_", None) or []
            due = bool(scores) and scores[-1] > max(scores[:-1], default=-float("inf"))
        if due:
            self._write(fitted_estimator, epoch)
        return False

    def _write(self, fitted_estimator, epoch):
        model = copy.copy(fitted_estimator)
        for name in _CALLBACK_ATTRIBUTES:
            model.__dict__.pop(name, None)
        target = _target(self.path, epoch)
        temporary = _temporary(target)
        data = self._dumps(model)
        try:
            with open(temporary, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            # Name the user's file, not the temporary one they never chose.
            raise type(error)(
                error.errno, f"Checkpoint cannot write {str(target)!r}: {error.strerror}"
            ) from error
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        _sync_directory(target.parent)
        self.written_.append(target)


# --- Checkpoint's paths ---------------------------------------------------------------


def _check_path_template(path):
    """Raise TypeError or ValueError now for a path that no epoch could be written to."""
    if not isinstance(path, (str, os.PathLike)) or not isinstance(os.fspath(path), str):
        raise TypeError(
            "Checkpoint's path must be a str or a path-like object such as a pathlib.Path, "
            f"got {type(path).__name__}: {path!r}."
        )
    text = os.fspath(path)
    folder, name = os.path.split(text)
    if name in ("", ".", ".."):
        raise ValueError(f"Checkpoint's path {text!r} names no file.")
    advice = "only {epoch} may appear in braces; write {{ and }} for literal braces"
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(text) if field is not None]
    except ValueError as error:
        raise ValueError(
            f"Checkpoint's path {text!r} is not a template ({error}): {advice}."
        ) from None
    others = [field for field in fields if field != "epoch"]
    if others:
        shown = ", ".join("{" + field + "}" for field in others)
        raise ValueError(f"Checkpoint's path {text!r} uses {shown}: {advice}.")
    try:
        text.format(epoch=1)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"Checkpoint's path {text!r} cannot format an epoch number ({error})."
        ) from None
    if any(field is not None for _, field, _, _ in string.Formatter().parse(folder)):
        raise ValueError(
            f"Checkpoint's path {text!r} has {{epoch}} in its folder: put it in the file "
            f"name ({name!r}) only, so that one folder holds every checkpoint."
        )


def _target(path, epoch):
    """The file that the checkpoint of ``epoch`` goes to."""
    return Path(os.fspath(path).format(epoch=epoch))


def _temporary(target):
    """Where a checkpoint is written before it is renamed over ``target``."""
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def _check_folder_is_writable(path):
    """Fail before the first epoch, naming the user's path, if no checkpoint can be
    written there: the folder is missing, or a file cannot be made in it."""
    folder = _target(path, 1).parent
    if not folder.is_dir():
        problem = "does not exist" if not folder.exists() else "is not a folder"
        raise FileNotFoundError(
            f"Checkpoint cannot write {os.fspath(path)!r}: its folder {str(folder)!r} {problem}."
        )
    # Writing a file is the one check that holds for every reason (permissions, a
    # read-only file system, root's rights).
    probe = _temporary(folder / ".bpnet-checkpoint-probe")
    try:
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise type(error)(
            error.errno,
            f"Checkpoint cannot write {os.fspath(path)!r}: no file can be made in its folder "
            f"{str(folder)!r} ({error.strerror})",
        ) from None


def _remove_stale_temporaries(path):
    """Remove the temporary files that dead processes left for this path's targets.

    A process killed while writing a checkpoint leaves ``.<name>.<pid>.tmp`` beside the
    target. Those of a running process (another fit writing the same target) stay.
    """
    name_pattern = "".join(
        re.escape(literal) + ("" if field is None else ".+?")
        for literal, field, _, _ in string.Formatter().parse(Path(os.fspath(path)).name)
    )
    pattern = re.compile(rf"\.{name_pattern}\.(\d+)\.tmp")
    try:
        candidates = list(_target(path, 1).parent.iterdir())
    except OSError:
        return
    for candidate in candidates:
        match = pattern.fullmatch(candidate.name)
        if match and not _process_is_running(int(match[1])):
            try:
                candidate.unlink()
            except OSError:
                pass  # removed meanwhile, or not ours to remove: nothing to do


def _process_is_running(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except (OverflowError, ValueError):
        return False  # no process can have that id
    return True


def _sync_directory(directory):
    """Make a rename durable: fsync the directory that holds the file (POSIX)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


class ProgressText:
    """A plain line of text per epoch, for output that is not a terminal.

    Each line gives the epoch, the loss, the validation score, the time elapsed and the
    time left. For logs, notebooks without widgets and terminals without rich, where scikit-learn's
    ``ProgressBar`` cannot draw (see :func:`progress`). The estimated time left assumes
    every remaining epoch up to ``max_iter`` runs; early stopping may end sooner.

    Parameters
    ----------
    file : file-like, default=None
        Where to write; None means ``sys.stderr``.

    See Also
    --------
    progress : ProgressBar where it can draw, else ProgressText.

    Examples
    --------
    >>> import io
    >>> from bpnet import BPRegressor
    >>> from bpnet.callbacks import ProgressText
    >>> from sklearn.datasets import make_regression
    >>> X, y = make_regression(n_samples=50, n_features=3, random_state=0)
    >>> out = io.StringIO()
    >>> reg = BPRegressor(learning_rate_init=0.1, random_state=0).set_callbacks(ProgressText(out))
    >>> reg = reg.fit(X, y)
    >>> out.getvalue().splitlines()[0].startswith("BPRegressor epoch 1/200  loss")
    True
    """

    def __init__(self, file=None):
        self.file = file

    def setup(self, estimator, context):
        self._started = {}

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        if context.parent is None or not _is_step(context):
            self._started.setdefault(id(estimator), time.perf_counter())

    def on_fit_task_end(self, estimator, context):
        if not _is_step(context):
            return False
        elapsed = time.perf_counter() - self._started.get(id(estimator), time.perf_counter())
        step = estimator.n_iter_ if context.task_name == "epoch" else context.task_id + 1
        total = context.parent.max_subtasks if context.parent is not None else None
        if context.task_name == "iteration" and total:
            total -= 1  # the extra task SciPy opens but never runs
        line = [f"{type(estimator).__name__} {context.task_name} {step}/{total or '?'}"]
        curve = getattr(estimator, "loss_curve_", None)
        if context.task_name == "epoch" and curve:
            line.append(f"loss {curve[-1]:.6g}")
        scores = getattr(estimator, "validation_scores_", None)
        if context.task_name == "epoch" and scores:
            line.append(f"validation {scores[-1]:.6g}")
        line.append(f"elapsed {elapsed:.2f}s")
        if total:
            line.append(f"eta {elapsed / step * max(total - step, 0):.2f}s")
        print("  ".join(line), file=self.file if self.file is not None else sys.stderr, flush=True)
        return False


def progress(file=None):
    """Return scikit-learn's rich ``ProgressBar`` where it can draw, else ProgressText.

    The bar needs rich and a terminal; otherwise (rich missing, output redirected to a
    file or a log) a line of text per epoch reads better.

    Parameters
    ----------
    file : file-like, default=None
        Where :class:`ProgressText` writes, and whose terminal-ness is checked; None
        means ``sys.stderr``.

    Returns
    -------
    callback : ProgressBar or ProgressText
        The callback to pass to ``set_callbacks``.

    See Also
    --------
    ProgressText : The line of text per epoch.
    Checkpoint : Files to continue from after a crash.

    Examples
    --------
    >>> import io
    >>> from bpnet.callbacks import ProgressText, progress
    >>> isinstance(progress(io.StringIO()), ProgressText)  # not a terminal
    True
    """
    stream = file if file is not None else sys.stderr
    if getattr(stream, "isatty", lambda: False)():
        try:
            from sklearn.callback import ProgressBar

            return ProgressBar()
        except ImportError:  # rich is missing
            pass
    return ProgressText(file)
