"""The training job: its files, its metric lines, checkpoint resume, device choice and its failure reasons."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xgboost as xgb
from cd4ml_model import features, train
from cd4ml_model.artifacts import load_booster
from cd4ml_model.train import (
    CheckpointSaver,
    HyperparameterError,
    ResumableEarlyStopping,
    choose_device,
    parse_hyperparameters,
)

from cd4ml.data.orders import generate_orders, write_dataset

METRIC_REGEXES = {
    "validation:aucpr": r"validation-aucpr:([0-9.]+)",
    "validation:auc": r"validation-auc:([0-9.]+)",
    "train:aucpr": r"train-aucpr:([0-9.]+)",
}
FAST = ["--max_depth", "3", "--eta", "0.3", "--num_round", "8", "--early_stopping_rounds", "0"]


@pytest.fixture(scope="module")
def feature_sets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train, validation and test folders from the feature job over generated orders."""
    root = tmp_path_factory.mktemp("features")
    (root / "input").mkdir()
    orders = generate_orders(4_000, seed=21, start=datetime(2026, 1, 1), days=45, fraud_rate=0.05)
    write_dataset(orders, root / "input" / "orders.parquet")
    assert features.main(["--input-dir", str(root / "input"), "--output-dir", str(root / "output")]) == 0
    return root / "output"


@pytest.fixture
def job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, feature_sets: Path) -> SimpleNamespace:
    """The training job's environment, as SageMaker sets it, pointing at temporary folders."""
    paths = SimpleNamespace(
        train=feature_sets / "train",
        validation=feature_sets / "validation",
        model=tmp_path / "model",
        checkpoints=tmp_path / "checkpoints",
        failure=tmp_path / "output" / "failure",
    )
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(paths.train))
    monkeypatch.setenv("SM_CHANNEL_VALIDATION", str(paths.validation))
    monkeypatch.setenv("SM_MODEL_DIR", str(paths.model))
    monkeypatch.setenv("SM_NUM_GPUS", "0")
    monkeypatch.setenv("CD4ML_CHECKPOINT_DIR", str(paths.checkpoints))
    monkeypatch.setenv("CD4ML_FAILURE_FILE", str(paths.failure))
    return paths


def summary_of(job: SimpleNamespace) -> dict[str, Any]:
    return json.loads((job.model / "training_summary.json").read_text())


def test_training_writes_the_model_its_features_operating_point_and_summary(job):
    assert train.main(FAST) == 0
    names = json.loads((job.model / "features.json").read_text())
    assert names["label"] == "is_fraud" and names["features"] == features.feature_names()
    booster = load_booster(job.model / "xgboost-model.json")
    assert booster.feature_names == names["features"] and booster.num_boosted_rounds() == 8
    point = json.loads((job.model / "operating_point.json").read_text())
    assert set(point) == {"threshold", "precision", "recall", "f1"} and 0 < point["threshold"] < 1
    assert 0 < point["f1"] <= 1
    summary = summary_of(job)
    assert summary["device"] == "cpu" and summary["rounds"] == 8 and summary["best_iteration"] == 7
    assert summary["params"]["objective"] == "binary:logistic" and summary["params"]["tree_method"] == "hist"
    assert not job.failure.exists()


def test_every_round_prints_lines_the_metric_definitions_match(job, capsys):
    assert train.main(FAST) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert [int(line[1 : line.index("]")]) for line in lines] == list(range(8))
    n = r"[0-9]+\.[0-9]+"  # XGBoost's own line format
    assert re.fullmatch(rf"\[0\]\ttrain-auc:{n}\ttrain-aucpr:{n}\tvalidation-auc:{n}\tvalidation-aucpr:{n}", lines[0])
    for name, regex in METRIC_REGEXES.items():
        values = [float(m.group(1)) for line in lines if (m := re.search(regex, line))]
        assert len(values) == 8 and all(0 <= v <= 1 for v in values), name


def test_auto_scale_pos_weight_is_negatives_over_positives_of_train(job):
    assert train.main(FAST) == 0
    summary = summary_of(job)
    rows, positives = summary["train"]["rows"], summary["train"]["positives"]
    assert summary["params"]["scale_pos_weight"] == pytest.approx((rows - positives) / positives)


def test_early_stopping_keeps_the_model_up_to_the_best_validation_round(job):
    assert train.main(["--max_depth", "3", "--eta", "0.5", "--num_round", "150", "--early_stopping_rounds", "3"]) == 0
    summary = summary_of(job)
    assert summary["rounds"] == summary["best_iteration"] + 1
    assert summary["rounds_trained"] <= summary["best_iteration"] + 1 + 3
    booster = load_booster(job.model / "xgboost-model.json")
    assert booster.num_boosted_rounds() == summary["rounds"] and booster.feature_names == features.feature_names()


class Interrupted(Exception):
    """Stands in for a spot interruption."""


def test_a_stopped_run_resumes_from_its_checkpoint_and_trains_only_the_remaining_rounds(job, capsys, monkeypatch):
    arguments = ["--max_depth", "3", "--num_round", "20", "--checkpoint_every", "5", "--early_stopping_rounds", "0"]
    saver_after_iteration = CheckpointSaver.after_iteration

    def interrupt_after_round_12(self: CheckpointSaver, model: Any, epoch: int, log: Any) -> bool:
        result = saver_after_iteration(self, model, epoch, log)
        if model.num_boosted_rounds() == 12:
            raise Interrupted
        return result

    with monkeypatch.context() as patch:
        patch.setattr(CheckpointSaver, "after_iteration", interrupt_after_round_12)
        with pytest.raises(Interrupted):
            train.main(arguments)
    checkpoint = job.checkpoints / "xgboost-checkpoint.json"
    assert load_booster(checkpoint).num_boosted_rounds() == 10
    assert not (job.model / "xgboost-model.json").exists()
    capsys.readouterr()

    assert train.main(arguments) == 0
    out = capsys.readouterr().out
    assert "resuming from checkpoint at round 10" in out
    rounds = [int(line[1 : line.index("]")]) for line in out.splitlines() if line.startswith("[")]
    assert rounds == list(range(10, 20))  # only the remaining rounds, numbered on from the checkpoint
    summary = summary_of(job)
    assert summary["rounds"] == 20 and summary["resumed_from_round"] == 10
    assert load_booster(job.model / "xgboost-model.json").num_boosted_rounds() == 20
    assert [p.name for p in job.checkpoints.iterdir()] == ["xgboost-checkpoint.json"]  # no temporary files left


def test_resumed_early_stopping_remembers_the_best_round_of_the_checkpoint():
    class Model:
        def __init__(self, rounds: int, attributes: dict[str, str]) -> None:
            self.rounds, self.attributes = rounds, attributes

        def attr(self, name: str) -> str | None:
            return self.attributes.get(name)

        def set_attr(self, **values: str) -> None:
            self.attributes.update(values)

        def num_boosted_rounds(self) -> int:
            return self.rounds

    model = Model(10, {"best_score": "0.8", "best_iteration": "6"})
    stopping = ResumableEarlyStopping(rounds=4)
    stopping.before_training(model)
    model.rounds = 11  # round 10, worse than round 6's 0.8: four rounds without improvement
    assert stopping.after_iteration(model, 0, {"validation": {"aucpr": [0.7]}}) is True
    assert model.attributes["best_iteration"] == "6"


def test_device_is_cpu_with_the_reason_when_a_gpu_meets_a_cpu_only_build(job, capsys, monkeypatch):
    monkeypatch.setenv("SM_NUM_GPUS", "1")
    monkeypatch.setattr(xgb, "build_info", lambda: {"USE_CUDA": False})
    assert train.main(FAST) == 0
    assert "device: cpu (GPU present, SM_NUM_GPUS=1, but this xgboost build has no CUDA)" in capsys.readouterr().out
    assert summary_of(job)["device"] == "cpu"


def test_device_choice_needs_both_a_gpu_and_a_cuda_build():
    assert choose_device(0, True)[0] == "cpu"
    assert choose_device(1, False) == ("cpu", "GPU present, SM_NUM_GPUS=1, but this xgboost build has no CUDA")
    assert choose_device(4, True)[0] == "cuda"


def test_hyperparameters_take_sagemaker_argument_names_and_reject_unknown_ones():
    hp = parse_hyperparameters(["--max_depth", "4", "--eta", "0.05", "--scale_pos_weight", "12.5", "--seed", "7"])
    assert (hp.max_depth, hp.eta, hp.scale_pos_weight, hp.seed, hp.num_round) == (4, 0.05, "12.5", 7, 300)
    with pytest.raises(HyperparameterError, match="--max-depth"):
        parse_hyperparameters(["--max-depth", "4"])
    with pytest.raises(HyperparameterError, match="scale_pos_weight"):
        parse_hyperparameters(["--scale_pos_weight", "often"])


def write_channel(folder: Path, table: pa.Table) -> Path:
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "part.parquet")
    return folder


def test_fails_with_a_reason_when_validation_has_no_positive_labels(job, tmp_path, monkeypatch):
    table = pq.read_table(job.validation)
    negatives = table.set_column(0, "is_fraud", pa.array([0] * table.num_rows, pa.int64()))
    monkeypatch.setenv("SM_CHANNEL_VALIDATION", str(write_channel(tmp_path / "validation", negatives)))
    assert train.main(FAST) == 1
    assert job.failure.read_text().startswith("validation: no positive labels")


def test_fails_with_a_reason_when_train_and_validation_features_differ(job, tmp_path, monkeypatch):
    fewer = pq.read_table(job.validation).drop_columns(["country=JP"])
    monkeypatch.setenv("SM_CHANNEL_VALIDATION", str(write_channel(tmp_path / "validation", fewer)))
    assert train.main(FAST) == 1
    assert "different feature columns (only in train: ['country=JP']" in job.failure.read_text()


def test_fails_with_a_reason_when_a_channel_is_empty(job, tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(tmp_path / "empty"))
    assert train.main(FAST) == 1
    assert job.failure.read_text().startswith("train: no .parquet file in")
