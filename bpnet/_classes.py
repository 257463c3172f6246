"""BPClassifier and BPRegressor: drop-in replacements for scikit-learn's MLP estimators."""

from numbers import Real

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_array, column_or_1d

from ._base import BaseBP
from ._losses import loss_function

_SHARED_PARAMETERS_DOC = """
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of neurons in the ith hidden layer.

    activation : str or list of str, default='relu'
        Activation function of the hidden layers: one name for all of them, or a list
        with one name per hidden layer (bpnet only). 'identity', 'logistic', 'tanh' and
        'relu' are MLP's: ``x``, ``1 / (1 + exp(-x))``, ``tanh(x)``, ``max(0, x)``.
        bpnet adds 'leaky_relu' (``x`` above 0, ``0.01 x`` below), 'elu' (``x`` above
        0, ``exp(x) - 1`` below), 'gelu' in its exact form ``x * Phi(x)`` with the
        normal CDF from erf (not the tanh approximation; PyTorch's default, Keras's
        ``approximate=False``), and 'silu' (``x / (1 + exp(-x))``, also called swish).
        Each layer's initial weights use Glorot's uniform bound with the factor of the
        activation it feeds (2 for 'logistic', 6 for the others, as scikit-learn).

    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        The weight optimizer. 'sgd' is minibatch stochastic gradient descent with
        (Nesterov) momentum, 'adam' is Kingma and Ba's Adam, and 'lbfgs' is SciPy's
        L-BFGS-B on the full-batch loss. 'adam' suits larger datasets; 'lbfgs' often
        converges faster on small ones.

    alpha : float, default=0.0001
        Strength of the L2 penalty, which is divided by the sample size (the sum of the
        sample weights) when added to the loss.

    batch_size : int or 'auto', default='auto'
        Minibatch size of the stochastic solvers; 'auto' means ``min(200, n_samples)``.
        Unused by 'lbfgs'.

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning-rate schedule of 'sgd'. 'invscaling' uses
        ``learning_rate_init / (t + 1) ** power_t`` after each epoch, t being the number
        of samples seen; 'adaptive' divides the rate by 5 each time ``n_iter_no_change``
        epochs pass without improvement by ``tol``.

    learning_rate_init : float, default=0.001
        The initial learning rate of 'sgd' and 'adam'.

    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.

    max_iter : int, default=200
        Maximum number of epochs for 'sgd' and 'adam', or of iterations for 'lbfgs'.

    shuffle : bool, default=True
        Whether to shuffle the samples at each epoch ('sgd' and 'adam').

    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the early-stopping split and the shuffles. An
        int gives the same network as scikit-learn's MLP with that seed.

    tol : float, default=1e-4
        Training stops when the loss (or the validation score with early stopping) fails
        to improve by ``tol`` for ``n_iter_no_change`` consecutive epochs. For 'lbfgs' it
        is the gradient tolerance.

    verbose : bool, default=False
        Whether to print the loss after each epoch.

    warm_start : bool, default=False
        When True, fit continues from the previous solution.

    momentum : float, default=0.9
        Momentum of 'sgd', in [0, 1].

    nesterovs_momentum : bool, default=True
        Whether 'sgd' uses Nesterov's momentum.

    early_stopping : bool, default=False
        Whether to set aside ``validation_fraction`` of the training data and stop when
        the validation score stops improving; the best-scoring weights are kept.

    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.

    beta_1 : float, default=0.9
        Decay rate of Adam's first-moment estimate, in [0, 1).

    beta_2 : float, default=0.999
        Decay rate of Adam's second-moment estimate, in [0, 1).

    epsilon : float, default=1e-8
        Adam's numerical-stability constant.

    n_iter_no_change : int or np.inf, default=10
        Number of epochs without improvement by ``tol`` before stopping.

    max_fun : int, default=15000
        Maximum number of loss evaluations of 'lbfgs'.

    dropout : float or list of float, default=0.0
        Inverted dropout on the hidden layers' outputs (bpnet only): during training
        each unit is zeroed with this probability and the kept ones are scaled by
        ``1 / (1 - dropout)``; prediction and the validation pass never drop. One rate
        for every hidden layer, or a list with one per hidden layer, each in [0, 1). As
        PyTorch's ``nn.Dropout`` and Keras's ``Dropout`` (which drop a layer's inputs
        where this drops the hidden layer's outputs, the same thing layer by layer).
        The masks come from a counter-based generator keyed by (seed, epoch, training
        row, unit), the seed drawn from ``random_state``: the same ``random_state``
        gives the same model whatever the number of threads, and a sequence of
        ``partial_fit`` calls that see the rows in the same order as ``fit`` draws the
        same masks. Needs 'sgd' or 'adam'.

    max_grad_norm : float, default=None
        Clip each minibatch's gradient, the L2 term included, to this L2 norm over all
        parameters before the update (bpnet only), as PyTorch's
        ``clip_grad_norm_`` and skorch's ``GradientNormClipping`` do (Keras's
        ``global_clipnorm``). None never clips. 'sgd' and 'adam' only; 'lbfgs' ignores
        it.

    scoring : str, callable or None, default=None
        The validation score of early stopping (bpnet only, as HistGradientBoosting's
        ``scoring``). None keeps MLP's: accuracy for the classifier, R² for the
        regressor. 'loss' uses the validation loss (``validation_scores_`` then holds
        minus the loss, so that higher is better). Any scikit-learn scorer name or
        callable ``scorer(estimator, X, y)`` is also accepted. Early stopping keeps the
        best epoch's weights whatever the score.

    learning_rate_schedule : {'cosine', 'onecycle', 'plateau'} or None, default=None
        A learning-rate schedule for 'sgd' and 'adam' alike, applied per epoch (bpnet
        only). None keeps MLP's rules (``learning_rate``, for 'sgd' only). 'cosine'
        decays the rate from ``learning_rate_init`` to 0 along half a cosine over
        ``max_iter`` epochs; 'onecycle' rises along a cosine from
        ``learning_rate_init / 25`` to ``learning_rate_init`` over the first 30% of them,
        then falls to ``learning_rate_init / 250000`` (Smith and Topin's one-cycle, as
        PyTorch's ``OneCycleLR`` by default); 'plateau' divides the rate by 5 after
        ``n_iter_no_change`` epochs without an improvement by ``tol`` of the monitored
        value (the validation score with early stopping, else the training loss), and
        stops once it is 1e-6 or less, as 'adaptive' does for 'sgd'. Setting a schedule
        needs ``learning_rate='constant'``. ``fit`` starts the schedule again;
        ``partial_fit`` continues it, one epoch per call.

    warmup_iter : int, default=0
        Epochs of linear warm-up at the start of the schedule, for every schedule (bpnet
        only): epoch ``e`` of them runs at ``(e + 1) / warmup_iter`` of the rate.
        'cosine' and 'onecycle' then span the remaining ``max_iter - warmup_iter``
        epochs. At most ``max_iter``.

    weight_decay : float, default=0.0
        Decoupled weight decay (bpnet only), as AdamW (Loshchilov and Hutter) and
        PyTorch's ``weight_decay`` of ``AdamW``: each step also shrinks the coefficients
        by ``learning_rate * weight_decay`` of themselves, apart from the gradient (so
        Adam's moments never see it). It is separate from ``alpha``, MLP's L2 term in
        the loss. Intercepts are not decayed. 'sgd' and 'adam' only.

    weight_init : {'glorot', 'he', 'lecun'}, default='glorot'
        How the initial coefficients are drawn, uniformly from ``[-b, b]`` with the same
        draws of ``random_state`` (bpnet only): 'glorot' is MLP's (``b = sqrt(f /
        (fan_in + fan_out))``, ``f`` 2 for logistic and 6 otherwise), 'he' suits the
        ReLU family (``b = sqrt(6 / fan_in)``), 'lecun' suits tanh and SELU-like units
        (``b = sqrt(3 / fan_in)``). Each layer's intercepts come from the same range.

    dtype : {'float32', 'float64'} or None, default=None
        The precision the network trains and predicts in (bpnet only). None follows X,
        as MLP does: float32 input trains in float32, anything else in float64.
        'float32' trains a float64 X (a pandas frame, say) in float32, converting each
        batch's rows as they are gathered, never X as a whole.
"""

_SHARED_ATTRIBUTES_DOC = """
    loss_ : float
        The loss at the end of the last epoch (or of L-BFGS).

    best_loss_ : float or None
        The lowest training loss reached; None with early stopping.

    loss_curve_ : list of float
        The loss after each epoch ('sgd' and 'adam').

    learning_rate_curve_ : list of float
        The learning rate each epoch ran at ('sgd' and 'adam'; bpnet only), as the
        schedule and the warm-up set it.

    validation_scores_ : list of float or None
        The validation score after each epoch when ``early_stopping=True``, else None.

    validation_loss_curve_ : list of float or None
        The loss on the validation data after each epoch when ``early_stopping=True``,
        else None (bpnet only). It is the data loss alone, without the L2 term that
        ``loss_curve_`` includes (``alpha / 2 * ||W||^2`` over the training weights'
        sum), so the two compare directly when ``alpha`` is small; with sample weights
        it is their weighted mean.

    best_validation_score_ : float or None
        The best validation score when ``early_stopping=True``, else None.

    t_ : int
        Number of training samples seen by the solver.

    coefs_ : list of ndarray of shape (n_layers - 1,)
        The ith element is the weight matrix of layer i, in the input's dtype.

    intercepts_ : list of ndarray of shape (n_layers - 1,)
        The ith element is the bias vector of layer i + 1.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features seen during fit, when X has string column names.

    n_iter_ : int
        Number of epochs (or L-BFGS iterations) run by the last fit.

    n_layers_ : int
        Number of layers, input and output included.

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        Name of the output activation.

    hidden_activations_ : list of str
        Name of each hidden layer's activation (bpnet only).
"""


def _docstring(template):
    return template.replace("%(parameters)s", _SHARED_PARAMETERS_DOC.strip("\n")).replace(
        "%(attributes)s", _SHARED_ATTRIBUTES_DOC.strip("\n")
    )


def _balanced_weights(indices, n_classes, sample_weight):
    """'balanced' weights of classes 0...n_classes-1 for rows of these class indices,
    counted with the sample weights, as compute_class_weight counts them.

    A class no row has (partial_fit batches) weighs 1; a class whose rows all weigh 0
    weighs 0, as its rows add nothing whatever their class weight. The others weigh
    compute_class_weight's sum(counts) / (n_counted * counts), here computed from one
    bincount: the same operations in the same order, hence the same bits (the tests
    compare them), without its label encoding and checks, which cost a millisecond
    per 10000 rows.
    """
    weights = np.ones(n_classes)
    rows = np.bincount(indices, minlength=n_classes)
    counts = (
        rows.astype(np.float64)
        if sample_weight is None
        else np.bincount(indices, weights=sample_weight, minlength=n_classes)
    )
    present = rows > 0
    weights[present] = 0.0
    counted = counts[present & (counts > 0)]
    if len(counted):
        weights[present & (counts > 0)] = np.sum(counted) / (len(counted) * counted)
    return weights


def _dict_weights(class_weight, classes):
    """The weights a dict {class label: weight} gives the classes, in their order."""
    weights = np.ones(len(classes))
    for label, weight in class_weight.items():
        matches = np.flatnonzero(classes == label)
        if not len(matches):
            raise ValueError(
                f"class_weight names the class {label!r}, which is not one of the classes "
                f"{list(classes)}."
            )
        if not isinstance(weight, Real) or not np.isfinite(weight) or weight < 0:
            raise ValueError(
                f"class_weight[{label!r}] is {weight!r}: class weights must be finite, "
                "non-negative numbers."
            )
        weights[matches[0]] = weight
    return weights


# Label dtypes whose 1-D arrays skip LabelBinarizer's checks (_fit_binarizer): they hold
# only class labels, binary or multiclass (floats may be continuous, objects mixed).
_PLAIN_LABEL_KINDS = "iubU"


def _plain_labels(y):
    """Whether y is a non-empty 1-D array of integers, booleans or strings."""
    return (isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in _PLAIN_LABEL_KINDS
            and len(y) > 0)  # fmt: skip


def _fit_binarizer(y):
    """``LabelBinarizer().fit(y)``, for a validated y, faster on plain labels.

    LabelBinarizer's fit and transform each guess the target type again, through a
    dozen input checks, which are most of a small fit's fixed cost. Plain labels
    (_plain_labels) need none of them: their type is 'binary' or 'multiclass' by their
    number of classes, and their classes are sorted and converted as unique_labels
    converts them. The binarizer's attributes come out the same
    (tests/test_mlp_behaviour.py compares them); anything else takes the full path.
    """
    if not _plain_labels(y):
        return LabelBinarizer().fit(y)
    binarizer = LabelBinarizer()
    classes = np.asarray(sorted(np.unique(y)))
    binarizer.y_type_ = "multiclass" if len(classes) > 2 else "binary"
    binarizer.sparse_input_ = False
    binarizer.classes_ = classes
    return binarizer


def _binarize(binarizer, y, dtype):
    """``binarizer.transform(y)`` in `dtype`, faster on plain labels (as above)."""
    Y = None
    if (
        _plain_labels(y)
        and binarizer.y_type_ in ("binary", "multiclass")
        and not binarizer.sparse_output
        and binarizer.neg_label == 0
        and binarizer.pos_label == 1
        and y.dtype.kind == binarizer.classes_.dtype.kind
    ):
        Y = _label_indicators(binarizer.classes_, binarizer.y_type_, y, dtype)
    return binarizer.transform(y).astype(dtype, copy=False) if Y is None else Y


def _label_indicators(classes, y_type, y, dtype):
    """label_binarize's 0/1 targets for plain labels, or None where it would type y
    afresh (a binarizer of two classes given a third label one-hot encodes it).

    A label not among the classes gets a row of zeros, as label_binarize gives it.
    """
    if y_type == "binary":
        positive = y == classes[-1]
        if len(classes) != 2 or not np.all(positive | (y == classes[0])):
            return None
        return positive.astype(dtype)[:, None]
    found = np.minimum(np.searchsorted(classes, y), len(classes) - 1)
    Y = np.zeros((len(y), len(classes)), dtype=dtype)
    known = classes[found] == y
    Y[np.flatnonzero(known), found[known]] = 1
    return Y


def _check_two_classes(classes):
    if len(classes) < 2:
        raise ValueError(
            "Classifier can't train when only one class is present: y contains only the "
            f"class {classes[0]!r}. A classifier needs at least two classes."
        )


class BPClassifier(ClassifierMixin, BaseBP):
    _parameter_constraints: dict = {
        **BaseBP._parameter_constraints,
        "class_weight": [dict, list, StrOptions({"balanced"}), None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        max_grad_norm=None,
        scoring=None,
        learning_rate_schedule=None,
        warmup_iter=0,
        weight_decay=0.0,
        weight_init="glorot",
        dtype=None,
        class_weight=None,
        label_smoothing=0.0,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            loss="log_loss",
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            dropout=dropout,
            max_grad_norm=max_grad_norm,
            scoring=scoring,
            learning_rate_schedule=learning_rate_schedule,
            warmup_iter=warmup_iter,
            weight_decay=weight_decay,
            weight_init=weight_init,
            dtype=dtype,
        )
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing

    __doc__ = _docstring(
        """Multi-layer perceptron classifier trained by Cython backpropagation kernels.

    A drop-in replacement for :class:`sklearn.neural_network.MLPClassifier`: the same
    parameters, defaults, attributes and, for the same ``random_state``, the same
    numbers. It minimises the log-loss with a softmax output for multiclass targets and
    logistic outputs for binary and multilabel targets.

    Parameters
    ----------
%(parameters)s

    class_weight : dict, list of dict, 'balanced' or None, default=None
        Weights of the classes (bpnet only), multiplying ``sample_weight``: a fit with
        ``class_weight`` is exactly the fit with the equivalent ``sample_weight``.
        A dict maps class labels to weights (missing classes weigh 1); 'balanced'
        weighs each class by ``n_samples / (n_classes * count)``, the counts taken with
        the sample weights, as ``compute_class_weight(..., sample_weight=...)`` and
        LogisticRegression do. For multilabel targets, 'balanced' or a list with one
        dict ``{0: w, 1: w}`` per label; a row's weight is the product over its labels,
        as in ``compute_sample_weight``. With ``partial_fit``, 'balanced' balances each
        call's own batch, while a dict applies as in ``fit``. With early stopping, the
        held-out validation rows keep their class weights in the validation score (as
        in HistGradientBoosting); ``sample_weight_val`` given to ``fit`` is used as is.
        Keras's ``class_weight`` is the dict form; skorch has no equivalent.

    label_smoothing : float, default=0.0
        Smooth the targets of the log-loss (bpnet only), as PyTorch's
        ``CrossEntropyLoss(label_smoothing=...)`` and Keras's: a softmax target becomes
        ``(1 - label_smoothing) * onehot + label_smoothing / n_classes``, a logistic one
        ``(1 - label_smoothing) * y + label_smoothing / 2``, in the loss and its
        gradient; ``loss_`` and the loss curves report the smoothed loss. In [0, 1).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.

%(attributes)s

    See Also
    --------
    BPRegressor : Multi-layer perceptron regressor.
    sklearn.neural_network.MLPClassifier : The scikit-learn estimator this one mirrors.

    Examples
    --------
    >>> from bpnet import BPClassifier
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(n_samples=100, random_state=1)
    >>> clf = BPClassifier(hidden_layer_sizes=(20,), max_iter=500, random_state=1).fit(X, y)
    >>> clf.predict_proba(X[:1]).shape
    (1, 2)
    >>> clf.score(X, y) > 0.9
    True
    """
    )

    def _validate_input(self, X, y, incremental, reset):
        X, y = self._validate_fit_data(X, y, reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)

        # A new label binarizer on a fresh fit; otherwise the classes must agree with the
        # ones already fitted (exactly for warm_start, as a subset for partial_fit).
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            binarizer = _fit_binarizer(y)
            if binarizer.y_type_ != "multilabel-indicator":
                _check_two_classes(binarizer.classes_)
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in "
                        f"the previous call to fit. Previously got {self.classes_}, `y` "
                        f"has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. 'y' has {classes}."
                )
        return X, _binarize(self._label_binarizer, y, self._compute_dtype(X))

    def _output_activation(self, Y):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _targets_of(self, Y):
        return self._label_binarizer.inverse_transform(Y)

    def _class_weights_of_rows(self, Y, sample_weight):
        if self.class_weight is None:
            return None
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            return self._multilabel_class_weights(Y, sample_weight)
        if isinstance(self.class_weight, list):
            raise ValueError(
                "class_weight is a list, which is for multilabel targets (one dict per "
                "label): give a dict {class: weight} or 'balanced'."
            )
        indices = np.argmax(Y, axis=1) if Y.shape[1] > 1 else Y[:, 0].astype(np.intp)
        if self.class_weight == "balanced":
            weights = _balanced_weights(indices, len(self.classes_), sample_weight)
        else:
            weights = _dict_weights(self.class_weight, self.classes_)
        return weights[indices]

    def _multilabel_class_weights(self, Y, sample_weight):
        """The product over the labels of each label's weight for the row's 0 or 1."""
        n_labels = Y.shape[1]
        if isinstance(self.class_weight, dict):
            raise ValueError(
                "For multilabel targets, class_weight must be 'balanced' or a list with "
                "one dict {0: weight, 1: weight} per label, not a dict."
            )
        if isinstance(self.class_weight, list) and len(self.class_weight) != n_labels:
            raise ValueError(
                f"class_weight has {len(self.class_weight)} dicts, but y has {n_labels} "
                "labels: give one dict {0: weight, 1: weight} per label."
            )
        row_weights = np.ones(Y.shape[0])
        for label in range(n_labels):
            present = Y[:, label].astype(np.intp)
            if self.class_weight == "balanced":
                weights = _balanced_weights(present, 2, sample_weight)
            else:
                weights = _dict_weights(self.class_weight[label], np.array([0, 1]))
            row_weights *= weights[present]
        return row_weights

    def _validation_targets_of(self, y_val, dtype):
        y_val = check_array(y_val, ensure_2d=False, dtype=None, input_name="y_val")
        if y_val.ndim == 2 and y_val.shape[1] == 1:
            y_val = column_or_1d(y_val, warn=True)
        if self._label_binarizer.y_type_ != "multilabel-indicator":
            unknown = np.setdiff1d(unique_labels(y_val), self.classes_)
            if len(unknown):
                raise ValueError(
                    f"y_val has classes {list(unknown)} that y does not have: the "
                    f"classes are {list(self.classes_)}."
                )
        return y_val, _binarize(self._label_binarizer, y_val, dtype)

    def _loss_name(self):
        return "log_loss" if self.out_activation_ == "softmax" else "binary_log_loss"

    def _kernel_loss(self):
        return loss_function(self._loss_name(), label_smoothing=self.label_smoothing)

    def _stratify_labels(self, Y):
        if self.out_activation_ == "softmax":
            # Multiclass: stratify on the labels themselves (scikit-learn does not
            # stratify multiclass splits, despite its documentation).
            return self.classes_[np.argmax(Y, axis=1)]
        if Y.shape[1] == 1:
            # Binary: the same labels scikit-learn stratifies on, so the split matches.
            return Y.astype(bool)
        return None  # multilabel

    def _validation_targets(self, Y, indices):
        return self._label_binarizer.inverse_transform(Y[indices])

    def _validation_score(self, output, y_val, sample_weight):
        return accuracy_score(y_val, self._labels_from_output(output), sample_weight=sample_weight)

    def _labels_from_output(self, output):
        if self.n_outputs_ == 1:
            output = output.ravel()
        return self._label_binarizer.inverse_transform(output)

    def predict(self, X):
        """Predict with the multi-layer perceptron classifier.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The predicted classes.
        """
        return self._labels_from_output(self._predict_raw(X))

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with a single epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        classes : array-like of shape (n_classes,), default=None
            Every class that any call may see, for example ``np.unique(y_all)``. Required
            on the first call, ignored afterwards unless it differs.

        Returns
        -------
        self : object
            The updated estimator.
        """
        previous_state = self.__dict__.copy()
        if self._is_first_partial_fit(classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(
            X, y, sample_weight=sample_weight, incremental=True, previous_state=previous_state
        )

    def _is_first_partial_fit(self, classes):
        """Check ``classes`` and tell whether this is the first call to partial_fit."""
        fitted = getattr(self, "classes_", None)
        if fitted is None and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None:
            classes = unique_labels(classes)
            if fitted is None:
                _check_two_classes(classes)
            else:
                if not np.array_equal(fitted, classes):
                    raise ValueError(
                        f"`classes={classes!r}` is not the same as on last call to "
                        f"partial_fit, was: {fitted!r}"
                    )
                return False
            self.classes_ = classes
            return True
        return False

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            The probability of each class, in the order of ``classes_``.
        """
        output = self._predict_raw(X)
        # Logistic and softmax outputs round to exactly 0 or 1 for extreme inputs. Clip
        # them as the training log-loss does, so every class keeps a probability in
        # (0, 1) and predict_log_proba stays finite.
        eps = np.finfo(output.dtype).eps
        np.clip(output, eps, 1 - eps, out=output)
        if self.n_outputs_ == 1:
            positive = output.ravel()
            return np.column_stack([1 - positive, positive])
        return output

    def predict_log_proba(self, X):
        """Log of the probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
            ``log(predict_proba(X))``.
        """
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class BPRegressor(RegressorMixin, BaseBP):
    _parameter_constraints: dict = {
        **BaseBP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson", "huber", "quantile"})],
        "huber_threshold": [Interval(Real, 0, None, closed="neither")],
        "quantile": [None, Interval(Real, 0, 1, closed="neither")],
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        max_grad_norm=None,
        scoring=None,
        learning_rate_schedule=None,
        warmup_iter=0,
        weight_decay=0.0,
        weight_init="glorot",
        dtype=None,
        huber_threshold=1.0,
        quantile=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            loss=loss,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            dropout=dropout,
            max_grad_norm=max_grad_norm,
            scoring=scoring,
            learning_rate_schedule=learning_rate_schedule,
            warmup_iter=warmup_iter,
            weight_decay=weight_decay,
            weight_init=weight_init,
            dtype=dtype,
        )
        self.huber_threshold = huber_threshold
        self.quantile = quantile

    __doc__ = _docstring(
        """Multi-layer perceptron regressor trained by Cython backpropagation kernels.

    A drop-in replacement for :class:`sklearn.neural_network.MLPRegressor`: the same
    parameters, defaults, attributes and, for the same ``random_state``, the same
    numbers.

    Parameters
    ----------
    loss : {'squared_error', 'poisson', 'huber', 'quantile'}, default='squared_error'
        'squared_error' has an identity output and reports half the mean squared error,
        averaged over the outputs; its gradient is that loss's gradient also for several
        outputs (scikit-learn's is ``n_outputs`` times larger, its issue #8349).
        'poisson' has an exponential output and minimises the half Poisson deviance; it
        needs non-negative targets. bpnet adds two robust losses with an identity
        output, averaged over the outputs: 'huber', ``r**2 / 2`` for residuals ``|r|``
        up to ``huber_threshold`` and ``huber_threshold * (|r| - huber_threshold / 2)``
        beyond (PyTorch's ``HuberLoss`` and Keras's ``Huber`` with
        ``delta=huber_threshold``), and 'quantile', the pinball loss of the
        ``quantile``, as in HistGradientBoostingRegressor.

%(parameters)s

    huber_threshold : float, default=1.0
        Where loss='huber' turns from quadratic to linear, in units of the targets
        (bpnet only; scale the targets, or set it to the size of an ordinary
        residual). Named apart from Adam's ``epsilon`` and the L2 ``alpha``; unlike
        HuberRegressor's ``epsilon`` it is not relative to an estimated scale.

    quantile : float, default=None
        The quantile, in (0, 1), that loss='quantile' estimates (bpnet only, as in
        HistGradientBoostingRegressor); required with that loss.

    Attributes
    ----------
%(attributes)s

    See Also
    --------
    BPClassifier : Multi-layer perceptron classifier.
    sklearn.neural_network.MLPRegressor : The scikit-learn estimator this one mirrors.

    Examples
    --------
    >>> from bpnet import BPRegressor
    >>> from sklearn.datasets import make_regression
    >>> X, y = make_regression(n_samples=200, n_features=5, noise=0.1, random_state=1)
    >>> reg = BPRegressor(hidden_layer_sizes=(20,), solver="lbfgs", random_state=1)
    >>> reg.fit(X, y).score(X, y) > 0.99
    True
    """
    )

    def _validate_input(self, X, y, incremental, reset):
        X, y = self._validate_fit_data(X, y, reset, y_numeric=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError(
                "loss='poisson' requires non-negative targets y, but y has negative values."
            )
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        return X, Y.astype(self._compute_dtype(X), copy=False)

    def _output_activation(self, Y):
        return "exp" if self.loss == "poisson" else "identity"

    def _loss_name(self):
        return self.loss

    def _check_loss_parameters(self):
        if self.loss == "quantile" and self.quantile is None:
            raise ValueError(
                "loss='quantile' needs the quantile to estimate: set quantile to a number "
                "in (0, 1), for example quantile=0.9."
            )

    def _kernel_loss(self):
        self._check_loss_parameters()
        return loss_function(
            self.loss, huber_threshold=self.huber_threshold, quantile=self.quantile or 0.5
        )

    def _targets_of(self, Y):
        return Y.ravel() if Y.shape[1] == 1 else Y

    def _validation_targets_of(self, y_val, dtype):
        y_val = check_array(y_val, ensure_2d=False, dtype=dtype, input_name="y_val")
        if y_val.ndim == 2 and y_val.shape[1] == 1:
            y_val = column_or_1d(y_val, warn=True)
        if self.loss == "poisson" and np.any(y_val < 0):
            raise ValueError("loss='poisson' requires non-negative y_val.")
        return y_val, (y_val.reshape(-1, 1) if y_val.ndim == 1 else y_val)

    def _stratify_labels(self, Y):
        return None

    def _validation_targets(self, Y, indices):
        y_val = Y[indices]
        return y_val.ravel() if y_val.shape[1] == 1 else y_val

    def _validation_score(self, output, y_val, sample_weight):
        if output.shape[1] == 1:
            output = output.ravel()
        return r2_score(y_val, output, sample_weight=sample_weight)

    def predict(self, X):
        """Predict with the multi-layer perceptron regressor.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values.
        """
        output = self._predict_raw(X)
        return output.ravel() if output.shape[1] == 1 else output

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with a single epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)
