"""Model code that runs inside SageMaker jobs: features, XGBoost training, evaluation, inference."""
