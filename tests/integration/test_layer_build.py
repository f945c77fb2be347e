"""The shared Lambda layer as `sam build` makes it (layers/shared/Makefile): it fits Lambda's size limit and its
pinned numpy/pyarrow (the newest with wheels for Lambda's Amazon Linux 2) run the pipeline's code the same way."""

import json
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.integration

LAMBDA_UNZIPPED_LIMIT = 262_144_000  # bytes, function and layers together
PYTHON = shutil.which("python3.11")

CHECK = """
import json, sys
from datetime import datetime, UTC
sys.path.insert(0, sys.argv[1])
import numpy, pyarrow
from cd4ml_shared.contract import ORDERS
from cd4ml_shared.data_quality import read_table, validate
from cd4ml_shared.gate import GatePolicy, decide
from cd4ml_shared.run_report import render_run_report
now = datetime.fromisoformat(sys.argv[2])
reports = {}
for path in sys.argv[3:]:
    report = validate(read_table(path), ORDERS, now=now)
    reports[path] = report.to_dict()
html = render_run_report({"run_id": "r", "status": "quarantined"}, reports[sys.argv[3]], None)
print(json.dumps({"numpy": numpy.__version__, "pyarrow": pyarrow.__version__, "html": len(html),
                  "reports": {p: {k: r[k] for k in ("passed", "quarantine_reason", "failures")}
                              for p, r in reports.items()}}))
"""


@pytest.mark.skipif(PYTHON is None, reason="needs python3.11 on PATH, Lambda's runtime version")
def test_the_layer_builds_small_enough_and_validates_like_the_project_environment(root, tmp_path):
    from datetime import UTC, datetime, timedelta

    from cd4ml_shared.contract import ORDERS
    from cd4ml_shared.data_quality import read_table, validate

    from cd4ml.data import Fault, generate_orders, write_dataset

    layer = root / "layers" / "shared"
    command = [
        "make",
        "-s",
        "-C",
        str(layer),
        "build-SharedLayer",
        f"ARTIFACTS_DIR={tmp_path / 'layer'}",
        f"PYTHON={PYTHON}",
    ]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    built = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, env=env)
    assert built.returncode == 0, built.stderr[-3000:]
    site = tmp_path / "layer" / "python"
    size = sum(f.stat().st_size for f in site.rglob("*") if f.is_file())
    assert size < LAMBDA_UNZIPPED_LIMIT * 0.9, f"the layer is {size:,} bytes unzipped"
    assert not list(site.glob("boto3*")) and not list(site.glob("botocore*")), "the runtime brings boto3"
    assert list(site.glob("cd4ml_shared/__pycache__/*.pyc")), "Lambda's read-only file system needs .pyc files"

    now = datetime(2026, 11, 25, tzinfo=UTC)
    clean = generate_orders(5_000, seed=3, start=now - timedelta(days=10), days=10)
    missing = generate_orders(5_000, seed=3, start=now - timedelta(days=10), days=10, faults=[Fault.MISSING_VALUES])
    paths = [tmp_path / "clean.parquet", tmp_path / "clean.csv", tmp_path / "missing.csv"]
    for table, path in zip([clean, clean, missing], paths, strict=True):
        write_dataset(table, path)
    checked = subprocess.run(
        [PYTHON, "-I", "-c", CHECK, str(site), now.isoformat(), *map(str, paths)],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr[-3000:]
    result = json.loads(checked.stdout)
    assert result["numpy"].startswith("2.2.") and result["pyarrow"].startswith("20.")
    for path in paths:  # the same verdicts and findings as with the project's numpy and pyarrow
        ours = validate(read_table(path), ORDERS, now=now).to_dict()
        theirs = result["reports"][str(path)]
        assert (theirs["passed"], theirs["quarantine_reason"]) == (ours["passed"], ours["quarantine_reason"])
        assert theirs["failures"] == json.loads(json.dumps(ours["failures"]))
    assert result["html"] > 1000
