"""Multipart objects on the local S3 answer as on AWS: an upload in parts carries a composite checksum with its part
count, a copy is a new single-part object with a full-object checksum, and every download validates."""

import base64
import binascii
import hashlib
import io
import os
from collections.abc import Iterator

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from cd4ml.localcloud import LocalCloud

MIB = 1024 * 1024
PART = 5 * MIB
DATA = os.urandom(2 * PART + MIB)  # 11 MiB: three parts of 5, 5 and 1 MiB
IN_PARTS = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART)
IN_ONE_GET = TransferConfig(multipart_threshold=64 * MIB)  # the download is one GetObject, validated whole
BUCKET = "multipart-parity"


def _crc32(data: bytes) -> bytes:
    return binascii.crc32(data).to_bytes(4, "big")


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


COMPOSITE_CRC32 = _b64(_crc32(b"".join(_crc32(DATA[i : i + PART]) for i in range(0, len(DATA), PART)))) + "-3"
FULL_CRC32 = _b64(_crc32(DATA))


@pytest.fixture(scope="module")
def s3() -> Iterator[object]:
    with LocalCloud() as cloud:
        # what botocore >= 1.36 does by default, spelled out so that the environment cannot turn it off
        client = boto3.client(
            "s3",
            endpoint_url=cloud.endpoint_url,
            region_name=cloud.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(request_checksum_calculation="when_supported", response_checksum_validation="when_supported"),
        )
        client.create_bucket(Bucket=BUCKET)
        client.upload_fileobj(io.BytesIO(DATA), BUCKET, "datasets/big.bin", Config=IN_PARTS)
        yield client


def test_upload_in_parts_has_a_composite_checksum_with_its_part_count(s3):
    head = s3.head_object(Bucket=BUCKET, Key="datasets/big.bin", ChecksumMode="ENABLED")

    assert head["ETag"].strip('"').endswith("-3")
    assert head["ChecksumCRC32"] == COMPOSITE_CRC32
    assert head["ChecksumType"] == "COMPOSITE"
    assert head["ContentLength"] == len(DATA)


def test_full_get_of_a_multipart_object_validates_and_returns_every_byte(s3):
    got = s3.get_object(Bucket=BUCKET, Key="datasets/big.bin", ChecksumMode="ENABLED")

    assert got["Body"].read() == DATA
    assert got["ChecksumCRC32"] == COMPOSITE_CRC32
    assert got["ChecksumType"] == "COMPOSITE"


def test_ranged_get_returns_no_object_checksum(s3):
    got = s3.get_object(Bucket=BUCKET, Key="datasets/big.bin", Range="bytes=100-199", ChecksumMode="ENABLED")

    assert got["Body"].read() == DATA[100:200]
    assert got["ContentRange"] == f"bytes 100-199/{len(DATA)}"
    assert "ChecksumCRC32" not in got and "ChecksumType" not in got


def test_copy_of_a_multipart_object_is_single_part_with_a_full_object_checksum(s3):
    copied = s3.copy_object(
        Bucket=BUCKET, Key="runs/r1/dataset/big.bin", CopySource={"Bucket": BUCKET, "Key": "datasets/big.bin"}
    )["CopyObjectResult"]

    assert "-" not in copied["ETag"]
    assert copied["ChecksumCRC32"] == FULL_CRC32
    head = s3.head_object(Bucket=BUCKET, Key="runs/r1/dataset/big.bin", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == FULL_CRC32 and head["ChecksumType"] == "FULL_OBJECT"
    assert "PartsCount" not in s3.head_object(Bucket=BUCKET, Key="runs/r1/dataset/big.bin", PartNumber=1)
    got = s3.get_object(Bucket=BUCKET, Key="runs/r1/dataset/big.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == DATA  # validated by botocore against the full-object checksum


def test_copy_with_another_algorithm_has_that_algorithm_over_the_whole_object(s3):
    copied = s3.copy_object(
        Bucket=BUCKET,
        Key="runs/r2/dataset/big.bin",
        CopySource={"Bucket": BUCKET, "Key": "datasets/big.bin"},
        ChecksumAlgorithm="SHA256",
    )["CopyObjectResult"]

    assert copied["ChecksumSHA256"] == _b64(hashlib.sha256(DATA).digest())
    got = s3.get_object(Bucket=BUCKET, Key="runs/r2/dataset/big.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == DATA and got["ChecksumType"] == "FULL_OBJECT"


@pytest.mark.parametrize("key", ["datasets/big.bin", "runs/r3/dataset/big.bin"])
@pytest.mark.parametrize("config", [IN_ONE_GET, IN_PARTS], ids=["one-get", "ranged-gets"])
def test_download_file_of_the_upload_and_of_its_copy(s3, tmp_path, key, config):
    if key.startswith("runs/"):
        s3.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": "datasets/big.bin"})
    target = tmp_path / "big.bin"

    s3.download_file(BUCKET, key, str(target), Config=config)

    assert target.read_bytes() == DATA
