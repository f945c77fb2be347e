"""SageMaker XGBoost script-mode entry point: train the fraud model (logic in cd4ml_model.train)."""

from cd4ml_model.train import main

if __name__ == "__main__":
    raise SystemExit(main())
