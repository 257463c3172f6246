"""ONNX export of fitted BPClassifier, BPRegressor, HiddenFeatures, TabularClassifier and
TabularRegressor models, through skl2onnx.

Importing this module registers bpnet's shape calculators and converters with skl2onnx,
so that ``skl2onnx.to_onnx`` converts a bpnet estimator on its own or as a step of a
Pipeline. :func:`to_onnx` is a shortcut that also passes the classifier options.

The graph computes in the input's precision: a double input gives a double graph (the
weights are cast to it), any other input a float one. Where onnxruntime's CPU provider
has no double kernel (LeakyRelu, Elu, Erf), the double graph spells the activation out
in operators it has.

A Tabular estimator's graph does its TableEncoder's work before the network: it takes
one input per column of a frame (or one input of every column), and computes in the
model's ``dtype`` unless that one input is float32 or float64.
"""

import sys
from functools import cache

import numpy as np
from sklearn.utils.validation import check_is_fitted

try:
    from onnx import TensorProto
    from skl2onnx import to_onnx as _skl2onnx_to_onnx
    from skl2onnx import update_registered_converter

    # skl2onnx's own parsers, which bpnet's parsers call after checking the model.
    from skl2onnx._parse import _parse_sklearn_classifier, _parse_sklearn_simple_model
    from skl2onnx.algebra.type_helper import guess_initial_types
    from skl2onnx.common.data_types import (
        BooleanTensorType,
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )
    from skl2onnx.common.utils import check_input_and_output_numbers
    from skl2onnx.common.utils_classifier import get_label_classes
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "bpnet.onnx needs skl2onnx and onnx (and onnxruntime to run the graphs): "
        "install them with pip install 'bpnet[onnx]'."
    ) from error

from ._classes import BPClassifier, BPRegressor
from ._hidden import HiddenFeatures
from ._table import _CLIP_SATURATION, FIRST_LEVEL_ROW, MISSING_ROW, SMOOTH_CLIP_BOUND, UNSEEN_ROW
from ._tabular import TabularClassifier, TabularRegressor

__all__ = ["to_onnx"]

TABULAR_ESTIMATORS = (TabularClassifier, TabularRegressor)

# The options skl2onnx's own classifiers take; the classifier parser reads them.
CLASSIFIER_OPTIONS = {
    "zipmap": [True, False, "columns"],
    "nocl": [True, False],
    "output_class_labels": [False, True],
}

# The opset the graphs need at least (Where, Erf, and Greater and Less on doubles).
MIN_OPSET = 9
# bpnet's leaky_relu slope below 0 (bpnet/_activations.pxd, LEAKY_SLOPE).
LEAKY_SLOPE = 0.01
# The binary and multilabel decision threshold: LabelBinarizer's (neg_label + pos_label) / 2.
LABEL_THRESHOLD = 0.5


# --- graph writing ---------------------------------------------------------------------


class _GraphWriter:
    """Adds nodes and constants of one converter call to skl2onnx's container.

    ``double`` says whether the graph computes in double precision; every floating
    constant takes that precision.
    """

    def __init__(self, scope, container, double):
        target = container.target_opset
        if target is not None and target < MIN_OPSET:
            raise RuntimeError(
                f"bpnet's ONNX graphs need opset {MIN_OPSET} or later; target_opset is {target}."
            )
        self.scope = scope
        self.container = container
        self.double = double
        self.float_type = TensorProto.DOUBLE if double else TensorProto.FLOAT
        self.float_dtype = np.float64 if double else np.float32
        self._scalars = {}

    def constant(self, hint, value, onnx_type=None):
        """A new initializer holding ``value`` (floating unless ``onnx_type`` says)."""
        if onnx_type is None:
            onnx_type, value = self.float_type, np.asarray(value, dtype=self.float_dtype)
        value = np.asarray(value)
        name = self.scope.get_unique_variable_name(hint)
        self.container.add_initializer(name, onnx_type, list(value.shape), value.ravel())
        return name

    def scalar(self, value):
        """A floating scalar constant, shared by every node that uses the same value."""
        if value not in self._scalars:
            self._scalars[value] = self.constant("scalar", value)
        return self._scalars[value]

    def node(self, op_type, inputs, output=None, domain="", **attributes):
        """Add one node; return the name of its (single) output."""
        if output is None:
            output = self.scope.get_unique_variable_name(op_type.lower())
        self.container.add_node(
            op_type,
            inputs,
            output,
            op_domain=domain,
            name=self.scope.get_unique_operator_name(op_type),
            **attributes,
        )
        return output


# --- activations: one function per name, each z -> f(z) ------------------------------


def _identity(g, z):
    return z


def _logistic(g, z):
    return g.node("Sigmoid", [z])


def _tanh(g, z):
    return g.node("Tanh", [z])


def _relu(g, z):
    return g.node("Relu", [z])


def _leaky_relu(g, z):
    if not g.double:
        return g.node("LeakyRelu", [z], alpha=LEAKY_SLOPE)
    below = g.node("Less", [z, g.scalar(0.0)])
    return g.node("Where", [below, g.node("Mul", [z, g.scalar(LEAKY_SLOPE)]), z])


def _elu(g, z):
    if not g.double:
        return g.node("Elu", [z], alpha=1.0)
    # exp(z) - 1 where bpnet uses expm1: near 0 they differ by about 1e-16 in absolute
    # terms, which is all that reaches the next layer's sums. Min keeps exp finite.
    below = g.node("Less", [z, g.scalar(0.0)])
    clipped = g.node("Min", [z, g.scalar(0.0)])
    exp_minus_one = g.node("Sub", [g.node("Exp", [clipped]), g.scalar(1.0)])
    return g.node("Where", [below, exp_minus_one, z])


def _gelu(g, z):
    # The exact form z * Phi(z) = z * 0.5 * (1 + erf(z / sqrt(2))), as bpnet.
    scaled = g.node("Mul", [z, g.scalar(np.sqrt(0.5))])
    if not g.double:
        one_plus_erf = g.node("Add", [g.scalar(1.0), g.node("Erf", [scaled])])
        return g.node("Mul", [z, g.node("Mul", [g.scalar(0.5), one_plus_erf])])
    return g.node("Mul", [z, _normal_cdf_double(g, scaled)])


def _silu(g, z):
    return g.node("Mul", [z, g.node("Sigmoid", [z])])


# The double Phi: onnxruntime has no double Erf. For a = |t| >= 0,
# erfc(a) = exp(-a^2) * erfcx(a), and erfcx is smooth in v = (K - a) / (K + a), which maps
# [0, inf) onto (-1, 1]: a polynomial of degree 20 in v, interpolated at Chebyshev points
# from SciPy's erfcx, gives Phi to about 2e-15 in absolute terms over the whole line.
ERFCX_POLY_SCALE = 3.0
ERFCX_POLY_DEGREE = 20


@cache
def _erfcx_polynomial():
    """Monomial coefficients in v, lowest degree first, of erfcx(K (1 - v) / (1 + v))."""
    from numpy.polynomial import chebyshev
    from scipy.special import erfcx

    def erfcx_of_v(v):
        with np.errstate(divide="ignore"):
            a = ERFCX_POLY_SCALE * (1 - v) / (1 + v)
        return np.where(v == -1, 0.0, erfcx(a))  # erfcx(a) -> 0 as a -> inf

    coefficients = chebyshev.chebinterpolate(erfcx_of_v, ERFCX_POLY_DEGREE)
    return chebyshev.cheb2poly(coefficients)


def _normal_cdf_double(g, t):
    """Phi(z) = 0.5 * (1 + erf(t)) for t = z / sqrt(2), in double precision."""
    a = g.node("Abs", [t])
    k = g.scalar(ERFCX_POLY_SCALE)
    v = g.node("Div", [g.node("Sub", [k, a]), g.node("Add", [k, a])])
    coefficients = _erfcx_polynomial()
    erfcx = g.scalar(float(coefficients[-1]))
    for coefficient in coefficients[-2::-1]:
        erfcx = g.node("Add", [g.node("Mul", [erfcx, v]), g.scalar(float(coefficient))])
    exp_minus_a_squared = g.node("Exp", [g.node("Neg", [g.node("Mul", [a, a])])])
    erfc = g.node("Mul", [exp_minus_a_squared, erfcx])
    half_erfc = g.node("Mul", [g.scalar(0.5), erfc])
    # Phi(z) = erfc(|t|) / 2 below 0, 1 - erfc(|t|) / 2 above.
    below = g.node("Less", [t, g.scalar(0.0)])
    return g.node("Where", [below, half_erfc, g.node("Sub", [g.scalar(1.0), half_erfc])])


def _logistic_output(g, z):
    # 1 / (1 + exp(-z)) as bpnet computes it: onnxruntime's Sigmoid is accurate in
    # absolute terms only, which is enough inside the network but not for a class
    # probability of 1e-9.
    one = g.scalar(1.0)
    return g.node("Div", [one, g.node("Add", [one, g.node("Exp", [g.node("Neg", [z])])])])


def _softmax(g, z):
    return g.node("Softmax", [z], axis=1)


def _exp(g, z):
    return g.node("Exp", [z])


HIDDEN_ACTIVATIONS = {
    "identity": _identity,
    "logistic": _logistic,
    "tanh": _tanh,
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "gelu": _gelu,
    "silu": _silu,
}
OUTPUT_ACTIVATIONS = {
    "identity": _identity,
    "logistic": _logistic_output,
    "softmax": _softmax,
    "exp": _exp,
}


# --- the network -----------------------------------------------------------------------


def _hidden_activations(model):
    """Each hidden layer's activation; bpnet 0.1 models record only ``activation``."""
    names = getattr(model, "hidden_activations_", None)
    if names is None:
        names = [model.activation] * (len(model.coefs_) - 1)
    return list(names)


def _tabular_network(operator):
    """The Tabular estimator that ``operator`` runs (itself, or a HiddenFeatures'
    network), or None."""
    model = operator.raw_operator
    if isinstance(model, HiddenFeatures):
        model = _hidden_network(model)[0]
    return model if isinstance(model, TABULAR_ESTIMATORS) else None


def _computes_in_double(operator):
    """Whether the graph of ``operator`` computes in double precision: a Tabular
    estimator's choice (see _tabular_in_double), else its input's."""
    tabular = _tabular_network(operator)
    if tabular is not None:
        return _tabular_in_double(tabular, operator.inputs)
    return isinstance(operator.inputs[0].type, DoubleTensorType)


def _activation_functions(model, n_layers=None):
    """The graph-writing activation of each of the first ``n_layers`` weight layers."""
    functions = [HIDDEN_ACTIVATIONS.get(name) for name in _hidden_activations(model)]
    functions.append(OUTPUT_ACTIVATIONS.get(model.out_activation_))
    functions = functions[: len(functions) if n_layers is None else n_layers]
    if None in functions:
        raise NotImplementedError(
            f"bpnet.onnx cannot export the activations {_hidden_activations(model)} with "
            f"the output activation {model.out_activation_!r}."
        )
    return functions


def _layers(g, model, layer, functions):
    """The weight layers of ``model`` from ``layer``, its first layer's input already in
    the graph's precision, through the activations ``functions``."""
    for coef, intercept, activation in zip(
        model.coefs_, model.intercepts_, functions, strict=False
    ):
        product = g.node("MatMul", [layer, g.constant("coefficient", coef)])
        z = g.node("Add", [product, g.constant("intercept", np.reshape(intercept, (1, -1)))])
        layer = activation(g, z)
    return layer


def _network_output(g, operator, model, n_layers=None):
    """The activations of weight layer ``n_layers - 1`` of ``model`` (by default its
    output layer's) on the inputs of ``operator``."""
    functions = _activation_functions(model, n_layers)
    if isinstance(model, TABULAR_ESTIMATORS):
        return _layers(g, model, _tabular_network_input(g, model, operator.inputs), functions)
    first = g.node("Cast", [operator.inputs[0].full_name], to=g.float_type)
    return _layers(g, model, first, functions)


# --- BPRegressor -----------------------------------------------------------------------


def _check_operator_numbers(operator, output_count_range):
    """One input, or one per column for a Tabular estimator given a frame."""
    check_input_and_output_numbers(
        operator,
        input_count_range=1 if _tabular_network(operator) is None else [1, None],
        output_count_range=output_count_range,
    )


def _regressor_shape_calculator(operator):
    _check_operator_numbers(operator, output_count_range=1)
    model = operator.raw_operator
    n_rows = operator.inputs[0].get_first_dimension()
    double = _computes_in_double(operator)
    tensor_type = DoubleTensorType if double else FloatTensorType
    # (n, 1) for one output, as skl2onnx's other regressors; (n, k) for k outputs.
    operator.outputs[0].set_type(tensor_type([n_rows, model.n_outputs_]))


def _convert_regressor(scope, operator, container):
    model = operator.raw_operator
    g = _GraphWriter(scope, container, _computes_in_double(operator))
    output = _network_output(g, operator, model)
    if isinstance(model, TabularRegressor):
        # The network learns standardised targets: predict's y = output * scale + mean.
        scale = g.constant("target_scale", np.reshape(model.target_scale_, (1, -1)))
        mean = g.constant("target_mean", np.reshape(model.target_mean_, (1, -1)))
        output = g.node("Add", [g.node("Mul", [output, scale]), mean])
    g.node("Identity", [output], output=operator.outputs[0].full_name)


# --- HiddenFeatures --------------------------------------------------------------------


def _hidden_network(transformer):
    """The fitted network of a HiddenFeatures, and how many of its weight layers the
    transform runs."""
    network = transformer.estimator_
    network = getattr(network, "estimator", network)  # a FrozenEstimator's network
    return network, network._hidden_layer_index(transformer.layer) + 1


def _hidden_shape_calculator(operator):
    _check_operator_numbers(operator, output_count_range=1)
    network, n_layers = _hidden_network(operator.raw_operator)
    n_rows = operator.inputs[0].get_first_dimension()
    tensor_type = DoubleTensorType if _computes_in_double(operator) else FloatTensorType
    operator.outputs[0].set_type(tensor_type([n_rows, network.coefs_[n_layers - 1].shape[1]]))


def _convert_hidden(scope, operator, container):
    g = _GraphWriter(scope, container, _computes_in_double(operator))
    network, n_layers = _hidden_network(operator.raw_operator)
    output = _network_output(g, operator, network, n_layers)
    g.node("Identity", [output], output=operator.outputs[0].full_name)


# --- BPClassifier ----------------------------------------------------------------------


def _target_kind(model):
    """'multiclass' (softmax), 'binary' (one logistic output) or 'multilabel'."""
    if model.out_activation_ == "softmax":
        return "multiclass"
    binarizer = getattr(model, "_label_binarizer", None)
    if getattr(binarizer, "y_type_", None) == "multilabel-indicator" or model.n_outputs_ > 1:
        return "multilabel"
    return "binary"


def _class_labels(scope, model):
    """(ONNX element type, labels array) of the labels the graph returns.

    Integer, boolean and float labels (whole numbers: scikit-learn rejects others as
    continuous targets) become int64, as in skl2onnx's classifiers, since ONNX-ML's
    label outputs are integers or strings; strings stay strings. With the ``nocl``
    option the labels are the class indices 0...n_classes - 1.
    """
    classes = np.asarray(get_label_classes(scope, model))
    if classes.dtype.kind in "iubf":
        return TensorProto.INT64, classes.astype(np.int64)
    return TensorProto.STRING, np.array([str(label).encode("utf-8") for label in classes])


def _probabilities_in_float(scope, model, double):
    """Whether a double graph must hand float probabilities to ONNX-ML's ZipMap, which
    takes float tensors only."""
    return double and scope.get_options(model, dict(zipmap=True))["zipmap"] is True


def _classifier_shape_calculator(operator):
    _check_operator_numbers(operator, output_count_range=2)
    model = operator.raw_operator
    n_rows = operator.inputs[0].get_first_dimension()
    kind = _target_kind(model)
    label_type, _ = _class_labels(operator.scope_inst, model)
    label_tensor = Int64TensorType if label_type == TensorProto.INT64 else StringTensorType
    operator.outputs[0].set_type(
        label_tensor([n_rows, model.n_outputs_] if kind == "multilabel" else [n_rows])
    )
    double = _computes_in_double(operator)
    if _probabilities_in_float(operator.scope_inst, model, double):
        double = False
    n_columns = 2 if kind == "binary" else model.n_outputs_
    tensor_type = DoubleTensorType if double else FloatTensorType
    operator.outputs[1].set_type(tensor_type([n_rows, n_columns]))


def _convert_classifier(scope, operator, container):
    model = operator.raw_operator
    double = _computes_in_double(operator)
    g = _GraphWriter(scope, container, double)
    output = _network_output(g, operator, model)
    label_name, probabilities_name = (variable.full_name for variable in operator.outputs)
    kind = _target_kind(model)

    # predict_proba clips to [eps, 1 - eps] so that every probability stays in (0, 1);
    # predict decides on the unclipped outputs. The graph does both.
    eps = float(np.finfo(g.float_dtype).eps)
    # Min and Max rather than Clip, whose double kernel needs opset 12.
    clipped = g.node("Max", [g.node("Min", [output, g.scalar(1.0 - eps)]), g.scalar(eps)])
    if kind == "binary":
        negative = g.node("Sub", [g.scalar(1.0), clipped])
        probabilities = g.node("Concat", [negative, clipped], axis=1)
    else:
        probabilities = clipped
    if _probabilities_in_float(scope, model, double):
        g.node("Cast", [probabilities], output=probabilities_name, to=TensorProto.FLOAT)
    else:
        g.node("Identity", [probabilities], output=probabilities_name)

    if kind == "multilabel":
        above = g.node("Greater", [output, g.scalar(LABEL_THRESHOLD)])
        g.node("Cast", [above], output=label_name, to=TensorProto.INT64)
        return
    if kind == "binary":
        above = g.node("Greater", [output, g.scalar(LABEL_THRESHOLD)])
        positive = g.node("Cast", [above], to=TensorProto.INT64)
        flat = g.constant("flat_shape", np.array([-1], dtype=np.int64), TensorProto.INT64)
        indices = g.node("Reshape", [positive, flat])
    else:
        indices = g.node("ArgMax", [output], axis=1, keepdims=0)
    label_type, labels = _class_labels(scope, model)
    classes = g.constant("classes", labels, label_type)
    g.node("Gather", [classes, indices], output=label_name, axis=0)


# --- TabularClassifier and TabularRegressor -------------------------------------------

# A missing value in a text column. ONNX string tensors have no null, so the empty string
# stands for one (docs/onnx.rst says so); a column that had "" as a level at fit keeps it.
MISSING_TEXT = ""

FLOAT_TYPES = (FloatTensorType, DoubleTensorType)


def _tabular_in_double(model, inputs):
    """One float input holding every column sets the precision, as for the BP estimators;
    any other input (one per column of a frame, or integers, bools or text) takes the
    model's ``dtype``."""
    if len(inputs) == 1 and isinstance(inputs[0].type, FLOAT_TYPES):
        return isinstance(inputs[0].type, DoubleTensorType)
    return np.dtype(model.dtype) == np.float64


def _column_name(model, j):
    names = getattr(model, "feature_names_in_", None)
    return repr(str(names[j])) if names is not None else f"{j}"


def _input_column(g, inputs, j):
    """Input column ``j`` as an (n, 1) tensor, and the ONNX type of the input holding it."""
    if len(inputs) > 1:
        return inputs[j].full_name, inputs[j].type
    index = g.constant("column", np.array([j], dtype=np.int64), TensorProto.INT64)
    return g.node("Gather", [inputs[0].full_name, index], axis=1), inputs[0].type


def _reshape(g, name, shape):
    return g.node(
        "Reshape", [name, g.constant("shape", np.array(shape, np.int64), TensorProto.INT64)]
    )


def _numeric_block(d, model, inputs):
    """The scaled numeric columns, then the missing-value indicators, as TableEncoder
    computes them (in double precision, ``d`` being a double writer)."""
    encoder = model._encoder
    columns = []
    for j in encoder.numeric_columns_.tolist():
        name, input_type = _input_column(d, inputs, j)
        if isinstance(input_type, StringTensorType):
            raise ValueError(
                f"Column {_column_name(model, j)} was numeric at fit, but its ONNX input "
                "is text: give it as numbers."
            )
        columns.append(d.node("Cast", [name], to=TensorProto.DOUBLE))
    raw = columns[0] if len(columns) == 1 else d.node("Concat", columns, axis=1)
    medians = d.constant("median", encoder.medians_.reshape(1, -1))
    scales = d.constant("scale", encoder.scales_.reshape(1, -1))
    shifted = d.node("Mul", [d.node("Sub", [raw, medians]), scales])
    # smooth_clip: x / sqrt(1 + (x / bound) ** 2), and the bound itself where that
    # square would overflow.
    ratio = d.node("Div", [shifted, d.scalar(SMOOTH_CLIP_BOUND)])
    root = d.node("Sqrt", [d.node("Add", [d.scalar(1.0), d.node("Mul", [ratio, ratio])])])
    clipped = d.node("Div", [shifted, root])
    saturated = d.node("Greater", [d.node("Abs", [shifted]), d.scalar(_CLIP_SATURATION)])
    bound = d.node("Mul", [d.node("Sign", [shifted]), d.scalar(SMOOTH_CLIP_BOUND)])
    clipped = d.node("Where", [saturated, bound, clipped])
    # NaN there is a missing value (or x - median past the float range): 0, as TableEncoder.
    scaled = d.node("Where", [d.node("IsNaN", [clipped]), d.scalar(0.0), clipped])
    if len(encoder.nan_indicator_columns_) == 0:
        return [scaled]
    positions = np.searchsorted(encoder.numeric_columns_, encoder.nan_indicator_columns_)
    indices = d.constant("indicator_columns", positions.astype(np.int64), TensorProto.INT64)
    missing = d.node("IsNaN", [d.node("Gather", [raw, indices], axis=1)])
    return [scaled, d.node("Cast", [missing], to=TensorProto.DOUBLE)]


def _category_codes(g, model, inputs, j, levels, values, missing_value, default):
    """Column ``j`` mapped through ai.onnx.ml's LabelEncoder, shape (n,), int64: the
    i-th level to ``values[i]``, a missing value (NaN, or MISSING_TEXT in text) to
    ``missing_value``, anything else to ``default``."""
    name, input_type = _input_column(g, inputs, j)
    flat = _reshape(g, name, [-1])
    encode = dict(domain="ai.onnx.ml", op_version=2, default_int64=int(default))
    if isinstance(input_type, StringTensorType):
        keys = [str(level) for level in levels.tolist()]
        if len(set(keys)) != len(keys):
            raise ValueError(
                f"Column {_column_name(model, j)} has levels with the same text (numbers "
                "and strings mixed, for example), which its text input cannot tell apart."
            )
        if MISSING_TEXT not in keys:
            keys.append(MISSING_TEXT)
            values = [*values, missing_value]
        return g.node("LabelEncoder", [flat], keys_strings=keys, values_int64s=values, **encode)
    if levels.dtype.kind not in "biuf":
        raise ValueError(
            f"Column {_column_name(model, j)} had text levels at fit, but its ONNX input "
            f"is {type(input_type).__name__}: give it as text (a str or object column)."
        )
    floats = isinstance(input_type, FLOAT_TYPES)
    if floats:
        # LabelEncoder's float keys are float32: the levels must stay distinct in it.
        keys = levels.astype(np.float32)
        if len(np.unique(keys)) != len(keys):
            raise ValueError(
                f"Column {_column_name(model, j)} has levels that float32 does not tell "
                "apart, which the ONNX graph compares in float32."
            )
        lookup, key_attribute = g.node("Cast", [flat], to=TensorProto.FLOAT), "keys_floats"
    else:
        if not np.array_equal(levels, np.round(levels)):
            raise ValueError(
                f"Column {_column_name(model, j)} had levels that are not whole numbers at "
                f"fit, but its ONNX input is {type(input_type).__name__}: give it as floats."
            )
        keys = levels.astype(np.int64)
        lookup, key_attribute = g.node("Cast", [flat], to=TensorProto.INT64), "keys_int64s"
    if len(keys):
        encode[key_attribute] = keys.tolist()
        codes = g.node("LabelEncoder", [lookup], values_int64s=values, **encode)
    else:
        # No level (every value was missing at fit), and LabelEncoder needs a key. (A
        # bool cast, not the lookup's: NaN has no integer value.)
        defined = g.node("IsNaN", [flat]) if floats else g.node("Equal", [lookup, lookup])
        zeros = g.node(
            "Mul", [g.node("Cast", [defined], to=TensorProto.INT64), _int64_constant(g, 0)]
        )
        codes = g.node("Add", [zeros, _int64_constant(g, default)])
    if not floats:
        return codes
    missing = g.node("IsNaN", [flat])
    return g.node("Where", [missing, _int64_constant(g, missing_value), codes])


def _int64_constant(g, value):
    return g.constant("code", np.array(value, dtype=np.int64), TensorProto.INT64)


def _tabular_network_input(g, model, inputs):
    """The first-layer input of the Tabular estimator ``model`` on ``inputs``, in the
    graph's precision: TableEncoder's dense columns (scaled numbers, missing-value
    indicators, one-hot groups), then the embedding rows of each embedded column."""
    encoder = model._encoder
    d = _GraphWriter(g.scope, g.container, double=True)
    dense = [] if len(encoder.numeric_columns_) == 0 else _numeric_block(d, model, inputs)
    embedded = []
    for j, levels, missing_seen in zip(
        encoder.categorical_columns_.tolist(),
        encoder.categories_,
        encoder.category_missing_seen_.tolist(),
        strict=True,
    ):
        n_levels = len(levels)
        if encoder.kinds_[j] == "onehot":
            # Slot i for level i, then the missing column; unseen values match no slot.
            width = n_levels + int(missing_seen)
            codes = _category_codes(
                d,
                model,
                inputs,
                j,
                levels,
                list(range(n_levels)),
                n_levels if missing_seen else -1,
                -1,
            )
            slots = d.constant(
                "slots", np.arange(width, dtype=np.int64).reshape(1, -1), TensorProto.INT64
            )
            hot = d.node("Equal", [_reshape(d, codes, [-1, 1]), slots])
            dense.append(d.node("Cast", [hot], to=TensorProto.DOUBLE))
        else:
            rows = (FIRST_LEVEL_ROW + np.arange(n_levels)).tolist()
            missing_row = MISSING_ROW if missing_seen else UNSEEN_ROW
            codes = _category_codes(g, model, inputs, j, levels, rows, missing_row, UNSEEN_ROW)
            table = model.embeddings_[len(embedded)]
            embedded.append(g.node("Gather", [g.constant("embedding", table), codes], axis=0))
    parts = []
    if dense:
        block = dense[0] if len(dense) == 1 else d.node("Concat", dense, axis=1)
        parts.append(g.node("Cast", [block], to=g.float_type))
    parts += embedded
    return parts[0] if len(parts) == 1 else g.node("Concat", parts, axis=1)


# --- registration ----------------------------------------------------------------------


def _n_columns(variable):
    shape = getattr(variable.type, "shape", None)
    return shape[1] if shape is not None and len(shape) == 2 else None


def _check_convertible(model, inputs):
    """Raise before skl2onnx reads the model: NotFittedError for an unfitted one, and
    ValueError for an input whose number of columns is not the model's number of
    features, which would give a graph that onnxruntime refuses to load."""
    check_is_fitted(model)
    n_columns = _n_columns(inputs[0]) if inputs else None
    if isinstance(model, TABULAR_ESTIMATORS) and len(inputs) > 1:
        n_columns = _check_frame_inputs(model, inputs)
    if isinstance(n_columns, (int, np.integer)) and n_columns != model.n_features_in_:
        raise ValueError(
            f"The input of {type(model).__name__} has {n_columns} columns, but it was "
            f"fitted on {model.n_features_in_} features (n_features_in_): give X_sample "
            f"rows of {model.n_features_in_} features."
        )


def _check_frame_inputs(model, inputs):
    """The number of columns of a Tabular estimator's one-input-per-column input; raise
    for inputs of several columns, or names other than ``feature_names_in_``."""
    wide = [variable.raw_name for variable in inputs if _n_columns(variable) not in (1, None)]
    if wide:
        raise ValueError(
            f"The inputs {wide} of {type(model).__name__} have several columns: give one "
            "input per column (a DataFrame), or a single input holding every column."
        )
    fitted = getattr(model, "feature_names_in_", None)
    given = [variable.raw_name for variable in inputs]
    if fitted is not None and len(given) == len(fitted) and given != list(fitted):
        unseen = [name for name in given if name not in set(fitted)]
        gone = [name for name in fitted.tolist() if name not in set(given)]
        detail = (
            f"names unseen at fit: {unseen}; names seen at fit, yet now missing: {gone}"
            if unseen or gone
            else f"the names are in another order than at fit: {list(fitted)}"
        )
        raise ValueError(
            f"The input columns of {type(model).__name__} do not match the feature names "
            f"seen during fit (feature_names_in_): {detail}."
        )
    return len(inputs)


def _parse_classifier(scope, model, inputs, custom_parsers=None):
    _check_convertible(model, inputs)
    return _parse_sklearn_classifier(scope, model, inputs, custom_parsers=custom_parsers)


def _parse_hidden(scope, transformer, inputs, custom_parsers=None):
    check_is_fitted(transformer)
    _check_convertible(_hidden_network(transformer)[0], inputs)
    return _parse_sklearn_simple_model(scope, transformer, inputs, custom_parsers=custom_parsers)


def _parse_regressor(scope, model, inputs, custom_parsers=None):
    _check_convertible(model, inputs)
    return _parse_sklearn_simple_model(scope, model, inputs, custom_parsers=custom_parsers)


# The parsers are registered too, so that skl2onnx.to_onnx checks the model as well.
update_registered_converter(
    BPClassifier,
    "BpnetBPClassifier",
    _classifier_shape_calculator,
    _convert_classifier,
    parser=_parse_classifier,
    options=CLASSIFIER_OPTIONS,
)
update_registered_converter(
    BPRegressor,
    "BpnetBPRegressor",
    _regressor_shape_calculator,
    _convert_regressor,
    parser=_parse_regressor,
)
update_registered_converter(
    HiddenFeatures,
    "BpnetHiddenFeatures",
    _hidden_shape_calculator,
    _convert_hidden,
    parser=_parse_hidden,
)
update_registered_converter(
    TabularClassifier,
    "BpnetTabularClassifier",
    _classifier_shape_calculator,
    _convert_classifier,
    parser=_parse_classifier,
    options=CLASSIFIER_OPTIONS,
)
update_registered_converter(
    TabularRegressor,
    "BpnetTabularRegressor",
    _regressor_shape_calculator,
    _convert_regressor,
    parser=_parse_regressor,
)


def to_onnx(estimator, X_sample, **options):
    """Convert a fitted bpnet estimator, or a pipeline holding one, to an ONNX model.

    A shortcut for ``skl2onnx.to_onnx``, which works as well once this module is
    imported. The graph computes in the precision of ``X_sample``: float64 rows give a
    double graph, float32 rows a float graph.

    Parameters
    ----------
    estimator : estimator
        A fitted BPClassifier, BPRegressor, TabularClassifier or TabularRegressor, or
        any estimator that skl2onnx converts (a Pipeline, for example) with bpnet
        estimators inside.

    X_sample : {array-like, DataFrame} of shape (n_samples, n_features)
        Input rows of the type the model will be given. Only their dtype and number of
        columns are used, and a frame's column names and dtypes: a pandas or polars
        frame gives the graph one input per column, named after it (a pandas
        ``category`` column takes its categories' type). A Tabular estimator's graph
        computes in the model's ``dtype``, unless it has a single float32 or float64
        input (an array), whose precision it takes.

    **options
        ``zipmap`` (True, False or 'columns'), ``nocl`` and ``output_class_labels`` are
        the options of skl2onnx's classifiers; given here, they apply to every
        BPClassifier in ``estimator``. With the default ``zipmap=True`` the
        probabilities come out as a list of dicts {label: probability}, in float32
        also for float64 input, since ONNX-ML's ZipMap takes float tensors only;
        ``zipmap=False`` gives them as an (n_samples, n_classes) tensor in the graph's
        precision. Every other keyword (``target_opset``, ``options`` for other steps,
        ``name``, ...) goes to ``skl2onnx.to_onnx`` as it is.

    Returns
    -------
    onx : onnx.ModelProto
        The model. A classifier's outputs are the labels, then the probabilities; a
        regressor's one output has shape (n_samples, n_outputs).

    Raises
    ------
    NotFittedError
        If a bpnet estimator in ``estimator`` is not fitted.
    ValueError
        If the rows reaching a bpnet estimator do not have its ``n_features_in_``
        columns, or if a frame's column names are not a Tabular estimator's
        ``feature_names_in_``, in order. ``skl2onnx.to_onnx`` raises these as well once
        this module is imported. Also if a column of a frame has a dtype that no ONNX
        input type holds (dates, for example).

    See Also
    --------
    skl2onnx.to_onnx : The conversion this function calls.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from sklearn.datasets import load_iris
    >>> from bpnet import BPClassifier
    >>> from bpnet.onnx import to_onnx
    >>> X, y = load_iris(return_X_y=True)
    >>> X = X.astype(np.float32)
    >>> clf = BPClassifier(hidden_layer_sizes=(10,), learning_rate_init=0.01, max_iter=1000,
    ...                    random_state=0).fit(X, y)
    >>> onx = to_onnx(clf, X[:1], zipmap=False)
    >>> session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    >>> labels, probabilities = session.run(None, {"X": X[:5]})
    >>> bool(np.array_equal(labels, clf.predict(X[:5])))
    True
    >>> bool(np.allclose(probabilities, clf.predict_proba(X[:5]), rtol=1e-5))
    True
    """
    classifier_options = {
        name: options.pop(name) for name in list(options) if name in CLASSIFIER_OPTIONS
    }
    if classifier_options:
        merged = dict(options.pop("options", None) or {})
        for classifier in (BPClassifier, TabularClassifier):
            merged[classifier] = {**merged.get(classifier, {}), **classifier_options}
        options["options"] = merged
    if "initial_types" not in options:
        input_types = _frame_input_types(X_sample)
        if input_types is not None:
            return _skl2onnx_to_onnx(estimator, initial_types=input_types, **options)
    return _skl2onnx_to_onnx(estimator, X_sample, **options)


def _frame_input_types(frame):
    """One (name, type) input per column of a pandas or polars frame (None for anything
    else), as skl2onnx makes them for pandas, except that a pandas ``category`` column
    takes its categories' type (skl2onnx types float categories as int64). A column no
    ONNX tensor type holds is an error naming it."""
    pandas = sys.modules.get("pandas")
    polars = sys.modules.get("polars")
    if pandas is not None and isinstance(frame, pandas.DataFrame):
        type_of = _pandas_column_type
    elif polars is not None and isinstance(frame, polars.DataFrame):
        type_of = _polars_column_type
    else:
        return None
    types = []
    for name in frame.columns:
        column = frame[name]
        try:
            tensor_type = type_of(column)
        except (NotImplementedError, TypeError) as error:
            raise ValueError(
                f"Column {name!r} of X_sample has dtype {column.dtype}, which has no ONNX "
                "input type: convert it to float64 (NaN for missing values), int64, bool "
                f'or str ("" for missing values) before fitting and exporting. ({error})'
            ) from None
        types.append((str(name), tensor_type))
    return types


# The ONNX input type of a category's categories, by NumPy kind; text otherwise.
CATEGORY_INPUT_TYPES = {
    "b": BooleanTensorType,
    "f": DoubleTensorType,
    "i": Int64TensorType,
    "u": Int64TensorType,
}


def _pandas_column_type(column):
    if isinstance(column.dtype, sys.modules["pandas"].CategoricalDtype):
        kind = np.asarray(column.dtype.categories).dtype.kind
        return CATEGORY_INPUT_TYPES.get(kind, StringTensorType)([None, 1])
    return guess_initial_types(column.to_frame(), None)[0][1]


def _polars_column_type(column):
    polars = sys.modules["polars"]
    dtype = column.dtype
    if dtype == polars.Float32:
        return FloatTensorType([None, 1])
    if dtype.is_float():
        return DoubleTensorType([None, 1])
    if dtype.is_integer():
        return Int64TensorType([None, 1])
    if dtype == polars.Boolean:
        return BooleanTensorType([None, 1])
    if dtype in (polars.String, polars.Categorical, polars.Enum):
        return StringTensorType([None, 1])
    raise TypeError(f"bpnet.onnx types no polars column of dtype {dtype}")
