"""Each function's app.py, loaded as Lambda loads it (module-level clients and settings at import) inside moto, so a
test calls its `handler(event, context)` and sees what the state machine would: the result, or the error's class
name (a Catch's `Error`) and message."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from moto import mock_aws

FUNCTIONS = Path(__file__).resolve().parents[3] / "functions"
ACCOUNT = "123456789012"  # moto's
REGION = "us-east-1"
# What every function gets: the template's Globals, and settings that keep powertools local and quiet.
LAMBDA_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_METRICS_NAMESPACE": "cd4ml",
    "LOG_LEVEL": "INFO",
    "STAGE": "dev",
}
_loaded = itertools.count()


@dataclass(frozen=True)
class LambdaContextStub:
    """The attributes powertools' inject_lambda_context reads."""

    function_name: str = "cd4ml-test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:cd4ml-test-function"
    aws_request_id: str = "6f7e6b0e-0000-4000-8000-000000000001"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for the whole test: create the function's world (buckets, tables, ...) before loading it."""
    for name, value in LAMBDA_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    # moto's plain Step Functions backend: it accepts the test's task tokens (a local cloud that ran earlier in the
    # session leaves the executing backend on in moto's process-wide config; mock_aws restores it afterwards)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": False}}):
        yield


@pytest.fixture
def context() -> LambdaContextStub:
    return LambdaContextStub()


@pytest.fixture
def load_function(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., ModuleType]]:
    """`load_function("start_job", {...its template variables...})` imports functions/start_job/app.py under a name
    of its own (every function's module is `app`), with those variables set for its import and its calls."""
    names: list[str] = []

    def load(function: str, environment: Mapping[str, str]) -> ModuleType:
        number = next(_loaded)
        # a service name of its own, so this module's Logger writes to this test's stdout
        monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", f"cd4ml-{function}-{number}")
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        module_name = f"cd4ml_test_function_{function}_{number}"
        spec = importlib.util.spec_from_file_location(module_name, FUNCTIONS / function / "app.py")
        assert spec is not None and spec.loader is not None, function
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        names.append(module_name)
        spec.loader.exec_module(module)
        return module

    yield load
    for name in names:
        sys.modules.pop(name, None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A handler that returns early or raises has published no metric: powertools warns, and that is expected here.
    here = Path(__file__).parent
    for item in items:
        if item.path.parent == here:
            item.add_marker(pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"))
