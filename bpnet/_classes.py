"""BPClassifier and BPRegressor: drop-in replacements for scikit-learn's MLP estimators."""

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import column_or_1d, validate_data

from ._base import BaseBP

_SHARED_PARAMETERS_DOC = """
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of neurons in the ith hidden layer.

    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
        Activation function of the hidden layers: ``x``, ``1 / (1 + exp(-x))``,
        ``tanh(x)`` or ``max(0, x)``.

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
"""

_SHARED_ATTRIBUTES_DOC = """
    loss_ : float
        The loss at the end of the last epoch (or of L-BFGS).

    best_loss_ : float or None
        The lowest training loss reached; None with early stopping.

    loss_curve_ : list of float
        The loss after each epoch ('sgd' and 'adam').

    validation_scores_ : list of float or None
        The validation score after each epoch when ``early_stopping=True``, else None.

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

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during fit, when X has string column names.

    n_iter_ : int
        Number of epochs (or L-BFGS iterations) run by the last fit.

    n_layers_ : int
        Number of layers, input and output included.

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        Name of the output activation.
"""


def _docstring(template):
    return template.replace("%(parameters)s", _SHARED_PARAMETERS_DOC.strip("\n")).replace(
        "%(attributes)s", _SHARED_ATTRIBUTES_DOC.strip("\n")
    )


def _check_two_classes(classes):
    if len(classes) < 2:
        raise ValueError(
            "Classifier can't train when only one class is present: y contains only the "
            f"class {classes[0]!r}. A classifier needs at least two classes."
        )


class BPClassifier(ClassifierMixin, BaseBP):
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
        )

    __doc__ = _docstring(
        """Multi-layer perceptron classifier trained by Cython backpropagation kernels.

    A drop-in replacement for :class:`sklearn.neural_network.MLPClassifier`: the same
    parameters, defaults, attributes and, for the same ``random_state``, the same
    numbers. It minimises the log-loss with a softmax output for multiclass targets and
    logistic outputs for binary and multilabel targets.

    Parameters
    ----------
%(parameters)s

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
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)

        # A new label binarizer on a fresh fit; otherwise the classes must agree with the
        # ones already fitted (exactly for warm_start, as a subset for partial_fit).
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            binarizer = LabelBinarizer().fit(y)
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
        Y = self._label_binarizer.transform(y).astype(X.dtype, copy=False)
        return X, Y

    def _output_activation(self, Y):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _loss_name(self):
        return "log_loss" if self.out_activation_ == "softmax" else "binary_log_loss"

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
        "loss": [StrOptions({"squared_error", "poisson"})],
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
        )

    __doc__ = _docstring(
        """Multi-layer perceptron regressor trained by Cython backpropagation kernels.

    A drop-in replacement for :class:`sklearn.neural_network.MLPRegressor`: the same
    parameters, defaults, attributes and, for the same ``random_state``, the same
    numbers.

    Parameters
    ----------
    loss : {'squared_error', 'poisson'}, default='squared_error'
        'squared_error' has an identity output and reports half the mean squared error,
        averaged over the outputs; its gradient is that loss's gradient also for several
        outputs (scikit-learn's is ``n_outputs`` times larger, its issue #8349).
        'poisson' has an exponential output and minimises the half Poisson deviance; it
        needs non-negative targets.

%(parameters)s

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
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError(
                "loss='poisson' requires non-negative targets y, but y has negative values."
            )
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        return X, Y.astype(X.dtype, copy=False)

    def _output_activation(self, Y):
        return "exp" if self.loss == "poisson" else "identity"

    def _loss_name(self):
        return self.loss

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
