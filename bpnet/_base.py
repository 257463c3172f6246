"""Shared estimator logic: parameters, initialisation, the epoch loop and stopping rules."""

import warnings
from abc import ABC, abstractmethod
from numbers import Integral, Real

import numpy as np
import scipy.optimize
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._data import KernelInput
from ._kernels import LOSS_CODES, loss_gradient
from ._kernels import predict as predict_kernel
from ._layout import NetworkLayout
from ._optimizers import OPTIMIZER_PARAMETERS, OPTIMIZERS
from ._sgd_fast import EpochStatus, train_epoch, workspace_size
from ._threading import (
    blas_threads,
    epoch_blocks,
    epoch_team,
    one_blas_thread,
    remember_team_backoff,
    row_parallel,
    team_backoff,
)
from ._version import __version__

_STOCHASTIC_SOLVERS = ("sgd", "adam")

# Rows per block in the full-batch paths: enough for efficient GEMMs, few enough that the
# activations of one block stay small whatever the size of X.
PREDICT_CHUNK_ROWS = 256
LBFGS_CHUNK_ROWS = 1024

DIVERGENCE_MESSAGE = (
    "Solver produced non-finite parameter weights. The input data may contain large "
    "values and need to be preprocessed."
)


class _OptimizerState:
    """The optimizer state of models saved by bpnet 0.1, kept so that they still load.

    bpnet 0.1 saved this object in ``_optimizer``, with the attributes ``solver``,
    ``learning_rate``, ``moment_1``, ``moment_2`` and ``adam_steps``; pickle and skops
    look it up by this name. ``BaseBP.__setstate__`` replaces it with the optimizer of
    ``bpnet._optimizers`` holding the same state.
    """

    def upgrade(self, settings):
        """The SGD or Adam optimizer holding this state, configured with ``settings``."""
        return OPTIMIZERS[self.solver].from_legacy_state(self, settings)


class _TrainingSnapshot:
    """The training state at the start of an epoch: weights, optimizer and records.

    Restoring it after divergence or an interruption, wherever in the epoch that came,
    leaves the estimator exactly as it was after the last complete epoch: weights,
    optimizer state, n_iter_, t_, loss_, the curves and the stopping counters agree.
    """

    _RECORDS = ("n_iter_", "t_", "loss_", "best_loss_", "best_validation_score_",
                "_no_improvement_count")  # fmt: skip

    def __init__(self, params, optimizer, best_params=None):
        self.params = np.empty_like(params)
        self.optimizer = optimizer.snapshot()
        self.best_params = None if best_params is None else np.empty_like(best_params)
        self.records = {}
        self.curve_lengths = {}

    def save(self, estimator, params, optimizer):
        np.copyto(self.params, params)
        optimizer.snapshot(into=self.optimizer)
        if self.best_params is not None:
            np.copyto(self.best_params, estimator._best_params)
        self.records = {name: getattr(estimator, name, None) for name in self._RECORDS}
        self.curve_lengths = {
            name: len(getattr(estimator, name))
            for name in ("loss_curve_", "validation_scores_")
            if isinstance(getattr(estimator, name, None), list)
        }

    def restore(self, estimator, params, optimizer):
        np.copyto(params, self.params)
        optimizer.restore(self.optimizer)
        if self.best_params is not None:
            np.copyto(estimator._best_params, self.best_params)
        for name, value in self.records.items():
            if value is None and not hasattr(estimator, name):
                continue
            setattr(estimator, name, value)
        for name, length in self.curve_lengths.items():
            del getattr(estimator, name)[length:]


class BaseBP(BaseEstimator, ABC):
    """Base class for bpnet's classifier and regressor.

    Warning: this class should not be used directly. Use the derived classes instead.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
    }

    @abstractmethod
    def __init__(
        self,
        hidden_layer_sizes,
        activation,
        solver,
        alpha,
        batch_size,
        learning_rate,
        learning_rate_init,
        power_t,
        max_iter,
        loss,
        shuffle,
        random_state,
        tol,
        verbose,
        warm_start,
        momentum,
        nesterovs_momentum,
        early_stopping,
        validation_fraction,
        beta_1,
        beta_2,
        epsilon,
        n_iter_no_change,
        max_fun,
    ):
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun

    # --- what the subclasses define -------------------------------------------------

    @abstractmethod
    def _validate_input(self, X, y, incremental, reset):
        """Validated X and the targets as a 2-D float matrix Y."""

    @abstractmethod
    def _output_activation(self, Y):
        """Name of the output activation for targets Y."""

    @abstractmethod
    def _loss_name(self):
        """Name of the loss the kernels minimise (a key of LOSS_CODES)."""

    @abstractmethod
    def _validation_score(self, output, y_val, sample_weight):
        """Score of the network's raw outputs on the early-stopping validation set."""

    @abstractmethod
    def _validation_targets(self, Y, indices):
        """Targets of the validation rows, in the form _validation_score expects."""

    @abstractmethod
    def _stratify_labels(self, Y):
        """Labels to stratify the validation split on, or None."""

    # --- network structure ----------------------------------------------------------

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        if any(not isinstance(s, Integral) or isinstance(s, bool) for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be integers, got {sizes}.")
        if np.any(np.array(sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(s) for s in sizes]

    def _layout(self):
        """The NetworkLayout of the fitted network, read from coefs_."""
        units = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
        activations = [self.activation] * (len(units) - 2) + [self.out_activation_]
        return NetworkLayout(units, activations)

    def _initialize(self, Y, layer_units, dtype, rng):
        """Set up a fresh network: attributes, Glorot-uniform weights, solver records."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation(Y)

        activations = [self.activation] * (len(layer_units) - 2) + [self.out_activation_]
        layout = NetworkLayout(layer_units, activations)
        params = np.empty(layout.n_params, dtype=dtype)
        coefs, intercepts = layout.unpack(params)
        # Glorot et al.'s uniform bound; the draws come in scikit-learn's order (each
        # layer's weights, then its intercepts) so the same seed gives the same network.
        factor = 2.0 if self.activation == "logistic" else 6.0
        for coef, intercept in zip(coefs, intercepts):
            fan_in, fan_out = coef.shape
            bound = np.sqrt(factor / (fan_in + fan_out))
            coef[...] = rng.uniform(-bound, bound, (fan_in, fan_out))
            intercept[...] = rng.uniform(-bound, bound, fan_out)
        self.coefs_, self.intercepts_ = coefs, intercepts
        self._best_params = params.copy()

        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    # --- fitting --------------------------------------------------------------------

    def _validate_sample_weight(self, sample_weight, X):
        if sample_weight is None:
            return None
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=X.dtype, ensure_non_negative=True
        )
        if not np.any(sample_weight > 0):
            raise ValueError("sample_weight must contain at least one positive weight.")
        return sample_weight

    def _fit(self, X, y, sample_weight=None, incremental=False, previous_state=None):
        hidden_sizes = self._hidden_sizes()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        # Validation sets a few attributes (n_features_in_, classes_, ...) as it goes; if it
        # rejects the input, put everything back so a fitted model is never half-replaced.
        # A caller that changed attributes before calling _fit passes the state before that.
        if previous_state is None:
            previous_state = self.__dict__.copy()
        try:
            X, Y = self._validate_input(X, y, incremental, reset=first_pass)
            sample_weight = self._validate_sample_weight(sample_weight, X)
            layer_units = [X.shape[1], *hidden_sizes, Y.shape[1]]
            if not first_pass:
                self._check_architecture(layer_units)
        except Exception:
            self.__dict__.clear()
            self.__dict__.update(previous_state)
            raise
        rng = check_random_state(self.random_state)
        if first_pass:
            self._initialize(Y, layer_units, X.dtype, rng)
        self.n_outputs_ = Y.shape[1]
        self._bpnet_version = __version__

        layout = self._layout()
        params = layout.pack(self.coefs_, self.intercepts_, X.dtype)
        self.coefs_, self.intercepts_ = layout.unpack(params)
        data = KernelInput(X, Y, sample_weight)

        if self.solver in _STOCHASTIC_SOLVERS:
            self._fit_stochastic(data, layout, params, rng, incremental)
        else:
            self._fit_lbfgs(data, layout, params)

        if not np.isfinite(params).all():
            raise ValueError(DIVERGENCE_MESSAGE)
        return self

    def _check_architecture(self, layer_units):
        fitted_units = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
        if fitted_units != layer_units:
            raise ValueError(
                f"The network has layer sizes {fitted_units}, but this data and "
                f"hidden_layer_sizes={self.hidden_layer_sizes} need {layer_units}. "
                "Set warm_start=False (or call fit instead of partial_fit) to start a "
                "new network."
            )

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to "
                "be clipped"
            )
        return int(np.clip(self.batch_size, 1, n_samples))

    def _validation_split(self, data, rng):
        """Row indices of the training and validation sets for early stopping."""
        stratify = self._stratify_labels(data.Y)
        n_val = int(np.ceil(self.validation_fraction * data.n_samples))
        needed, singleton_class = 2, False
        if stratify is not None:
            _, counts = np.unique(np.ravel(stratify) if np.ndim(stratify) == 2 else stratify,
                                  return_counts=True)  # fmt: skip
            needed = max(needed, len(counts))
            singleton_class = counts.min() < 2
        # A class with a single member gets train_test_split's own message, as in
        # scikit-learn; every other shortfall gets ours, which gives the numbers.
        if n_val < needed and not singleton_class:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the "
                f"size of your dataset: validation_fraction={self.validation_fraction} of "
                f"{data.n_samples} samples gives {n_val} validation sample(s), and early "
                f"stopping needs at least {needed}"
                + (" (one per class)." if needed > 2 else ".")
            )
        train_idx, val_idx = train_test_split(
            np.arange(data.n_samples),
            random_state=rng,
            test_size=self.validation_fraction,
            stratify=stratify,
        )
        if val_idx.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the "
                "size of your dataset."
            )
        return train_idx, val_idx

    def _fit_stochastic(self, data, layout, params, rng, incremental):
        dtype = params.dtype
        settings = {name: getattr(self, name) for name in OPTIMIZER_PARAMETERS}
        if (
            incremental
            and hasattr(self, "_optimizer")
            and self._optimizer.matches(self.solver, layout.n_params, dtype)
        ):
            self._optimizer.configure(settings)
        else:
            self._optimizer = OPTIMIZERS[self.solver](layout.n_params, dtype, settings)

        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if self.early_stopping:
            train_idx, val_idx = self._validation_split(data, rng)
            validation = (
                KernelInput(data.rows(val_idx), dtype=dtype),
                self._validation_targets(data.Y, val_idx),
                data.sample_weight[val_idx] if data.sample_weight.size else None,
            )
            n_train = train_idx.shape[0]
        else:
            train_idx = validation = None
            n_train = data.n_samples

        self._run_epochs(data, layout, params, rng, incremental, train_idx, n_train, validation)

        if self.early_stopping:
            np.copyto(params, self._best_params)

    def _run_epochs(self, data, layout, params, rng, incremental, train_idx, n_train, validation):
        """The epoch loop: one train_epoch call per epoch, then the stopping rules.

        Trains on the rows ``train_idx`` of ``data`` (all rows when it is None); with
        early stopping, ``validation`` holds the validation inputs, targets and weights.
        """
        optimizer = self._optimizer
        batch_size = self._batch_size(n_train)
        workspace = np.empty(
            workspace_size(layout.table, batch_size, data.sparse), dtype=params.dtype
        )
        grads = np.empty_like(params)
        early_stopping = validation is not None
        snapshot = _TrainingSnapshot(
            params, optimizer, self._best_params if early_stopping else None
        )
        options = {
            "loss": LOSS_CODES[self._loss_name()],
            "alpha": float(self.alpha),
            "batch_size": batch_size,
            **optimizer.kernel_options(),
        }
        options.update(epoch_blocks(batch_size, layout.layer_units))
        sample_idx = np.arange(n_train, dtype=np.intp)
        # The epoch's own threads share each batch, each calling single-threaded BLAS.
        epoch_flops = 6 * n_train * layout.n_params
        with epoch_team(options, epoch_flops) as n_threads, one_blas_thread():
            options["n_threads"] = n_threads
            self.n_iter_ = 0
            snapshot.save(self, params, optimizer)
            try:
                for _ in range(self.max_iter):
                    if self.shuffle:
                        # RandomState.permutation(n) shuffles arange(n), which is the draw
                        # scikit-learn's utils.shuffle makes, so the batches match MLP's.
                        sample_idx = sample_idx[rng.permutation(n_train)]
                    order = sample_idx if train_idx is None else train_idx[sample_idx]

                    snapshot.save(self, params, optimizer)
                    options.update(optimizer.kernel_options())
                    options.update(team_backoff())
                    moment_1, moment_2 = optimizer.kernel_moments()
                    result = train_epoch(
                        layout.table, *data.x_args, data.Y, data.sample_weight, order,
                        params, grads, moment_1, moment_2, workspace, options,
                    )  # fmt: skip
                    remember_team_backoff(result)  # a speed matter only
                    if result["status"] == EpochStatus.INTERRUPTED:
                        raise KeyboardInterrupt
                    if result["status"] == EpochStatus.NON_FINITE:
                        snapshot.restore(self, params, optimizer)
                        self._handle_divergence(early_stopping, n_train)
                        break
                    optimizer.record_epoch(result)

                    self.n_iter_ += 1
                    self.loss_ = result["loss_sum"] / n_train
                    self.t_ += n_train
                    self.loss_curve_.append(self.loss_)
                    if self.verbose:
                        print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))

                    if early_stopping:
                        X_val, y_val, sw_val = validation
                        output = self._forward(X_val, layout, params)
                        self._update_validation_score(output, y_val, sw_val, params)
                    else:
                        self._update_training_loss()

                    optimizer.iteration_ends(self.t_)

                    if self._no_improvement_count > self.n_iter_no_change:
                        if self._trigger_stopping(early_stopping, optimizer):
                            break
                        self._no_improvement_count = 0

                    if incremental:
                        break
                    if self.n_iter_ == self.max_iter:
                        warnings.warn(
                            "Stochastic Optimizer: Maximum iterations (%d) reached and the "
                            "optimization hasn't converged yet." % self.max_iter,
                            ConvergenceWarning,
                        )
            except KeyboardInterrupt:
                # Wherever the interruption came, go back to the end of the last full epoch.
                snapshot.restore(self, params, optimizer)
                warnings.warn("Training interrupted by user.")

    def _handle_divergence(self, early_stopping, n_train):
        """React to a non-finite loss or weight; the last finite epoch is already restored."""
        advice = (
            f" Training diverged in epoch {self.n_iter_ + 1}: the loss or the weights became"
            " NaN or infinite. Try a smaller learning_rate_init, or scale the inputs (for "
            "example with StandardScaler)."
        )
        if not early_stopping:
            raise ValueError(
                DIVERGENCE_MESSAGE + advice + " The estimator keeps the weights of the "
                "last finite epoch."
            )
        # With early stopping the best validated weights are restored, so the model stays
        # usable: record the diverged epoch's NaN score, warn and stop.
        self.n_iter_ += 1
        self.t_ += n_train
        self.loss_ = np.nan
        self.loss_curve_.append(np.nan)
        self.validation_scores_.append(np.nan)
        warnings.warn(
            advice.strip() + " The weights with the best validation score were kept.",
            ConvergenceWarning,
        )

    def _update_validation_score(self, output, y_val, sample_weight, params):
        if np.issubdtype(output.dtype, np.floating) and not np.isfinite(output).all():
            score = np.nan
        else:
            # Huge but finite outputs of a diverging model may overflow in the score.
            with np.errstate(over="ignore", invalid="ignore"):
                score = float(self._validation_score(output, y_val, sample_weight))
        self.validation_scores_.append(score)
        if self.verbose:
            print("Validation score: %f" % score)
        if score < self.best_validation_score_ + self.tol:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if score > self.best_validation_score_:
            self.best_validation_score_ = score
            np.copyto(self._best_params, params)

    def _update_training_loss(self):
        if self.loss_curve_[-1] > self.best_loss_ - self.tol:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if self.loss_curve_[-1] < self.best_loss_:
            self.best_loss_ = self.loss_curve_[-1]

    def _trigger_stopping(self, early_stopping, optimizer):
        """Whether to stop after n_iter_no_change epochs without improvement.

        The 'adaptive' schedule of SGD divides the learning rate by 5 instead, until it
        falls to 1e-6 or below.
        """
        if early_stopping:
            msg = "Validation score did not improve more than tol=%f for %d consecutive epochs." % (
                self.tol,
                self.n_iter_no_change,
            )
        else:
            msg = "Training loss did not improve more than tol=%f for %d consecutive epochs." % (
                self.tol,
                self.n_iter_no_change,
            )
        return optimizer.trigger_stopping(msg, self.verbose)

    def _fit_lbfgs(self, data, layout, params):
        loss_code = LOSS_CODES[self._loss_name()]
        grads = np.empty_like(params)

        def loss_and_grad(packed):
            np.copyto(params, packed, casting="same_kind")
            loss = loss_gradient(
                layout.table, loss_code, float(self.alpha), params, *data.x_args,
                data.Y, data.sample_weight, grads, layout.n_coefs, LBFGS_CHUNK_ROWS,
            )  # fmt: skip
            return loss, grads.astype(np.float64)

        # The last completed iterate, kept so that an interruption leaves a defined model.
        last = {"x": params.astype(np.float64), "fun": np.nan, "nit": 0}

        def record(intermediate_result):
            last["x"][...] = intermediate_result.x
            last["fun"] = float(intermediate_result.fun)
            last["nit"] += 1
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (last["nit"], last["fun"]))

        try:
            with blas_threads(min(data.n_samples, LBFGS_CHUNK_ROWS), layout.layer_units):
                result = scipy.optimize.minimize(
                    loss_and_grad,
                    last["x"].copy(),
                    method="L-BFGS-B",
                    jac=True,
                    options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol},
                    callback=record,
                )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
            np.copyto(params, last["x"], casting="same_kind")
            self.n_iter_ = last["nit"]
            self.loss_ = last["fun"] if last["nit"] else float(loss_and_grad(last["x"])[0])
            return
        n_iter = result.get("nit", self.max_iter)
        if result.status != 0:
            warnings.warn(
                "lbfgs failed to converge after %d iteration(s) (status=%d): %s. Increase "
                "the number of iterations (max_iter) or scale the data."
                % (n_iter, result.status, result.message),
                ConvergenceWarning,
            )
        self.n_iter_ = min(n_iter, self.max_iter)
        self.loss_ = float(result.fun)
        np.copyto(params, result.x, casting="same_kind")

    # --- prediction -----------------------------------------------------------------

    def _forward(self, data, layout, params):
        """Network outputs for a KernelInput, computed without the GIL."""
        out = np.empty((data.n_samples, layout.layer_units[-1]), dtype=params.dtype)

        def predict_rows(start, stop):
            predict_kernel(
                layout.table, params, *data.x_args, out, PREDICT_CHUNK_ROWS, start, stop
            )

        # Rows are shared among the cores, each running single-threaded BLAS: for the
        # small layers typical here that scales better than threads inside each product.
        with one_blas_thread():
            row_parallel(predict_rows, data.n_samples, 2 * PREDICT_CHUNK_ROWS)
        return out

    def _predict_raw(self, X):
        """Validate X and return the output layer's activations."""
        check_is_fitted(self)
        X = validate_data(
            self,
            X,
            accept_sparse=["csr", "csc"],
            dtype=(np.float64, np.float32),
            reset=False,
        )
        layout = self._layout()
        # Compute in the wider of X's and the weights' dtypes, as NumPy would.
        dtype = np.result_type(X.dtype, self.coefs_[0].dtype)
        params = layout.pack(self.coefs_, self.intercepts_, dtype)
        return self._forward(KernelInput(X, dtype=dtype), layout, params)

    # --- persistence ----------------------------------------------------------------

    def __setstate__(self, state):
        fitted_version = state.get("_bpnet_version")
        if fitted_version is not None and fitted_version != __version__:
            warnings.warn(
                f"Trying to unpickle an estimator fitted with bpnet {fitted_version} "
                f"under bpnet {__version__}. This might lead to breaking code or invalid "
                "results. Use at your own risk.",
                UserWarning,
            )
        optimizer = state.get("_optimizer")
        if isinstance(optimizer, _OptimizerState):
            settings = {name: state.get(name) for name in OPTIMIZER_PARAMETERS}
            state = {**state, "_optimizer": optimizer.upgrade(settings)}
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers in
            regression).

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights. Each sample's loss is weighted, and the average is taken over
            the weights' sum.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. "
                "%s is not stochastic." % self.solver
            )
        return True
