"""Publishes the model code that SageMaker jobs run: `model/` plus the shared layer package, as the
`sourcedir.tar.gz` of script-mode training and serving and as loose files for processing jobs, with a manifest whose
SHA-256 becomes the code version's fingerprint in every registered model's lineage.

Layout under s3://<artifacts>/code/<version>/: sourcedir.tar.gz, source/<files>, manifest.json.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cd4ml_shared.layout import code_prefix

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = ROOT / "model"
SHARED_PACKAGE = ROOT / "layers" / "shared" / "python" / "cd4ml_shared"


@dataclass(frozen=True)
class PublishedCode:
    version: str
    sha256: str
    files: int
    uri: str


def code_files(model_dir: Path = MODEL_DIR, shared: Path = SHARED_PACKAGE) -> dict[str, bytes]:
    """Relative path -> content of every file the jobs need, in a fixed order."""
    files: dict[str, bytes] = {}
    for base, prefix in ((model_dir, ""), (shared, "cd4ml_shared/")):
        for path in sorted(base.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files[prefix + path.relative_to(base).as_posix()] = path.read_bytes()
    if "train.py" not in files:
        raise FileNotFoundError(f"{model_dir} has no train.py: is this the project's model folder?")
    return dict(sorted(files.items()))


def fingerprint(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name, content in files.items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()


def sourcedir(files: dict[str, bytes]) -> bytes:
    """A reproducible tarball: same files, same bytes (fixed times and owners in the tar, and mtime 0 in the gzip
    header, which tarfile's own gzip mode would stamp with the current time)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(content), 0, 0o644
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(buffer.getvalue(), compresslevel=6, mtime=0)


def git_commit(root: Path = ROOT) -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False)
    except OSError:
        return None
    return result.stdout.strip() or None


def publish(s3: Any, bucket: str, version: str, progress: Callable[[str], None] = lambda _: None) -> PublishedCode:
    files = code_files()
    prefix = code_prefix(version)
    sha256 = fingerprint(files)
    for name, content in files.items():
        s3.put_object(Bucket=bucket, Key=f"{prefix}source/{name}", Body=content)
    tarball = sourcedir(files)
    s3.put_object(Bucket=bucket, Key=f"{prefix}sourcedir.tar.gz", Body=tarball, ContentType="application/gzip")
    manifest = {
        "version": version,
        "sha256": sha256,
        "git_commit": git_commit(),
        "files": {name: hashlib.sha256(content).hexdigest() for name, content in files.items()},
        "published_at": datetime.now(UTC).isoformat(),
    }
    s3.put_object(
        Bucket=bucket,
        Key=f"{prefix}manifest.json",
        Body=json.dumps(manifest, indent=2).encode(),
        ContentType="application/json",
    )
    progress(f"published {len(files)} files ({len(tarball)} bytes as sourcedir.tar.gz) to s3://{bucket}/{prefix}")
    return PublishedCode(version=version, sha256=sha256, files=len(files), uri=f"s3://{bucket}/{prefix}")
