"""The model folder's files: what training writes and what evaluation and inference load back."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import xgboost as xgb

from cd4ml_model.files import ModelJobError, read_json, write_bytes_atomically

MODEL_FILE = "xgboost-model.json"
FEATURES_FILE = "features.json"
OPERATING_POINT_FILE = "operating_point.json"
SUMMARY_FILE = "training_summary.json"
CHECKPOINT_FILE = "xgboost-checkpoint.json"
MODEL_ARCHIVE = "model.tar.gz"


class ModelArtifactsError(ModelJobError):
    """A model folder lacks a file training writes, or holds one that does not read."""


@dataclass(frozen=True)
class TrainedModel:
    booster: xgb.Booster
    features: list[str]
    label: str
    threshold: float  # a score at or above it is labelled fraud (1)


def save_booster(booster: xgb.Booster, path: str | os.PathLike[str]) -> None:
    """Save as JSON, atomically; the bytes go through Python (XGBoost would open the path natively)."""
    write_bytes_atomically(bytes(booster.save_raw("json")), path)


def load_booster(path: str | os.PathLike[str]) -> xgb.Booster:
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(Path(path).read_bytes()))
    except xgb.core.XGBoostError as error:
        raise ModelArtifactsError(f"cannot load the XGBoost model {path}: {str(error).splitlines()[0]}") from error
    return booster


def load_model_dir(folder: str | os.PathLike[str]) -> TrainedModel:
    """The booster, its feature order and its operating threshold from a model folder (the training job's output)."""
    root = Path(folder)
    needed = (MODEL_FILE, FEATURES_FILE, OPERATING_POINT_FILE)
    missing = [name for name in needed if not (root / name).is_file()]
    if missing:
        present = sorted(p.name for p in root.iterdir()) if root.is_dir() else "no such folder"
        raise ModelArtifactsError(f"model folder {root} lacks {missing} (it has {present})")
    features_document = read_json(root / FEATURES_FILE)
    operating_point = read_json(root / OPERATING_POINT_FILE)
    features = features_document.get("features")
    if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
        raise ModelArtifactsError(f"{root / FEATURES_FILE}: 'features' must be a non-empty list of names")
    threshold = operating_point.get("threshold")
    if not isinstance(threshold, int | float) or isinstance(threshold, bool):
        raise ModelArtifactsError(f"{root / OPERATING_POINT_FILE}: 'threshold' must be a number, got {threshold!r}")
    booster = load_booster(root / MODEL_FILE)
    if booster.num_features() != len(features):
        raise ModelArtifactsError(
            f"{root / MODEL_FILE} has {booster.num_features()} features but {FEATURES_FILE} lists {len(features)}"
        )
    return TrainedModel(
        booster=booster,
        features=list(features),
        label=str(features_document.get("label", "is_fraud")),
        threshold=float(threshold),
    )
