"""TabularClassifier and TabularRegressor: bpnet's networks with defaults for real tables.

They train with the same kernels as BPClassifier and BPRegressor, on the columns a
TableEncoder (bpnet/_table.py) makes of the user's table as it comes: numbers scaled
robustly and clipped smoothly, missing values with indicators, small categorical
columns one-hot and large ones as embedding codes, whose tables the kernels train with
the weights. Their defaults are a modern recipe for tabular networks (one wide layer,
Adam, a validation split and the best epoch kept), chosen on the tuning tables of
benchmarks/bench_tabular.py; docs/good_by_default.rst has the method and the results.
"""

import re
from numbers import Integral, Real

import numpy as np
from scipy.special import log_softmax
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_y,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from ._classes import _SHARED_ATTRIBUTES_DOC, _SHARED_PARAMETERS_DOC, BPClassifier, BPRegressor
from ._data import EncodedTable, KernelInput
from ._layout import NetworkLayout
from ._table import UNSEEN_ROW, TableEncoder

# The epochs of max_iter='auto': a budget of optimizer steps, so that a small table trains
# more epochs (each of few steps) than a large one, within these bounds. Early stopping
# usually ends a fit well before.
AUTO_STEPS = 20_000
AUTO_MIN_EPOCHS = 30
AUTO_MAX_EPOCHS = 200
# early_stopping='auto' holds out validation data from this many training rows on (and,
# for the classifier, when every class has two rows, so that the split can stratify).
EARLY_STOPPING_MIN_ROWS = 200
# The classifier's temperature (see fit_temperature) lies within these bounds: the
# validation rows of a table the network separates perfectly would otherwise drive it
# towards 0, probabilities of exactly 0 and 1 that the test rows then pay for.
TEMPERATURE_BOUNDS = (0.25, 4.0)


def _log_loss_at(log_temperature, logits, Y, weights, softmax):
    """Weighted mean log-loss of the outputs ``logits / T`` against the 0/1 targets Y
    (softmax over the columns, or a logistic unit per column), T = exp(log_temperature)."""
    z = logits / np.exp(log_temperature)
    if softmax:
        row_loss = -(Y * log_softmax(z, axis=1)).sum(axis=1)
    else:
        # -log sigmoid(z) = logaddexp(0, -z), and -log(1 - sigmoid(z)) = logaddexp(0, z).
        row_loss = (Y * np.logaddexp(0.0, -z) + (1 - Y) * np.logaddexp(0.0, z)).sum(axis=1)
    return float(np.average(row_loss, weights=weights))


def fit_temperature(logits, Y, sample_weight=None, softmax=True):
    """The temperature T, within TEMPERATURE_BOUNDS, that minimises the weighted mean
    log-loss of the outputs ``logits / T`` on rows with 0/1 targets ``Y``.

    Temperature scaling (one number for all outputs) leaves every row's predicted class
    as it was and changes only how sure the probabilities are. The loss is convex in 1/T;
    it is minimised over log T by SciPy's bounded scalar search, to 1e-6 in log T.
    """
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    low, high = np.log(TEMPERATURE_BOUNDS)
    result = minimize_scalar(
        _log_loss_at, bounds=(low, high), method="bounded", options={"xatol": 1e-6},
        args=(logits, Y, sample_weight, softmax),
    )  # fmt: skip
    return float(np.exp(result.x))


def auto_max_iter(n_samples, batch_size):
    """The epochs of ``max_iter='auto'`` for ``n_samples`` training rows in batches of
    ``batch_size``: AUTO_STEPS optimizer steps, within [AUTO_MIN_EPOCHS,
    AUTO_MAX_EPOCHS]."""
    steps_per_epoch = max(1, -(-n_samples // batch_size))
    return int(np.clip(AUTO_STEPS // steps_per_epoch, AUTO_MIN_EPOCHS, AUTO_MAX_EPOCHS))


# --- the shared part ----------------------------------------------------------------


class _TabularNetwork:
    """What both Tabular estimators add to BPClassifier and BPRegressor: the encoder, the
    embeddings, and the 'auto' epochs. Placed before them in the bases."""

    # Fixed for the Tabular estimators (the BP estimators' parameters): one learning-rate
    # rule, learning_rate_schedule; no lbfgs.
    learning_rate = "constant"
    power_t = 0.5
    max_fun = 15000
    AUTO_BATCH_SIZE = 256

    _tabular_constraints = {
        "solver": [StrOptions({"sgd", "adam"})],
        "max_iter": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "categorical_features": ["array-like", StrOptions({"from_dtype"}), None],
        "max_one_hot": [Interval(Integral, 1, None, closed="left")],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
    }
    _removed_parameters = ("learning_rate", "power_t", "max_fun")

    def _fit(self, X, y, sample_weight=None, incremental=False, previous_state=None,
             validation_data=None):  # fmt: skip
        self._validation_given = validation_data is not None
        return super()._fit(X, y, sample_weight, incremental, previous_state, validation_data)

    def _early_stopping(self):
        if self.early_stopping != "auto":
            return self.early_stopping
        return getattr(self, "_auto_early_stopping", False)

    def _decide_early_stopping(self, Y, incremental):
        """Resolve early_stopping='auto' for this fit: on with X_val, off for partial_fit,
        else on from EARLY_STOPPING_MIN_ROWS rows when the split can stratify."""
        if getattr(self, "_validation_given", False):
            decision = True
        elif incremental or Y.shape[0] < EARLY_STOPPING_MIN_ROWS:
            decision = False
        else:
            decision = _rows_per_class(self, Y).min() >= 2
        self._auto_early_stopping = decision

    def _validate_input(self, X, y, incremental, reset):
        X, Y = super()._validate_input(X, y, incremental, reset)
        self._decide_early_stopping(Y, incremental)
        return X, Y

    def _max_epochs(self):
        if self.max_iter != "auto":
            return self.max_iter
        n_rows = getattr(self, "_n_training_rows", None)
        if n_rows is None:
            return AUTO_MAX_EPOCHS
        batch = self.batch_size if self.batch_size != "auto" else self.AUTO_BATCH_SIZE
        return auto_max_iter(n_rows, min(batch, n_rows))

    # --- the encoder -----------------------------------------------------------------

    def _validate_fit_data(self, X, y, reset, y_numeric=False):
        """Encode X (fitting the encoder on a fresh fit) and check y.

        The encoder takes X as it comes (frames, arrays, lists; numbers, categories and
        missing values); scikit-learn's own checks of the feature count and names run
        first, so that their errors and warnings are scikit-learn's.
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        _check_two_dimensional(X)
        validate_data(self, X, skip_check_array=True, reset=reset)
        y = _check_y(y, multi_output=True, y_numeric=y_numeric, estimator=self)
        if reset:
            encoder = TableEncoder(self.categorical_features, self.max_one_hot)
            dense, codes = encoder.fit_transform(X)
            self._encoder = encoder
        else:
            dense, codes = self._encoder.transform(X)
        check_consistent_length(dense, y)
        self._n_training_rows = dense.shape[0]
        return EncodedTable(dense, codes), y

    def _encode(self, X):
        """X encoded for prediction, checked against the fitted feature names and count."""
        if isinstance(X, EncodedTable):
            return X
        check_is_fitted(self)
        _check_two_dimensional(X)
        validate_data(self, X, skip_check_array=True, reset=False)
        return EncodedTable(*self._encoder.transform(X))

    def _prediction_input(self, X):
        return self._encode(X)

    def _validation_input(self, X_val, dtype):
        return self._encode(X_val)

    def _prediction_dtype(self, X):
        # Whatever dtype trained the network, its predictions are computed in float64.
        # In float32, BLAS libraries may compute a row differently with the number of
        # rows in the product (aarch64's OpenBLAS does for one row): a row's prediction
        # would then depend on the rows predicted with it, in the last bit, which the
        # targets' scale makes visible. In float64 that difference is far below
        # float32's precision.
        return np.dtype(np.float64)

    def _passes_validation_as_is(self, X):
        return False

    # --- the embeddings --------------------------------------------------------------

    def _network_inputs(self, X):
        return X.shape[1] + self._encoder.n_embedded_ * self.embedding_dim

    def _embedding_shapes(self):
        encoder = getattr(self, "_encoder", None)
        if encoder is None:
            return []
        tables = getattr(self, "embeddings_", None)
        dim = tables[0].shape[1] if tables else self.embedding_dim
        return [(int(size), dim) for size in encoder.embedding_sizes_]

    def _embedding_tables(self):
        return getattr(self, "embeddings_", [])

    def _unpack(self, layout, params):
        super()._unpack(layout, params)
        self.embeddings_ = layout.unpack_embeddings(params)

    def _initialize(self, Y, layer_units, dtype, rng):
        """MLP's initial weights, then each embedding table drawn from N(0, 1), its
        UNSEEN_ROW zero: a level not seen at fit adds nothing to the first layer."""
        super()._initialize(Y, layer_units, dtype, rng)
        tables = []
        for size in self._encoder.embedding_sizes_:
            table = rng.standard_normal((int(size), self.embedding_dim)).astype(dtype)
            table[UNSEEN_ROW] = 0.0
            tables.append(table)
        self.embeddings_ = tables

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags


def _rows_per_class(estimator, Y):
    """The training rows of each class of a single-label classifier's binarized
    targets; [inf] for a regressor or multilabel targets, which the split does not
    stratify."""
    binarizer = getattr(estimator, "_label_binarizer", None)
    if binarizer is None or binarizer.y_type_ == "multilabel-indicator":
        return np.array([np.inf])
    positives = Y.sum(axis=0)
    return np.array([Y.shape[0] - positives[0], positives[0]]) if Y.shape[1] == 1 else positives


def _check_two_dimensional(X):
    """Raise scikit-learn's errors for a 1-D X and for one without columns."""
    shape = getattr(X, "shape", None)
    if shape is None:
        try:
            shape = np.asarray(X, dtype=object).shape
        except ValueError:  # ragged rows: the encoder says what is wrong
            return
    if len(shape) == 1:
        raise ValueError(
            "Expected 2D array, got 1D array instead. Reshape your data either using "
            "array.reshape(-1, 1) if your data has a single feature or "
            "array.reshape(1, -1) if it contains a single sample."
        )
    if len(shape) == 2 and shape[1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={tuple(shape)}) while a minimum of 1 "
            "is required."
        )


def _parameters_doc(changed, removed, added):
    """The BP estimators' parameter entries, with the ``changed`` ones (name: entry)
    replaced, the ``removed`` ones left out and ``added`` (entries) appended."""
    entries = re.split(r"\n(?=    \w+ : )", _SHARED_PARAMETERS_DOC.strip("\n"))
    kept = []
    for entry in entries:
        name = entry.split(" : ")[0].strip()
        if name in removed:
            continue
        kept.append(changed.get(name, entry).rstrip("\n"))
    return "\n\n".join(kept + [a.strip("\n") for a in added])


_CHANGED = {
    "hidden_layer_sizes": """\
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(512,)
        The ith element is the number of neurons in the ith hidden layer. One wide
        layer was as accurate as three narrower ones on the tuning tables, at a third
        of the time.""",
    "solver": """    solver : {'sgd', 'adam'}, default='adam'
        The weight optimizer: minibatch SGD with (Nesterov) momentum, or Adam. The
        Tabular estimators have no 'lbfgs': their embedding tables train in the
        minibatch kernels.""",
    "alpha": """    alpha : float, default=0.0
        Strength of the L2 penalty in the loss, as in MLP; the Tabular estimators
        regularise with ``weight_decay`` and early stopping instead.""",
    "batch_size": """    batch_size : int or 'auto', default='auto'
        Minibatch size; 'auto' means ``min(256, n_samples)``.""",
    "max_iter": """    max_iter : int or 'auto', default='auto'
        Maximum number of epochs. 'auto' gives a budget of 20,000 optimizer steps:
        ``20000 // ceil(n_train / batch_size)`` epochs, at least 30 and at most 200,
        ``n_train`` being the rows left for training after the validation split. Early
        stopping usually ends the fit sooner.""",
    "early_stopping": """    early_stopping : bool or 'auto', default='auto'
        Whether to set aside ``validation_fraction`` of the training data (or use
        ``X_val``, ``y_val`` given to ``fit``) and stop when the validation score has
        not improved for ``n_iter_no_change`` epochs; the best epoch's weights are
        kept. 'auto' (as HistGradientBoosting's) turns it on for ``fit`` with
        ``X_val``, and for ``fit`` on at least 200 rows where, for the classifier,
        every class has two rows (so that the split can stratify); off for smaller
        tables and for ``partial_fit``. Without it, training stops when the training
        loss stops improving, as in MLP.""",
    "validation_fraction": """    validation_fraction : float, default=0.2
        Share of the training data held out for early stopping (stratified for the
        classifier).""",
    "n_iter_no_change": """    n_iter_no_change : int or np.inf, default=20
        Number of epochs without improvement by ``tol`` before stopping.""",
    "scoring": """    scoring : str, callable or None, default='loss'
        The validation score of early stopping: 'loss' (the validation loss, the
        default), None (accuracy or R²), or any scikit-learn scorer.""",
    "dtype": """    dtype : {'float32', 'float64'}, default='float32'
        The precision the network trains in. The encoded columns are converted batch
        by batch as the kernel gathers them. Predictions are computed in float64 from
        the trained weights, so that a row's prediction does not depend on the rows
        predicted with it: some BLAS libraries compute a float32 product's row
        differently with the number of rows in it.""",
}
_REMOVED = ("learning_rate", "power_t", "max_fun")
_ADDED = [
    """    categorical_features : {'from_dtype'} or array-like of {bool, int, str} or None, \
            default='from_dtype'
        Which columns are categorical, with HistGradientBoosting's meanings: None
        (none), 'from_dtype', integer indices, a boolean mask or column names. With
        'from_dtype', a pandas or polars frame's ``category``, text and bool columns
        are categorical (HistGradientBoosting takes only ``category``), and so are the
        text and bool columns of a NumPy array. Every other column must hold numbers.
        Numeric columns are centred on their median, divided by their interquartile
        range and clipped smoothly to about +-3 (``x / sqrt(1 + (x / 3) ** 2)``); a
        missing value becomes 0 with an indicator column. A categorical column keeps
        its missing values as a level of their own, and a level not seen at fit never
        raises (it gets zeros, or the reserved row of its embedding table).""",
    """    max_one_hot : int, default=8
        A categorical column with at most this many levels is one-hot encoded; a
        larger one is embedded: each level is a learned row of ``embedding_dim``
        values, trained with the network.""",
    """    embedding_dim : int, default=8
        The width of each embedding table's rows.""",
]
_TABULAR_ATTRIBUTES = """
    embeddings_ : list of ndarray of shape (n_levels + 2, embedding_dim)
        One table per embedded column: row 0 for a level not seen at fit (zero, and
        untrained unless such rows appear), row 1 for a missing value, then the levels
        in sorted order. Views of the network's weights, as ``coefs_``.
"""


def _tabular_docstring(summary, extra_parameters, extra_attributes, tail, leading=""):
    parameters = _parameters_doc(_CHANGED, _REMOVED, [*extra_parameters, *_ADDED])
    return (
        summary
        + "\n\n    Parameters\n    ----------\n"
        + (leading.strip("\n") + "\n\n" if leading else "")
        + parameters
        + "\n\n    Attributes\n    ----------\n"
        + extra_attributes.strip("\n")
        + ("\n\n" if extra_attributes.strip() else "")
        + _SHARED_ATTRIBUTES_DOC.strip("\n")
        + "\n\n"
        + _TABULAR_ATTRIBUTES.strip("\n")
        + "\n\n"
        + tail
    )


def _tabular_constraints(base):
    constraints = {**base, **_TabularNetwork._tabular_constraints}
    for name in _TabularNetwork._removed_parameters:
        constraints.pop(name)
    return constraints


# --- the estimators -----------------------------------------------------------------


class TabularClassifier(_TabularNetwork, BPClassifier):
    _parameter_constraints: dict = _tabular_constraints(BPClassifier._parameter_constraints)

    loss = "log_loss"

    def __init__(
        self,
        hidden_layer_sizes=(512,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0,
        batch_size="auto",
        learning_rate_init=0.001,
        max_iter="auto",
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping="auto",
        validation_fraction=0.2,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=20,
        dropout=0.0,
        max_grad_norm=None,
        scoring="loss",
        learning_rate_schedule=None,
        warmup_iter=0,
        weight_decay=0.0,
        weight_init="glorot",
        dtype="float32",
        class_weight=None,
        label_smoothing=0.1,
        categorical_features="from_dtype",
        max_one_hot=8,
        embedding_dim=8,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
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
        self.dropout = dropout
        self.max_grad_norm = max_grad_norm
        self.scoring = scoring
        self.learning_rate_schedule = learning_rate_schedule
        self.warmup_iter = warmup_iter
        self.weight_decay = weight_decay
        self.weight_init = weight_init
        self.dtype = dtype
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing
        self.categorical_features = categorical_features
        self.max_one_hot = max_one_hot
        self.embedding_dim = embedding_dim

    __doc__ = _tabular_docstring(
        """A neural network classifier with defaults for real tables.

    It takes a pandas or polars DataFrame (or an array) as it comes, with numeric,
    categorical and missing values, no Pipeline in front, and trains a network with the
    BP estimators' kernels on the encoded columns (see ``categorical_features``). Its
    defaults (one layer of 512 units, Adam, a stratified validation split with the best
    epoch kept by the validation log-loss, float32, label smoothing with a temperature
    fitted on the validation rows) were chosen on the tables of
    ``benchmarks/bench_tabular.py``; the documentation's "Good by default" page has
    the method and the results on the tables held out from that choice. Otherwise it
    is a BPClassifier: the same methods, attributes, callbacks, ``X_val``,
    ``class_weight`` and ONNX export.""",
        [
            """    class_weight : dict, list of dict, 'balanced' or None, default=None
        Weights of the classes, multiplying ``sample_weight``, as in BPClassifier.""",
            """    label_smoothing : float, default=0.1
        Smooth the targets of the log-loss, as in BPClassifier. In [0, 1). Smoothing
        trains towards probabilities short of 0 and 1, which generalises better but
        leaves ``predict_proba`` unsure of itself. So when it is on and the fit has
        validation rows (early stopping's split, or ``X_val``), the fit ends by dividing
        the output layer's weights and bias by the temperature that minimises the
        validation rows' log-loss (``temperature_``, within [0.25, 4]): the predicted
        classes stay as they were and the probabilities are calibrated again.""",
        ],
        """    classes_ : ndarray of shape (n_classes,)
        Class labels.

    temperature_ : float
        What the last fit divided the output layer's weights and bias by (see
        ``label_smoothing``); 1.0 when it did not (no smoothing, no validation rows,
        ``partial_fit``).
""",
        """    See Also
    --------
    TabularRegressor : The regressor with the same defaults.
    BPClassifier : The same network with MLP's defaults, on numeric arrays.
    sklearn.ensemble.HistGradientBoostingClassifier : Gradient-boosted trees, which
        also take categorical and missing values.

    Examples
    --------
    >>> import pandas as pd
    >>> from bpnet import TabularClassifier
    >>> X = pd.DataFrame({
    ...     "size": [1.0, 2.5, None, 4.0, 3.5, 0.5, 2.0, 3.0] * 10,
    ...     "color": pd.Categorical(["red", "blue", "red", None, "blue", "red", "blue",
    ...                              "red"] * 10),
    ... })
    >>> y = (X["size"].fillna(0) > 2).astype(int)
    >>> clf = TabularClassifier(random_state=0).fit(X, y)
    >>> clf.predict(X.iloc[:3]).tolist()
    [0, 1, 0]
    """,
    )

    def _after_training(self, validation):
        """With label smoothing and validation rows: fit ``temperature_`` on them and
        divide the output layer's weights and bias by it (see ``label_smoothing``)."""
        self.temperature_ = 1.0
        if validation is None or self.label_smoothing == 0:
            return
        # The output layer before its activation, in float64 as predict computes it.
        layout = NetworkLayout.with_activations(
            self._fitted_units(), self._fitted_hidden_activations(), "identity",
            self._embedding_shapes(),
        )  # fmt: skip
        logits = self._forward(
            KernelInput(validation.X, dtype=np.float64), layout, self._pack(layout, np.float64)
        )
        temperature = fit_temperature(
            logits, validation.data.Y, validation.sample_weight,
            softmax=self.out_activation_ == "softmax",
        )  # fmt: skip
        # In place: coefs_ and intercepts_ are views of the parameters a warm start
        # continues from, so it continues from the model as it predicts.
        self.coefs_[-1] /= self.coefs_[-1].dtype.type(temperature)
        self.intercepts_[-1] /= self.intercepts_[-1].dtype.type(temperature)
        self.temperature_ = temperature


class TabularRegressor(_TabularNetwork, BPRegressor):
    _parameter_constraints: dict = {
        **_tabular_constraints(BPRegressor._parameter_constraints),
        "loss": [StrOptions({"squared_error", "huber", "quantile"})],
        "huber_threshold": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(512,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0,
        batch_size="auto",
        learning_rate_init=0.001,
        max_iter="auto",
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping="auto",
        validation_fraction=0.2,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=20,
        dropout=0.0,
        max_grad_norm=None,
        scoring="loss",
        learning_rate_schedule=None,
        warmup_iter=0,
        weight_decay=0.0,
        weight_init="glorot",
        dtype="float32",
        huber_threshold=1.0,
        quantile=None,
        categorical_features="from_dtype",
        max_one_hot=8,
        embedding_dim=8,
    ):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
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
        self.dropout = dropout
        self.max_grad_norm = max_grad_norm
        self.scoring = scoring
        self.learning_rate_schedule = learning_rate_schedule
        self.warmup_iter = warmup_iter
        self.weight_decay = weight_decay
        self.weight_init = weight_init
        self.dtype = dtype
        self.huber_threshold = huber_threshold
        self.quantile = quantile
        self.categorical_features = categorical_features
        self.max_one_hot = max_one_hot
        self.embedding_dim = embedding_dim

    __doc__ = _tabular_docstring(
        """A neural network regressor with defaults for real tables.

    It takes a pandas or polars DataFrame (or an array) as it comes, with numeric,
    categorical and missing values, no Pipeline in front, and trains a network with the
    BP estimators' kernels on the encoded columns (see ``categorical_features``). The
    targets are standardised for training (``target_mean_``, ``target_scale_``), so the
    losses are in those units, and the predictions come back in y's. Its defaults (one
    layer of 512 units, Adam, a validation split with the best epoch kept by the
    validation loss, float32) were chosen on the tuning tables of
    ``benchmarks/bench_tabular.py``; the documentation's "Good by default" page has
    the method and the results on the tables held out from that choice. Otherwise it
    is a BPRegressor: the same methods, attributes, callbacks, ``X_val`` and ONNX
    export.""",
        [
            """    huber_threshold : float, default=1.0
        Where ``loss='huber'`` turns from quadratic to linear, in standardised units.""",
            """    quantile : float, default=None
        The quantile ``loss='quantile'`` estimates, in (0, 1).""",
        ],
        """    target_mean_ : ndarray of shape (n_outputs,)
        The training targets' mean, subtracted before training.

    target_scale_ : ndarray of shape (n_outputs,)
        The training targets' standard deviation (1 where it is 0), divided by before
        training.
""",
        """    See Also
    --------
    TabularClassifier : The classifier with the same defaults.
    BPRegressor : The same network with MLP's defaults, on numeric arrays.
    sklearn.ensemble.HistGradientBoostingRegressor : Gradient-boosted trees, which also
        take categorical and missing values.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from bpnet import TabularRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = pd.DataFrame({"area": rng.uniform(20, 200, 300),
    ...                   "city": rng.choice(["Oslo", "Lyon", "Graz"], 300)})
    >>> y = 3 * X["area"] + X["city"].map({"Oslo": 100, "Lyon": 0, "Graz": -50})
    >>> reg = TabularRegressor(random_state=0).fit(X, y)
    >>> bool(reg.score(X, y) > 0.95)
    True
    """,
        leading="""    loss : {'squared_error', 'huber', 'quantile'}, default='squared_error'
        The loss, on the standardised targets: as in BPRegressor (its 'poisson' needs
        targets that standardisation would make negative).""",
    )

    # --- the standardised targets ----------------------------------------------------

    def _validate_input(self, X, y, incremental, reset):
        X, Y = super()._validate_input(X, y, incremental, reset)
        if reset or not hasattr(self, "target_mean_"):
            mean = Y.mean(axis=0, dtype=np.float64)
            scale = Y.std(axis=0, dtype=np.float64)
            self.target_mean_ = mean
            self.target_scale_ = np.where(scale > 0, scale, 1.0)
        return X, self._standardised(Y)

    def _standardised(self, Y):
        return ((Y - self.target_mean_) / self.target_scale_).astype(Y.dtype, copy=False)

    def _in_target_units(self, values):
        return values * self.target_scale_ + self.target_mean_

    def _validation_targets_of(self, y_val, dtype):
        targets, Y_val = super()._validation_targets_of(y_val, dtype)
        return targets, self._standardised(Y_val)

    def _validation_targets(self, Y, indices):
        return super()._validation_targets(self._in_target_units(Y[indices]), slice(None))

    def _targets_of(self, Y):
        return super()._targets_of(self._in_target_units(Y))

    def predict(self, X):
        """Predict with the network.

        Parameters
        ----------
        X : {DataFrame, array-like} of shape (n_samples, n_features)
            The input table, with the columns seen at fit.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values, in y's units.
        """
        output = self._in_target_units(self._predict_raw(X))
        return output.ravel() if output.shape[1] == 1 else output
