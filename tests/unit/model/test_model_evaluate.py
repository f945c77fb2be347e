"""The evaluation job and its metrics: SageMaker's model-quality format, the plots, the single-class failure, and
the smoke rows the deployment's smoke test sends to the new endpoint."""

from __future__ import annotations

import json
import sys
import tarfile
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cd4ml_model import evaluate, features, train
from cd4ml_model.artifacts import load_model_dir
from cd4ml_model.metrics import SingleClassError, best_f1_threshold, downsample_curve, evaluate_scores
from cd4ml_model.smoke_rows import choose_rows

from cd4ml.data.orders import generate_orders, write_dataset

SCALAR_METRICS = ("recall", "precision", "accuracy", "f1", "auc", "pr_auc", "brier_score", "threshold")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """features -> train through the jobs' main(), with the model folder also packed as SageMaker packs it."""
    root = tmp_path_factory.mktemp("pipeline")
    (root / "input").mkdir()
    orders = generate_orders(4_000, seed=8, start=datetime(2026, 1, 1), days=45, fraud_rate=0.05)
    write_dataset(orders, root / "input" / "orders.parquet")
    assert features.main(["--input-dir", str(root / "input"), "--output-dir", str(root / "features")]) == 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SM_CHANNEL_TRAIN", str(root / "features" / "train"))
        patch.setenv("SM_CHANNEL_VALIDATION", str(root / "features" / "validation"))
        patch.setenv("SM_MODEL_DIR", str(root / "model"))
        patch.setenv("CD4ML_CHECKPOINT_DIR", str(root / "checkpoints"))
        assert train.main(["--max_depth", "3", "--num_round", "15", "--early_stopping_rounds", "0"]) == 0
    (root / "archive").mkdir()
    with tarfile.open(root / "archive" / "model.tar.gz", "w:gz") as tar:
        for path in sorted((root / "model").iterdir()):
            tar.add(path, arcname=path.name)
    return {"model": root / "model", "archive": root / "archive", "test": root / "features" / "test"}


@pytest.fixture
def failure_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CD4ML_FAILURE_FILE", str(tmp_path / "message"))
    return tmp_path / "message"


def run(model: Path, test: Path, output: Path) -> int:
    return evaluate.main(["--model-dir", str(model), "--test-dir", str(test), "--output-dir", str(output)])


def test_evaluation_json_follows_the_sagemaker_model_quality_format(trained, tmp_path, failure_file):
    assert run(trained["archive"], trained["test"], tmp_path / "evaluation") == 0
    document = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())
    metrics = document["binary_classification_metrics"]
    for name in SCALAR_METRICS:
        deviation = metrics[name]["standard_deviation"]  # the bootstrap's, or the format's "NaN" where it has none
        assert isinstance(metrics[name]["value"], float), name
        assert deviation == "NaN" if name == "threshold" else isinstance(deviation, float) and deviation >= 0, name
    matrix = metrics["confusion_matrix"]
    cells = [matrix[actual][predicted] for actual in ("0", "1") for predicted in ("0", "1")]
    assert all(isinstance(c, int) for c in cells) and sum(cells) == document["dataset"]["rows"]
    assert matrix["1"]["0"] + matrix["1"]["1"] == document["dataset"]["positives"] > 0
    threshold = json.loads((trained["model"] / "operating_point.json").read_text())["threshold"]
    assert metrics["threshold"]["value"] == threshold
    assert 0.5 < metrics["auc"]["value"] <= 1 and 0 < metrics["pr_auc"]["value"] <= 1
    roc = metrics["receiver_operating_characteristic_curve"]
    assert len(roc["false_positive_rates"]) == len(roc["true_positive_rates"]) <= 200
    assert (roc["false_positive_rates"][0], roc["true_positive_rates"][-1]) == (0.0, 1.0)
    pr = metrics["precision_recall_curve"]
    assert len(pr["precisions"]) == len(pr["recalls"]) <= 200 and pr["recalls"][-1] == 0.0
    assert not failure_file.exists()


def test_evaluation_writes_small_roc_and_pr_plots(trained, tmp_path, failure_file):
    assert run(trained["archive"], trained["test"], tmp_path / "evaluation") == 0
    for name in ("roc.png", "pr.png"):
        data = (tmp_path / "evaluation" / name).read_bytes()
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert data.startswith(PNG) and (width, height) == (500, 400), name


def test_an_image_without_matplotlib_still_evaluates_without_plots(trained, tmp_path, failure_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # importing it now raises ImportError

    assert run(trained["archive"], trained["test"], tmp_path / "evaluation") == 0
    assert (tmp_path / "evaluation" / "evaluation.json").is_file()
    assert not list((tmp_path / "evaluation").glob("*.png"))


def test_evaluation_reads_model_files_directly_as_well_as_from_the_archive(trained, tmp_path, failure_file):
    assert run(trained["model"], trained["test"], tmp_path / "direct") == 0
    assert run(trained["archive"], trained["test"], tmp_path / "archive") == 0
    direct, packed = ((tmp_path / d / "evaluation.json").read_text() for d in ("direct", "archive"))
    assert direct == packed


def test_a_single_class_test_set_fails_with_a_clear_message(trained, tmp_path, failure_file):
    table = pq.read_table(trained["test"])
    (tmp_path / "test").mkdir()
    negatives = table.set_column(0, "is_fraud", pa.array([0] * table.num_rows, pa.int64()))
    pq.write_table(negatives, tmp_path / "test" / "test.parquet")
    assert run(trained["model"], tmp_path / "test", tmp_path / "evaluation") == 1
    assert f"all {table.num_rows} labels are 0: the metrics need both classes" in failure_file.read_text()
    assert not (tmp_path / "evaluation" / "evaluation.json").exists()


def test_a_test_set_without_a_model_feature_fails_naming_it(trained, tmp_path, failure_file):
    (tmp_path / "test").mkdir()
    pq.write_table(pq.read_table(trained["test"]).drop_columns(["num_items"]), tmp_path / "test" / "t.parquet")
    assert run(trained["model"], tmp_path / "test", tmp_path / "evaluation") == 1
    assert "['num_items']" in failure_file.read_text()


# ---- metrics ------------------------------------------------------------------------------------------------------
def test_scores_are_judged_at_the_threshold_with_scores_at_it_counted_positive():
    document = evaluate_scores([0, 0, 1, 1, 1], [0.1, 0.6, 0.4, 0.9, 0.6], threshold=0.6)
    metrics: dict[str, Any] = document["binary_classification_metrics"]
    assert metrics["confusion_matrix"] == {"0": {"0": 1, "1": 1}, "1": {"0": 1, "1": 2}}
    assert metrics["precision"]["value"] == pytest.approx(2 / 3)
    assert metrics["recall"]["value"] == pytest.approx(2 / 3)
    assert metrics["accuracy"]["value"] == pytest.approx(3 / 5)
    assert metrics["auc"]["value"] == pytest.approx(4.5 / 6)  # the tie of 0.6 and 0.6 counts half
    expected_brier = np.mean((np.array([0.1, 0.6, 0.4, 0.9, 0.6]) - np.array([0, 0, 1, 1, 1])) ** 2)
    assert metrics["brier_score"]["value"] == pytest.approx(expected_brier)
    assert document["dataset"] == {"rows": 5, "positives": 3}


def test_a_single_class_cannot_be_evaluated():
    with pytest.raises(SingleClassError, match="all 3 labels are 1"):
        evaluate_scores([1, 1, 1], [0.2, 0.5, 0.9], threshold=0.5)


def test_downsampled_curves_keep_both_ends_and_at_most_200_points():
    xs, ys = np.linspace(0, 1, 1_001), np.linspace(1, 0, 1_001) ** 2
    x, y = downsample_curve(xs, ys)
    assert len(x) == len(y) == 200 and (x[0], y[0], x[-1], y[-1]) == (0.0, 1.0, 1.0, 0.0)
    assert x == sorted(x)
    assert downsample_curve([0.0, 0.5, 1.0], [1.0, 0.2, 0.0]) == ([0.0, 0.5, 1.0], [1.0, 0.2, 0.0])


def test_operating_point_is_the_threshold_with_the_highest_f1():
    point = best_f1_threshold([0, 0, 1, 0, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.8, 0.9])
    # at 0.3: three of four flagged are fraud, all fraud flagged (F1 6/7); at 0.8 precision 1 but F1 only 0.8
    assert point == {"threshold": 0.3, "precision": 0.75, "recall": 1.0, "f1": pytest.approx(6 / 7)}


# ---- smoke rows ---------------------------------------------------------------------------------------------------
def serve(model_dir: Path, request: dict[str, str]) -> list[float]:
    """What the endpoint answers for a smoke request: the real serving code end to end, read as the smoke test reads
    it."""
    from cd4ml_model.inference import input_fn, model_fn, output_fn, predict_fn
    from cd4ml_shared.smoke import parse_scores

    prediction = predict_fn(input_fn(request["body"], request["content_type"]), model_fn(str(model_dir)))
    body, content_type = output_fn(prediction, request["accept"])
    return parse_scores(body.encode(), content_type)


def test_evaluation_writes_smoke_rows_the_serving_code_scores_exactly_as_it_did(trained, tmp_path, failure_file):
    assert run(trained["archive"], trained["test"], tmp_path / "evaluation") == 0
    smoke = json.loads((tmp_path / "evaluation" / "smoke.json").read_text())
    model = load_model_dir(trained["model"])
    labels, x = evaluate.labels_and_features(pq.read_table(trained["test"]), model)
    assert model.calibration is not None  # the served, calibrated score is what the smoke rows hold
    scores = model.predict(x)

    rows = smoke["rows"]
    assert smoke["format"] == "cd4ml.smoke/1" and smoke["features"] == model.features and len(rows) == 20
    assert {r["label"] for r in rows} == {0, 1}
    chosen = [r["test_row"] for r in rows]
    assert int(np.argmax(scores)) in chosen and int(np.argmin(scores)) in chosen  # the extremes
    assert [r["score"] for r in rows] == [float(scores[i]) for i in chosen]
    assert [r["label"] for r in rows] == [int(labels[i]) for i in chosen]
    assert [(q["content_type"], q["accept"]) for q in smoke["requests"]] == [
        ("text/csv", "application/json"),
        ("application/json", "application/json"),
    ]
    for request in smoke["requests"]:  # bit for bit: the bodies carry the float32 values the evaluation scored
        assert serve(trained["model"], request) == [r["score"] for r in rows], request["content_type"]


def test_the_smoke_rows_are_the_same_on_every_run(trained, tmp_path, failure_file):
    assert run(trained["model"], trained["test"], tmp_path / "first") == 0
    assert run(trained["archive"], trained["test"], tmp_path / "second") == 0
    assert (tmp_path / "first" / "smoke.json").read_bytes() == (tmp_path / "second" / "smoke.json").read_bytes()


def test_smoke_rows_take_both_ends_both_classes_and_a_missing_value_but_no_infinity():
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], dtype=np.float64)
    scores = np.array([0.5, 0.9, 0.2, 0.99, 0.3, 0.01, 0.6, 0.4, 0.45, 0.35, 0.55, 0.001])
    x = np.arange(24, dtype=np.float32).reshape(12, 2)
    x[4, 1] = np.nan
    x[11, 0] = np.inf  # the lowest score, but JSON cannot carry it

    chosen = choose_rows(labels, scores, x, count=5)

    assert chosen == [0, 3, 4, 5, 6]  # highest 3, lowest usable 5, positive 6, negative 0, the missing value 4
    assert choose_rows(labels, scores, x, count=50) == list(range(11))


def test_a_missing_value_travels_as_an_empty_cell_and_a_null_and_comes_back_as_nan():
    from cd4ml_model.inference import input_fn
    from cd4ml_model.smoke_rows import csv_body, json_body

    x = np.array([[0.1, np.nan], [3.0, 1e-7]], dtype=np.float32)

    assert csv_body(x) == "0.10000000149011612,\n3.0,1.0000000116860974e-07\n"
    for body, content_type in ((csv_body(x), "text/csv"), (json_body(x, ["a", "b"]), "application/json")):
        parsed = input_fn(body, content_type).matrix(["a", "b"])
        np.testing.assert_array_equal(parsed, x)  # NaN where NaN, the same float32 elsewhere


def test_with_a_champion_the_evaluation_compares_both_models_on_the_same_rows(trained, tmp_path, failure_file):
    output = tmp_path / "evaluation"
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/fraud/1"
    argv = ["--model-dir", str(trained["archive"]), "--test-dir", str(trained["test"]), "--output-dir", str(output)]
    assert evaluate.main([*argv, "--champion-dir", str(trained["archive"]), "--champion-arn", arn]) == 0
    document = json.loads((output / "evaluation.json").read_text())
    comparison = document["champion_comparison"]
    assert comparison["champion_model_package_arn"] == arn and comparison["rows"] == document["dataset"]["rows"]
    pr = comparison["metrics"]["pr_auc"]
    # the same model against itself: the same scores on the same rows and resamples, so no difference at all
    assert pr["challenger"] == pr["champion"] == document["binary_classification_metrics"]["pr_auc"]["value"]
    assert pr["difference"] == pr["lower"] == pr["upper"] == 0.0
    interval = document["sampling_intervals"]["metrics"]["pr_auc"]
    assert interval["lower"] < pr["challenger"] < interval["upper"]


def test_without_a_champion_there_is_no_comparison_and_an_unscorable_one_says_why(trained, tmp_path, failure_file):
    assert run(trained["archive"], trained["test"], tmp_path / "alone") == 0
    assert "champion_comparison" not in json.loads((tmp_path / "alone" / "evaluation.json").read_text())
    broken = tmp_path / "broken-champion"
    broken.mkdir()
    (broken / "features.json").write_text("{}")
    argv = ["--test-dir", str(trained["test"]), "--output-dir", str(tmp_path / "e"), "--champion-dir", str(broken)]
    assert evaluate.main(["--model-dir", str(trained["archive"]), *argv]) == 0
    comparison = json.loads((tmp_path / "e" / "evaluation.json").read_text())["champion_comparison"]
    assert "metrics" not in comparison and "lacks" in comparison["error"]
