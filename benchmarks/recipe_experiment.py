"""One-off experiment for the Tabular estimators' defaults: how far do RealMLP's
preprocessing, a wider network and early stopping with the best epoch kept take
bpnet's existing BPClassifier / BPRegressor on the tuning tables?

Not a benchmark of record: it runs extra contenders through ``bench_tabular.py``'s
machinery (same tables, same splits, same scores and timing) and merges the per-split
records of an earlier ``bench_tabular.py`` run (``--baseline``) so that the MLP pipeline,
HistGradientBoosting and RealMLP-TD stand beside them.

The preprocessing (``RobustSmoothClip``) is plain NumPy, fitted on the training rows:

* numeric: x -> (x - median) * s with s = 1 / (q75 - q25), or 2 / (max - min) when the
  quartiles coincide, or 0 for a constant column (pytabkit's ``RobustScaleFactory``); then
  the smooth clip x / sqrt(1 + (x / 3)^2) (its ``smooth_clip_func``); a missing value
  becomes 0 (the median) and gets an indicator column when the training rows had any;
* categorical: one column per level seen at fit (a missing value is a level of its own
  when the training rows had any; an unseen level is all zeros). RealMLP one-hots only
  categories of up to 8 levels and embeds the rest; bpnet has no embeddings yet.

Regressors see the target standardised (RealMLP's ``normalize_output``). The variant
``usual_wide_es`` keeps the MLP pipeline's preprocessing instead, to separate the
preprocessing's share of a gain from the network's.

Usage::

    python benchmarks/recipe_experiment.py --baseline benchmarks/results/tabular/baseline.json
    python benchmarks/recipe_experiment.py --variants rs_default --datasets concrete
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import _tabular_data as D
import bench_tabular as B
from sklearn.base import BaseEstimator, TransformerMixin

SMOOTH_CLIP = 3.0


class RobustSmoothClip(TransformerMixin, BaseEstimator):
    """Robust scaling with smooth clipping for numeric columns, one-hot for categorical
    ones; missing values centred to the median with an indicator column."""

    def __init__(self, categorical=()):
        self.categorical = categorical

    def fit(self, X, y=None):
        categorical = set(self.categorical)
        self.numeric_ = [c for c in X.columns if c not in categorical]
        self.categorical_ = [c for c in X.columns if c in categorical]
        values = X[self.numeric_].to_numpy(dtype=np.float64)
        median = np.nanmedian(values, axis=0) if values.size else np.zeros(0)
        q25, q75 = (np.nanquantile(values, q, axis=0) for q in (0.25, 0.75))
        spread = q75 - q25
        half_range = 0.5 * (np.nanmax(values, axis=0) - np.nanmin(values, axis=0))
        spread = np.where(spread == 0.0, half_range, spread)
        with np.errstate(divide="ignore"):
            scale = np.where(spread > 0.0, 1.0 / spread, 0.0)
        self.median_ = np.nan_to_num(median)
        self.scale_ = np.nan_to_num(scale)
        self.indicate_ = np.isnan(values).any(axis=0)
        self.levels_ = {}
        for c in self.categorical_:
            column = X[c]
            levels = [v for v in column.dropna().unique()]
            self.levels_[c] = (sorted(levels, key=str), bool(column.isna().any()))
        return self

    def transform(self, X):
        values = X[self.numeric_].to_numpy(dtype=np.float64)
        missing = np.isnan(values)
        scaled = (values - self.median_) * self.scale_
        scaled[missing] = 0.0
        parts = [scaled / np.sqrt(1.0 + (scaled / SMOOTH_CLIP) ** 2)]
        parts.append(missing[:, self.indicate_].astype(np.float64))
        for c in self.categorical_:
            levels, has_missing = self.levels_[c]
            column = X[c].astype(object).to_numpy()
            onehot = np.stack([column == level for level in levels], axis=1).astype(np.float64)
            parts.append(onehot.reshape(len(column), len(levels)))
            if has_missing:
                parts.append(X[c].isna().to_numpy(dtype=np.float64)[:, None])
        return np.ascontiguousarray(np.hstack(parts))


def network(task, seed, **params):
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.preprocessing import StandardScaler

    from bpnet import BPClassifier, BPRegressor

    if task == D.REGRESSION:
        return TransformedTargetRegressor(
            BPRegressor(random_state=seed, **params), transformer=StandardScaler()
        )
    return BPClassifier(random_state=seed, **params)


WIDE_EARLY = dict(
    hidden_layer_sizes=(256, 256, 256),
    batch_size=256,
    early_stopping=True,
    validation_fraction=0.2,
    n_iter_no_change=20,
    max_iter=200,
)

# name: (label, network parameters, whether the MLP pipeline's preprocessing is used)
VARIANTS = {
    "usual_wide_es": ("usual prep, 3x256, early stop", WIDE_EARLY, True),
    "rs_default": ("robust+clip, BP defaults", {}, False),
    "rs_wide_es": ("robust+clip, 3x256, early stop", WIDE_EARLY, False),
    "rs_wide_es_drop": (
        "robust+clip, 3x256, early stop, dropout",
        {**WIDE_EARLY, "dropout": 0.15},
        False,
    ),
    "rs_1x512_es": (
        "robust+clip, 1x512, early stop",
        {**WIDE_EARLY, "hidden_layer_sizes": (512,)},
        False,
    ),
}


def factory(params, usual=False):
    """Pipelines of the robust preprocessing (or, with `usual`, the MLP pipeline's) and a
    bpnet network with `params`."""

    def make(task, numeric, categorical, seed, threads):
        from sklearn.pipeline import make_pipeline

        if usual:
            prep = B.usual_preprocessing(numeric, categorical)
        else:
            prep = RobustSmoothClip(categorical)
        return make_pipeline(prep, network(task, seed, **params))

    return make


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="a bench_tabular.py JSON whose records join the table",
    )
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=None)
    tuning = [d.name for d in D.DATASETS if d.group == D.TUNING]
    parser.add_argument("--datasets", nargs="+", choices=tuning, default=tuning)
    parser.add_argument("--splits", type=int, default=B.DEFAULT_SPLITS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--output", type=Path, default=C.QUICK_RESULTS_DIR / "tabular" / "recipe_experiment.json"
    )
    args = parser.parse_args(argv)
    variants = args.variants or list(VARIANTS)
    for name in variants:
        label, params, usual = VARIANTS[name]
        B.FACTORIES[name] = factory(params, usual)
        B.LABELS[name] = label
    contenders = list(variants)

    def log(record):
        B.print_record(record, B.LABELS)

    from threadpoolctl import threadpool_limits

    datasets, records = [], []
    started = time.perf_counter()
    with threadpool_limits(limits=args.threads):
        for name in args.datasets:
            print(name, flush=True)
            info, recs = B.run_dataset(
                name, contenders, args.splits, args.threads, B.C.SETTLE_SECONDS_FULL, None, log
            )
            datasets.append(info)
            records.extend(recs)
    payload = {
        "benchmark": "tabular_recipe_experiment",
        "quick": False,
        "settings": {
            "command": "python benchmarks/recipe_experiment.py " + " ".join(argv or sys.argv[1:]),
            "splits": args.splits,
            "threads": args.threads,
            "thread_env": B._thread_env(),
            "variants": {v: VARIANTS[v][1] for v in variants},
        },
        "machine": C.machine_info(),
        "contenders": {
            v: {"label": VARIANTS[v][0], "present": True, "reason": None} for v in variants
        },
        "contenders_run": contenders,
        "datasets": datasets,
        "records": records,
        "elapsed_seconds": time.perf_counter() - started,
    }
    if args.baseline:
        import json

        base = json.loads(args.baseline.read_text())
        keep = {d["name"] for d in datasets}
        payload["records"] += [r for r in base["records"] if r["dataset"] in keep]
        extra = [c for c in base["contenders_run"] if c not in contenders]
        payload["contenders_run"] = extra + contenders
        payload["contenders"].update({c: base["contenders"][c] for c in extra})
    payload["summary"] = B.summarize(datasets, payload["contenders_run"], payload["records"])
    C.write_json(args.output, payload)
    print(B.ranks_markdown(payload))
    print(B.results_markdown(payload))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
