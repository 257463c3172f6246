# The Python names of the activations declared in _activations.pxd, and their Glorot factors.

# Hidden layers may use every name but 'softmax' and 'exp', the output activations.
ACTIVATION_CODES = {
    "identity": Activation.IDENTITY,
    "logistic": Activation.LOGISTIC,
    "tanh": Activation.TANH,
    "relu": Activation.RELU,
    "softmax": Activation.SOFTMAX,
    "exp": Activation.EXP,
    "leaky_relu": Activation.LEAKY_RELU,
    "elu": Activation.ELU,
    "gelu": Activation.GELU,
    "silu": Activation.SILU,
}

HIDDEN_ACTIVATIONS = tuple(name for name in ACTIVATION_CODES if name not in ("softmax", "exp"))

# The factor of Glorot and Bengio's uniform bound sqrt(factor / (fan_in + fan_out)) for a
# layer feeding this activation. scikit-learn uses 2 for logistic (whose slope at 0 is
# 1/4) and 6 for the rest; the ReLU-like and smooth-ReLU activations keep 6, the factor
# MLP gives relu, so that switching between them does not change the initial scale.
GLOROT_FACTORS = {name: 2.0 if name == "logistic" else 6.0 for name in HIDDEN_ACTIVATIONS}
