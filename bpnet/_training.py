"""The training loops: minibatch epochs for sgd and adam, and the L-BFGS driver."""

import copy
import warnings

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from ._kernels import loss_and_delta_py, loss_gradient
from ._sgd_fast import EpochStatus, batch_is_cut, train_epoch, train_epochs, workspace_size
from ._threading import blas_threads, kernel_threads, one_blas_thread

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

# The warnings below keep stacklevel=1, as scikit-learn's MLP: they point into bpnet,
# where filters by module expect them, however deep in the fit they were raised.


class _TrainingSnapshot:
    """The training state at the start of an epoch: weights, optimizer and records.

    Restoring it after divergence or an interruption, wherever in the epoch that came,
    leaves the estimator exactly as it was after the last complete epoch: weights,
    optimizer state, n_iter_, t_, loss_, the curves and the stopping counters agree.
    The arrays are allocated once per fit and overwritten by each save; restoring
    before the first save changes nothing, as nothing has been trained yet.
    """

    _RECORDS = ("n_iter_", "t_", "loss_", "best_loss_", "best_validation_score_",
                "_no_improvement_count")  # fmt: skip
    _RECORDS = (*_RECORDS, "_epochs_trained")
    _CURVES = ("loss_curve_", "validation_scores_", "validation_loss_curve_")

    def __init__(self, estimator, params, optimizer, keep_best_params):
        self.estimator, self.params, self.optimizer = estimator, params, optimizer
        self.saved_params = np.empty_like(params)
        self.saved_optimizer = optimizer.snapshot()
        self.saved_best_params = np.empty_like(estimator._best_params) if keep_best_params else None
        self.records = {}
        self.curve_lengths = {}
        self.saved = False

    def save(self):
        estimator = self.estimator
        np.copyto(self.saved_params, self.params)
        self.optimizer.snapshot(into=self.saved_optimizer)
        if self.saved_best_params is not None:
            np.copyto(self.saved_best_params, estimator._best_params)
        self.records = {name: getattr(estimator, name, None) for name in self._RECORDS}
        self.curve_lengths = {
            name: len(getattr(estimator, name))
            for name in self._CURVES
            if isinstance(getattr(estimator, name, None), list)
        }
        self.saved = True

    def restore(self):
        if not self.saved:
            return
        estimator = self.estimator
        np.copyto(self.params, self.saved_params)
        self.optimizer.restore(self.saved_optimizer)
        if self.saved_best_params is not None:
            np.copyto(estimator._best_params, self.saved_best_params)
        for name, value in self.records.items():
            if value is None and not hasattr(estimator, name):
                continue
            setattr(estimator, name, value)
        for name, length in self.curve_lengths.items():
            del getattr(estimator, name)[length:]


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
    for name in (*_TrainingSnapshot._RECORDS, *_TrainingSnapshot._CURVES, "_optimizer",
                 "_best_params", "_dropout_seed"):  # fmt: skip
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

    Each epoch saves a snapshot of the training state, shuffles the training rows, runs
    the epoch kernel over them once, and ends in ``_end_epoch``, the one place where the
    records, the validation, the learning-rate schedule and the stopping rules are dealt
    with. A divergence or a Ctrl-C goes back to the snapshot in ``_roll_back``.

    Parameters
    ----------
    estimator : BaseBP
        The estimator being trained: it gives the training parameters and the
        optimizer (``_optimizer``) and receives the records (``n_iter_``, ``t_``,
        ``loss_``, ``loss_curve_``, ...).

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
            workspace_size(layout.table, batch_size, data.sparse, dropout is not None),
            dtype=params.dtype,
        )
        self.grads = np.empty_like(params)
        self.snapshot = _TrainingSnapshot(
            estimator, params, self.optimizer, keep_best_params=validation is not None
        )
        self.options = {
            "loss": estimator._kernel_loss(),
            "alpha": float(estimator.alpha),
            "batch_size": batch_size,
            "max_grad_norm": float(estimator.max_grad_norm or 0.0),
            "dropout_seed": estimator._dropout_seed or 0,
            "epoch": 0,
            **self.optimizer.kernel_options(),
        }

    def _batch_size(self):
        batch_size = self.estimator.batch_size
        if batch_size == "auto":
            return min(200, self.n_train)
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
            self.estimator.n_iter_ = 0
            try:
                self._run_epochs()
            except KeyboardInterrupt:
                self._roll_back(EpochStatus.INTERRUPTED)

    def _run_epochs(self):
        sample_idx = np.arange(self.n_train, dtype=np.intp)
        if self._runs_in_one_call():
            self._run_in_one_call(sample_idx)
            return
        for _ in range(self.estimator.max_iter):
            self.snapshot.save()
            if self.estimator.shuffle:
                # RandomState.permutation(n) shuffles arange(n), which is the draw
                # scikit-learn's utils.shuffle makes, so the batches match MLP's.
                sample_idx = sample_idx[self.rng.permutation(self.n_train)]
            order = sample_idx if self.train_idx is None else self.train_idx[sample_idx]
            if self.tasks is not None:
                self.tasks.begin_subtask("epoch", self._fitted_attributes)
            if self._end_epoch(self._train_epoch(order)):
                return

    def _runs_in_one_call(self):
        """Whether every epoch can run in one kernel call: nothing needs Python between
        epochs (no validation data, callback or verbose output, and not partial_fit)."""
        estimator = self.estimator
        return (
            RUN_EPOCHS_IN_ONE_CALL
            and self.validation is None
            and self.tasks is None
            and not self.incremental
            and not estimator.verbose
        )

    def _run_in_one_call(self, order):
        """All the epochs in one train_epochs call, which shuffles with the same draws,
        applies the same stopping rule and schedule, and undoes an epoch that diverges
        or is interrupted; the records are then written epoch by epoch, as they would
        have been."""
        estimator, optimizer, options = self.estimator, self.optimizer, self.options
        options.update(optimizer.kernel_options())
        options["epoch"] = estimator._epochs_trained
        run = {
            "n_epochs": estimator.max_iter,
            "shuffle": bool(estimator.shuffle),
            "tol": float(estimator.tol),
            "n_iter_no_change": float(estimator.n_iter_no_change),
            "best_loss": float(estimator.best_loss_),
            "no_improvement_count": estimator._no_improvement_count,
            "samples_seen": estimator.t_,
            **optimizer.schedule_options(),
        }
        losses = np.empty(estimator.max_iter)
        saved = np.empty(3 * self.params.shape[0], dtype=self.params.dtype)
        moment_1, moment_2 = optimizer.kernel_moments()
        data = self.data
        result = train_epochs(
            self.layout.table, *data.x_args, data.Y, data.sample_weight, order, self.params,
            self.grads, moment_1, moment_2, self.workspace, options, run,
            self.rng._bit_generator, losses, saved, self.dropout,
        )  # fmt: skip
        self._record_losses(losses[: result["n_epochs"]].tolist())
        estimator.best_loss_ = result["best_loss"]
        estimator._no_improvement_count = result["no_improvement_count"]
        optimizer.record_epochs(result)
        if result["status"] == EpochStatus.NON_FINITE:
            self._record_divergence()
        elif result["status"] == EpochStatus.INTERRUPTED:
            warnings.warn(INTERRUPTED_MESSAGE, stacklevel=1)
        elif result["status"] == EpochStatus.COMPLETED and not self.incremental:
            self._warn_max_iter()

    def _fitted_attributes(self):
        return fitted_attributes(self.estimator, self.layout, self.params)

    def _roll_back(self, status):
        """Go back to the end of the last complete epoch, then report why.

        The one place that restores the snapshot: after a Ctrl-C (``status``
        INTERRUPTED), wherever in the epoch it came, or a divergence (NON_FINITE).
        """
        self.snapshot.restore()
        if status == EpochStatus.INTERRUPTED:
            warnings.warn(INTERRUPTED_MESSAGE, stacklevel=1)
        else:
            self._record_divergence()

    def _train_epoch(self, order):
        """One kernel call over the rows ``order``; its result dict."""
        data, optimizer, options = self.data, self.optimizer, self.options
        options.update(optimizer.kernel_options())
        options["epoch"] = self.estimator._epochs_trained
        moment_1, moment_2 = optimizer.kernel_moments()
        result = train_epoch(
            self.layout.table, *data.x_args, data.Y, data.sample_weight, order,
            self.params, self.grads, moment_1, moment_2, self.workspace, options, self.dropout,
        )  # fmt: skip
        if result["status"] == EpochStatus.INTERRUPTED:
            raise KeyboardInterrupt
        return result

    def _end_epoch(self, result):
        """Everything decided after an epoch: records, validation, schedule, stopping.

        Parameters
        ----------
        result : dict
            The epoch kernel's result (status, loss_sum, adam_steps, ...).

        Returns
        -------
        stop : bool
            Whether training stops after this epoch.
        """
        if result["status"] == EpochStatus.NON_FINITE:
            self._roll_back(EpochStatus.NON_FINITE)
            return True
        self.optimizer.record_epoch(result)
        self._record_loss(result["loss_sum"] / self.n_train)
        if self.validation is None:
            self._update_training_loss()
        else:
            self._update_validation_score()
        self.optimizer.iteration_ends(self.estimator.t_)
        stop = self._should_stop()
        # Callbacks see the epoch complete; one asking to stop ends training here, as
        # any other stopping rule would.
        if self.tasks is not None and self.tasks.end_subtask(self._fitted_attributes):
            stop = True
        return stop

    def _record_loss(self, loss):
        self._record_losses([loss])
        if self.estimator.verbose:
            print(f"Iteration {self.estimator.n_iter_:d}, loss = {loss:.8f}")

    def _record_losses(self, losses):
        """Record the training losses of the epochs just run: the counters, ``loss_`` and
        ``loss_curve_``."""
        if not losses:
            return
        estimator = self.estimator
        estimator.n_iter_ += len(losses)
        estimator._epochs_trained += len(losses)
        estimator.loss_ = np.float64(losses[-1])
        estimator.t_ += len(losses) * self.n_train
        estimator.loss_curve_.extend(losses)

    def _record_divergence(self):
        """Raise, or with early stopping record a NaN epoch and warn, after a divergence."""
        estimator = self.estimator
        advice = (
            f" Training diverged in epoch {estimator.n_iter_ + 1}: the loss or the weights "
            "became NaN or infinite. Try a smaller learning_rate_init, or scale the inputs "
            "(for example with StandardScaler)."
        )
        if self.validation is None:
            raise ValueError(
                DIVERGENCE_MESSAGE + advice + " The estimator keeps the weights of the "
                "last finite epoch."
            )
        # With early stopping the best validated weights are restored, so the model stays
        # usable: record the diverged epoch's NaN score, warn and stop.
        estimator.n_iter_ += 1
        estimator._epochs_trained += 1
        estimator.t_ += self.n_train
        estimator.loss_ = np.float64(np.nan)
        estimator.loss_curve_.append(np.nan)
        estimator.validation_scores_.append(np.nan)
        estimator.validation_loss_curve_.append(np.nan)
        warnings.warn(
            advice.strip() + " The weights with the best validation score were kept.",
            ConvergenceWarning,
            stacklevel=1,
        )

    def _update_training_loss(self):
        estimator = self.estimator
        if estimator.loss_curve_[-1] > estimator.best_loss_ - estimator.tol:
            estimator._no_improvement_count += 1
        else:
            estimator._no_improvement_count = 0
        if estimator.loss_curve_[-1] < estimator.best_loss_:
            estimator.best_loss_ = estimator.loss_curve_[-1]

    def _update_validation_score(self):
        estimator = self.estimator
        score, loss = self.validation.evaluate(estimator, self.layout, self.params)
        estimator.validation_scores_.append(score)
        estimator.validation_loss_curve_.append(loss)
        if estimator.verbose:
            print(f"Validation score: {score:f}")
        if score < estimator.best_validation_score_ + estimator.tol:
            estimator._no_improvement_count += 1
        else:
            estimator._no_improvement_count = 0
        if score > estimator.best_validation_score_:
            estimator.best_validation_score_ = score
            np.copyto(estimator._best_params, self.params)

    def _should_stop(self):
        """Whether to stop: no improvement for n_iter_no_change epochs, or partial_fit.

        After too many epochs without improvement the optimizer decides: SGD's
        'adaptive' schedule lowers its learning rate and goes on instead of stopping.
        """
        estimator = self.estimator
        if estimator._no_improvement_count > estimator.n_iter_no_change:
            if self.optimizer.trigger_stopping(self._no_improvement_message(), estimator.verbose):
                return True
            estimator._no_improvement_count = 0
        if self.incremental:
            return True
        if estimator.n_iter_ == estimator.max_iter:
            self._warn_max_iter()
        return False

    def _warn_max_iter(self):
        warnings.warn(
            f"Stochastic Optimizer: Maximum iterations ({self.estimator.max_iter:d}) reached "
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
