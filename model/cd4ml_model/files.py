"""File handling shared by the jobs: Parquet channels, JSON documents, boosters and the failure file.

Every file is opened from Python (`open`, `pathlib`) and handed to pyarrow and XGBoost as a file object or bytes:
inside the local cloud only Python-level access to `/opt/ml/...` is redirected to the job folder, so native code must
never be given a path, and on SageMaker this costs nothing.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

FAILURE_FILE_VARIABLE = "CD4ML_FAILURE_FILE"
TRAINING_FAILURE_FILE = "/opt/ml/output/failure"  # SageMaker training: becomes the job's FailureReason
PROCESSING_FAILURE_FILE = "/opt/ml/output/message"  # SageMaker processing: becomes the job's ExitMessage


class ModelJobError(Exception):
    """A job cannot go on because of its inputs; the message says what is wrong and is the job's failure reason."""


class ChannelEmpty(ModelJobError):
    """An input folder holds no data file, or its files hold no rows."""


def parquet_files(folder: str | os.PathLike[str], name: str) -> list[Path]:
    """The Parquet files below `folder` (recursively, sorted), or ChannelEmpty naming the channel and the folder."""
    root = Path(folder)
    if not root.is_dir():
        raise ChannelEmpty(f"{name}: input folder {root} does not exist")
    files = sorted(p for p in root.rglob("*.parquet") if p.is_file())
    if not files:
        present = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())[:10]
        raise ChannelEmpty(f"{name}: no .parquet file in {root} (found {present or 'nothing'})")
    return files


def read_parquet_folder(folder: str | os.PathLike[str], name: str) -> pa.Table:
    """All Parquet files of a folder as one table; ChannelEmpty when there are none or they hold no rows."""
    tables = []
    for path in parquet_files(folder, name):
        tables.append(pq.read_table(pa.BufferReader(path.read_bytes())))
    schemas = {tuple(t.column_names) for t in tables}
    if len(schemas) > 1:
        raise ModelJobError(f"{name}: the Parquet files in {folder} have different columns: {sorted(schemas)}")
    table = pa.concat_tables(tables)
    if table.num_rows == 0:
        raise ChannelEmpty(f"{name}: the Parquet files in {folder} hold no rows")
    return table


def write_parquet(table: pa.Table, path: str | os.PathLike[str]) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as handle:
        pq.write_table(table, handle, compression="zstd")


def write_bytes_atomically(data: bytes, path: str | os.PathLike[str]) -> None:
    """Write through a temporary file in the same folder and rename it: a reader never sees half a file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(document: Any, path: str | os.PathLike[str]) -> None:
    write_bytes_atomically((json.dumps(document, indent=2) + "\n").encode("utf-8"), path)


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def report_failure(message: str, default_path: str) -> int:
    """Print the reason to stderr and write it to the failure file SageMaker reports; the exit status to return."""
    print(f"ERROR: {message}", file=sys.stderr, flush=True)
    path = Path(os.environ.get(FAILURE_FILE_VARIABLE) or default_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(message[:1024], encoding="utf-8")
    except OSError as error:  # outside a container /opt/ml may not be writable: stderr still has the reason
        print(f"(could not write the failure file {path}: {error})", file=sys.stderr, flush=True)
    return 1
