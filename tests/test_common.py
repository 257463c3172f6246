"""scikit-learn's estimator checks, run on both estimators with every solver."""

from functools import partial

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from bpnet import BPClassifier, BPRegressor

SOLVERS = ("sgd", "adam", "lbfgs")
# max_iter keeps the checks quick; every check still trains a model that must score well.
ESTIMATORS = [
    Estimator(solver=solver, max_iter=50 if solver != "lbfgs" else 200, random_state=0)
    for Estimator in (BPClassifier, BPRegressor)
    for solver in SOLVERS
]


def _check_name(check):
    while isinstance(check, partial):
        check = check.func
    return check.__name__


def _applicable(estimators):
    """Every check except one that cannot apply to these estimators.

    check_classifiers_multilabel_output_format_decision_function tests a method that
    BPClassifier deliberately lacks (as MLPClassifier does: a decision_function would
    change which scores scorers such as roc_auc use); test_no_decision_function below
    pins that, so the exclusion cannot hide a real method going untested.
    """
    for estimator, check in parametrize_with_checks(estimators).args[1]:
        if _check_name(check) != "check_classifiers_multilabel_output_format_decision_function":
            yield estimator, check


CHECKS = list(_applicable(ESTIMATORS))


@pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)
@pytest.mark.parametrize("estimator, check", CHECKS, ids=lambda x: str(x)[:120])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_no_decision_function():
    assert not hasattr(BPClassifier(), "decision_function")


def test_every_check_collected_but_one():
    all_checks = list(parametrize_with_checks(ESTIMATORS).args[1])
    removed = len(all_checks) - len(CHECKS)
    n_classifiers = sum(isinstance(e, BPClassifier) for e in ESTIMATORS)
    assert removed == n_classifiers
