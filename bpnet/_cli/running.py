"""Running the comparison: the same pipeline around each contender, fitted, timed and scored."""

from contextlib import nullcontext

import numpy as np

from .common import MIN_ROWS, CompareError
from .environment import blas_info, cores, load_average, thread_settings
from .loading import load_data
from .plotting import check_plot_target, make_figure
from .reporting import report_notes
from .timing import busy_summary, time_fits

CONTENDERS = ("bpnet", "scikit-learn")
TEST_SIZE = 0.25


def compare(args):
    """Run the comparison that the parsed ``args`` describe and return its results.

    Raises CompareError for problems with the options or the data.
    """
    from threadpoolctl import threadpool_limits

    if args.plot is not None:
        check_plot_target(args.plot)
    load_before = load_average()
    data_notes = []
    X, y, numeric, categorical, data = load_data(args, data_notes)
    X_train, X_test, y_train, y_test = _split(X, y, data["task"], args.random_state)
    params = _estimator_params(args)
    pipelines = {
        name: make_pipeline(data["task"], numeric, categorical, args.dtype, params, name)
        for name in CONTENDERS
    }
    times, not_converged, n_inputs = _time_contenders(pipelines, X_train, y_train, args)
    with threadpool_limits(limits=args.threads) if args.threads else nullcontext():
        blas = blas_info()

    data.update(n_train=len(y_train), n_test=len(y_test), n_inputs=n_inputs)
    contenders = {
        name: _contender_row(
            pipeline, times[name], not_converged[name], (X_train, y_train), (X_test, y_test)
        )
        for name, pipeline in pipelines.items()
    }
    result = _result(args, data, contenders, times, blas, load_before)
    result["notes"] = data_notes + report_notes(result)
    if args.plot is not None:
        make_figure(result).savefig(args.plot, dpi=100)
    return result


def _split(X, y, task, random_state):
    """``(X_train, X_test, y_train, y_test)``: TEST_SIZE of the rows held out for scoring,
    stratified for classification."""
    from sklearn.model_selection import train_test_split

    if len(y) < MIN_ROWS:
        raise CompareError(f"--data: {len(y)} rows are too few; compare needs {MIN_ROWS} or more")
    try:
        return train_test_split(
            X,
            y,
            test_size=TEST_SIZE,
            random_state=random_state,
            stratify=y if task == "classification" else None,
        )
    except ValueError as exc:
        raise CompareError(f"cannot split {len(y)} rows 75/25 into train and test: {exc}") from None


def _estimator_params(args):
    """The settings both contenders' estimators get."""
    return dict(
        hidden_layer_sizes=args.hidden,
        solver=args.solver,
        max_iter=args.epochs,
        batch_size=args.batch_size,
        learning_rate_init=args.learning_rate_init,
        alpha=args.alpha,
        random_state=args.random_state,
    )


def make_pipeline(task, numeric, categorical, dtype, params, contender):
    """The contender's Pipeline: ColumnTransformer, cast to ``dtype``, estimator."""
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    from bpnet import BPClassifier, BPRegressor

    # Missing numbers take the median of the training rows (missing text was given its
    # category when the file was read); without missing values the imputer changes nothing.
    scale = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]
    )
    one_hot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    columns = ColumnTransformer(
        [("numeric", scale, numeric), ("categorical", one_hot, categorical)],
        sparse_threshold=0.0,
    )
    cast = FunctionTransformer(np.asarray, kw_args={"dtype": np.dtype(dtype)})
    if task == "classification":
        estimator_class = BPClassifier if contender == "bpnet" else MLPClassifier
        model = estimator_class(**params)
    else:
        estimator_class = BPRegressor if contender == "bpnet" else MLPRegressor
        model = TransformedTargetRegressor(estimator_class(**params), transformer=StandardScaler())
    return Pipeline([("columns", columns), ("cast", cast), ("model", model)])


def _network(model):
    """The fitted network inside a pipeline's last step."""
    return getattr(model, "regressor_", model)


def _time_contenders(pipelines, X_train, y_train, args):
    """Fit the preprocessing once, then time each contender's estimator on its output.

    Each pipeline ends with its last fitted estimator, after the fitted preprocessing, so
    that it scores raw rows. Returns the fit times and the ConvergenceWarning messages of
    each contender, and the number of inputs the networks saw.
    """
    # Both contenders see the same preprocessed arrays; only the estimators are timed.
    preprocess = pipelines["bpnet"][:-1]
    X_train_ready = preprocess.fit_transform(X_train, y_train)
    fitted, times, not_converged = time_fits(
        {name: pipeline[-1] for name, pipeline in pipelines.items()},
        X_train_ready,
        y_train,
        args.repeats,
        args.threads,
    )
    for name, pipeline in pipelines.items():
        pipeline.steps[:] = [*preprocess.steps, ("model", fitted[name])]
    return times, not_converged, int(X_train_ready.shape[1])


def _contender_row(pipeline, times, convergence_warning, train, test):
    """One contender's results: its fit times, scores on ``test`` and ``train`` (each an
    ``(X, y)`` pair), epochs and losses."""
    network = _network(pipeline[-1])
    curve = getattr(network, "loss_curve_", None)
    return {
        "estimator": type(network).__name__,
        "times": [round(value, 6) for value in times],
        "min": min(times),
        "median": float(np.median(times)),
        "test_score": float(pipeline.score(*test)),
        "train_score": float(pipeline.score(*train)),
        "n_iter": int(network.n_iter_),
        "final_loss": float(network.loss_),
        "loss_curve": None if curve is None else [float(value) for value in curve],
        "convergence_warning": convergence_warning,
    }


def _settings(args):
    """The options of the run, as the report and the JSON show them."""
    return {
        "hidden": list(args.hidden),
        "solver": args.solver,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate_init": args.learning_rate_init,
        "alpha": args.alpha,
        "dtype": args.dtype,
        "random_state": args.random_state,
        "repeats": args.repeats,
        "threads": args.threads,
    }


def _result(args, data, contenders, times, blas, load_before):
    """Everything the reports show but the notes on the fits."""
    ours, theirs = contenders["bpnet"], contenders["scikit-learn"]
    return {
        "settings": _settings(args),
        "data": data,
        "metric": "accuracy" if data["task"] == "classification" else "r2",
        "contenders": contenders,
        "speedup": {
            "min": theirs["min"] / ours["min"],
            "median": theirs["median"] / ours["median"],
        },
        "threads": thread_settings(args.threads),
        "blas": blas,
        "load_average": load_before,
        "busy": busy_summary(times, args.threads, load_before, cores()),
        "plot": args.plot,
    }
