"""SageMaker processing entry point: build features and the time split (logic in cd4ml_model.features)."""

from cd4ml_model.features import main

if __name__ == "__main__":
    raise SystemExit(main())
