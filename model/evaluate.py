"""SageMaker processing entry point: evaluate the model on the test split (logic in cd4ml_model.evaluate)."""

from cd4ml_model.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main())
