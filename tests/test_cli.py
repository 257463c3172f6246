"""``python -m bpnet compare``: options, data files, timing, JSON, plots and usage errors."""

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info

from bpnet._cli import main
from bpnet._cli.loading import DATASETS, infer_task
from bpnet._cli.plotting import make_figure
from bpnet._cli.timing import BUSY_SPREAD, busy_note, load_note, repetition_spread, time_fits

pd = pytest.importorskip("pandas")

QUICK = ["--epochs", "2", "--repeats", "2"]


def run(capsys, *argv):
    assert main(["compare", *argv]) == 0
    return capsys.readouterr().out


def run_json(capsys, *argv):
    return json.loads(run(capsys, *argv, "--json"))


def usage_error(capsys, *argv):
    """The one error line of a rejected command, after checking how it was rejected."""
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", *argv])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("python -m bpnet compare: error: ")
    return last


def shop(n=240, seed=0):
    """Rows with a text column that matters, a text class target and a numeric target."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], n)
    size, weight = rng.normal(size=(2, n))
    shift = pd.Series(colour).map({"red": 2.0, "green": 0.0, "blue": -2.0}).to_numpy()
    score = size + shift
    kind = np.where(score > 1, "big", np.where(score < -1, "small", "medium"))
    price = 3 * size - 2 * weight + shift + 0.1 * rng.normal(size=n)
    return pd.DataFrame(
        {"size": size, "weight": weight, "colour": colour, "kind": kind, "price": price}
    )


@pytest.fixture
def shop_csv(tmp_path):
    path = tmp_path / "shop.csv"
    shop().to_csv(path, index=False)
    return path


def write_csv(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# --- the default run and its report ------------------------------------------------------


def test_default_run_reports_scores_times_threads_and_blas(capsys):
    out = run(capsys, *QUICK)
    assert out.startswith("data:     digits (built in): 1797 rows")
    assert "classification of 10 classes" in out
    assert "library defaults, which is what a user gets" in out
    assert "BLAS:     " in out and "thread(s)" in out
    assert "2 interleaved fit(s)" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("bpnet ", "scikit-"))]
    assert [row[0] for row in rows] == ["bpnet", "scikit-learn"]
    assert rows[0][1] == rows[1][1]  # same seed, same settings: the same test accuracy
    assert rows[1][-2:] == ["1.00x", "1.00x"]
    assert "fit times (s): bpnet " in out


def test_json_holds_settings_data_times_scores_speedup_and_blas(capsys):
    result = run_json(capsys, "--epochs", "2", "--repeats", "3", "--hidden", "16,8")
    assert result["settings"]["hidden"] == [16, 8]
    assert result["settings"]["repeats"] == 3 and result["settings"]["threads"] is None
    data = result["data"]
    assert data["source"] == "digits" and data["task"] == "classification"
    assert data["n_train"] + data["n_test"] == data["n_samples"] == 1797
    for name in ("bpnet", "scikit-learn"):
        row = result["contenders"][name]
        assert len(row["times"]) == 3
        assert row["min"] == pytest.approx(min(row["times"]), abs=1e-6)
        assert row["median"] == pytest.approx(np.median(row["times"]), abs=1e-6)
        assert 0 <= row["test_score"] <= 1 and row["n_iter"] == 2
        assert len(row["loss_curve"]) == 2
    ours, theirs = result["contenders"]["bpnet"], result["contenders"]["scikit-learn"]
    assert ours["estimator"] == "BPClassifier" and theirs["estimator"] == "MLPClassifier"
    assert result["speedup"]["min"] == pytest.approx(theirs["min"] / ours["min"])
    assert result["speedup"]["median"] == pytest.approx(theirs["median"] / ours["median"])
    assert result["blas"] and all(pool["num_threads"] >= 1 for pool in result["blas"])
    assert set(result["busy"]["spread"]) == {"bpnet", "scikit-learn"}


def test_threads_limits_both_contenders_and_is_restored(capsys):
    before = [pool["num_threads"] for pool in threadpool_info()]
    result = run_json(capsys, *QUICK, "--threads", "1")
    assert result["threads"]["limit"] == 1
    assert {pool["num_threads"] for pool in result["blas"]} == {1}
    assert [pool["num_threads"] for pool in threadpool_info()] == before
    out = run(capsys, *QUICK, "--threads", "1")
    assert "threadpool_limits(1) around both contenders" in out


def test_every_builtin_dataset_scores_meaningfully_with_the_defaults(capsys):
    for dataset in DATASETS:
        result = run_json(capsys, "--dataset", dataset, "--repeats", "1")
        score = result["contenders"]["bpnet"]["test_score"]
        assert score == pytest.approx(result["contenders"]["scikit-learn"]["test_score"])
        assert score > (0.25 if dataset == "diabetes" else 0.75), dataset


def test_lbfgs_overfitting_is_pointed_out_and_alpha_cures_it(capsys):
    out = run(capsys, "--dataset", "diabetes", "--solver", "lbfgs", "--repeats", "1")
    assert "it overfits" in out and "--alpha" in out
    result = run_json(capsys, "--dataset", "diabetes", "--solver", "lbfgs", "--repeats", "1",
                      "--alpha", "10")  # fmt: skip
    assert result["contenders"]["bpnet"]["test_score"] > 0.25
    assert result["data"]["task"] == "regression"
    assert result["contenders"]["bpnet"]["loss_curve"] is None


def test_float32(capsys):
    result = run_json(capsys, *QUICK, "--dtype", "float32", "--dataset", "iris")
    assert result["settings"]["dtype"] == "float32"


# --- data files --------------------------------------------------------------------------


def test_csv_classification_with_a_categorical_column(capsys, shop_csv):
    result = run_json(capsys, "--data", str(shop_csv), "--target", "kind", "--solver", "lbfgs",
                      "--epochs", "200", "--repeats", "1")  # fmt: skip
    data = result["data"]
    assert data["task"] == "classification" and data["n_classes"] == 3
    assert data["task_reason"] == "inferred from the target: text"
    assert data["numeric_columns"] == 3 and data["categorical_columns"] == 1
    assert data["n_inputs"] == 3 + 3  # colour one-hot encoded
    assert result["contenders"]["bpnet"]["estimator"] == "BPClassifier"
    assert result["contenders"]["bpnet"]["test_score"] > 0.85


def test_csv_regression_with_a_categorical_column(capsys, shop_csv):
    out = run(capsys, "--data", str(shop_csv), "--target", "price", "--solver", "lbfgs",
              "--epochs", "200", "--repeats", "1")  # fmt: skip
    assert "shop.csv (CSV): 240 rows" in out and "target 'price'" in out
    assert "regression (inferred from the target: fractional numbers)" in out
    result = run_json(capsys, "--data", str(shop_csv), "--target", "price", "--solver", "lbfgs",
                      "--epochs", "200", "--repeats", "1")  # fmt: skip
    assert result["metric"] == "r2" and result["data"]["categorical_columns"] == 2
    assert result["contenders"]["bpnet"]["estimator"] == "BPRegressor"
    ours = result["contenders"]["bpnet"]["test_score"]
    assert ours > 0.9
    assert ours == pytest.approx(result["contenders"]["scikit-learn"]["test_score"])


def test_task_override(capsys, tmp_path):
    frame = shop()
    frame["stars"] = np.digitize(frame["price"], [-2, 0, 2])  # 4 whole numbers
    path = tmp_path / "stars.csv"
    frame.drop(columns=["kind", "price"]).to_csv(path, index=False)
    common = ["--data", str(path), "--target", "stars", *QUICK]
    inferred = run_json(capsys, *common)["data"]
    assert inferred["task"] == "classification" and inferred["n_classes"] == 4
    forced = run_json(capsys, *common, "--task", "regression")["data"]
    assert forced["task"] == "regression" and forced["task_reason"] == "set by --task"
    assert "n_classes" not in forced


def test_inference_rule():
    assert infer_task(np.array(["a", "b"], dtype=object))[0] == "classification"
    assert infer_task(np.array([True, False]))[0] == "classification"
    assert infer_task(np.array([0.0, 1.0, 2.0]))[0] == "classification"
    assert infer_task(np.array([0.5, 1.0, 2.0]))[0] == "regression"
    assert infer_task(np.arange(21))[0] == "regression"
    assert infer_task(np.arange(20))[0] == "classification"


def test_parquet(capsys, tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "shop.parquet"
    shop().to_parquet(path)
    data = run_json(capsys, "--data", str(path), "--target", "kind", *QUICK)["data"]
    assert data["format"] == "Parquet" and data["categorical_columns"] == 1


def test_parquet_without_pyarrow(capsys, tmp_path, monkeypatch):
    def no_engine(*args, **kwargs):
        raise ImportError("Unable to find a usable engine")

    monkeypatch.setattr(pd, "read_parquet", no_engine)
    path = write_csv(tmp_path, "a,y\n1,2\n", "data.parquet")
    line = usage_error(capsys, "--data", path, "--target", "y")
    assert "reading Parquet needs pyarrow" in line


def test_data_without_pandas(capsys, shop_csv, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    line = usage_error(capsys, "--data", str(shop_csv), "--target", "kind")
    assert "--data needs pandas" in line


# --- plots -----------------------------------------------------------------------------------


def test_plot_writes_a_png_with_two_panels(capsys, tmp_path):
    image = pytest.importorskip("matplotlib.image")
    path = tmp_path / "compare.png"
    out = run(capsys, *QUICK, "--dataset", "iris", "--plot", str(path))
    assert f"plot: {path}" in out
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = image.imread(path)
    height, width, _ = pixels.shape
    assert width > 2 * height  # two panels side by side
    for half in (pixels[:, : width // 2, :3], pixels[:, width // 2 :, :3]):
        assert (half < 0.5).mean() > 0.005  # something is drawn in each


def fake_result(solver="adam", curve=True):
    row = {"min": 0.1, "median": 0.12, "n_iter": 3, "final_loss": 0.5}
    return {
        "settings": {"solver": solver, "hidden": [10], "repeats": 2},
        "data": {"source": "digits", "format": "built-in"},
        "contenders": {
            name: {**row, "loss_curve": [1.0, 0.7, 0.5] if curve else None}
            for name in ("bpnet", "scikit-learn")
        },
        "speedup": {"min": 1.0, "median": 1.0},
    }


def test_figure_has_loss_curves_beside_time_per_epoch():
    pytest.importorskip("matplotlib")
    loss_axes, time_axes = make_figure(fake_result()).axes
    assert [line.get_label() for line in loss_axes.lines] == ["bpnet", "scikit-learn"]
    assert len(time_axes.patches) == 4  # min and median bars for each contender
    assert time_axes.patches[0].get_height() == pytest.approx(1000 * 0.1 / 3)
    loss_axes, _ = make_figure(fake_result("lbfgs", curve=False)).axes
    assert "lbfgs keeps no loss curve" in loss_axes.texts[0].get_text()


def test_plot_without_matplotlib(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    line = usage_error(capsys, "--plot", str(tmp_path / "x.png"))
    assert "--plot needs matplotlib" in line and "bpnet[bench]" in line


# --- timing ---------------------------------------------------------------------------------

FIT_LOG = []


class Recorder(BaseEstimator):
    def __init__(self, name="a", max_iter=5):
        self.name = name
        self.max_iter = max_iter

    def fit(self, X, y):
        FIT_LOG.append((self.name, self.max_iter))
        return self


def test_fits_are_warmed_up_then_interleaved_in_alternating_order():
    FIT_LOG.clear()
    fitted, times, warned = time_fits({"a": Recorder("a"), "b": Recorder("b")}, None, None, 3)
    warm_up = [("a", 1), ("b", 1)]
    timed = [("a", 5), ("b", 5), ("b", 5), ("a", 5), ("a", 5), ("b", 5)]
    assert FIT_LOG == warm_up + timed
    assert [len(times[name]) for name in "ab"] == [3, 3]
    assert set(fitted) == {"a", "b"}
    assert warned == {"a": None, "b": None}


def test_spread_rule():
    assert repetition_spread([0.2]) == 1
    assert repetition_spread([0.2, 0.1, 0.4]) == 4
    steady = {"bpnet": [0.10, 0.11, 0.105], "scikit-learn": [0.5, 0.52, 0.51]}
    assert busy_note(steady) is None
    stalled = {"bpnet": [0.10, 0.11, 0.105], "scikit-learn": [0.5, 2.7, 0.9]}
    note = busy_note(stalled)
    assert "the machine is busy" in note and "scikit-learn's 5.4x" in note
    assert "bpnet" not in note and "--threads 1" in note
    assert "--threads 1" not in busy_note(stalled, threads=1)
    # Just over the ratio, but by microseconds: timer noise, not load.
    assert busy_note({"bpnet": [0.001, 0.001 * (BUSY_SPREAD + 1)]}) is None
    assert busy_note({"bpnet": [0.2]}) is None  # one fit: nothing to compare


def test_load_rule():
    assert load_note(None, 2) is None
    assert load_note([2.9, 1.0, 1.0], 2) is None
    assert "load average was 3.10 on 2 core(s)" in load_note([3.1, 1.0, 1.0], 2)


def test_busy_note_and_single_fit_note_in_the_report(capsys, monkeypatch):
    import bpnet._cli.timing as timing

    monkeypatch.setattr(timing, "BUSY_SPREAD", 1.0)
    monkeypatch.setattr(timing, "BUSY_MIN_SECONDS", 0.0)
    monkeypatch.setattr(timing, "BUSY_LOAD_PER_CORE", -1.0)
    out = run(capsys, "--epochs", "2", "--repeats", "3", "--dataset", "iris")
    assert "note: fit times vary between repetitions" in out
    assert "note: the load average was" in out
    out = run(capsys, "--epochs", "2", "--repeats", "1", "--dataset", "iris")
    assert "note: one fit each" in out


# --- usage errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--learning-rate-init", "-0.1"], "--learning-rate-init: expected a positive finite"),
        (["--learning-rate-init", "nan"], "--learning-rate-init: expected a positive finite"),
        (["--learning-rate-init", "0"], "--learning-rate-init: expected a positive finite"),
        (["--alpha", "-1"], "--alpha: expected a non-negative finite number"),
        (["--random-state", "-1"], "--random-state: expected an integer from 0 to 2**32 - 1"),
        (["--random-state", "x"], "--random-state: expected an integer from 0"),
        (["--hidden", "10,,20"], "--hidden: expected comma-separated positive integers"),
        (["--hidden", "10,0"], "--hidden: hidden sizes must be positive"),
        (["--hidden", "ten"], "--hidden: expected comma-separated positive integers"),
        (["--epochs", "abc"], "--epochs: expected a positive integer, got 'abc'"),
        (["--epochs", "0"], "--epochs: expected a positive integer"),
        (["--repeats", "-2"], "--repeats: expected a positive integer"),
        (["--threads", "0"], "--threads: expected a positive integer"),
        (["--batch-size", "0"], "--batch-size: batch size must be positive"),
        (["--dataset", "mnist"], "--dataset: invalid choice"),
        (["--task", "ranking"], "--task: invalid choice"),
        (["--data", "x.csv"], "--data needs --target COLUMN"),
        (["--target", "y"], "--target needs --data FILE"),
        (["--data", "x.csv", "--target", "y", "--dataset", "iris"], "not allowed with"),
        (["--plot", "/no/such/folder/x.png"], "--plot: no such folder"),
        (["--plot", "x.nonsense"], "--plot: cannot tell an image format"),
        (["--sep", "ab"], "--sep: expected comma, semicolon, tab or one character"),
        (["--sep", "x"], "--sep: expected comma, semicolon, tab or one character"),
    ],
)
def test_bad_options(capsys, argv, message):
    assert message in usage_error(capsys, *argv)


@pytest.mark.parametrize(
    "text, argv, message",
    [
        (None, [], "--data: no such file"),
        ("a,y\n1,2\n", ["--target", "nope"], "has no column 'nope'; its columns: 'a', 'y'"),
        ("a,y\n1,u\n2,u\n3,u\n", [], "has one class ('u'); classification needs two or more"),
        ("a,y\n1,u\n2,v\n3,w\n", ["--task", "regression"], "target column 'y' is not numeric"),
        ("a,y\n1,2.5\nx,3.5\n3,1.5\n4,2.5\n", [], "column 'a' holds numbers but also 'x'"),
        ("a,y\n1,2.5\n2,oops\n3,1.5\n4,2.5\n", [], "column 'y' holds numbers but also 'oops'"),
        ("a,y\n1,2\n2,2\n3,2\n4,3\n5,3\n6,4\n", [], "class 4 has only one row"),
        ("a,y\n1,2.5\n2,2.5\n", ["--task", "regression"], "is constant"),
        ("", [], "is empty"),
        ("a,y\n", [], "has a header but no rows"),
        ("y\n1\n2\n", [], "has no columns besides the target"),
        ("a,y\n1,0.5\n2,1.5\n", [], "2 rows are too few; compare needs 8 or more"),
        ("a,y\n" + "1,p\n2,q\n3,r\n4,s\n" * 2, [], "cannot split 8 rows 75/25"),
        ("a,y\n" + "1,u\n2,v\n" * 4, ["--task", "regression"], "not numeric (e.g. 'u')"),
    ],
)
def test_bad_data(capsys, tmp_path, text, argv, message):
    path = str(tmp_path / "missing.csv") if text is None else write_csv(tmp_path, text)
    line = usage_error(capsys, "--data", path, "--target", "y", *argv)
    assert message in line


def test_binary_garbage_is_a_usage_error(capsys, tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(bytes(range(256)) * 4)
    assert "cannot read" in usage_error(capsys, "--data", str(path), "--target", "y")


# --- the real entry point ----------------------------------------------------------------------


def test_module_entry_point_exit_codes():
    command = [sys.executable, "-m", "bpnet", "compare"]
    bad = subprocess.run([*command, "--epochs", "abc"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1] == (
        "python -m bpnet compare: error: argument --epochs: expected a positive integer, got 'abc'"
    )
    good = subprocess.run(
        [*command, "--dataset", "iris", "--epochs", "1", "--repeats", "1", "--json"],
        capture_output=True,
        text=True,
    )
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["data"]["source"] == "iris"


# --- real files: the Palmer penguins, as the palmerpenguins package ships them ----------------
#
# penguins.csv: 344 rows; text columns (species, island, sex), numbers, missing values in
# both (2 rows without measurements, 11 without sex). penguins-raw.csv adds identifiers
# (Individual ID, 190 values in 344 rows), a date (Date Egg) and mostly-missing comments.


def penguins(name="penguins.csv"):
    resources = pytest.importorskip("importlib.resources")
    pytest.importorskip("palmerpenguins")
    return resources.files("palmerpenguins") / "data" / name


PENGUIN_MEASURES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


def notes_of(result, topic):
    return [note["text"] for note in result["notes"] if note["topic"] == topic]


def test_missing_values_are_filled_in_for_numbers_and_text_alike(capsys):
    argv = ["--data", str(penguins()), "--target", "species", "--epochs", "200", "--repeats", "1"]
    result = run_json(capsys, *argv)
    data = result["data"]
    assert data["n_samples"] == 344 and data["missing"]["rule"] == "fill"
    assert data["missing"]["columns"] == {**dict.fromkeys(PENGUIN_MEASURES, 2), "sex": 11}
    # island (3) and sex (2, and '(missing)'), year and the four measures.
    assert data["n_inputs"] == 3 + 3 + 5
    (note,) = notes_of(result, "missing")
    assert "11 row(s) have missing values" in note and "'sex' (11)" in note
    assert "numbers with the column's median" in note and "'(missing)'" in note
    assert "--drop-missing" in note
    assert result["contenders"]["bpnet"]["test_score"] > 0.9


def test_drop_missing_drops_those_rows(capsys):
    argv = ["--data", str(penguins()), "--target", "species", "--drop-missing", *QUICK]
    result = run_json(capsys, *argv)
    assert result["data"]["n_samples"] == 333 and result["data"]["missing"]["rule"] == "drop"
    assert result["data"]["n_inputs"] == 3 + 2 + 5  # no '(missing)' sex
    (note,) = notes_of(result, "missing")
    assert note.startswith("dropped 11 row(s) with missing values (--drop-missing)")


def test_rows_without_a_target_are_dropped_with_a_note(capsys):
    result = run_json(capsys, "--data", str(penguins()), "--target", "sex", *QUICK)
    assert result["data"]["n_samples"] == 333 and result["data"]["rows_without_target"] == 11
    assert any("dropped 11 row(s) whose target 'sex' is missing" in note
               for note in notes_of(result, "missing"))  # fmt: skip


@pytest.mark.parametrize("sep, name", [(";", "semicolon"), ("\t", "tab")])
def test_semicolon_and_tab_files_are_read_as_the_comma_file(capsys, tmp_path, sep, name):
    path = tmp_path / f"penguins-{name}.csv"
    frame = pd.read_csv(penguins())
    # Written as spreadsheets in many countries write them: decimal commas with ';'.
    frame.to_csv(path, sep=sep, index=False, decimal="," if sep == ";" else ".")
    comma = run_json(capsys, "--data", str(penguins()), "--target", "species", *QUICK)
    other = run_json(capsys, "--data", str(path), "--target", "species", *QUICK)
    assert other["data"]["delimiter"] == name and comma["data"]["delimiter"] == "comma"
    for key in ("n_samples", "numeric_columns", "categorical_columns", "n_inputs", "missing"):
        assert other["data"][key] == comma["data"][key], key
    (note,) = notes_of(other, "delimiter")
    assert f"as {name}-separated values" in note and "--sep" in note
    assert other["contenders"]["bpnet"]["test_score"] == comma["contenders"]["bpnet"]["test_score"]
    # --sep overrides the detection: read with commas, the file is one column.
    line = usage_error(capsys, "--data", str(path), "--target", "species", "--sep", "comma")
    assert "has no column 'species'" in line and "--sep" in line
    forced = run_json(capsys, "--data", str(path), "--target", "species", "--sep", sep, *QUICK)
    assert forced["data"]["n_inputs"] == comma["data"]["n_inputs"]
    assert not notes_of(forced, "delimiter")  # chosen, not detected: nothing to say


def test_identifier_and_date_columns_are_left_out_with_a_note(capsys):
    argv = ["--data", str(penguins("penguins-raw.csv")), "--target", "Species", *QUICK]
    result = run_json(capsys, *argv)
    left_out = result["data"]["left_out"]
    assert left_out == {
        "Individual ID": "190 different values in 344 rows",
        "Date Egg": "dates",
    }
    (note,) = notes_of(result, "columns")
    assert "'Individual ID' (190 different values in 344 rows); 'Date Egg' (dates)" in note
    assert "--keep-columns" in note
    out = run(capsys, *argv)
    assert "2 left out -> 27 inputs" in out and f"note: {note}" in out
    kept = run_json(capsys, *argv, "--keep-columns")
    assert kept["data"]["left_out"] == {} and not notes_of(kept, "columns")
    # One-hot encoded, the two columns add an input per value of the training rows.
    assert kept["data"]["n_inputs"] > 27 + 150


def test_row_numbers_are_identifiers(capsys, tmp_path):
    path = tmp_path / "numbered.csv"
    pd.read_csv(penguins()).sample(frac=1, random_state=0).to_csv(path)  # with its index
    result = run_json(capsys, "--data", str(path), "--target", "species", *QUICK)
    assert result["data"]["left_out"] == {"Unnamed: 0": "whole numbers, all different, a range"}


def test_a_loss_still_falling_is_a_note_not_a_warning(capsys, recwarn):
    result = run_json(capsys, "--dataset", "iris", *QUICK)
    (note,) = notes_of(result, "convergence")
    assert "still falling at the last epoch (2, --epochs)" in note and "more --epochs" in note
    for name in ("bpnet", "scikit-learn"):
        assert "Maximum iterations (2) reached" in result["contenders"][name]["convergence_warning"]
    assert not [w for w in recwarn if issubclass(w.category, ConvergenceWarning)]
    # Trained to convergence: no note.
    result = run_json(capsys, "--dataset", "iris", "--solver", "lbfgs", "--epochs", "2000",
                      "--repeats", "1")  # fmt: skip
    assert result["contenders"]["bpnet"]["convergence_warning"] is None
    assert not notes_of(result, "convergence")


def test_json_carries_every_note_the_text_prints(capsys, monkeypatch):
    import bpnet._cli as cli
    import bpnet._cli.timing as timing

    monkeypatch.setattr(timing, "BUSY_LOAD_PER_CORE", -1.0)  # a load note, whatever the load
    args = cli.build_parser().parse_args(
        ["compare", "--data", str(penguins("penguins-raw.csv")), "--target", "Species",
         "--solver", "lbfgs", "--epochs", "3", "--repeats", "1", "--alpha", "0"]
    )  # fmt: skip
    result = cli.compare(args)
    printed = [line[len("note: ") :] for line in cli.format_report(result).splitlines()
               if line.startswith("note: ")]  # fmt: skip
    assert printed == [note["text"] for note in json.loads(json.dumps(result))["notes"]]
    topics = {note["topic"] for note in result["notes"]}
    assert {"columns", "missing", "convergence", "busy", "load"} <= topics


def test_help_states_the_rules_for_real_files(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in ("--sep sets it", "the same rule for numbers and text",
                  "column's median over the training rows", "--drop-missing drops those rows",
                  "look like identifiers", "--keep-columns keeps them"):  # fmt: skip
        assert words in text, words
