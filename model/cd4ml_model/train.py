"""Training job (SageMaker XGBoost script mode): a fraud classifier, early-stopped on validation PR AUC.

Hyperparameters arrive as `--name value` arguments (underscore names, as SageMaker passes them); data and folders
come from the toolkit's variables (`SM_CHANNEL_TRAIN`, `SM_CHANNEL_VALIDATION`, `SM_MODEL_DIR`, `SM_NUM_GPUS`).
Each round prints XGBoost's evaluation line (`[12]\ttrain-auc:...\tvalidation-aucpr:...`) for the job's metric
definitions. For managed spot training a checkpoint is saved every `checkpoint_every` rounds and a restarted job
resumes from it, training only the rounds that are left. The model folder carries its serving code (`code/`, the
SageMaker SDK's repack layout), so a network-isolated container serves it without downloading anything.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xgboost as xgb
from xgboost.callback import TrainingCallback

from cd4ml_model.artifacts import (
    CALIBRATION_FILE,
    CHECKPOINT_FILE,
    FEATURES_FILE,
    MODEL_FILE,
    OPERATING_POINT_FILE,
    SUMMARY_FILE,
    TrainedModel,
    load_booster,
    save_booster,
    write_serving_code,
)
from cd4ml_model.files import TRAINING_FAILURE_FILE, ModelJobError, read_parquet_folder, report_failure, write_json
from cd4ml_model.metrics import best_f1_threshold, fit_calibration

LABEL = "is_fraud"
CHECKPOINT_DIR_VARIABLE = "CD4ML_CHECKPOINT_DIR"  # tests point it at a temporary folder
EARLY_STOPPING_DATA, EARLY_STOPPING_METRIC = "validation", "aucpr"

Matrix = np.ndarray[Any, np.dtype[np.float32]]


class HyperparameterError(ModelJobError):
    """A hyperparameter this job does not know, or a value out of its range."""


class ChannelError(ModelJobError):
    """A data channel without a label, without both classes, or with other feature columns than the other one."""


class CheckpointError(ModelJobError):
    """A checkpoint that does not belong to this training data."""


# ---- configuration ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hyperparameters:
    max_depth: int = 6
    eta: float = 0.1
    num_round: int = 300
    min_child_weight: float = 1.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    early_stopping_rounds: int = 30  # 0 turns early stopping off
    scale_pos_weight: str = "auto"  # "auto": negatives / positives of the train channel
    checkpoint_every: int = 10  # 0 turns checkpoints off
    seed: int = 42


def parse_hyperparameters(argv: Sequence[str] | None = None) -> Hyperparameters:
    defaults = Hyperparameters()
    parser = argparse.ArgumentParser(description="fraud model training", allow_abbrev=False, exit_on_error=False)
    for name, value in asdict(defaults).items():
        parser.add_argument(f"--{name}", type=type(value), default=value)
    try:
        known, unknown = parser.parse_known_args(argv)
    except argparse.ArgumentError as error:  # into the failure file, not only argparse's usage on stderr
        raise HyperparameterError(f"bad hyperparameter: {error}") from None
    if unknown:
        raise HyperparameterError(
            f"unknown hyperparameter argument(s) {unknown}; this job takes {sorted(asdict(defaults))}"
        )
    hp = Hyperparameters(**vars(known))
    problems = []
    if hp.num_round < 1:
        problems.append(f"num_round must be at least 1, got {hp.num_round}")
    if hp.max_depth < 1:
        problems.append(f"max_depth must be at least 1, got {hp.max_depth}")
    if not 0 < hp.eta <= 1:
        problems.append(f"eta must be in (0, 1], got {hp.eta}")
    for name in ("subsample", "colsample_bytree"):
        if not 0 < getattr(hp, name) <= 1:
            problems.append(f"{name} must be in (0, 1], got {getattr(hp, name)}")
    for name in ("early_stopping_rounds", "checkpoint_every", "min_child_weight"):
        if getattr(hp, name) < 0:
            problems.append(f"{name} must not be negative, got {getattr(hp, name)}")
    if hp.scale_pos_weight != "auto":
        try:
            weight = float(hp.scale_pos_weight)
        except ValueError:
            weight = math.nan
        if not weight > 0 or math.isinf(weight):
            problems.append(f"scale_pos_weight must be 'auto' or a positive number, got {hp.scale_pos_weight!r}")
    if problems:
        raise HyperparameterError("; ".join(problems))
    return hp


@dataclass(frozen=True)
class TrainingPaths:
    train: Path
    validation: Path
    model: Path
    checkpoints: Path


def training_paths(env: Mapping[str, str]) -> TrainingPaths:
    """The folders of the SageMaker training contract, from the toolkit's variables, with /opt/ml defaults."""
    return TrainingPaths(
        train=Path(env.get("SM_CHANNEL_TRAIN") or "/opt/ml/input/data/train"),
        validation=Path(env.get("SM_CHANNEL_VALIDATION") or "/opt/ml/input/data/validation"),
        model=Path(env.get("SM_MODEL_DIR") or "/opt/ml/model"),
        checkpoints=Path(env.get(CHECKPOINT_DIR_VARIABLE) or "/opt/ml/checkpoints"),
    )


def gpu_count(env: Mapping[str, str]) -> int:
    text = env.get("SM_NUM_GPUS") or "0"
    try:
        return max(0, int(text))
    except ValueError:
        raise HyperparameterError(f"SM_NUM_GPUS must be a whole number, got {text!r}") from None


def choose_device(num_gpus: int, cuda_build: bool) -> tuple[str, str]:
    """XGBoost's device and why: CUDA needs both a GPU on the instance and an XGBoost built with CUDA."""
    if num_gpus <= 0:
        return "cpu", "no GPU on this instance, SM_NUM_GPUS=0"
    if not cuda_build:
        return "cpu", f"GPU present, SM_NUM_GPUS={num_gpus}, but this xgboost build has no CUDA"
    return "cuda", f"GPU present, SM_NUM_GPUS={num_gpus}, and this xgboost build has CUDA"


# ---- data -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Channel:
    name: str
    features: list[str]
    x: Matrix
    y: np.ndarray[Any, np.dtype[np.float32]]

    @property
    def positives(self) -> int:
        return int(self.y.sum())


def load_channel(folder: str | os.PathLike[str], name: str, label: str = LABEL) -> Channel:
    """A channel's Parquet files as a float32 matrix (NaN where missing) and 0/1 labels; every other column is a
    feature, in file order."""
    table = read_parquet_folder(folder, name)
    if label not in table.column_names:
        raise ChannelError(f"{name}: no label column {label!r} in {folder} (columns: {table.column_names[:10]}...)")
    features = [c for c in table.column_names if c != label]
    if not features:
        raise ChannelError(f"{name}: {folder} has a label column but no feature columns")
    y = pc.fill_null(table.column(label).cast(pa.float32()), math.nan).to_numpy().astype(np.float32)
    positives = int(np.count_nonzero(y == 1))
    negatives = int(np.count_nonzero(y == 0))
    if positives + negatives != len(y):
        raise ChannelError(f"{name}: {len(y) - positives - negatives} label(s) in {folder} are neither 0 nor 1")
    if positives == 0:
        raise ChannelError(f"{name}: no positive labels among {len(y):,} rows in {folder}")
    if negatives == 0:
        raise ChannelError(f"{name}: no negative labels among {len(y):,} rows in {folder}")
    x = np.empty((table.num_rows, len(features)), dtype=np.float32)
    for index, feature in enumerate(features):
        column = table.column(feature)
        kind = column.type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
            raise ChannelError(f"{name}: feature column {feature!r} has type {column.type}; features must be numeric")
        x[:, index] = pc.fill_null(column.cast(pa.float32()), math.nan).to_numpy()
    return Channel(name=name, features=features, x=x, y=y)


def check_same_features(train: Channel, validation: Channel) -> None:
    if train.features == validation.features:
        return
    only_train = [f for f in train.features if f not in validation.features]
    only_validation = [f for f in validation.features if f not in train.features]
    detail = f"only in train: {only_train}, only in validation: {only_validation}"
    if not only_train and not only_validation:
        detail = "the same columns in another order"
    raise ChannelError(f"train and validation have different feature columns ({detail})")


# ---- callbacks --------------------------------------------------------------------------------------------------
class MetricsLogger(TrainingCallback):
    """XGBoost's evaluation line for each round, flushed at once (the metric definitions read the log as it comes),
    numbered by the model's own round count so a resumed job continues the numbering."""

    def after_iteration(self, model: Any, epoch: int, evals_log: Mapping[str, Mapping[str, Any]]) -> bool:
        scores = [
            f"{data}-{metric}:{float(values[-1]):.5f}"
            for data, metrics in evals_log.items()
            for metric, values in metrics.items()
        ]
        print(f"[{model.num_boosted_rounds() - 1}]\t" + "\t".join(scores), flush=True)
        return False


class ResumableEarlyStopping(TrainingCallback):
    """Stops after `rounds` rounds without a higher validation score. Unlike XGBoost's EarlyStopping it picks up the
    best round recorded in a resumed checkpoint's attributes, so an interrupted job stops where an uninterrupted one
    would."""

    def __init__(self, rounds: int, data: str = EARLY_STOPPING_DATA, metric: str = EARLY_STOPPING_METRIC) -> None:
        super().__init__()
        self.rounds = rounds
        self.data = data
        self.metric = metric
        self.best_score: float | None = None
        self.best_iteration: int | None = None

    def before_training(self, model: Any) -> Any:
        score, iteration = model.attr("best_score"), model.attr("best_iteration")
        if score is not None and iteration is not None:
            self.best_score, self.best_iteration = float(score), int(iteration)
        return model

    def after_iteration(self, model: Any, epoch: int, evals_log: Mapping[str, Mapping[str, Any]]) -> bool:
        score = float(evals_log[self.data][self.metric][-1])
        iteration = model.num_boosted_rounds() - 1
        if self.best_score is None or score > self.best_score:
            self.best_score, self.best_iteration = score, iteration
            model.set_attr(best_score=str(score), best_iteration=str(iteration))
        assert self.best_iteration is not None
        return self.rounds > 0 and iteration - self.best_iteration >= self.rounds


class CheckpointSaver(TrainingCallback):
    """Saves the model every `every` rounds, atomically: a spot interruption never leaves half a checkpoint."""

    def __init__(self, path: Path, every: int) -> None:
        super().__init__()
        self.path = path
        self.every = every
        self.saved_round = 0

    def save(self, model: xgb.Booster) -> None:
        rounds = model.num_boosted_rounds()
        try:
            save_booster(model, self.path)
        except OSError as error:  # a checkpoint is insurance: failing to write one must not fail the training
            print(f"warning: could not write checkpoint {self.path}: {error}", flush=True)
            return
        self.saved_round = rounds

    def after_iteration(self, model: Any, epoch: int, evals_log: Mapping[str, Mapping[str, Any]]) -> bool:
        if self.every and model.num_boosted_rounds() % self.every == 0:
            self.save(model)
        return False


# ---- training ---------------------------------------------------------------------------------------------------
def xgboost_params(hp: Hyperparameters, device: str, scale_pos_weight: float) -> dict[str, Any]:
    return {
        "objective": "binary:logistic",
        "eval_metric": ["auc", "aucpr"],  # the last is what early stopping would default to; named explicitly anyway
        "tree_method": "hist",
        "device": device,
        "max_depth": hp.max_depth,
        "eta": hp.eta,
        "min_child_weight": hp.min_child_weight,
        "subsample": hp.subsample,
        "colsample_bytree": hp.colsample_bytree,
        "scale_pos_weight": scale_pos_weight,
        "seed": hp.seed,
    }


def _resume(checkpoint: Path, features: list[str]) -> xgb.Booster | None:
    if not checkpoint.is_file():
        return None
    booster = load_booster(checkpoint)
    if booster.feature_names is not None and list(booster.feature_names) != features:
        raise CheckpointError(
            f"checkpoint {checkpoint} was trained on other features ({booster.num_features()} columns): "
            "remove it or point the job at another checkpoint location"
        )
    return booster


def train(hp: Hyperparameters, paths: TrainingPaths, num_gpus: int) -> dict[str, Any]:
    """Train, write the model folder, and return the training summary."""
    started = time.perf_counter()
    train_set = load_channel(paths.train, "train")
    validation_set = load_channel(paths.validation, "validation")
    check_same_features(train_set, validation_set)
    features = train_set.features
    print(
        f"train: {len(train_set.y):,} rows, {train_set.positives:,} positive; validation: {len(validation_set.y):,} "
        f"rows, {validation_set.positives:,} positive; {len(features)} features",
        flush=True,
    )

    device, reason = choose_device(num_gpus, bool(xgb.build_info().get("USE_CUDA")))
    print(f"device: {device} ({reason})", flush=True)
    if hp.scale_pos_weight == "auto":
        scale_pos_weight = (len(train_set.y) - train_set.positives) / train_set.positives
    else:
        scale_pos_weight = float(hp.scale_pos_weight)
    print(f"scale_pos_weight: {scale_pos_weight:.4g}", flush=True)
    params = xgboost_params(hp, device, scale_pos_weight)

    dtrain = xgb.QuantileDMatrix(train_set.x, label=train_set.y, feature_names=features)
    dvalidation = xgb.QuantileDMatrix(validation_set.x, label=validation_set.y, feature_names=features, ref=dtrain)

    checkpoint = paths.checkpoints / CHECKPOINT_FILE
    booster = _resume(checkpoint, features)
    resumed_from = booster.num_boosted_rounds() if booster is not None else 0
    if booster is not None:
        print(f"resuming from checkpoint at round {resumed_from}", flush=True)
    remaining = hp.num_round - resumed_from
    saver = CheckpointSaver(checkpoint, hp.checkpoint_every)
    if remaining > 0:
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=remaining,
            evals=[(dtrain, "train"), (dvalidation, "validation")],
            xgb_model=booster,
            callbacks=[MetricsLogger(), ResumableEarlyStopping(hp.early_stopping_rounds), saver],
            verbose_eval=False,
        )
        if hp.checkpoint_every:
            saver.save(booster)  # early stopping skips the round's saver: a restart must not train past the stop
    else:
        print(f"the checkpoint already has {resumed_from} of {hp.num_round} rounds: nothing left to train", flush=True)
    assert booster is not None

    rounds_trained = booster.num_boosted_rounds()
    best_attribute = booster.attr("best_iteration")
    best_iteration = int(best_attribute) if best_attribute is not None else rounds_trained - 1
    best_score = booster.attr("best_score")
    model = booster[: best_iteration + 1] if best_iteration + 1 < rounds_trained else booster
    print(f"kept {model.num_boosted_rounds()} of {rounds_trained} rounds (best iteration {best_iteration})", flush=True)

    model.set_param({"device": "cpu"})  # scoring the validation set from numpy: no device round trip
    # The served score is calibrated on the validation split (class weighting skews the booster's), and the
    # operating threshold is chosen on that calibrated scale, as inference applies it.
    calibration = fit_calibration(validation_set.y, model.inplace_predict(validation_set.x, predict_type="margin"))
    trained = TrainedModel(booster=model, features=features, label=LABEL, threshold=0.0, calibration=calibration)
    scores = trained.predict(validation_set.x)
    print(
        f"calibration on validation: platt slope {calibration.slope:.4f}, intercept {calibration.intercept:.4f}",
        flush=True,
    )
    operating_point = best_f1_threshold(validation_set.y, scores)
    print(
        "operating point on validation: threshold {threshold:.4f}, precision {precision:.3f}, recall {recall:.3f}, "
        "f1 {f1:.3f}".format(**operating_point),
        flush=True,
    )

    summary: dict[str, Any] = {
        "best_iteration": best_iteration,
        "best_validation_aucpr": float(best_score) if best_score is not None else None,
        "rounds": model.num_boosted_rounds(),
        "rounds_trained": rounds_trained,
        "resumed_from_round": resumed_from,
        "device": device,
        "device_reason": reason,
        "params": params,
        "hyperparameters": asdict(hp),
        "train": {"rows": len(train_set.y), "positives": train_set.positives},
        "validation": {"rows": len(validation_set.y), "positives": validation_set.positives},
        "calibration": calibration.to_dict(),
        "seconds": round(time.perf_counter() - started, 3),
    }
    save_booster(model, paths.model / MODEL_FILE)
    write_json({"features": features, "label": LABEL}, paths.model / FEATURES_FILE)
    write_json(operating_point, paths.model / OPERATING_POINT_FILE)
    write_json(calibration.to_dict(), paths.model / CALIBRATION_FILE)
    write_json(summary, paths.model / SUMMARY_FILE)
    code = write_serving_code(paths.model)
    print(f"wrote the model to {paths.model}, its serving code to {code}", flush=True)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    try:
        hp = parse_hyperparameters(argv)
        train(hp, training_paths(os.environ), gpu_count(os.environ))
    except ModelJobError as error:
        return report_failure(str(error), TRAINING_FAILURE_FILE)
    return 0
