"""The model folder's files: what training writes and what evaluation and inference load back."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import xgboost as xgb

from cd4ml_model.files import ModelJobError, read_json, write_bytes_atomically

MODEL_FILE = "xgboost-model.json"
FEATURES_FILE = "features.json"
OPERATING_POINT_FILE = "operating_point.json"
SUMMARY_FILE = "training_summary.json"
CALIBRATION_FILE = "calibration.json"
CHECKPOINT_FILE = "xgboost-checkpoint.json"
MODEL_ARCHIVE = "model.tar.gz"
# The serving code inside the model folder (/opt/ml/model/code once a container extracts model.tar.gz), as the
# SageMaker Python SDK's repack places it: a container without network (EnableNetworkIsolation) serves from there,
# since it cannot download the package's S3 sourcedir.
SERVING_CODE_DIR = "code"
# The source directory this code runs from: the extracted sourcedir.tar.gz (/opt/ml/code in a training job).
SOURCE_ROOT = Path(__file__).resolve().parents[1]
_NOT_CODE = shutil.ignore_patterns("__pycache__", "*.pyc")


class ModelArtifactsError(ModelJobError):
    """A model folder lacks a file training writes, or holds one that does not read."""


def write_serving_code(model_dir: Path, source: Path = SOURCE_ROOT) -> Path:
    """Copy the source directory the training runs from (the inference script and its packages with it) into the
    model folder's `code/`, so the model data serves by itself; the folder written. The copy is of the code that
    trained the model, so serving from it cannot drift from the code version the package names."""
    target = model_dir / SERVING_CODE_DIR
    if not (source / "inference.py").is_file():
        raise ModelArtifactsError(f"{source} has no inference.py: the model would carry no serving code")
    resolved_target = target.resolve()
    if resolved_target == source.resolve() or source.resolve() in resolved_target.parents:
        raise ModelArtifactsError(f"the model folder {model_dir} is inside the source directory {source}")
    if target.exists():
        shutil.rmtree(target)  # a resumed job writes the code again, from the code it runs now
    shutil.copytree(source, target, ignore=_NOT_CODE)
    return target


@dataclass(frozen=True)
class Calibration:
    """Platt scaling of the booster's scores: p = sigmoid(slope * margin + intercept), where the margin is the
    booster's log-odds (its raw score is sigmoid(margin)).

    Class weighting (scale_pos_weight) shifts the booster's log-odds by about log(negatives / positives), so its raw
    scores overstate fraud by an order of magnitude and the Brier score judges that skew, not the model. A logistic
    map of the log-odds, fitted on the validation split, undoes it with two parameters (isotonic regression would need
    far more frauds than a validation split holds, and its steps tie scores that the booster ranks apart). It is
    strictly increasing, so the ranking, and with it PR AUC and ROC AUC, stay as the booster's."""

    slope: float = 1.0
    intercept: float = 0.0
    method: str = "platt"

    def apply(self, margins: npt.ArrayLike) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Calibrated probabilities from the booster's margins (log-odds), in [0, 1]."""
        z = self.slope * np.asarray(margins, dtype=np.float64) + self.intercept
        result: np.ndarray[Any, np.dtype[np.float64]] = 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid without overflow
        return result

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "slope": self.slope, "intercept": self.intercept}

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Calibration:
        method, slope, intercept = document.get("method"), document.get("slope"), document.get("intercept")
        if method != "platt":
            raise ModelArtifactsError(f"unknown calibration method {method!r} (this code applies 'platt')")
        for name, value in (("slope", slope), ("intercept", intercept)):
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise ModelArtifactsError(f"calibration {name} must be a finite number, got {value!r}")
        assert isinstance(slope, int | float) and isinstance(intercept, int | float)
        if slope <= 0:
            raise ModelArtifactsError(f"calibration slope must be positive (an increasing map), got {slope!r}")
        return cls(slope=float(slope), intercept=float(intercept))


@dataclass(frozen=True)
class TrainedModel:
    booster: xgb.Booster
    features: list[str]
    label: str
    threshold: float  # a calibrated score at or above it is labelled fraud (1)
    calibration: Calibration | None = None  # None: a model trained before calibration, served as the booster scores

    def predict(self, x: npt.ArrayLike) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The served score of each row: the booster's, calibrated when the model has a calibration. Inference,
        batch transform, the smoke rows and evaluation all score through here, so they agree to the bit."""
        if self.calibration is None:
            return np.asarray(self.booster.inplace_predict(x), dtype=np.float64)
        return self.calibration.apply(self.booster.inplace_predict(x, predict_type="margin"))


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
    calibration = None
    if (root / CALIBRATION_FILE).is_file():
        calibration = Calibration.from_dict(read_json(root / CALIBRATION_FILE))
    return TrainedModel(
        booster=booster,
        features=list(features),
        label=str(features_document.get("label", "is_fraud")),
        threshold=float(threshold),
        calibration=calibration,
    )
