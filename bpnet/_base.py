"""Shared estimator logic: parameters, initialisation, fit orchestration, prediction."""

import inspect
import threading
import warnings
import weakref
from abc import ABC, abstractmethod
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.callback import CallbackSupportMixin
from sklearn.metrics import check_scoring
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions, make_constraint
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from ._activations import GLOROT_FACTORS, HIDDEN_ACTIVATIONS
from ._data import KernelInput
from ._kernels import predict as predict_kernel
from ._layout import NetworkLayout
from ._losses import loss_function
from ._optimizers import OPTIMIZER_PARAMETERS, OPTIMIZERS
from ._rules import SCHEDULES
from ._threading import kernel_threads, largest_gemm_work, one_blas_thread
from ._training import DIVERGENCE_MESSAGE, EpochLoop, FitTasks, LbfgsDriver, ValidationSet
from ._version import __version__

_STOCHASTIC_SOLVERS = tuple(OPTIMIZERS)

# Rows per block in prediction: enough for efficient GEMMs, few enough that the
# activations of one block stay small whatever the size of X.
PREDICT_CHUNK_ROWS = 256

# Multiply-adds in the largest product at or below which OpenBLAS runs a GEMM on one
# thread whatever its thread setting (its SMP threshold, 65536 * 4): prediction then
# needs neither the BLAS-thread setting nor a share of the rows per core, whose cost
# would dominate the small inputs of online use; the numbers are the same.
SMALL_PREDICT_WORK = 65536 * 4
# Up to this many such products per layer, a prediction still runs on the calling thread,
# each layer's product cut into pieces of its output columns that keep every piece at or
# below SMALL_PREDICT_WORK: setting OpenBLAS's threads through threadpoolctl and back
# costs more than a few small pieces. Cutting columns, not rows, packs each weight once.
SMALL_PREDICT_CHUNKS = 4
# A single row runs by matrix-vector products, which OpenBLAS threads from 2304 * 4
# multiply-adds (interface/gemv.c): pieces stay below that.
SMALL_PREDICT_VECTOR_WORK = 2304 * 4 - 1
# The narrowest pieces worth cutting: rows are cut into chunks only where a piece of this
# many columns (or of a narrower layer's all) would pass SMALL_PREDICT_WORK.
SMALL_PREDICT_MIN_COLUMNS = 32

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# weight_init's bounds b of the uniform [-b, b] initial weights of a layer: Glorot and
# Bengio's with the factor of the activation the layer feeds (MLP's), He et al.'s for the
# ReLU family, LeCun's for tanh-like units.
WEIGHT_INITS = {
    "glorot": lambda fan_in, fan_out, factor: np.sqrt(factor / (fan_in + fan_out)),
    "he": lambda fan_in, fan_out, factor: np.sqrt(6.0 / fan_in),
    "lecun": lambda fan_in, fan_out, factor: np.sqrt(3.0 / fan_in),
}


# Up to this many values, an array's finiteness is checked value by value; above it, by
# its sum, as scikit-learn does, which needs no temporary array.
_FINITE_BY_VALUE = 4096


def _all_finite(a):
    """Whether every value of the float array `a` is finite, warning about nothing.

    A sum is finite only if every term is; a huge finite array whose sum overflows is
    merely reported as not finite, which sends it through scikit-learn's full check.
    """
    if a.size <= _FINITE_BY_VALUE:
        return bool(np.isfinite(a).all())
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.add.reduce(a, axis=None)))


def _is_finite_float_matrix(X):
    """Whether X is a plain, non-empty 2-D float32 or float64 ndarray, all finite: an X
    that scikit-learn's validation with dtype=(float64, float32) passes unchanged."""
    return (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in _FLOAT_DTYPES
        and X.shape[0] > 0
        and X.shape[1] > 0
        and _all_finite(X)
    )


# Each fitted estimator's prediction network (see BaseBP._prediction_network). Kept
# outside the estimators, so that predicting changes nothing in them (scikit-learn's
# estimator checks require it) and nothing extra is pickled or cloned.
_PREDICTION_NETWORKS = weakref.WeakKeyDictionary()

# Each estimator class's parameter names, with a weak reference to the constructor they
# were read from (a strong one would keep a class created at run time alive).
_PARAM_NAMES = weakref.WeakKeyDictionary()

# The types whose values BaseBP._validate_params remembers once accepted.
_PLAIN_TYPES = frozenset({bool, int, float, str, type(None)})


def _value_key(name, value):
    """What identifies ``value`` of parameter ``name`` to its constraints: the value with
    its type, and for a tuple its elements' types (1, 1.0 and True are equal, but a
    constraint may tell them apart); None for a value of any other type, which is
    checked every time."""
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return name, kind, value
    if kind is tuple and all(type(v) in _PLAIN_TYPES for v in value):
        return name, tuple(type(v) for v in value), value
    return None


# Per class: (its _parameter_constraints dict, ((name, constraint objects), ...), the
# _value_key keys of the values accepted so far).
_COMPILED_CONSTRAINTS = weakref.WeakKeyDictionary()


class _SeededGenerators:
    """check_random_state's generators for integer seeds, reseeded instead of made anew.

    ``RandomState(seed)`` first seeds a new MT19937 from a SeedSequence, which costs more
    than 100 µs, then replaces that state by the legacy seeding of ``seed``; ``seed(seed)``
    on an existing RandomState does only the second, and gives the same state (and so the
    same draws). A fit takes a generator for its duration and gives it back; a fit that
    starts meanwhile (in another thread, or from a callback) takes another one. None,
    NumPy's global generator and a RandomState are used as check_random_state uses them.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._free = []

    @contextmanager
    def random_state(self, seed):
        if not isinstance(seed, Integral):
            yield check_random_state(seed)
            return
        with self._lock:
            rng = self._free.pop() if self._free else None
        if rng is None:
            rng = np.random.RandomState(seed)
        else:
            rng.seed(seed)
        try:
            yield rng
        finally:
            with self._lock:
                self._free.append(rng)


_generators = _SeededGenerators()


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


def _no_positive_weight_message(sample_weight, class_weights):
    """Why no training row has a positive weight (in the training dtype): the sample
    weights, the class weights, or the two together."""
    if class_weights is None:
        return "sample_weight must contain at least one positive weight."
    if sample_weight is None:
        return (
            "class_weight gives every training row a weight of 0: every class present in "
            "y weighs 0, so there is nothing to learn. Give at least one of them a "
            "positive weight."
        )
    return (
        "sample_weight times class_weight is 0 for every row: the rows with a positive "
        "sample_weight all belong to classes that class_weight weighs 0."
    )


class BaseBP(CallbackSupportMixin, BaseEstimator, ABC):
    """Base class for bpnet's classifier and regressor.

    It takes part in scikit-learn's callback API (``set_callbacks``): a fit is a task
    whose subtasks are its epochs (sgd, adam) or iterations (lbfgs); ``partial_fit`` is
    one task.

    Warning: this class should not be used directly. Use the derived classes instead.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions(set(HIDDEN_ACTIVATIONS)), "array-like"],
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
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
        "max_grad_norm": [None, Interval(Real, 0, None, closed="neither")],
        "scoring": [str, callable, None],
        "learning_rate_schedule": [StrOptions(set(SCHEDULES)), None],
        "warmup_iter": [Interval(Integral, 0, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "weight_init": [StrOptions(set(WEIGHT_INITS))],
        "dtype": [StrOptions({"float32", "float64"}), None],
    }

    @classmethod
    def _get_param_names(cls):
        """scikit-learn's parameter names, read from the constructor once per class.

        Every fit validates its parameters through ``get_params``, and reading the
        constructor's signature each time cost more than the rest of that validation.
        A subclass with its own constructor gets its own entry.
        """
        cached = _PARAM_NAMES.get(cls)
        if cached is None or cached[0]() is not cls.__init__:
            cached = (weakref.ref(cls.__init__), tuple(super()._get_param_names()))
            _PARAM_NAMES[cls] = cached
        return list(cached[1])

    @classmethod
    def _compiled_constraints(cls):
        """``_parameter_constraints`` as scikit-learn's constraint objects, made once per
        class (and again if the class's dict is replaced): the parameters that have
        constraints, each with the objects it is checked against; and the set of the
        keys (_value_key) of the values each has accepted."""
        constraints = cls._parameter_constraints
        cached = _COMPILED_CONSTRAINTS.get(cls)
        if cached is None or cached[0] is not constraints:
            names = set(cls._get_param_names())
            compiled = tuple(
                (name, tuple(make_constraint(c) for c in options))
                for name, options in constraints.items()
                if name in names and options != "no_validation"
            )
            cached = _COMPILED_CONSTRAINTS[cls] = (constraints, compiled, set())
        return cached[1], cached[2]

    # The most accepted values remembered per class, so that a search over many values
    # cannot grow the set without bound.
    _ACCEPTED_VALUES_KEPT = 4096

    def _validate_params(self):
        """scikit-learn's parameter validation, made cheap for the fits that repeat it.

        The constraint objects are made once per class, not on every fit; and a plain
        value (a Python number, string, None, or a tuple of them) that a parameter's
        constraints accepted once is not checked again, since a constraint's verdict
        depends on the value alone (see _value_key). A value that none of its constraints
        accepts goes to scikit-learn's own validation, which raises its usual message.
        """
        compiled, accepted = self._compiled_constraints()
        for name, constraints in compiled:
            value = getattr(self, name)
            key = _value_key(name, value)
            if key is not None and key in accepted:
                continue
            if not any(constraint.is_satisfied_by(value) for constraint in constraints):
                super()._validate_params()
                return
            if key is not None:
                if len(accepted) >= self._ACCEPTED_VALUES_KEPT:
                    accepted.clear()
                accepted.add(key)

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
        dropout,
        max_grad_norm,
        scoring,
        learning_rate_schedule,
        warmup_iter,
        weight_decay,
        weight_init,
        dtype,
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
        self.dropout = dropout
        self.max_grad_norm = max_grad_norm
        self.scoring = scoring
        self.learning_rate_schedule = learning_rate_schedule
        self.warmup_iter = warmup_iter
        self.weight_decay = weight_decay
        self.weight_init = weight_init
        self.dtype = dtype

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

    # batch_size='auto' means min(AUTO_BATCH_SIZE, n_samples).
    AUTO_BATCH_SIZE = 200

    def _max_epochs(self):
        """The most epochs a fit of the minibatch solvers trains: ``max_iter``."""
        return self.max_iter

    def _early_stopping(self):
        """Whether this fit holds out validation data and keeps the best epoch."""
        return self.early_stopping

    def _network_inputs(self, X):
        """The first layer's width for the validated input X: its columns."""
        return X.shape[1]

    def _embedding_shapes(self):
        """``(n_levels, dim)`` of each embedding table of the network: none here."""
        return ()

    def _compute_dtype(self, X):
        """The precision the network trains in: ``dtype``, or X's (float32 or float64)."""
        return np.dtype(self.dtype) if self.dtype is not None else X.dtype

    def _check_training_options(self):
        """Raise if training options that each pass their own check do not go together."""
        if self.learning_rate_schedule is not None and self.learning_rate != "constant":
            raise ValueError(
                f"learning_rate_schedule={self.learning_rate_schedule!r} and "
                f"learning_rate={self.learning_rate!r} both set a learning-rate schedule: "
                "keep learning_rate='constant' with learning_rate_schedule, or set "
                "learning_rate_schedule=None."
            )
        if self.warmup_iter > self._max_epochs():
            raise ValueError(
                f"warmup_iter={self.warmup_iter} is more epochs of warm-up than "
                f"max_iter={self._max_epochs()} epochs of training: set warmup_iter to at "
                "most max_iter."
            )

    def _check_loss_parameters(self):
        """Raise if the loss's parameters do not go together (regressors check theirs)."""

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
        if any(s <= 0 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(s) for s in sizes]

    def _per_hidden_layer(self, name, value, n_hidden):
        """``value`` for each hidden layer: repeated if it is one value, else checked to
        have one entry per hidden layer."""
        if isinstance(value, str) or np.ndim(value) == 0:
            return [value] * n_hidden
        values = list(value)
        if len(values) != n_hidden:
            raise ValueError(
                f"{name} has {len(values)} entries, but the network has {n_hidden} hidden "
                f"layer(s) (hidden_layer_sizes={self.hidden_layer_sizes!r}): give one per "
                "hidden layer, or a single value for all of them."
            )
        return values

    def _hidden_activation_names(self, n_hidden):
        names = self._per_hidden_layer("activation", self.activation, n_hidden)
        for name in names:
            if not isinstance(name, str) or name not in HIDDEN_ACTIVATIONS:
                raise ValueError(f"activation {name!r} is not one of {sorted(HIDDEN_ACTIVATIONS)}.")
        return names

    def _dropout_rates(self, n_hidden):
        """Each hidden layer's dropout rate, checked; dropout needs a stochastic solver."""
        rates = self._per_hidden_layer("dropout", self.dropout, n_hidden)
        for rate in rates:
            if not isinstance(rate, Real) or isinstance(rate, bool) or not 0 <= rate < 1:
                raise ValueError(f"dropout rates must be numbers in [0, 1), got {rate!r}.")
        rates = [float(rate) for rate in rates]
        if any(rates) and self.solver not in _STOCHASTIC_SOLVERS:
            raise ValueError(
                f"dropout={self.dropout!r} needs a stochastic solver ('sgd' or 'adam'): "
                "solver='lbfgs' minimises the full-batch loss, which dropout would make "
                "random. Set dropout=0.0 or choose another solver."
            )
        return rates

    def _fitted_units(self):
        """Widths of every layer of the fitted network, read from coefs_."""
        return [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]

    def _fitted_hidden_activations(self):
        """What each hidden layer of the fitted network uses (models saved by bpnet 0.1
        record it only in ``activation``)."""
        names = getattr(self, "hidden_activations_", None)
        if names is None:
            names = [self.activation] * (len(self.coefs_) - 1)
        return list(names)

    def _embedding_tables(self):
        """The network's embedding tables (the Tabular estimators have some)."""
        return ()

    def _pack(self, layout, dtype):
        """The flat parameter vector of the fitted arrays (see NetworkLayout.pack)."""
        return layout.pack(self.coefs_, self.intercepts_, dtype, self._embedding_tables())

    def _unpack(self, layout, params):
        """Make the fitted arrays views of the flat parameter vector ``params``."""
        self.coefs_, self.intercepts_ = layout.unpack(params)

    def _layout(self, layer_units=None):
        """The NetworkLayout for ``layer_units`` and the ``activation`` parameter, by
        default the fitted network's."""
        if layer_units is None:
            layer_units, hidden = self._fitted_units(), self._fitted_hidden_activations()
        else:
            hidden = self._hidden_activation_names(len(layer_units) - 2)
        return NetworkLayout.with_activations(
            layer_units, hidden, self.out_activation_, self._embedding_shapes()
        )

    def _initialize(self, Y, layer_units, dtype, rng):
        """Set up a fresh network: attributes, uniform initial weights, solver records."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation(Y)

        layout = self._layout(layer_units)
        self.hidden_activations_ = layout.activations[:-1]
        params = np.empty(layout.n_params, dtype=dtype)
        coefs, intercepts = layout.unpack(params)
        # Uniform draws in scikit-learn's order (each layer's weights, then its
        # intercepts), so the same seed gives the same network; the bound is
        # weight_init's. Glorot's takes the factor of the activation a layer feeds, the
        # output layer that of the last hidden layer: with one activation for all,
        # scikit-learn's factor.
        hidden = self.hidden_activations_
        last = (
            hidden[-1]
            if hidden
            else self.activation
            if isinstance(self.activation, str)
            else "relu"
        )
        factors = [GLOROT_FACTORS[name] for name in [*hidden, last]]
        init_bound = WEIGHT_INITS[self.weight_init]
        for coef, intercept, factor in zip(coefs, intercepts, factors, strict=True):
            fan_in, fan_out = coef.shape
            bound = init_bound(fan_in, fan_out, factor)
            coef[...] = rng.uniform(-bound, bound, (fan_in, fan_out))
            intercept[...] = rng.uniform(-bound, bound, fan_out)
        self.coefs_, self.intercepts_ = coefs, intercepts
        self._best_params = params.copy()
        self._epochs_trained = 0
        self._dropout_seed = None

        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self._early_stopping():
                self.validation_scores_ = []
                self.validation_loss_curve_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.validation_loss_curve_ = None
                self.best_validation_score_ = None

    # --- fitting --------------------------------------------------------------------

    def _class_weights_of_rows(self, Y, sample_weight):
        """Each row's class weight (float64), or None: only classifiers have them."""
        return None

    def _validate_sample_weight(self, sample_weight, X, Y, dtype):
        """The training rows' weights: sample_weight times the class weights, in `dtype`.

        The product is taken in float64 before the one cast, so that a fit with
        class_weight is, to the bit, the fit with the equivalent sample_weight.
        """
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        given = sample_weight
        class_weights = self._class_weights_of_rows(Y, sample_weight)
        if class_weights is not None:
            sample_weight = (
                class_weights if sample_weight is None else sample_weight * class_weights
            )
        if sample_weight is None:
            return None
        sample_weight = sample_weight.astype(dtype, copy=False)
        if not np.isfinite(sample_weight).all():
            raise ValueError(f"sample_weight does not fit in {dtype}: it overflows to inf.")
        if not np.any(sample_weight > 0):
            raise ValueError(_no_positive_weight_message(given, class_weights))
        return sample_weight

    def _validation_data(self, validation_data, dtype):
        """The ValidationSet of X_val, y_val and sample_weight_val given to fit."""
        X_val, y_val, sample_weight_val = validation_data
        if X_val is None or y_val is None:
            given, missing = ("X_val", "y_val") if y_val is None else ("y_val", "X_val")
            if X_val is None and y_val is None:
                given, missing = "sample_weight_val", "X_val and y_val"
            raise ValueError(f"{given} is provided, but {missing} was not provided.")
        if not self._early_stopping():
            raise ValueError(
                "X_val and y_val are passed to fit while at the same time early_stopping "
                "is False. When passing X_val and y_val to fit, early_stopping should be "
                "set to True."
            )
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise ValueError(
                "X_val and y_val are for early stopping, which solver='lbfgs' does not do: "
                "use solver='sgd' or 'adam', or leave X_val and y_val out."
            )
        X_val = self._validation_input(X_val, dtype)
        targets, Y_val = self._validation_targets_of(y_val, dtype)
        check_consistent_length(X_val, targets)
        if sample_weight_val is not None:
            sample_weight_val = _check_sample_weight(
                sample_weight_val, X_val, dtype=dtype, ensure_non_negative=True
            )
        return ValidationSet(
            KernelInput(X_val, Y_val, sample_weight_val, dtype=dtype), targets, sample_weight_val,
            X_val,
        )  # fmt: skip

    def _validation_input(self, X_val, dtype):
        """X_val validated as fit validated X: the network's input rows."""
        return validate_data(self, X_val, accept_sparse=["csr", "csc"], dtype=dtype, reset=False)

    def _validation_scorer(self):
        """None (the default score: accuracy or R²), 'loss', or a scorer to call."""
        if self.scoring is None or self.scoring == "loss":
            return self.scoring
        return check_scoring(self, scoring=self.scoring)

    def _fit(self, X, y, sample_weight=None, incremental=False, previous_state=None,
             validation_data=None):  # fmt: skip
        with _generators.random_state(self.random_state) as rng:
            return self._fit_with(
                rng, X, y, sample_weight, incremental, previous_state, validation_data
            )

    def _fit_with(self, rng, X, y, sample_weight, incremental, previous_state,
                  validation_data):  # fmt: skip
        """_fit, drawing from ``rng`` (check_random_state's generator for random_state)."""
        hidden_sizes = self._hidden_sizes()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        # Validation sets a few attributes (n_features_in_, classes_, ...) as it goes; if it
        # rejects the input, put everything back so a fitted model is never half-replaced.
        # A caller that changed attributes before calling _fit passes the state before that.
        if previous_state is None:
            previous_state = self.__dict__.copy()
        try:
            X, Y = self._validate_input(X, y, incremental, reset=first_pass)
            dtype = self._compute_dtype(X)
            sample_weight = self._validate_sample_weight(sample_weight, X, Y, dtype)
            layer_units = [self._network_inputs(X), *hidden_sizes, Y.shape[1]]
            hidden_activations = self._hidden_activation_names(len(hidden_sizes))
            dropout = self._dropout_rates(len(hidden_sizes))
            if not first_pass:
                self._check_architecture(layer_units)
            # Settings that only fit can check, checked before anything changes.
            self._check_loss_parameters()
            self._check_training_options()
            if self._early_stopping() and self.solver in _STOCHASTIC_SOLVERS:
                self._validation_scorer()
            validation = None
            if validation_data is not None:
                validation = self._validation_data(validation_data, dtype)
        except Exception:
            self.__dict__.clear()
            self.__dict__.update(previous_state)
            raise
        if first_pass:
            self._initialize(Y, layer_units, dtype, rng)
        self.hidden_activations_ = hidden_activations
        self.n_outputs_ = Y.shape[1]
        self._bpnet_version = __version__

        layout = self._layout()
        params = self._pack(layout, dtype)
        self._unpack(layout, params)
        # The full-batch kernels read X in the network's dtype; the minibatch kernels
        # convert each batch's rows as they gather them.
        data = KernelInput(X, Y, sample_weight, dtype, convert_dense=self.solver == "lbfgs")

        if self.solver in _STOCHASTIC_SOLVERS:
            tasks = self._start_tasks(X, Y, sample_weight, 0 if incremental else self._max_epochs())
            try:
                loop = self._epoch_loop(
                    data, layout, params, rng, incremental, dropout, validation, tasks
                )
            except Exception:
                # Setting up training failed (say, a validation set too small): leave
                # the estimator as it was, fitted or not, rather than half-replaced.
                self.__dict__.clear()
                self.__dict__.update(previous_state)
                raise
            loop.run()
            if self._early_stopping():
                np.copyto(params, self._best_params)
            held_out = loop.validation
        else:
            # One subtask per iteration, and the one SciPy starts but never runs.
            tasks = self._start_tasks(X, Y, sample_weight, self.max_iter + 1)
            LbfgsDriver(self, data, layout, params, tasks).run()
            held_out = None

        if not np.isfinite(params).all():
            raise ValueError(DIVERGENCE_MESSAGE)
        self._after_training(held_out)
        if tasks is not None:
            tasks.finish()
        return self

    def _after_training(self, validation):
        """What a subclass does with the trained, finite network, given the stochastic
        fit's ValidationSet (None without one, and for lbfgs): nothing here."""

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

    def _start_tasks(self, X, Y, sample_weight, max_subtasks):
        """The callbacks' tasks of this fit, begun; None when no callback listens."""
        return FitTasks.start(self, X, lambda: self._targets_of(Y), sample_weight, max_subtasks)

    def _epoch_loop(self, data, layout, params, rng, incremental, dropout, validation, tasks):
        """The EpochLoop of this fit, set up: optimizer, validation data, dropout."""
        if self._early_stopping() and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        self._prepare_optimizer(layout.n_params, params.dtype, incremental)
        train_idx = None
        if self._early_stopping() and validation is None:
            train_idx, val_idx = self._validation_split(data, rng)
            validation = self._held_out(data, val_idx)
        if validation is not None:
            validation.scorer = self._validation_scorer()
        layer_dropout = None
        if any(dropout):
            layer_dropout = np.array([*dropout, 0.0])
            if getattr(self, "_dropout_seed", None) is None:
                # Drawn once per network, so that partial_fit calls draw on from it.
                self._dropout_seed = int(rng.randint(np.iinfo(np.int32).max))
        return EpochLoop(
            self, data, layout, params, rng, incremental=incremental, train_idx=train_idx,
            validation=validation, dropout=layer_dropout, tasks=None if incremental else tasks,
        )  # fmt: skip

    def _held_out(self, data, val_idx):
        """The ValidationSet of the rows ``val_idx`` of the training data: their sample
        weights, class weights included, weight their scores (as in scikit-learn's
        HistGradientBoosting)."""
        weights = data.sample_weight[val_idx] if data.sample_weight.size else None
        X_val = data.rows(val_idx)
        return ValidationSet(
            KernelInput(X_val, data.Y[val_idx], weights, dtype=data.dtype),
            self._validation_targets(data.Y, val_idx), weights, X_val,
        )  # fmt: skip

    def _prepare_optimizer(self, n_params, dtype, incremental):
        """Continue partial_fit's optimizer if it fits the network, else start a new one."""
        settings = {name: getattr(self, name) for name in OPTIMIZER_PARAMETERS}
        settings["max_iter"] = self._max_epochs()
        optimizer = getattr(self, "_optimizer", None) if incremental else None
        if optimizer is not None and optimizer.matches(self.solver, n_params, dtype):
            optimizer.configure(settings)
        else:
            self._optimizer = OPTIMIZERS[self.solver](n_params, dtype, settings)

    # --- prediction -----------------------------------------------------------------

    def _forward(self, data, layout, params, n_layers=None):
        """Activations of weight layer ``n_layers - 1`` (by default the output layer) for
        a KernelInput, computed without the GIL."""
        if n_layers is None:
            n_layers = len(layout.table)
        table = np.ascontiguousarray(layout.table[:n_layers])
        units = layout.layer_units[: n_layers + 1]
        out = np.empty((data.n_samples, units[-1]), dtype=params.dtype)
        embedded = (layout.embedding_table, data.codes)
        # Per row, the largest product of a layer's narrowest piece worth cutting; a
        # softmax layer is never cut (the kernel keeps its rows whole).
        piece_row_work = max(
            fan_in * (fan_out if name == "softmax" else min(fan_out, SMALL_PREDICT_MIN_COLUMNS))
            for fan_in, fan_out, name in zip(units[:-1], units[1:], layout.activations)
        )
        if (
            largest_gemm_work(data.n_samples, units) <= SMALL_PREDICT_CHUNKS * SMALL_PREDICT_WORK
            and piece_row_work <= SMALL_PREDICT_WORK
        ):
            chunk_rows = min(PREDICT_CHUNK_ROWS, max(1, SMALL_PREDICT_WORK // piece_row_work))
            pieces = (SMALL_PREDICT_WORK, SMALL_PREDICT_VECTOR_WORK)
            predict_kernel(table, params, *data.x_args, out, chunk_rows, 1, *embedded, *pieces)
            return out
        # Chunks of rows are shared among the cores, each running single-threaded BLAS:
        # for the small layers typical here that scales better than threads inside each
        # product.
        n_chunks = -(-data.n_samples // PREDICT_CHUNK_ROWS)
        with kernel_threads(n_chunks) as n_threads, one_blas_thread():
            predict_kernel(
                table, params, *data.x_args, out, PREDICT_CHUNK_ROWS, n_threads, *embedded
            )
        return out

    def _prediction_input(self, X):
        """X validated for prediction: the network's input rows."""
        if not self._passes_validation_as_is(X):
            check_is_fitted(self)
            X = validate_data(
                self,
                X,
                accept_sparse=["csr", "csc"],
                dtype=(np.float64, np.float32),
                reset=False,
            )
        return X

    def _predict_raw(self, X, n_layers=None):
        """Validate X and return the activations of weight layer ``n_layers - 1``, by
        default the output layer's."""
        X = self._prediction_input(X)
        dtype = self._prediction_dtype(X)
        layout, params = self._prediction_network(dtype)
        return self._forward(KernelInput(X, dtype=dtype), layout, params, n_layers)

    def _prediction_dtype(self, X):
        """The precision of prediction: the network's dtype when ``dtype`` says so;
        otherwise the wider of X's and the weights' dtypes, as NumPy would."""
        if getattr(self, "dtype", None) is not None:
            return np.dtype(self.dtype)
        return np.result_type(X.dtype, self.coefs_[0].dtype)

    def hidden_activations(self, X, layer=-1):
        """Compute the activations of a hidden layer of the fitted network.

        The values the hidden units pass on to the next layer, after their activation
        function, as ``predict`` computes them (no dropout). They make a fitted network
        a feature extractor for another model: see :class:`bpnet.HiddenFeatures`, the
        transformer that calls this method in a pipeline.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        layer : int, default=-1
            Which hidden layer, counted from 0 (the first) as in ``hidden_layer_sizes``;
            negative numbers count from the last, so -1 is the layer before the output.

        Returns
        -------
        activations : ndarray of shape (n_samples, hidden_layer_sizes[layer])
            The layer's activations, in the precision predictions are computed in.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from bpnet import BPClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = BPClassifier(hidden_layer_sizes=(8, 3), max_iter=2000, random_state=0)
        >>> clf.fit(X, y).hidden_activations(X[:2]).shape
        (2, 3)
        >>> clf.hidden_activations(X[:2], layer=0).shape
        (2, 8)
        """
        check_is_fitted(self)
        n_layers = self._hidden_layer_index(layer) + 1
        return self._predict_raw(X, n_layers)

    def _hidden_layer_index(self, layer):
        """The index, from 0, of hidden layer ``layer`` (which may count from the end);
        a clear error for an integer outside the network."""
        n_hidden = len(self.coefs_) - 1
        if isinstance(layer, bool) or not isinstance(layer, Integral):
            raise TypeError(f"layer must be an int, got {layer!r}.")
        if not -n_hidden <= layer < n_hidden:
            raise ValueError(
                f"layer={layer} is outside the network's {n_hidden} hidden layer(s): "
                f"choose from {-n_hidden} to {n_hidden - 1}."
                if n_hidden
                else f"layer={layer}: the network has no hidden layer (hidden_layer_sizes=())."
            )
        return int(layer) % n_hidden

    def _passes_validation_as_is(self, X):
        """Whether validate_data would return X unchanged, without a warning.

        The fast path of online prediction: a plain, non-empty 2-D float ndarray with
        the fitted number of features, all finite, for a model fitted without feature
        names. Anything else (lists, DataFrames, sparse matrices, other dtypes, any
        failing check) goes through validate_data, which raises scikit-learn's errors.
        """
        return (
            _is_finite_float_matrix(X)
            and X.shape[1] == getattr(self, "n_features_in_", -1)
            and not hasattr(self, "feature_names_in_")
            and hasattr(self, "coefs_")
        )

    def _validate_fit_data(self, X, y, reset, **kwargs):
        """validate_data(X, y) for fit and partial_fit: X as float32 or float64.

        A fresh fit on a plain finite float matrix and a plain numeric y (1-D, or 2-D
        with one row per sample), all finite, takes a fast path: validate_data would
        return both unchanged without a warning, so only what it records on a reset is
        done (``n_features_in_``, and no ``feature_names_in_``). On small data its checks
        were a sizeable part of a whole fit. Everything else goes through validate_data
        and its errors; ``kwargs`` are passed on to it.
        """
        if (
            reset
            and _is_finite_float_matrix(X)
            and type(y) is np.ndarray
            and y.ndim in (1, 2)
            and y.shape[0] == X.shape[0]
            and y.size > 0
            and (y.dtype.kind in "biu" or (y.dtype in _FLOAT_DTYPES and _all_finite(y)))
        ):
            self.n_features_in_ = X.shape[1]
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            return X, y
        return validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
            **kwargs,
        )

    def _prediction_network(self, dtype):
        """The layout and flat weights prediction runs, cached between calls.

        The cache holds while coefs_ and intercepts_ are the same arrays, views of the
        weights a fit left (so that changes made in place show): assigning either, or
        fitting again, builds the network anew.
        """
        arrays = (*self.coefs_, *self.intercepts_, *self._embedding_tables())
        cache = _PREDICTION_NETWORKS.get(self)
        if (
            cache is not None
            and cache[0] == dtype
            and len(cache[1]) == len(arrays)
            and all(a is b for a, b in zip(cache[1], arrays, strict=True))
            and cache[2].activations == [*self._fitted_hidden_activations(), self.out_activation_]
        ):
            return cache[2], cache[3]
        layout = self._layout()
        params = self._pack(layout, dtype)
        shares_memory = params is getattr(self.coefs_[0], "base", None)
        if shares_memory:
            _PREDICTION_NETWORKS[self] = (dtype, arrays, layout, params)
        else:
            _PREDICTION_NETWORKS.pop(self, None)
        return layout, params

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
        # Parameters added since the model was saved take their defaults, which train as
        # the model did before they existed.
        for name in self._get_param_names():
            if name not in state:
                state[name] = inspect.signature(type(self)).parameters[name].default
        if "coefs_" in state:  # fitted by bpnet 0.1, which kept neither
            state.setdefault(
                "hidden_activations_", [state["activation"]] * (len(state["coefs_"]) - 1)
            )
            state.setdefault("_epochs_trained", state.get("n_iter_", 0))
            state.setdefault("_dropout_seed", None)
            if "validation_scores_" in state:
                scores = state["validation_scores_"]
                curve = None if scores is None else [np.nan] * len(scores)
                state.setdefault("validation_loss_curve_", curve)
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
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None, sample_weight_val=None):
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

        X_val : {array-like, sparse matrix} of shape (n_val, n_features), default=None
            Validation data for early stopping, instead of holding out
            ``validation_fraction`` of X (bpnet only, as in scikit-learn's
            HistGradientBoosting). Needs ``early_stopping=True`` and a stochastic solver.
            In a Pipeline, ``Pipeline(..., transform_input=["X_val"])`` transforms it as
            X (with metadata routing enabled and ``set_fit_request(X_val=True,
            y_val=True)``).

        y_val : array-like of shape (n_val,) or (n_val, n_outputs), default=None
            The targets of ``X_val``.

        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation rows in their score and loss. Class weights are
            not applied to them (as in HistGradientBoosting).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        validation_data = None
        if X_val is not None or y_val is not None or sample_weight_val is not None:
            validation_data = (X_val, y_val, sample_weight_val)
        return self._fit(
            X, y, sample_weight=sample_weight, incremental=False, validation_data=validation_data
        )

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. "
                f"{self.solver} is not stochastic."
            )
        return True
