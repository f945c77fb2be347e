"""The local cloud's one-of-each helpers: archive extraction (tar and zip, bytes or file, nothing outside the target)
and ending a child process together with its own children."""

import io
import re
import subprocess
import sys
import tarfile
import time
import zipfile

import pytest

from cd4ml.localcloud.archives import ArchiveError, extract_archive
from cd4ml.localcloud.processes import terminate_group


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_tar_gz_extracts_the_same_from_bytes_and_from_a_file(tmp_path):
    archive = tar_gz({"model/xgboost-model": b"trees", "code/inference.py": b"x = 1"})
    (tmp_path / "model.tar.gz").write_bytes(archive)

    extract_archive(archive, tmp_path / "from-bytes", "s3://b/model.tar.gz")
    extract_archive(tmp_path / "model.tar.gz", tmp_path / "from-file", "s3://b/model.tar.gz")

    for folder in ("from-bytes", "from-file"):
        assert (tmp_path / folder / "model" / "xgboost-model").read_bytes() == b"trees"
        assert (tmp_path / folder / "code" / "inference.py").read_bytes() == b"x = 1"


def test_a_lambda_zip_extracts(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("app.py", "def handler(event, context): return event")
    extract_archive(buffer.getvalue(), tmp_path / "code", "the code of function f")
    assert "def handler" in (tmp_path / "code" / "app.py").read_text()


def test_a_member_that_would_land_outside_the_target_is_refused(tmp_path):
    with pytest.raises(ArchiveError, match=re.escape("s3://b/evil.tar.gz")):
        extract_archive(tar_gz({"../escaped.txt": b"x"}), tmp_path / "target", "s3://b/evil.tar.gz")
    assert not (tmp_path / "escaped.txt").exists()


@pytest.mark.parametrize("archive", [b"not an archive", b""])
def test_bytes_that_are_no_archive_are_an_archive_error_naming_the_origin(tmp_path, archive):
    with pytest.raises(ArchiveError, match=re.escape("s3://b/model.tar.gz is not a readable archive")):
        extract_archive(archive, tmp_path / "target", "s3://b/model.tar.gz")


def test_a_missing_file_is_an_archive_error(tmp_path):
    with pytest.raises(ArchiveError, match="sourcedir"):
        extract_archive(tmp_path / "nope.tar.gz", tmp_path / "target", "sourcedir")


def test_terminating_a_group_ends_the_children_it_started_too():
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; "
            "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); print(c.pid, flush=True); "
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())

    code = terminate_group(parent, grace_s=2.0)

    assert code != 0 and parent.poll() is not None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{child}/stat") as stat:
                if stat.read().split()[2] == "Z":  # a zombie waiting for init: it has ended
                    break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"child {child} of the terminated group still runs")


def test_terminating_a_process_that_already_ended_returns_its_code():
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], start_new_session=True)
    process.wait()
    assert terminate_group(process) == 3
