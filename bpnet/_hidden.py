"""HiddenFeatures: a fitted network's hidden layer as a transformer."""

from numbers import Integral

from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    MetaEstimatorMixin,
    TransformerMixin,
    _fit_context,
    clone,
)
from sklearn.utils import get_tags
from sklearn.utils._metadata_requests import (
    MetadataRouter,
    MethodMapping,
    _routing_enabled,
    process_routing,
)
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import check_is_fitted


class HiddenFeatures(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, MetaEstimatorMixin, BaseEstimator
):
    """The activations of a hidden layer of a network, as features for another model.

    ``fit`` fits a clone of ``estimator`` (a :class:`~bpnet.BPClassifier` or
    :class:`~bpnet.BPRegressor`); ``transform`` returns what the hidden layer ``layer``
    of that network computes for each row, by calling its
    :meth:`~bpnet.BPClassifier.hidden_activations`. To use a network fitted already,
    without fitting it again, wrap it in :class:`sklearn.frozen.FrozenEstimator`.

    The layer's units are the features out, named ``hiddenfeatures0``,
    ``hiddenfeatures1``, ... by ``get_feature_names_out``, so the ``set_output``
    scikit-learn gives every transformer yields pandas or polars frames. ``bpnet.onnx``
    exports the transformer, alone or in a pipeline.

    Parameters
    ----------
    estimator : BPClassifier or BPRegressor
        The network; a clone of it is fitted unless it is a FrozenEstimator.

    layer : int, default=-1
        Which hidden layer, counted from 0 (the first) as in ``hidden_layer_sizes``;
        negative numbers count from the last, so -1 is the layer before the output.

    Attributes
    ----------
    estimator_ : estimator
        The fitted network (``estimator`` itself when it is a FrozenEstimator).

    n_features_in_ : int
        Number of features seen during fit (the network's).

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit (the network's), when X had string column
        names.

    See Also
    --------
    bpnet.BPClassifier.hidden_activations : The method ``transform`` calls.
    sklearn.frozen.FrozenEstimator : Keeps a fitted network from being fitted again.

    Notes
    -----
    scikit-learn declined to give ``MLPClassifier`` access to its hidden layers
    (issues #8291 and #9468, pull requests #8574 and #9469); this is that access, for
    stacking, nearest-neighbour and clustering pipelines.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.frozen import FrozenEstimator
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from bpnet import BPClassifier, HiddenFeatures
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> net = BPClassifier(hidden_layer_sizes=(32,), early_stopping=True, random_state=0)
    >>> net = net.fit(X, y)
    >>> HiddenFeatures(FrozenEstimator(net)).fit(X, y).transform(X[:3]).shape
    (3, 32)
    >>> knn = make_pipeline(HiddenFeatures(FrozenEstimator(net)), KNeighborsClassifier())
    >>> bool(knn.fit(X, y).score(X, y) > 0.9)
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "hidden_activations"])],
        "layer": [Integral],
    }

    def __init__(self, estimator, *, layer=-1):
        self.estimator = estimator
        self.layer = layer

    @_fit_context(
        # estimator is not validated yet
        prefer_skip_nested_validation=False
    )
    def fit(self, X, y=None, **fit_params):
        """Fit a clone of the network, unless it is a FrozenEstimator.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The training input samples.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            The targets; the network needs them unless it is frozen.

        **fit_params : dict
            Passed to the network's ``fit`` (``sample_weight``, ``X_val``, ...), as
            scikit-learn's meta-estimators do; with metadata routing enabled, those the
            network requests.

        Returns
        -------
        self : HiddenFeatures
            The fitted transformer.
        """
        if _routing_enabled():
            fit_params = process_routing(self, "fit", **fit_params).estimator.fit
        estimator = clone(self.estimator)
        estimator.fit(X, y, **fit_params)
        # The layer must exist in the fitted network: an error now, not at transform.
        estimator._hidden_layer_index(self.layer)
        self.estimator_ = estimator
        return self

    def transform(self, X):
        """The activations of the hidden layer ``layer`` for each row of X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        X_hidden : ndarray of shape (n_samples, n_units)
            The layer's activations, ``n_units`` being its width.
        """
        check_is_fitted(self)
        return self.estimator_.hidden_activations(X, layer=self.layer)

    @property
    def n_features_in_(self):
        """Number of features seen during fit (the network's)."""
        return self.estimator_.n_features_in_

    @property
    def feature_names_in_(self):
        """Names of features seen during fit (the network's)."""
        return self.estimator_.feature_names_in_

    @property
    def _n_features_out(self):
        """The hidden layer's width, for get_feature_names_out."""
        coefs = self.estimator_.coefs_
        return coefs[self.estimator_._hidden_layer_index(self.layer)].shape[1]

    def get_metadata_routing(self):
        """How ``fit``'s parameters are routed to the network.

        Returns
        -------
        routing : MetadataRouter
            ``fit`` is routed to the network's ``fit``.
        """
        return MetadataRouter(owner=self).add(
            estimator=self.estimator,
            method_mapping=MethodMapping().add(caller="fit", callee="fit"),
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        network_tags = get_tags(self.estimator)
        tags.input_tags.sparse = network_tags.input_tags.sparse
        tags.target_tags.required = network_tags.target_tags.required
        return tags
