"""The training loops: minibatch epochs for sgd and adam, and the L-BFGS driver."""

import copy
import warnings
from numbers import Integral

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from ._kernels import loss_and_delta_py, loss_gradient
from ._rules import EpochStatus, Schedule, end_epoch_py
from ._sgd_fast import batch_is_cut, draw_orders, train_epochs, workspace_size
from ._threading import blas_threads, direct_product_work, kernel_threads, one_blas_thread

# Rows per block of the full-batch loss and gradient: enough for efficient GEMMs, few
# enough that the activations of one block stay small whatever the size of X.
LBFGS_CHUNK_ROWS = 1024

DIVERGENCE_MESSAGE = (
    "Solver produced non-finite parameter weights. The input data may contain large "
    "values and need to be preprocessed."
)
INTERRUPTED_MESSAGE = "Training interrupted by user."

# Whether a fit whose epochs need no Python in between runs them all in one kernel call
# (train_epochs) rather than one call each: the same numbers, without the per-epoch
# Python of small fits. Tests turn it off to compare the two.
RUN_EPOCHS_IN_ONE_CALL = True

# The statuses of a kernel call that undid the epoch it stopped in.
UNDONE_EPOCH = frozenset({int(EpochStatus.NON_FINITE), int(EpochStatus.INTERRUPTED)})

# The warnings below keep stacklevel=1, as scikit-learn's MLP: they point into bpnet,
# where filters by module expect them, however deep in the fit they were raised.


def _same_state(a, b):
    """Whether two states of a bit generator (its ``state`` dicts, of arrays and
    numbers) are one."""
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(_same_state(a[key], b[key]) for key in a)
        )
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    return a == b


class TrainingState:
    """What an epoch loop owns while it trains: counters, curves, the best value and
    weights, the no-improvement count, and the optimizer's rate and step count.

    It is read from the estimator when the loop starts, changed only by the loop (the
    kernel's ``end_epoch`` applies the rules to ``rules``), and copied onto the
    estimator's attributes at each epoch's end and at the fit's end (``to_estimator``).
    ``snapshot`` and ``restore`` save and bring back the whole of it, with the weights
    and the optimizer's moments, so that an interruption anywhere in an epoch leaves the
    end of the last complete one.

    The counters, and the attributes they become:

    ``n_iter`` (``n_iter_``)
        Epochs run by this call of fit or partial_fit, as in scikit-learn's MLP.
    ``rules["epochs_trained"]`` (``_epochs_trained``)
        Epochs the network has trained since it was initialised, across partial_fit
        calls and warm starts: the epoch in dropout's (seed, epoch, row, unit) key.
    ``rules["samples_seen"]`` (``t_``)
        Training rows seen over all those epochs: scikit-learn's clock for the
        'invscaling' schedule.
    ``rules["adam_steps"]`` (the optimizer's ``adam_steps``)
        Adam's updates, one per batch, which set its bias correction.
    ``rules["schedule_epoch"]`` (``_schedule_epoch``)
        Epochs since the learning-rate schedule began: fit starts it again, partial_fit
        continues it; the position in a cosine or one-cycle schedule and its warm-up.

    Parameters
    ----------
    estimator : BaseBP
        The estimator being trained, whose records the state continues.

    optimizer : StochasticOptimizer
        Its optimizer: the moments, the rate and the step count, and the schedule.

    params : ndarray of shape (n_params,)
        The flat weights the loop trains in place.

    monitors_validation : bool
        Whether the stopping rule follows a validation score (early stopping) rather
        than the training loss.
    """

    # What the state writes onto the estimator, and what else describes the network's
    # training so far (copied for the models handed to callbacks).
    ESTIMATOR_ATTRIBUTES = (
        "n_iter_", "t_", "loss_", "best_loss_", "best_validation_score_",
        "_no_improvement_count", "_epochs_trained", "_schedule_epoch", "loss_curve_",
        "learning_rate_curve_", "validation_scores_", "validation_loss_curve_", "_optimizer",
        "_best_params", "_dropout_seed",
    )  # fmt: skip

    def __init__(self, estimator, optimizer, params, monitors_validation, incremental):
        self.optimizer, self.params = optimizer, params
        self.monitors_validation = monitors_validation
        self.n_iter = 0
        self.loss = getattr(estimator, "loss_", None)
        self.loss_curve = list(estimator.loss_curve_)
        self.learning_rate_curve = list(getattr(estimator, "learning_rate_curve_", []))
        self.validation_scores = self._copy(getattr(estimator, "validation_scores_", None))
        self.validation_loss_curve = self._copy(getattr(estimator, "validation_loss_curve_", None))
        self.best_params = estimator._best_params
        if monitors_validation:
            best = -self._number(getattr(estimator, "best_validation_score_", None), -np.inf)
        else:
            best = self._number(getattr(estimator, "best_loss_", None), np.inf)
        self.rules = {
            "epochs_trained": estimator._epochs_trained,
            "samples_seen": estimator.t_,
            "adam_steps": optimizer.adam_steps,
            "schedule_epoch": getattr(estimator, "_schedule_epoch", 0) if incremental else 0,
            "base_rate": optimizer.learning_rate,
            "learning_rate": optimizer.learning_rate,
            "best": best,
            "no_improvement_count": estimator._no_improvement_count,
            "tol": float(estimator.tol),
            "n_iter_no_change": float(estimator.n_iter_no_change),
            **optimizer.schedule(),
        }
        self._saved = None

    @staticmethod
    def _copy(curve):
        return None if curve is None else list(curve)

    @staticmethod
    def _number(value, default):
        return default if value is None else float(value)

    def record_epochs(self, losses, rates):
        """Count the epochs just trained, of these mean training losses and rates."""
        self.n_iter += len(losses)
        if losses:
            self.loss = np.float64(losses[-1])
            self.loss_curve.extend(losses)
            self.learning_rate_curve.extend(rates)

    def record_validation(self, score, loss):
        self.validation_scores.append(score)
        self.validation_loss_curve.append(loss)

    def _curves(self):
        return (self.loss_curve, self.learning_rate_curve, self.validation_scores,
                self.validation_loss_curve)  # fmt: skip

    def to_estimator(self, estimator):
        """Copy the state onto the estimator's attributes, and the optimizer's."""
        rules = self.rules
        estimator.n_iter_ = self.n_iter
        estimator.t_ = rules["samples_seen"]
        estimator._epochs_trained = rules["epochs_trained"]
        estimator._no_improvement_count = rules["no_improvement_count"]
        estimator._schedule_epoch = rules["schedule_epoch"]
        if self.loss is not None:
            estimator.loss_ = self.loss
        estimator.loss_curve_ = list(self.loss_curve)
        estimator.learning_rate_curve_ = list(self.learning_rate_curve)
        if self.monitors_validation:
            estimator.best_validation_score_ = -rules["best"]
            estimator.validation_scores_ = list(self.validation_scores)
            estimator.validation_loss_curve_ = list(self.validation_loss_curve)
        else:
            estimator.best_loss_ = rules["best"]
        self.optimizer.learning_rate = rules["base_rate"]
        self.optimizer.adam_steps = rules["adam_steps"]

    def snapshot(self):
        """Keep the state as it is, with the weights and moments (the arrays are
        allocated once and overwritten by later snapshots)."""
        if self._saved is None:
            self._saved = {"params": np.empty_like(self.params)}
            if self.monitors_validation:
                self._saved["best_params"] = np.empty_like(self.best_params)
        saved = self._saved
        np.copyto(saved["params"], self.params)
        if self.monitors_validation:
            np.copyto(saved["best_params"], self.best_params)
        saved["optimizer"] = self.optimizer.snapshot(into=saved.get("optimizer"))
        saved["rules"] = dict(self.rules)
        saved["scalars"] = (self.n_iter, self.loss)
        saved["lengths"] = [len(curve) if curve is not None else None for curve in self._curves()]
        saved["taken"] = True

    def restore(self):
        """Go back to the last snapshot; nothing changes if none was taken yet (nothing
        has been trained)."""
        saved = self._saved
        if saved is None or not saved.get("taken"):
            return
        np.copyto(self.params, saved["params"])
        if self.monitors_validation:
            np.copyto(self.best_params, saved["best_params"])
        self.optimizer.restore(saved["optimizer"])
        self.rules = dict(saved["rules"])
        self.n_iter, self.loss = saved["scalars"]
        for curve, length in zip(self._curves(), saved["lengths"], strict=True):
            if curve is not None:
                del curve[length:]


class FitTasks:
    """scikit-learn's callback tasks of one fit: the fit itself, and one subtask per
    epoch (sgd, adam) or iteration (lbfgs).

    Each subtask hands the callbacks the training data, the metadata (the sample
    weights, as LogisticRegression does) and, when a callback asks for it, a
    ``fitted_estimator`` that predicts with that epoch's weights. ``start`` returns None
    when no callback listens, so that a fit without callbacks pays nothing per epoch.
    """

    def __init__(self, estimator, X, y, sample_weight, max_subtasks):
        self.estimator, self.X, self.y = estimator, X, y
        self.metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        self.root = estimator._init_callback_context(max_subtasks=max_subtasks)
        self.current = None

    @classmethod
    def start(cls, estimator, X, y, sample_weight, max_subtasks):
        """The tasks of this fit, begun; None when nothing listens."""
        if not (
            getattr(estimator, "_skl_callbacks", None) or hasattr(estimator, "_parent_callback_ctx")
        ):
            return None
        tasks = cls(estimator, X, y, sample_weight, max_subtasks)
        tasks.root.call_on_fit_task_begin(estimator=estimator, X=X, y=y, metadata=tasks.metadata)
        return tasks

    def finish(self):
        """End the fit's own task, the estimator fitted."""
        self.close_subtask()
        self.root.call_on_fit_task_end(
            estimator=self.estimator, X=self.X, y=self.y, metadata=self.metadata,
            reconstruction_attributes={},
        )  # fmt: skip

    def begin_subtask(self, name, attributes):
        """Begin an epoch or iteration; ``attributes`` (a callable) gives the fitted
        attributes of the model it starts from."""
        self.current = self.root.subcontext(task_name=name)
        self.current.call_on_fit_task_begin(
            estimator=self.estimator, X=self.X, y=self.y, metadata=self.metadata,
            reconstruction_attributes=attributes,
        )  # fmt: skip

    def end_subtask(self, attributes):
        """End the current epoch or iteration; whether a callback asks to stop."""
        current, self.current = self.current, None
        return current.call_on_fit_task_end(
            estimator=self.estimator, X=self.X, y=self.y, metadata=self.metadata,
            reconstruction_attributes=attributes,
        )  # fmt: skip

    def close_subtask(self):
        """End a subtask that did not complete (training stopped inside it) as an empty
        task, so that every begin has its end."""
        if self.current is not None:
            current, self.current = self.current, None
            current.call_on_fit_task_end(estimator=self.estimator)


def fitted_attributes(estimator, layout, params):
    """Copies of what makes ``estimator`` the model it is now: weights, records and
    optimizer state, for a ``fitted_estimator`` handed to callbacks."""
    coefs, intercepts = layout.unpack(params.copy())
    attributes = {"coefs_": coefs, "intercepts_": intercepts}
    for name in TrainingState.ESTIMATOR_ATTRIBUTES:
        if hasattr(estimator, name):
            attributes[name] = copy.deepcopy(getattr(estimator, name))
    return attributes


class ValidationSet:
    """The early-stopping validation data, and how each epoch's model is scored on it.

    Parameters
    ----------
    data : KernelInput
        The validation input, its targets as the kernels read them, and its weights.

    targets : ndarray
        The targets in the form the estimator's scores take (class labels, values).

    sample_weight : ndarray or None
        The rows' weights in the score and the loss.

    X : {ndarray, sparse matrix}
        The validated input, for scikit-learn scorers (which call ``predict``).
    """

    def __init__(self, data, targets, sample_weight, X):
        self.data, self.targets, self.sample_weight, self.X = data, targets, sample_weight, X
        # None for the estimator's own score (accuracy or R², as MLP), "loss" for minus
        # the validation loss, or a scikit-learn scorer; set by the estimator.
        self.scorer = None

    def evaluate(self, estimator, layout, params):
        """``(score, loss)`` of the network ``params`` on the validation data; both NaN
        when its outputs are not finite. The loss is the data loss without the L2 term."""
        output = estimator._forward(self.data, layout, params)
        if np.issubdtype(output.dtype, np.floating) and not np.isfinite(output).all():
            return np.nan, np.nan
        # Huge but finite outputs of a diverging model may overflow in the score.
        with np.errstate(over="ignore", invalid="ignore"):
            loss = self._mean_loss(estimator._kernel_loss(), output)
            if self.scorer is None:
                score = estimator._validation_score(output, self.targets, self.sample_weight)
            elif self.scorer == "loss":
                score = -loss
            else:
                weights = (
                    {} if self.sample_weight is None else {"sample_weight": self.sample_weight}
                )
                with warnings.catch_warnings():
                    # X holds the validated columns, in the order of the fitted feature
                    # names: their absence here says nothing about the data.
                    warnings.filterwarnings("ignore", message="X does not have valid feature names")
                    score = self.scorer(estimator, self.X, self.targets, **weights)
        return float(score), float(loss)

    def _mean_loss(self, loss, output):
        data = self.data
        total = loss_and_delta_py(loss, output, data.Y, data.sample_weight, np.empty_like(output))
        weight_sum = (
            data.sample_weight.sum(dtype=np.float64) if data.sample_weight.size else len(output)
        )
        return total / weight_sum


class EpochLoop:
    """The epochs of one fit or partial_fit call of the minibatch solvers (sgd, adam).

    The epochs run in the kernel (``train_epochs``), which also applies the rules between
    epochs (the stopping rule and the schedule, ``end_epoch``) and undoes an epoch that
    diverges or is interrupted. When nothing needs Python between epochs, many epochs
    run in one call; otherwise one at a time, and ``_end_epoch`` is the one place where
    Python deals with the end of an epoch: the records, the validation score (which it
    hands to the kernel's rules), the callbacks. A Ctrl-C outside the kernel goes back
    to the last snapshot in ``_roll_back``.

    Parameters
    ----------
    estimator : BaseBP
        The estimator being trained: it gives the training parameters and the
        optimizer (``_optimizer``) and receives the records (``n_iter_``, ``t_``,
        ``loss_``, ``loss_curve_``, ...) at each epoch's end and at the fit's end.

    data : KernelInput
        The training input, targets and sample weights.

    layout : NetworkLayout
        Where each layer's weights live in ``params``.

    params : ndarray of shape (n_params,)
        The flat weights, trained in place.

    rng : numpy.random.RandomState
        Source of the shuffles.

    incremental : bool
        True for partial_fit: one epoch, and no warning about reaching max_iter.

    train_idx : ndarray of int, default=None
        The rows of ``data`` to train on; all of them when None.

    validation : ValidationSet, default=None
        With early stopping, the validation data.

    dropout : ndarray of shape (n_layers,), default=None
        Each layer's dropout rate (the output layer's 0), or None for no dropout.

    tasks : FitTasks, default=None
        The callbacks' tasks, or None when no callback listens.
    """

    # The most row indices the epochs of one kernel call visit, together: a fit of many
    # epochs of few rows runs them all in one call, one of many rows a few at a time.
    ORDERS_PER_CALL = 1 << 20

    def __init__(self, estimator, data, layout, params, rng, *, incremental,
                 train_idx=None, validation=None, dropout=None, tasks=None):  # fmt: skip
        self.estimator = estimator
        self.tasks = tasks
        self.optimizer = estimator._optimizer
        self.data, self.layout, self.params, self.rng = data, layout, params, rng
        self.incremental = incremental
        self.train_idx, self.validation, self.dropout = train_idx, validation, dropout
        self.n_train = data.n_samples if train_idx is None else train_idx.shape[0]
        batch_size = self._batch_size()
        self.workspace = np.empty(
            workspace_size(
                layout.table, batch_size, data.sparse, dropout is not None, layout.embedding_table
            ),
            dtype=params.dtype,
        )
        self.grads = np.empty_like(params)
        self.saved = np.empty(3 * params.shape[0], dtype=params.dtype)
        self.state = TrainingState(
            estimator, self.optimizer, params, validation is not None, incremental
        )
        # The order of the rows, shuffled anew each epoch (as scikit-learn's utils.shuffle
        # does with RandomState.permutation, so that the batches match MLP's).
        self.sample_idx = np.arange(self.n_train, dtype=np.intp)
        self.options = {
            "loss": estimator._kernel_loss(),
            "alpha": float(estimator.alpha),
            "batch_size": batch_size,
            "max_grad_norm": float(estimator.max_grad_norm or 0.0),
            "weight_decay": float(estimator.weight_decay),
            "dropout_seed": estimator._dropout_seed or 0,
            **self.optimizer.kernel_options(),
        }

    def _batch_size(self):
        batch_size = self.estimator.batch_size
        if batch_size == "auto":
            return min(self.estimator.AUTO_BATCH_SIZE, self.n_train)
        if batch_size > self.n_train:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to "
                "be clipped",
                stacklevel=1,
            )
        return int(np.clip(batch_size, 1, self.n_train))

    def run(self):
        """Train for up to ``max_iter`` epochs, or one for partial_fit."""
        # The epoch's threads share each batch's blocks, each calling single-threaded
        # BLAS; a batch too small to be cut into blocks needs one thread.
        cut = batch_is_cut(self.layout.table, self.options["batch_size"])
        with kernel_threads(None if cut else 1) as n_threads, one_blas_thread():
            self.options["n_threads"] = n_threads
            try:
                if self._runs_in_one_call():
                    self._run_in_calls_of_many_epochs()
                else:
                    self._run_epoch_by_epoch()
            except KeyboardInterrupt:
                self._roll_back(EpochStatus.INTERRUPTED)
            finally:
                self.state.to_estimator(self.estimator)

    def _runs_in_one_call(self):
        """Whether epochs can run many to a kernel call: nothing needs Python between
        them (no validation data, callback or verbose output, and not partial_fit)."""
        return (
            RUN_EPOCHS_IN_ONE_CALL
            and self.validation is None
            and self.tasks is None
            and not self.incremental
            and not self.estimator.verbose
        )

    def _orders(self, n_epochs):
        """The rows each of the next n_epochs epochs visits, in order: the training rows,
        reshuffled for each epoch when ``shuffle`` is set."""
        orders = np.empty((n_epochs, self.n_train), dtype=np.intp)
        if self.estimator.shuffle:
            # RandomState.shuffle's draws and swaps on sample_idx itself, which are
            # RandomState.permutation's: sample_idx[rng.permutation(n)], as MLP does.
            draw_orders(self.rng, self.sample_idx, orders, self.train_idx)
        else:
            orders[:] = self.sample_idx if self.train_idx is None else self.train_idx
        return orders

    def _shared_orders(self, n_epochs):
        """_orders(n_epochs), and what a rewind of their draws needs when the generator
        is one the user can see (random_state None, NumPy's global one, or a
        RandomState): its state before and after them, and sample_idx before. None in
        its place when the generator is the fit's own (an int's) or nothing is drawn."""
        if not self.estimator.shuffle or isinstance(self.estimator.random_state, Integral):
            return self._orders(n_epochs), None
        bit_generator = self.rng._bit_generator
        before, sample_idx = bit_generator.state, self.sample_idx.copy()
        orders = self._orders(n_epochs)
        return orders, (before, sample_idx, bit_generator.state)

    def _rewind_shuffles(self, mark, n_started):
        """Back to before the draws of ``mark``, then the shuffles of the n_started epochs
        that ran drawn again: the generator and sample_idx are left as MLP's loop, which
        draws one shuffle per epoch it starts, leaves them.

        Under the generator's lock, and only if nobody drew from it since: another
        thread's draws cannot be undone without changing what it drew.
        """
        before, sample_idx, after = mark
        bit_generator = self.rng._bit_generator
        with bit_generator.lock:
            if not _same_state(bit_generator.state, after):
                return
            bit_generator.state = before
            self.sample_idx[:] = sample_idx
            scratch = np.empty((1, self.n_train), dtype=np.intp)
            for _ in range(n_started):
                draw_orders(self.rng, self.sample_idx, scratch, locked=True)

    def _train(self, orders, apply_rules):
        """One train_epochs call over these orders; its result dict."""
        data, state = self.data, self.state
        losses, rates = np.empty(orders.shape[0]), np.empty(orders.shape[0])
        result = train_epochs(
            self.layout.table, *data.x_args, data.Y, data.sample_weight, orders, self.params,
            self.grads, *self.optimizer.kernel_moments(), self.workspace, self.options,
            state.rules, apply_rules, losses, rates, self.saved, self.dropout, None,
            self.layout.embedding_table, data.codes, direct_product_work(self.params.dtype),
        )  # fmt: skip
        state.rules = result["state"]
        done = result["n_epochs"]
        state.record_epochs(losses[:done].tolist(), rates[:done].tolist())
        if self.estimator.verbose:
            for loss in losses[: result["n_epochs"]]:
                print(f"Iteration {state.n_iter:d}, loss = {loss:.8f}")
        return result

    def _run_in_calls_of_many_epochs(self):
        """Every epoch, many to a kernel call (which shuffles each with the draws given
        here, applies the stopping rule and the schedule, and undoes an epoch that
        diverges or is interrupted)."""
        epochs_per_call = max(1, self.ORDERS_PER_CALL // self.n_train)
        left = self.estimator._max_epochs()
        while left > 0:
            n_epochs = min(left, epochs_per_call)
            orders, mark = self._shared_orders(n_epochs)
            result = self._train(orders, apply_rules=True)
            left -= result["n_epochs"]
            status = result["status"]
            # The epochs' shuffles were drawn ahead. MLP's loop draws one per epoch it
            # starts: those that ran, and one that was undone.
            started = result["n_epochs"] + (status in UNDONE_EPOCH)
            if mark is not None and started < n_epochs:
                self._rewind_shuffles(mark, started)
            if status == EpochStatus.NON_FINITE:
                self._record_divergence()
                return
            if status == EpochStatus.INTERRUPTED:
                warnings.warn(INTERRUPTED_MESSAGE, stacklevel=1)
                return
            if status == EpochStatus.CONVERGED:
                self._report_convergence()
                return
        self._warn_max_iter()

    def _run_epoch_by_epoch(self):
        for _ in range(self.estimator._max_epochs()):
            self.state.snapshot()
            if self.tasks is not None:
                self.tasks.begin_subtask("epoch", self._fitted_attributes)
            result = self._train(self._orders(1), apply_rules=False)
            if result["status"] == EpochStatus.INTERRUPTED:
                raise KeyboardInterrupt
            if self._end_epoch(result):
                return

    def _fitted_attributes(self):
        self.state.to_estimator(self.estimator)
        return fitted_attributes(self.estimator, self.layout, self.params)

    def _roll_back(self, status):
        """Go back to the end of the last complete epoch, then report why.

        The one place that restores the snapshot: after a Ctrl-C (``status``
        INTERRUPTED), wherever in the epoch it came, or a divergence (NON_FINITE).
        """
        self.state.restore()
        if status == EpochStatus.INTERRUPTED:
            warnings.warn(INTERRUPTED_MESSAGE, stacklevel=1)
        else:
            self._record_divergence()

    def _end_epoch(self, result):
        """Everything decided after an epoch: validation, the rules, callbacks, stopping.

        Parameters
        ----------
        result : dict
            The kernel's result for the epoch (status, n_epochs, state, ...).

        Returns
        -------
        stop : bool
            Whether training stops after this epoch.
        """
        state = self.state
        if result["status"] == EpochStatus.NON_FINITE:
            self._roll_back(EpochStatus.NON_FINITE)
            return True
        if self.validation is None:
            monitored = state.loss_curve[-1]
        else:
            monitored = -self._score_validation()
        best_before = state.rules["best"]
        state.rules, status = end_epoch_py(state.rules, monitored, self.n_train)
        if self.validation is not None and state.rules["best"] < best_before:
            np.copyto(state.best_params, self.params)
        stop = False
        if status == EpochStatus.CONVERGED:
            self._report_convergence()
            stop = True
        elif state.rules["base_rate"] < self.optimizer.learning_rate:
            self._report_rate_change()
        state.to_estimator(self.estimator)
        if self.incremental:
            stop = True
        elif not stop and state.n_iter == self.estimator._max_epochs():
            self._warn_max_iter()
        # Callbacks see the epoch complete; one asking to stop ends training here, as
        # any other stopping rule would.
        if self.tasks is not None and self.tasks.end_subtask(self._fitted_attributes):
            stop = True
        return stop

    def _score_validation(self):
        score, loss = self.validation.evaluate(self.estimator, self.layout, self.params)
        self.state.record_validation(score, loss)
        if self.estimator.verbose:
            print(f"Validation score: {score:f}")
        return score

    def _record_divergence(self):
        """Raise, or with early stopping record a NaN epoch and warn, after a divergence."""
        state = self.state
        advice = (
            f" Training diverged in epoch {state.n_iter + 1}: the loss or the weights "
            "became NaN or infinite. Try a smaller learning_rate_init, or scale the inputs "
            "(for example with StandardScaler)."
        )
        if self.validation is None:
            state.to_estimator(self.estimator)
            raise ValueError(
                DIVERGENCE_MESSAGE + advice + " The estimator keeps the weights of the "
                "last finite epoch."
            )
        # With early stopping the best validated weights are restored, so the model stays
        # usable: record the diverged epoch's NaN score, warn and stop.
        state.rules["epochs_trained"] += 1
        state.rules["samples_seen"] += self.n_train
        state.record_epochs([np.nan], [state.rules["learning_rate"]])
        state.record_validation(np.nan, np.nan)
        warnings.warn(
            advice.strip() + " The weights with the best validation score were kept.",
            ConvergenceWarning,
            stacklevel=1,
        )

    def _report_convergence(self):
        """What verbose output says when the stopping rule ends training."""
        if self.estimator.verbose:
            message = self._no_improvement_message()
            if self.state.rules["schedule"] in (Schedule.ADAPTIVE, Schedule.PLATEAU):
                print(message + " Learning rate too small. Stopping.")
            else:
                print(message + " Stopping.")

    def _report_rate_change(self):
        if self.estimator.verbose and self.state.rules["schedule"] in (
            Schedule.ADAPTIVE,
            Schedule.PLATEAU,
        ):
            print(
                self._no_improvement_message()
                + f" Setting learning rate to {self.state.rules['base_rate']:f}"
            )

    def _warn_max_iter(self):
        if self.incremental:
            return
        warnings.warn(
            f"Stochastic Optimizer: Maximum iterations ({self.estimator._max_epochs():d}) reached "
            "and the optimization hasn't converged yet.",
            ConvergenceWarning,
            stacklevel=1,
        )

    def _no_improvement_message(self):
        estimator = self.estimator
        what = "Training loss" if self.validation is None else "Validation score"
        return (
            f"{what} did not improve more than tol={estimator.tol:f} for "
            f"{estimator.n_iter_no_change:d} consecutive epochs."
        )


class LbfgsDriver:
    """Full-batch training with SciPy's L-BFGS-B, the loss and gradient from the kernel.

    Parameters
    ----------
    estimator : BaseBP
        The estimator being trained; receives ``n_iter_`` and ``loss_``.

    data : KernelInput
        The training input, targets and sample weights.

    layout : NetworkLayout
        Where each layer's weights live in ``params``.

    params : ndarray of shape (n_params,)
        The flat weights, trained in place; L-BFGS-B itself works in float64.
    """

    def __init__(self, estimator, data, layout, params, tasks=None):
        self.estimator, self.data, self.layout, self.params = estimator, data, layout, params
        self.tasks = tasks
        self.loss = estimator._kernel_loss()
        self.grads = np.empty_like(params)
        # The last completed iterate, kept so that an interruption leaves a defined model.
        self.last_x = params.astype(np.float64)
        self.last_loss = np.nan
        self.n_iter = 0

    def run(self):
        """Minimise the loss from the current weights; a Ctrl-C keeps the last iterate."""
        estimator = self.estimator
        chunk_rows = min(self.data.n_samples, LBFGS_CHUNK_ROWS)
        if self.tasks is not None:
            self.tasks.begin_subtask("iteration", self._iterate_attributes)
        try:
            with blas_threads(chunk_rows, self.layout.layer_units):
                result = scipy.optimize.minimize(
                    self._loss_and_grad,
                    self.last_x.copy(),
                    method="L-BFGS-B",
                    jac=True,
                    options={
                        "maxfun": estimator.max_fun,
                        "maxiter": estimator.max_iter,
                        "gtol": estimator.tol,
                    },
                    callback=self._record_iterate,
                )
        except KeyboardInterrupt:
            warnings.warn(INTERRUPTED_MESSAGE, stacklevel=1)
            self._keep_last_iterate()
            return
        self._keep_result(result)

    def _loss_and_grad(self, packed):
        data, layout = self.data, self.layout
        np.copyto(self.params, packed, casting="same_kind")
        loss = loss_gradient(
            layout.table, self.loss, float(self.estimator.alpha), self.params,
            *data.x_args, data.Y, data.sample_weight, self.grads, layout.n_coefs,
            LBFGS_CHUNK_ROWS,
        )  # fmt: skip
        return loss, self.grads.astype(np.float64)

    def _record_iterate(self, intermediate_result):
        self.last_x[...] = intermediate_result.x
        self.last_loss = float(intermediate_result.fun)
        self.n_iter += 1
        if self.estimator.verbose:
            print(f"Iteration {self.n_iter:d}, loss = {self.last_loss:.8f}")
        if self.tasks is not None:
            stop = self.tasks.end_subtask(self._iterate_attributes)
            if stop:
                # SciPy ends the minimisation at this iterate.
                raise StopIteration
            self.tasks.begin_subtask("iteration", self._iterate_attributes)

    def _iterate_attributes(self):
        """The fitted attributes of the model at the last completed iterate."""
        params = self.last_x.astype(self.params.dtype)
        coefs, intercepts = self.layout.unpack(params)
        return {"coefs_": coefs, "intercepts_": intercepts, "n_iter_": self.n_iter,
                "loss_": np.float64(self.last_loss)}  # fmt: skip

    def _keep_last_iterate(self):
        estimator = self.estimator
        np.copyto(self.params, self.last_x, casting="same_kind")
        estimator.n_iter_ = self.n_iter
        if self.n_iter:
            estimator.loss_ = np.float64(self.last_loss)
        else:
            estimator.loss_ = np.float64(float(self._loss_and_grad(self.last_x)[0]))

    def _keep_result(self, result):
        estimator = self.estimator
        n_iter = result.get("nit", estimator.max_iter)
        stopped_by_callback = result.status == 99  # SciPy's status after StopIteration
        if stopped_by_callback:
            n_iter = self.n_iter
        elif result.status != 0:
            warnings.warn(
                f"lbfgs failed to converge after {n_iter:d} iteration(s) "
                f"(status={result.status:d}): {result.message}. Increase the number of "
                "iterations (max_iter) or scale the data.",
                ConvergenceWarning,
                stacklevel=1,
            )
        estimator.n_iter_ = min(n_iter, estimator.max_iter)
        estimator.loss_ = np.float64(float(result.fun))
        np.copyto(self.params, result.x, casting="same_kind")
