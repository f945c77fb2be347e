"""Unpacking an archive the local cloud downloaded (model.tar.gz, sourcedir.tar.gz, a Lambda zip), in one place."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

from .errors import LocalCloudError


class ArchiveError(LocalCloudError):
    def __init__(self, origin: str, cause: BaseException | str) -> None:
        self.origin = origin
        super().__init__(f"{origin} is not a readable archive: {cause}")


def extract_archive(archive: Path | bytes, target: Path, origin: str) -> None:
    """Extract a tar (plain, gz, bz2, xz) or zip archive, given as a file or as bytes, into `target`.

    Nothing lands outside `target`: tar members go through tarfile's "data" filter (no absolute paths, links out
    or devices), and zipfile drops absolute paths and `..` from member names."""
    target.mkdir(parents=True, exist_ok=True)
    try:
        with io.BytesIO(archive) if isinstance(archive, bytes) else archive.open("rb") as handle:
            if zipfile.is_zipfile(handle):
                with zipfile.ZipFile(handle) as zipped:
                    zipped.extractall(target)
                return
            handle.seek(0)
            with tarfile.open(fileobj=handle, mode="r:*") as tar:
                tar.extractall(target, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(origin, exc) from exc
