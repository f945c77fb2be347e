"""`cd4ml data generate`, driven as a user drives it: in a subprocess, through its file, output and exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from cd4ml_shared.contract import ORDERS

from cd4ml.data import Fault, arrow_schema, generate_orders, write_dataset

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT_S = 120.0


def cd4ml(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "cd4ml.cli", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def summary(stdout: str) -> dict[str, str]:
    """The `name: value` lines of the command's summary."""
    facts = {}
    for line in stdout.splitlines():
        name, _, value = line.partition(":")
        facts[name.strip()] = value.strip()
    return facts


def test_generate_writes_a_parquet_dataset_of_the_contract_and_summarises_it(tmp_path: Path) -> None:
    out = tmp_path / "new" / "orders.parquet"
    done = cd4ml(
        "data", "generate", "--rows", "5000", "--seed", "3", "--days", "14", "--start", "2025-01-06", "--out", out
    )
    assert done.returncode == 0, done.stderr
    table = pq.read_table(out)
    assert table.schema == arrow_schema() and table.num_rows == 5000
    facts = summary(done.stdout)
    assert facts["rows"] == "5000"
    assert facts["columns"].startswith(f"{len(ORDERS.columns)} (")
    assert facts["faults"] == "none"
    assert facts["path"] == str(out)
    assert int(facts["bytes"]) == out.stat().st_size
    positives = sum(table.column(ORDERS.label.name).to_pylist())
    assert facts["fraud rate"] == f"{positives / 5000:.4f} ({positives} orders)"
    assert float(facts["seconds"]) >= 0


def test_generate_with_faults_writes_the_same_csv_bytes_as_the_library(tmp_path: Path) -> None:
    out = tmp_path / "orders.csv"
    done = cd4ml(
        "data",
        "generate",
        "--rows",
        "3000",
        "--seed",
        "8",
        "--days",
        "7",
        "--start",
        "2025-02-01",
        "--fault",
        "duplicate_rows",
        "schema_change",
        "--fault",
        "stale_column",
        "--fraud-rate",
        "0.05",
        "--out",
        out,
    )
    assert done.returncode == 0, done.stderr
    facts = summary(done.stdout)
    assert facts["faults"] == "duplicate_rows, schema_change, stale_column"
    assert int(facts["rows"]) == 3090
    expected = generate_orders(
        3000,
        seed=8,
        start=datetime(2025, 2, 1, tzinfo=UTC),
        days=7,
        faults=(Fault.DUPLICATE_ROWS, Fault.SCHEMA_CHANGE, Fault.STALE_COLUMN),
        fraud_rate=0.05,
    )
    write_dataset(expected, tmp_path / "expected.csv")
    assert out.read_bytes() == (tmp_path / "expected.csv").read_bytes()  # another process, the same bytes
    header = pa_csv.read_csv(out).column_names
    assert "amount" in header and "promo_code" in header


def test_an_unknown_fault_is_an_error_that_lists_the_valid_ones(tmp_path: Path) -> None:
    out = tmp_path / "orders.csv"
    done = cd4ml(
        "data",
        "generate",
        "--rows",
        "100",
        "--seed",
        "1",
        "--days",
        "1",
        "--start",
        "2025-01-01",
        "--fault",
        "gremlins",
        "--out",
        out,
    )
    assert done.returncode == 2
    assert "unknown fault 'gremlins'" in done.stderr
    for fault in Fault:
        assert fault.value in done.stderr
    assert not out.exists()


def test_an_unsupported_file_type_or_a_bad_date_is_an_error(tmp_path: Path) -> None:
    done = cd4ml(
        "data",
        "generate",
        "--rows",
        "100",
        "--seed",
        "1",
        "--days",
        "1",
        "--start",
        "2025-01-01",
        "--out",
        tmp_path / "orders.json",
    )
    assert done.returncode == 2 and "unsupported dataset format '.json'" in done.stderr
    done = cd4ml(
        "data",
        "generate",
        "--rows",
        "100",
        "--seed",
        "1",
        "--days",
        "1",
        "--start",
        "01/02/2025",
        "--out",
        tmp_path / "orders.csv",
    )
    assert done.returncode == 2 and "YYYY-MM-DD" in done.stderr
    assert not list(tmp_path.iterdir())


def test_the_help_explains_every_fault() -> None:
    done = cd4ml("data", "generate", "--help")
    assert done.returncode == 0
    for fault in Fault:
        assert f"{fault.value}  " in done.stdout and fault.effect.split(",")[0] in " ".join(done.stdout.split())
