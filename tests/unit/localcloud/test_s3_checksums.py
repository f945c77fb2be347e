"""How the local S3 answers an object's checksum, with plain values: composite checksums carry their part count."""

from types import SimpleNamespace

from cd4ml.localcloud.s3 import answer_checksum, qualified_checksum


def _key(value, checksum_type, parts, algorithm="CRC32"):
    return SimpleNamespace(
        checksum_algorithm=algorithm, checksum_value=value, checksum_type=checksum_type, checksum_parts=parts
    )


def test_a_composite_checksum_carries_its_part_count_once():
    assert qualified_checksum("HMktrw==", "COMPOSITE", 3) == "HMktrw==-3"
    assert qualified_checksum("HMktrw==-3", "COMPOSITE", 3) == "HMktrw==-3"
    assert qualified_checksum("HMktrw==", "FULL_OBJECT", 1) == "HMktrw=="
    assert qualified_checksum("HMktrw==", None, None) == "HMktrw=="


def test_an_answer_with_the_checksum_gets_it_qualified_and_typed():
    headers = {"x-amz-checksum-crc32": "HMktrw=="}

    answer_checksum(headers, _key("HMktrw==", "COMPOSITE", 3))

    assert headers == {"x-amz-checksum-crc32": "HMktrw==-3", "x-amz-checksum-type": "COMPOSITE"}


def test_a_single_part_checksum_is_a_full_object_one():
    headers = {"x-amz-checksum-sha256": "abc="}

    answer_checksum(headers, _key("abc=", None, None, algorithm="SHA256"))

    assert headers == {"x-amz-checksum-sha256": "abc=", "x-amz-checksum-type": "FULL_OBJECT"}


def test_an_answer_without_the_checksum_stays_without_it():
    # checksum mode off, or a ranged answer: S3 sends no object checksum, and none is added
    headers = {"content-range": "bytes 0-99/11534336"}

    answer_checksum(headers, _key("HMktrw==", "COMPOSITE", 3))

    assert headers == {"content-range": "bytes 0-99/11534336"}
