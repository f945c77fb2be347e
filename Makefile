# Set-up and everyday commands. `make demo` runs the main job, `make test` runs every check; both create the
# virtual environment (.venv, with the `cd4ml` command in .venv/bin) and install what they need on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export AWS_EC2_METADATA_DISABLED := true
export SAM_CLI_TELEMETRY := 0

.PHONY: venv demo test lint typecheck check-template unit integration e2e bench lock clean

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

# Re-resolve the pinned set of every transitive dependency after changing pyproject.toml.
lock:
	$(BIN)/uv pip compile --quiet --python-version 3.11 --extra dev pyproject.toml -o requirements.lock

demo: $(STAMP)
	$(BIN)/cd4ml demo

test: lint typecheck check-template
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check-template: $(STAMP)
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m cd4ml.template_checks --resilient-tasks template.yaml
	$(BIN)/python -m cd4ml.template_checks tests/integration/stacks/*/template.yaml

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

bench: $(STAMP)
	$(BIN)/python bench/localcloud_overhead.py
	$(BIN)/python bench/sagemaker_jobs.py
	$(BIN)/python bench/sagemaker_endpoints.py
	$(BIN)/python bench/data_validation.py
	$(BIN)/python bench/training_pipeline.py
	$(BIN)/python bench/batch_scoring.py
	$(BIN)/python bench/decision_latency.py
	$(BIN)/python bench/feedback_capture.py
	$(BIN)/python bench/drift_check.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
