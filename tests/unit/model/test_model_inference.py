"""The inference handler: JSON and CSV requests to scores and labels, its errors, and the script the toolkit loads."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from cd4ml_model.artifacts import TrainedModel, save_booster
from cd4ml_model.features import feature_names
from cd4ml_model.inference import (
    InvalidRequest,
    UnknownFeaturesError,
    UnsupportedContentType,
    input_fn,
    model_fn,
    output_fn,
    predict_fn,
)

ROOT = Path(__file__).resolve().parents[3]
FEATURES = feature_names()
THRESHOLD = 0.5


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder as the training job writes it, from a small booster that learns order_amount > 100."""
    folder = tmp_path_factory.mktemp("model")
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 200, (400, len(FEATURES))).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.nan
    y = (np.nan_to_num(x[:, 0]) > 100).astype(np.float32)
    data = xgb.DMatrix(x, label=y, feature_names=FEATURES)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2, "seed": 1}, data, num_boost_round=5)
    save_booster(booster, folder / "xgboost-model.json")
    (folder / "features.json").write_text(json.dumps({"features": FEATURES, "label": "is_fraud"}))
    (folder / "operating_point.json").write_text(json.dumps({"threshold": THRESHOLD, "precision": 1, "recall": 1}))
    return folder


@pytest.fixture(scope="module")
def model(model_dir: Path) -> TrainedModel:
    return model_fn(str(model_dir))


def direct_scores(model: TrainedModel, rows: np.ndarray) -> list[float]:
    return [float(s) for s in model.booster.inplace_predict(rows.astype(np.float32))]


def test_json_instances_round_trip_to_scores_and_labels(model):
    body = json.dumps({"instances": [{"order_amount": 150.0, "num_items": 2}, {"order_amount": 20.0}]})
    response, content_type = output_fn(predict_fn(input_fn(body, "application/json"), model), "application/json")
    predictions = json.loads(response)["predictions"]
    expected = np.full((2, len(FEATURES)), np.nan)
    expected[:, 0] = [150.0, 20.0]
    expected[0, FEATURES.index("num_items")] = 2
    assert [p["score"] for p in predictions] == pytest.approx(direct_scores(model, expected))
    assert [p["label"] for p in predictions] == [1, 0] and content_type == "application/json"


def test_the_json_answer_names_the_registry_version_the_deployment_gave_the_container(model, monkeypatch):
    prediction = predict_fn(input_fn('[{"order_amount": 150.0}]', "application/json"), model)
    monkeypatch.delenv("CD4ML_MODEL_VERSION", raising=False)
    assert "model_version" not in json.loads(output_fn(prediction, "application/json")[0])
    monkeypatch.setenv("CD4ML_MODEL_VERSION", "7")
    answer = json.loads(output_fn(prediction, "application/json")[0])
    assert answer["model_version"] == 7 and len(answer["predictions"]) == 1
    assert output_fn(prediction, "text/csv")[0].count(",") == 1  # CSV answers stay score,label lines


def test_json_may_be_a_list_of_instances_sent_as_bytes(model):
    instances = '[{"order_amount": 150}, {"order_amount": 20}]'
    listed = predict_fn(input_fn(instances.encode(), "application/json"), model)
    wrapped = predict_fn(input_fn(f'{{"instances": {instances}}}', "application/json"), model)
    assert listed.scores.tolist() == wrapped.scores.tolist()


def test_missing_features_are_sent_to_the_model_as_nan(model):
    prediction = predict_fn(input_fn('{"instances": [{}, {"order_amount": null}]}', "application/json"), model)
    assert prediction.scores.tolist() == pytest.approx(direct_scores(model, np.full((2, len(FEATURES)), np.nan)))


def test_unknown_feature_names_are_a_value_error_naming_them(model):
    batch = input_fn('{"instances": [{"order_amount": 1, "amount": 2, "colour": 3}]}', "application/json")
    with pytest.raises(UnknownFeaturesError, match=r"\['amount', 'colour'\]") as raised:
        predict_fn(batch, model)
    assert isinstance(raised.value, ValueError)


def test_a_value_that_is_not_a_number_is_rejected_naming_its_feature():
    with pytest.raises(InvalidRequest, match="instance 0, feature 'country=US'"):
        input_fn('{"instances": [{"country=US": "yes"}]}', "application/json")
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        input_fn("{", "application/json")


def test_csv_rows_hold_values_in_the_features_json_order(model):
    rows = np.random.default_rng(1).uniform(0, 200, (3, len(FEATURES)))
    rows[1, 4] = np.nan
    body = "\n".join(",".join("" if math.isnan(v) else repr(float(v)) for v in row) for row in rows) + "\n"
    prediction = predict_fn(input_fn(body.encode(), "text/csv; charset=utf-8"), model)
    assert prediction.scores.tolist() == pytest.approx(direct_scores(model, rows))


def test_csv_rows_of_the_wrong_width_are_rejected(model):
    with pytest.raises(InvalidRequest, match=f"rows have 2 values but the model takes {len(FEATURES)} features"):
        predict_fn(input_fn("1,2\n3,4\n", "text/csv"), model)
    with pytest.raises(InvalidRequest, match="different numbers of values"):
        input_fn("1,2\n3\n", "text/csv")
    with pytest.raises(InvalidRequest, match="CSV line 1: 'order_amount' is not a number"):
        input_fn("order_amount,num_items\n", "text/csv")


def test_csv_output_is_one_score_label_line_per_row(model):
    prediction = predict_fn(input_fn('[{"order_amount": 150}, {"order_amount": 20}]', "application/json"), model)
    body, content_type = output_fn(prediction, "text/csv")
    lines = body.splitlines()
    assert content_type == "text/csv" and len(lines) == 2
    assert [(float(s), int(label)) for s, label in (line.split(",") for line in lines)] == [
        (pytest.approx(prediction.scores[0]), 1),
        (pytest.approx(prediction.scores[1]), 0),
    ]


def test_labels_follow_the_operating_threshold_with_a_score_at_it_labelled_fraud(model):
    batch = input_fn('[{"order_amount": 150}, {"order_amount": 20}]', "application/json")
    high, low = predict_fn(batch, model).scores.tolist()
    at_low = TrainedModel(booster=model.booster, features=model.features, label="is_fraud", threshold=low)
    assert predict_fn(batch, at_low).labels.tolist() == [1, 1]
    above_high = TrainedModel(booster=model.booster, features=model.features, label="is_fraud", threshold=high + 1e-6)
    assert predict_fn(batch, above_high).labels.tolist() == [0, 0]


def test_unsupported_content_and_accept_types_are_rejected(model):
    with pytest.raises(UnsupportedContentType, match="application/x-npy"):
        input_fn(b"\x93NUMPY", "application/x-npy")
    prediction = predict_fn(input_fn("[{}]", "application/json"), model)
    with pytest.raises(UnsupportedContentType, match="text/html"):
        output_fn(prediction, "text/html")


def test_the_serving_toolkit_loads_the_inference_script_of_the_model_folder(model_dir, monkeypatch):
    from cd4ml.localcloud.child_process.sagemaker_container import load_inference_handler

    monkeypatch.setattr(sys, "path", list(sys.path))  # the loader puts the code folder on sys.path
    monkeypatch.delitem(sys.modules, "inference", raising=False)
    try:
        handler = load_inference_handler(model_dir, ROOT / "model", framework="xgboost")
        body, content_type = handler.predict(b'{"instances": [{"order_amount": 150}]}', "application/json", "")
        csv_body, csv_type = handler.predict(b"," * (len(FEATURES) - 1) + b"\n", "text/csv", "text/csv")
    finally:
        sys.modules.pop("inference", None)
    assert content_type == "application/json" and json.loads(body)["predictions"][0]["label"] == 1
    assert csv_type == "text/csv" and csv_body.decode().count("\n") == 1


def test_a_csv_of_plain_numbers_reads_as_the_row_by_row_parse_does():
    """The fast path (pyarrow) and the row-by-row path (float() per cell) give the same float32 matrix, NaN for an
    empty cell, integers and exponents included; what the fast path does not read keeps its precise error."""
    from cd4ml_model import inference

    rng = np.random.default_rng(7)
    values = rng.normal(size=(500, 12)) * rng.choice([1.0, 1e-7, 1e9], size=(500, 12))
    values[rng.random(values.shape) < 0.05] = np.nan
    values[:, 3] = np.round(values[:, 3])  # a column of integers
    values[:, 5] = np.nan  # a column with no value at all
    text = "\n".join(",".join("" if np.isnan(v) else repr(float(v)) for v in row) for row in values) + "\n"
    slow = inference._rows(
        [[inference._csv_cell(c, n) for c in row] for n, row in enumerate(csv.reader(io.StringIO(text)), 1) if row]
    )

    fast = inference._plain_csv_rows(text)

    assert fast is not None and fast.dtype == np.float32
    assert np.array_equal(fast, slow, equal_nan=True)
    assert np.array_equal(inference.input_fn(text, "text/csv").rows, slow, equal_nan=True)
    with pytest.raises(inference.InvalidRequest, match="rows have different numbers of values"):
        inference.input_fn("1,2\n3\n", "text/csv")
    with pytest.raises(inference.InvalidRequest, match=r"CSV line 1: '-' is not a number"):
        inference.input_fn("1,-\n", "text/csv")


def test_a_calibrated_model_serves_calibrated_scores_and_labels_them_at_its_threshold(model_dir, tmp_path):
    calibrated_dir = tmp_path / "calibrated"
    shutil.copytree(model_dir, calibrated_dir)
    (calibrated_dir / "calibration.json").write_text(json.dumps({"method": "platt", "slope": 0.5, "intercept": -1.0}))
    model = model_fn(str(calibrated_dir))
    rows = np.array([[150.0, *[0.0] * (len(FEATURES) - 1)], [20.0, *[0.0] * (len(FEATURES) - 1)]], dtype=np.float32)
    prediction = predict_fn(input_fn(json.dumps({"instances": rows.tolist()}), "application/json"), model)
    margins = model.booster.inplace_predict(rows, predict_type="margin").astype(np.float64)
    expected = 1.0 / (1.0 + np.exp(-(0.5 * margins - 1.0)))
    np.testing.assert_allclose(prediction.scores, expected, rtol=1e-12)
    assert not np.allclose(prediction.scores, direct_scores(model, rows))  # not the booster's own scores
    assert prediction.labels.tolist() == [int(s >= THRESHOLD) for s in prediction.scores]
