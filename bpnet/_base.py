"""Shared estimator logic: parameters, initialisation, fit orchestration, prediction."""

import warnings
from abc import ABC, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._data import KernelInput
from ._kernels import predict as predict_kernel
from ._layout import NetworkLayout
from ._losses import loss_function
from ._optimizers import OPTIMIZER_PARAMETERS, OPTIMIZERS
from ._threading import one_blas_thread, row_parallel
from ._training import DIVERGENCE_MESSAGE, EpochLoop, LbfgsDriver
from ._version import __version__

_STOCHASTIC_SOLVERS = tuple(OPTIMIZERS)

# Rows per block in prediction: enough for efficient GEMMs, few enough that the
# activations of one block stay small whatever the size of X.
PREDICT_CHUNK_ROWS = 256


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

    def _kernel_loss(self):
        """The LossFunction the kernels minimise: the loss's code and parameters."""
        return loss_function(self._loss_name())

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

    def _fitted_units(self):
        """Widths of every layer of the fitted network, read from coefs_."""
        return [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]

    def _layout(self, layer_units=None):
        """The NetworkLayout for ``layer_units``, by default the fitted network's."""
        if layer_units is None:
            layer_units = self._fitted_units()
        return NetworkLayout.with_activations(layer_units, self.activation, self.out_activation_)

    def _initialize(self, Y, layer_units, dtype, rng):
        """Set up a fresh network: attributes, Glorot-uniform weights, solver records."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation(Y)

        layout = self._layout(layer_units)
        params = np.empty(layout.n_params, dtype=dtype)
        coefs, intercepts = layout.unpack(params)
        # Glorot et al.'s uniform bound; the draws come in scikit-learn's order (each
        # layer's weights, then its intercepts) so the same seed gives the same network.
        factor = 2.0 if self.activation == "logistic" else 6.0
        for coef, intercept in zip(coefs, intercepts, strict=True):
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
            LbfgsDriver(self, data, layout, params).run()

        if not np.isfinite(params).all():
            raise ValueError(DIVERGENCE_MESSAGE)
        return self

    def _check_architecture(self, layer_units):
        fitted_units = self._fitted_units()
        if fitted_units != layer_units:
            raise ValueError(
                f"The network has layer sizes {fitted_units}, but this data and "
                f"hidden_layer_sizes={self.hidden_layer_sizes} need {layer_units}. "
                "Set warm_start=False (or call fit instead of partial_fit) to start a "
                "new network."
            )

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
                f"stopping needs at least {needed}" + (" (one per class)." if needed > 2 else ".")
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
        self._prepare_optimizer(layout.n_params, params.dtype, incremental)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        train_idx = validation = None
        if self.early_stopping:
            train_idx, val_idx = self._validation_split(data, rng)
            validation = (
                KernelInput(data.rows(val_idx), dtype=params.dtype),
                self._validation_targets(data.Y, val_idx),
                data.sample_weight[val_idx] if data.sample_weight.size else None,
            )
        EpochLoop(
            self, data, layout, params, rng,
            incremental=incremental, train_idx=train_idx, validation=validation,
        ).run()  # fmt: skip
        if self.early_stopping:
            np.copyto(params, self._best_params)

    def _prepare_optimizer(self, n_params, dtype, incremental):
        """Continue partial_fit's optimizer if it fits the network, else start a new one."""
        settings = {name: getattr(self, name) for name in OPTIMIZER_PARAMETERS}
        optimizer = getattr(self, "_optimizer", None) if incremental else None
        if optimizer is not None and optimizer.matches(self.solver, n_params, dtype):
            optimizer.configure(settings)
        else:
            self._optimizer = OPTIMIZERS[self.solver](n_params, dtype, settings)

    # --- prediction -----------------------------------------------------------------

    def _forward(self, data, layout, params):
        """Network outputs for a KernelInput, computed without the GIL."""
        out = np.empty((data.n_samples, layout.layer_units[-1]), dtype=params.dtype)

        def predict_rows(start, stop):
            predict_kernel(layout.table, params, *data.x_args, out, PREDICT_CHUNK_ROWS, start, stop)

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
                stacklevel=1,  # in bpnet, as scikit-learn's own version warning
            )
        optimizer = state.get("_optimizer")
        if isinstance(optimizer, _OptimizerState):  # saved by bpnet 0.1
            settings = {name: state[name] for name in OPTIMIZER_PARAMETERS}
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
                f"{self.solver} is not stochastic."
            )
        return True
