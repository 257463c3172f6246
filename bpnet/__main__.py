"""The command line: ``python -m bpnet compare`` trains bpnet and scikit-learn side by side."""

import argparse
import sys
import time
import warnings

import numpy as np

DATASETS = {
    "digits": ("load_digits", "classification"),
    "breast_cancer": ("load_breast_cancer", "classification"),
    "wine": ("load_wine", "classification"),
    "iris": ("load_iris", "classification"),
    "diabetes": ("load_diabetes", "regression"),
}


def _hidden_sizes(text):
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive integers, got {text!r}")
    return sizes


def _batch_size(text):
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or a positive integer, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"batch size must be positive, got {value}")
    return value


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m bpnet",
        description="bpnet: Cython-accelerated, scikit-learn compatible neural networks.",
    )
    parser.add_argument("--version", action="store_true", help="print bpnet's version and exit")
    commands = parser.add_subparsers(dest="command")
    compare = commands.add_parser(
        "compare",
        help="train BPClassifier/BPRegressor and MLPClassifier/MLPRegressor side by side",
        description=(
            "Train bpnet and scikit-learn's MLP with identical settings on a dataset that "
            "ships with scikit-learn, and print their scores, fit times and the speedup. "
            "The data are split 75/25 and standardised; both models see the same arrays."
        ),
    )
    compare.add_argument(
        "--dataset", choices=sorted(DATASETS), default="digits",
        help="dataset to train on; diabetes is a regression task (default: digits)",
    )  # fmt: skip
    compare.add_argument(
        "--hidden", type=_hidden_sizes, default=(100,), metavar="SIZES",
        help="hidden layer sizes, comma-separated, e.g. 256,128 (default: 100)",
    )  # fmt: skip
    compare.add_argument(
        "--solver", choices=["adam", "sgd", "lbfgs"], default="adam",
        help="weight optimizer (default: adam)",
    )  # fmt: skip
    compare.add_argument(
        "--epochs", type=_positive_int, default=50,
        help="max_iter: epochs for sgd/adam, iterations for lbfgs (default: 50)",
    )  # fmt: skip
    compare.add_argument(
        "--batch-size", type=_batch_size, default="auto",
        help="minibatch size, or 'auto' for min(200, n_samples) (default: auto)",
    )  # fmt: skip
    compare.add_argument(
        "--dtype", choices=["float64", "float32"], default="float64",
        help="dtype of the training data and so of the weights (default: float64)",
    )  # fmt: skip
    compare.add_argument(
        "--learning-rate-init", type=float, default=0.001,
        help="initial learning rate of sgd and adam (default: 0.001)",
    )  # fmt: skip
    compare.add_argument(
        "--repeats", type=_positive_int, default=3,
        help="fits of each model, interleaved; the median time is reported (default: 3)",
    )  # fmt: skip
    compare.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")
    return parser


def compare(args, out=sys.stdout):
    """Run the side-by-side comparison described by parsed ``args``; return the rows."""
    from sklearn import datasets
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.preprocessing import StandardScaler

    from bpnet import BPClassifier, BPRegressor

    loader, task = DATASETS[args.dataset]
    X, y = getattr(datasets, loader)(return_X_y=True)
    if task == "regression":
        y = (y - y.mean()) / y.std()
    stratify = y if task == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=args.random_state, stratify=stratify
    )
    scaler = StandardScaler().fit(X_train)
    X_train = scaler.transform(X_train).astype(args.dtype)
    X_test = scaler.transform(X_test).astype(args.dtype)

    params = dict(
        hidden_layer_sizes=args.hidden,
        solver=args.solver,
        max_iter=args.epochs,
        batch_size=args.batch_size,
        learning_rate_init=args.learning_rate_init,
        random_state=args.random_state,
    )
    if task == "classification":
        models = {"bpnet": BPClassifier(**params), "scikit-learn": MLPClassifier(**params)}
        metric = "accuracy"
    else:
        models = {"bpnet": BPRegressor(**params), "scikit-learn": MLPRegressor(**params)}
        metric = "R^2"

    times = {name: [] for name in models}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(args.repeats):
            for name, model in models.items():  # interleaved, so load drifts hit both
                start = time.perf_counter()
                model.fit(X_train, y_train)
                times[name].append(time.perf_counter() - start)

    rows = []
    for name, model in models.items():
        rows.append(
            {
                "model": name,
                "score": model.score(X_test, y_test),
                "epochs": model.n_iter_,
                "fit_seconds": float(np.median(times[name])),
            }
        )
    reference = rows[1]["fit_seconds"]
    for row in rows:
        row["speedup"] = reference / row["fit_seconds"]

    print(
        f"dataset={args.dataset} ({X.shape[0]} samples, {X.shape[1]} features), "
        f"hidden={','.join(map(str, args.hidden))}, solver={args.solver}, "
        f"epochs={args.epochs}, batch_size={args.batch_size}, dtype={args.dtype}, "
        f"median of {args.repeats} fit(s)",
        file=out,
    )
    header = f"{'model':<14}{'test ' + metric:>14}{'epochs':>8}{'fit time (s)':>14}{'speedup':>9}"
    print(header, file=out)
    print("-" * len(header), file=out)
    for row in rows:
        print(
            f"{row['model']:<14}{row['score']:>14.4f}{row['epochs']:>8d}"
            f"{row['fit_seconds']:>14.4f}{row['speedup']:>8.2f}x",
            file=out,
        )
    return rows


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from bpnet import __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    compare(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
