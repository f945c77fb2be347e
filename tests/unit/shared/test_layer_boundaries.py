"""The layer's boundaries, checked in fresh interpreters: its plain-logic modules import neither boto3 nor botocore
(the AWS I/O is in `cd4ml_shared.aws`), and the functions that parse no payload never load pydantic at cold start."""

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import cd4ml_shared
import cd4ml_shared.aws
import pytest

FUNCTIONS = Path(__file__).resolve().parents[3] / "functions"
PURE = sorted(f"cd4ml_shared.{m.name}" for m in pkgutil.iter_modules(cd4ml_shared.__path__) if not m.ispkg)
AWS_IO = sorted(f"cd4ml_shared.aws.{m.name}" for m in pkgutil.iter_modules(cd4ml_shared.aws.__path__))
# The functions that validate a payload with a pydantic model (cd4ml_shared.run_input); the others must not pay
# pydantic's import at cold start.
PARSING = {"start_pipeline", "validate_dataset", "start_scoring", "write_scores"}
WATCHED = ("boto3", "botocore", "pydantic")


def loaded_after_importing(*modules: str) -> set[str]:
    """Which of boto3, botocore and pydantic a fresh interpreter has loaded after importing these modules."""
    probe = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(WATCHED)!r}))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    return set(json.loads(done.stdout))


def layer_imports(function: str) -> list[str]:
    tree = ast.parse((FUNCTIONS / function / "app.py").read_text())
    return sorted(
        {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("cd4ml_")}
    )


def test_the_layer_has_plain_modules_and_aws_modules():
    assert {"cd4ml_shared.errors", "cd4ml_shared.layout", "cd4ml_shared.callbacks"} <= set(PURE)
    assert "cd4ml_shared.pipeline" not in PURE
    assert {"cd4ml_shared.aws.callbacks", "cd4ml_shared.aws.jobs", "cd4ml_shared.aws.registry"} <= set(AWS_IO)


@pytest.mark.parametrize("module", PURE)
def test_a_plain_logic_module_imports_neither_boto3_nor_botocore(module):
    assert not loaded_after_importing(module) & {"boto3", "botocore"}


def test_the_probe_sees_botocore_where_the_aws_io_is():
    # the check above can fail: the modules that handle ClientError do load botocore
    assert "botocore" in loaded_after_importing("cd4ml_shared.aws.callbacks")


@pytest.mark.parametrize("function", sorted(p.name for p in FUNCTIONS.iterdir() if (p / "app.py").exists()))
def test_a_function_loads_pydantic_only_if_it_parses_a_payload(function):
    modules = layer_imports(function)
    assert modules, f"{function} imports nothing from the layer"
    assert ("pydantic" in loaded_after_importing(*modules)) is (function in PARSING)
