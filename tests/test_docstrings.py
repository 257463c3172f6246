"""The public API's docstrings: their examples run, and they document every parameter."""

import doctest
import inspect
import re
import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning

import bpnet
from bpnet import BPClassifier, BPRegressor, _classes


def test_examples_run():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        failures, attempted = doctest.testmod(_classes, optionflags=doctest.ELLIPSIS)
    assert attempted >= 4
    assert failures == 0


@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
def test_every_parameter_and_attribute_is_documented(Estimator):
    doc = Estimator.__doc__
    for name in inspect.signature(Estimator).parameters:
        assert re.search(rf"^    {name} : ", doc, re.M), f"{name} is not documented"
    for attribute in [
        "loss_",
        "best_loss_",
        "loss_curve_",
        "validation_scores_",
        "coefs_",
        "intercepts_",
        "n_iter_",
        "n_layers_",
        "n_outputs_",
        "out_activation_",
        "t_",
    ]:
        assert re.search(rf"^    {attribute} : ", doc, re.M), f"{attribute} is not documented"


@pytest.mark.parametrize("method", ["fit", "predict", "partial_fit", "score"])
@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
def test_methods_have_numpydoc_sections(Estimator, method):
    doc = getattr(Estimator, method).__doc__
    assert "Parameters\n" in doc and "Returns\n" in doc


def test_version_is_exported():
    # A release, or the development version before it (PEP 440's ".devN").
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+)?", bpnet.__version__)
