# The Python names of the activations declared in _activations.pxd.

# Hidden layers may use the first four; 'softmax' and 'exp' are output activations.
ACTIVATION_CODES = {
    "identity": Activation.IDENTITY,
    "logistic": Activation.LOGISTIC,
    "tanh": Activation.TANH,
    "relu": Activation.RELU,
    "softmax": Activation.SOFTMAX,
    "exp": Activation.EXP,
}
