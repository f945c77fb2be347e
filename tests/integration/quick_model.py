"""What the integration tests that train a real model through the project's template share: stage parameters that
train a small model quickly and let it through the gate, and serving code that fails every request (a bad version)."""

from __future__ import annotations

import io
import json
import tarfile

from cd4ml.localcloud import LocalCloud


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


def failing_code(cloud: LocalCloud) -> dict[str, str]:
    """FAILING_SCRIPT packed as a SageMaker source directory in the stack's artifacts bucket; the container
    environment that serves a version's own model with it (for a model error without a broken model archive)."""
    bucket = cloud.physical_id("ArtifactsBucket")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("inference.py")
        info.size = len(FAILING_SCRIPT)
        tar.addfile(info, io.BytesIO(FAILING_SCRIPT))
    cloud.client("s3").put_object(Bucket=bucket, Key="failing/sourcedir.tar.gz", Body=archive.getvalue())
    return {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{bucket}/failing/sourcedir.tar.gz",
    }
