"""The local batch transform cuts a plain line input into MultiRecord requests without splitting it into a bytes
object per line: the bodies must be exactly those of the general path (split_records, then batch_requests), for
every input, limit and strategy."""

from __future__ import annotations

import random

import pytest

from cd4ml.localcloud.child_process.sagemaker_container import batch_requests, request_bodies, split_records


def general(data: bytes, split_type: str, strategy: str, max_payload: int) -> list[bytes]:
    return list(batch_requests(split_records(data, split_type), strategy, max_payload))


def test_the_feature_csv_is_cut_into_the_same_requests_as_line_by_line() -> None:
    rows = [",".join(str(random.Random(n).random()) for _ in range(8)).encode() for n in range(3_000)]
    data = b"\n".join(rows) + b"\n"
    for max_payload in (1, 100, 1_000, 65_536, 10**9):
        assert list(request_bodies(data, "Line", "MultiRecord", max_payload)) == general(
            data, "Line", "MultiRecord", max_payload
        ), max_payload


@pytest.mark.parametrize("seed", range(4))
def test_any_input_gives_the_general_paths_bodies(seed: int) -> None:
    rng = random.Random(seed)
    pieces = [b"1", b"22", b",", b"333", b"\n", b"\n\n", b" ", b"\r\n", b"\t"]
    for _ in range(3_000):
        data = b"".join(rng.choice(pieces[:4] if rng.random() < 0.7 else pieces) for _ in range(rng.randint(0, 30)))
        max_payload = rng.randint(1, 25)
        for split_type, strategy in (("Line", "MultiRecord"), ("Line", "SingleRecord"), ("None", "MultiRecord")):
            got = list(request_bodies(data, split_type, strategy, max_payload))
            assert got == general(data, split_type, strategy, max_payload), (data, split_type, strategy, max_payload)


def test_a_line_longer_than_the_limit_goes_alone() -> None:
    data = b"1,2\n" + b"9" * 50 + b"\n3,4\n5,6"
    assert list(request_bodies(data, "Line", "MultiRecord", 10)) == [b"1,2", b"9" * 50, b"3,4\n5,6"]
