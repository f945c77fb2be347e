"""SageMaker inference script: the serving toolkit's handler functions (logic in cd4ml_model.inference)."""

from cd4ml_model.inference import input_fn, model_fn, output_fn, predict_fn

__all__ = ["input_fn", "model_fn", "output_fn", "predict_fn"]
