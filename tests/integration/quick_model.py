"""What the integration tests that train a real model through the project's template share: stage parameters that
train a small model quickly and let it through the gate, and serving code that fails every request (a bad version)."""

from __future__ import annotations

import json

# A small XGBoost model in a few seconds, and gate thresholds a model of 8,000 generated orders passes.
FAST_TRAINING = {
    "TrainingInstanceType": "ml.m5.xlarge",
    "TrainingHyperparameters": json.dumps({"num_round": 30, "max_depth": 3, "early_stopping_rounds": 10}),
    "GateMinPrAuc": "0.05",
    "GateMinRocAuc": "0.7",
    "GateMaxBrierScore": "0.2",
}

# inference.py of a version that cannot score: every request is a model error (the endpoint answers 5XX)
FAILING_SCRIPT = b"""
def model_fn(model_dir):
    return None


def transform_fn(model, body, content_type, accept):
    raise RuntimeError("this version cannot score")
"""
