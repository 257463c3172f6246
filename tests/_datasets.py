"""Small datasets shared by the test modules, built once per session."""

import numpy as np
from sklearn.datasets import load_digits, make_multilabel_classification, make_regression
from sklearn.preprocessing import MinMaxScaler, StandardScaler


def digits_multiclass(n_samples=300):
    X, y = load_digits(n_class=4, return_X_y=True)
    return MinMaxScaler().fit_transform(X[:n_samples]), y[:n_samples]


def digits_binary(n_samples=200):
    X, y = load_digits(n_class=2, return_X_y=True)
    return MinMaxScaler().fit_transform(X[:n_samples]), y[:n_samples]


def multilabel(n_samples=150):
    X, Y = make_multilabel_classification(
        n_samples=n_samples, n_features=8, n_classes=4, random_state=0
    )
    return StandardScaler().fit_transform(X), Y


def regression(n_samples=200, n_targets=1):
    X, y = make_regression(
        n_samples=n_samples, n_features=10, n_targets=n_targets, noise=0.5, random_state=0
    )
    return StandardScaler().fit_transform(X), (y - y.mean(axis=0)) / y.std(axis=0)


def positive_weights(n_samples, seed=0):
    return np.random.RandomState(seed).uniform(0.2, 3.0, size=n_samples)
