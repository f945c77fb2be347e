"""Moving a job's or an endpoint's files between the local S3 and its folder: one way to download an object, a
prefix, to upload a folder or an archive of it. Errors are S3's own; each caller says what failed in its terms."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path
from typing import Any

from cd4ml_shared.s3_uri import parse_s3_uri

CHUNK = 1024 * 1024


def folder_prefix(prefix: str) -> str:
    """A prefix read as a folder: `a/b` and `a/b/` both mean the objects below `a/b/`; `` means the whole bucket."""
    return prefix.rstrip("/") + "/" if prefix else ""


def download_object(s3: Any, bucket: str, key: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    with path.open("wb") as handle:
        shutil.copyfileobj(body, handle, CHUNK)


def read_object(s3: Any, uri: str) -> bytes:
    bucket, key = parse_s3_uri(uri)
    data: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def download_prefix(s3: Any, uri: str, target: Path) -> int:
    """Every object below a folder-like URI, keys kept below it (folder markers and keys that would land outside
    `target` are skipped); returns how many objects were written."""
    bucket, prefix = parse_s3_uri(uri, key_required=False)
    prefix = folder_prefix(prefix)
    root = target.resolve()
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :]
            if not relative or relative.endswith("/"):
                continue
            path = (target / relative).resolve()
            if not path.is_relative_to(root):
                continue
            download_object(s3, bucket, item["Key"], path)
            count += 1
    return count


def upload_folder(s3: Any, folder: Path, uri: str, previous: dict[Path, tuple[int, int]] | None = None) -> int:
    """Upload the files below `folder` to the URI's prefix; with `previous`, only those changed since (size and
    mtime), which it then records. Returns how many files were uploaded."""
    bucket, prefix = parse_s3_uri(uri, key_required=False)
    prefix = folder_prefix(prefix)
    count = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        signature = (stat.st_size, stat.st_mtime_ns)
        if previous is not None and previous.get(path) == signature:
            continue
        s3.put_object(Bucket=bucket, Key=prefix + path.relative_to(folder).as_posix(), Body=path.read_bytes())
        if previous is not None:
            previous[path] = signature
        count += 1
    return count


def upload_archive(s3: Any, folder: Path, uri: str) -> None:
    """A folder as one tar.gz object (model.tar.gz, output.tar.gz), entries relative to the folder."""
    archive = folder.parent / f".{folder.name}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(folder.iterdir()):
            tar.add(path, arcname=path.name)
    bucket, key = parse_s3_uri(uri)
    s3.put_object(Bucket=bucket, Key=key, Body=archive.read_bytes())
    archive.unlink()
