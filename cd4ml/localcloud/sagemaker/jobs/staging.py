"""A job's inputs and outputs in the local S3: channels and processing inputs (S3Prefix and ManifestFile), the source
directory, the model data of a transform, outputs and archives, checkpoints synced while the job runs. Every
failure is a JobFailure whose text is the FailureReason AWS would give."""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cd4ml_shared.s3_uri import parse_s3_uri

from ...archives import ArchiveError, extract_archive
from ...context import ServiceContext
from .. import s3_staging
from .contract import OPT_ML, key_below_prefix
from .lifecycle import JobLifecycle
from .records import JobFailure, LocalJob, client_error

log = logging.getLogger(__name__)


class JobStaging:
    def __init__(self, ctx: ServiceContext, lifecycle: JobLifecycle) -> None:
        self.ctx = ctx
        self.lifecycle = lifecycle

    @property
    def s3(self) -> Any:
        return self.ctx.clients("s3")

    def list_input(self, job: LocalJob, uri: str, data_type: str) -> list[tuple[str, str, str]]:
        """(bucket, key, local relative path) of each object an S3Prefix or ManifestFile source names."""
        s3 = self.s3
        try:
            bucket, prefix = parse_s3_uri(uri, key_required=False)
            if data_type == "ManifestFile":
                manifest = json.loads(s3.get_object(Bucket=bucket, Key=prefix)["Body"].read())
                base_bucket, base_key = parse_s3_uri(manifest[0]["prefix"], key_required=False)
                return [(base_bucket, base_key + relative, relative) for relative in manifest[1:]]
            found = []
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    if not item["Key"].endswith("/"):
                        found.append((bucket, item["Key"], key_below_prefix(prefix, item["Key"])))
        except Exception as exc:
            if data_type == "ManifestFile":
                raise JobFailure(f"ClientError: could not read the manifest file {uri}: {client_error(exc)}") from exc
            found = []
        if not found:
            bucket = uri[5:].split("/", 1)[0]
            raise JobFailure(
                f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. Please ensure '
                f"that the bucket exists in the selected region ({self.ctx.region}), that objects exist under that "
                f'S3 prefix, and that the role "{job.request.get("RoleArn")}" has "s3:ListBucket" permissions on '
                f'bucket "{bucket}".'
            )
        return found

    def download_input(self, job: LocalJob, uri: str, data_type: str, target: Path) -> int:
        objects = self.list_input(job, uri, data_type)
        target.mkdir(parents=True, exist_ok=True)
        for bucket, key, relative in objects:
            try:
                s3_staging.download_object(self.s3, bucket, key, target / relative)
            except Exception as exc:
                raise JobFailure(
                    f"ClientError: Data download failed: s3://{bucket}/{key}: {client_error(exc)}"
                ) from exc
        return len(objects)

    def download_object(self, bucket: str, key: str, path: Path) -> None:
        s3_staging.download_object(self.s3, bucket, key, path)

    def download_folder(self, uri: str, target: Path) -> int:
        """Every object below a folder-like URI (checkpoints, uncompressed model data), keys kept below it."""
        try:
            return s3_staging.download_prefix(self.s3, uri, target)
        except Exception as exc:
            raise JobFailure(f"ClientError: could not download {uri}: {client_error(exc)}") from exc

    def upload_folder(self, folder: Path, uri: str) -> int:
        return s3_staging.upload_folder(self.s3, folder, uri)

    def sync(self, syncs: list[tuple[Path, str]], synced: dict[Path, tuple[int, int]]) -> None:
        """Checkpoints (and Continuous processing outputs) go to S3 while the job runs, as AWS syncs them."""
        if self.lifecycle.closed:
            return
        for folder, uri in syncs:
            try:
                s3_staging.upload_folder(self.s3, folder, uri, synced)
            except Exception:
                log.warning("could not sync %s to %s", folder, uri, exc_info=True)

    def upload_archive(self, folder: Path, uri: str) -> None:
        if not self.lifecycle.closed:
            s3_staging.upload_archive(self.s3, folder, uri)

    def put(self, uri: str, body: bytes) -> None:
        bucket, key = parse_s3_uri(uri)
        self.s3.put_object(Bucket=bucket, Key=key, Body=body)

    def fetch_model(self, container: Mapping[str, Any], model_dir: Path) -> None:
        """ModelDataUrl (a model.tar.gz) or ModelDataSource (an uncompressed prefix), extracted into model_dir."""
        source = (container.get("ModelDataSource") or {}).get("S3DataSource")
        if source and source.get("CompressionType", "None") == "None":
            self.download_folder(source["S3Uri"], model_dir)
            return
        url = container.get("ModelDataUrl") or (source or {}).get("S3Uri")
        if not url:
            return  # a model without artifacts: model_fn builds it
        archive = model_dir.parent / "model.tar.gz"
        try:
            bucket, key = parse_s3_uri(url)
            self.download_object(bucket, key, archive)
        except Exception as exc:
            raise JobFailure(f"ClientError: could not download the model data {url}: {client_error(exc)}") from exc
        _extract(archive, model_dir, url)

    def fetch_code(self, source: str, target: Path, container: Path | None = None) -> None:
        """sagemaker_submit_directory / SAGEMAKER_SUBMIT_DIRECTORY: an S3 tar.gz (or prefix); a path in the
        container (`/opt/ml/...`, in the job folder `container` that stands in for it), as a network-isolated job
        names its code: a channel's sourcedir.tar.gz (`/opt/ml/input/data/code/sourcedir.tar.gz`) or the model
        data's code folder (`/opt/ml/model/code`); or locally, for convenience, a folder or tar.gz given as a
        path or file:// URL."""
        target.mkdir(parents=True, exist_ok=True)
        if container is not None and (source == OPT_ML or source.startswith(f"{OPT_ML}/")):
            local = container_path(source, container)
            if local.is_dir():
                shutil.copytree(local, target, dirs_exist_ok=True)
            else:
                _extract(local, target, source)
            return
        if source.startswith("s3://"):
            if re.search(r"\.(?:tar\.gz|tgz|tar)$", source):
                archive = target.parent / "sourcedir.tar.gz"
                try:
                    bucket, key = parse_s3_uri(source)
                    self.download_object(bucket, key, archive)
                except Exception as exc:
                    raise JobFailure(
                        f"ClientError: could not download the source directory {source}: {client_error(exc)}"
                    ) from exc
                _extract(archive, target, source)
            elif self.download_folder(source, target) == 0:
                raise JobFailure(f"ClientError: the source directory {source} holds no objects")
            return
        local = Path(source[7:] if source.startswith("file://") else source).expanduser()
        if local.is_dir():
            shutil.copytree(local, target, dirs_exist_ok=True)
        elif local.is_file():
            _extract(local, target, source)
        else:
            raise JobFailure(f"ClientError: the source directory {source} is neither an s3:// URI nor a local path")


def container_path(source: str, container: Path) -> Path:
    """Where a path in the container (`/opt/ml/...`) is in the job folder that stands in for /opt/ml; a JobFailure
    when it leaves the container's directories or names nothing the job staged (a channel it does not have, model
    data without that folder), with what is there instead."""
    root = container.resolve()
    local = (root / source.removeprefix(OPT_ML).lstrip("/")).resolve()
    if local != root and root not in local.parents:
        raise JobFailure(f"ClientError: the source directory {source} is outside the container's {OPT_ML}")
    if not local.exists():
        parent = next(folder for folder in local.parents if folder.exists())
        present = sorted(p.name for p in parent.iterdir())[:20] if parent.is_dir() else []
        shown = f"{OPT_ML}/{parent.relative_to(root).as_posix()}" if parent != root else OPT_ML
        raise JobFailure(
            f"ClientError: the source directory {source} does not exist in the container: {shown} "
            f"holds {present} (a channel's files are under {OPT_ML}/input/data/<channel>/, the model data's "
            f"under {OPT_ML}/model/)"
        )
    return local


def _extract(archive: Path, target: Path, origin: str) -> None:
    try:
        extract_archive(archive, target, origin)
    except ArchiveError as exc:
        raise JobFailure(f"ClientError: {origin} is not a readable tar.gz archive: {exc.__cause__}") from exc
