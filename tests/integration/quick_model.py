"""What the integration tests that train a real model through the project's template share: stage parameters that
train a small model quickly and let it through the gate, and serving code that fails every request (a bad version)."""

from __future__ import annotations

import json

from cd4ml.localcloud import LocalCloud
from cd4ml.model_code import code_files, sourcedir


def fast_training(num_round: int = 30, max_depth: int = 3, early_stopping_rounds: int = 10) -> dict[str, str]:
    """Stage parameters for a small XGBoost model in a few seconds, and gate thresholds that a model of a few thousand
    generated orders passes (the gate's logic has its own unit tests). A test that needs a stronger model (a champion
    to beat) asks for more rounds or depth."""
    hyperparameters = {"num_round": num_round, "max_depth": max_depth, "early_stopping_rounds": early_stopping_rounds}
    return {
        "TrainingInstanceType": "ml.m5.xlarge",
        "TrainingHyperparameters": json.dumps(hyperparameters),
        "GateMinPrAuc": "0.05",
        "GateMinRocAuc": "0.7",
        "GateMaxBrierScore": "0.2",
    }


# A small XGBoost model in a few seconds, and gate thresholds a model of 8,000 generated orders passes.
FAST_TRAINING = fast_training()

# inference.py of a version that cannot score: every request is a model error (the endpoint answers 5XX)
FAILING_SCRIPT = b"""
def model_fn(model_dir):
    return None


def transform_fn(model, body, content_type, accept):
    raise RuntimeError("this version cannot score")
"""


# inference.py of a version that scores correctly but slowly: each request takes the model SLOW_SECONDS
SLOW_SECONDS = 0.3
SLOW_SCRIPT = f"""
import time

from cd4ml_model.inference import input_fn, model_fn, output_fn
from cd4ml_model.inference import predict_fn as _predict_fn


def predict_fn(data, model):
    time.sleep({SLOW_SECONDS})
    return _predict_fn(data, model)
""".encode()


def serving_code(cloud: LocalCloud, script: bytes, name: str) -> dict[str, str]:
    """The project's model code with `script` as its inference.py, packed as a SageMaker source directory in the
    stack's artifacts bucket under `<name>/`; the container environment that serves a version's own model with
    it."""
    bucket = cloud.physical_id("ArtifactsBucket")
    archive = sourcedir({**code_files(), "inference.py": script})
    cloud.client("s3").put_object(Bucket=bucket, Key=f"{name}/sourcedir.tar.gz", Body=archive)
    return {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{bucket}/{name}/sourcedir.tar.gz",
    }


def failing_code(cloud: LocalCloud) -> dict[str, str]:
    """FAILING_SCRIPT as serving code (a model error on every request, without a broken model archive)."""
    return serving_code(cloud, FAILING_SCRIPT, "failing")
