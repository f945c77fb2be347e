"""The reference profile moves only forward, only once and only for a registered run: validation leaves a candidate
under the run, and the run's outcome promotes it with a conditional write that two racing runs cannot both win."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import boto3
import pytest
from cd4ml_shared.aws.reference import ReferenceContention, promote_candidate, write_candidate
from cd4ml_shared.drift import Profile
from cd4ml_shared.layout import reference_profile_key
from cd4ml_shared.reference import supersedes
from moto import mock_aws

BUCKET = "cd4ml-dev-artifactsbucket-example"
REFERENCE = reference_profile_key("orders")
OLDER = Profile(
    dataset="orders", rows=2000, time_min="2026-11-01T00:00:00Z", time_max="2026-11-14T23:59:00Z", label_rate=0.02
)
NEWER = replace(OLDER, time_min="2026-11-15T00:00:00Z", time_max="2026-11-28T23:59:00Z")


@pytest.fixture
def s3(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


def reference(s3) -> Profile:
    return Profile.from_json(s3.get_object(Bucket=BUCKET, Key=REFERENCE)["Body"].read())


def promote(s3, run_id: str, status: str = "succeeded"):
    return promote_candidate(s3, BUCKET, run_id=run_id, status=status)


class RacingS3:
    """An S3 client on which `rival` runs between this promotion's read of the reference and its write: the
    interleaving two Lambdas promoting at the same moment can produce."""

    def __init__(self, s3: Any, rival):
        self._s3, self._rival, self.puts = s3, rival, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def put_object(self, **request: Any) -> Any:
        if request["Key"] == REFERENCE:
            self.puts += 1
            if self._rival is not None:
                rival, self._rival = self._rival, None
                rival()
        return self._s3.put_object(**request)


def test_newer_data_supersedes_and_the_same_profile_again_does_not():
    assert supersedes(NEWER, OLDER) and not supersedes(OLDER, NEWER)
    assert supersedes(OLDER, None)
    assert not supersedes(NEWER, NEWER)  # a retried outcome promotes nothing a second time
    more_rows = replace(NEWER, rows=NEWER.rows + 1)  # same time span: a deterministic tie-break
    assert supersedes(more_rows, NEWER) != supersedes(NEWER, more_rows)
    assert not supersedes(replace(NEWER, time_max=None), OLDER)  # without a time column it cannot claim newer


def test_the_first_registered_run_makes_the_reference(s3):
    write_candidate(s3, BUCKET, "run-older", OLDER)

    promotion = promote(s3, "run-older")

    assert promotion.result == "first" and reference(s3) == OLDER
    assert s3.head_object(Bucket=BUCKET, Key=REFERENCE)["Metadata"] == {"cd4ml-run": "run-older"}


def test_of_two_runs_racing_for_the_first_reference_the_older_data_loses(s3):
    write_candidate(s3, BUCKET, "run-older", OLDER)
    write_candidate(s3, BUCKET, "run-newer", NEWER)
    # the older run read "no reference yet"; the newer one writes first; the older one's IfNoneMatch write fails
    racing = RacingS3(s3, rival=lambda: promote(s3, "run-newer"))

    promotion = promote_candidate(racing, BUCKET, run_id="run-older", status="succeeded")

    assert promotion.result == "kept" and promotion.attempts == 2  # the lost condition was read and decided again
    assert reference(s3) == NEWER and racing.puts == 1


def test_a_lost_condition_is_retried_and_the_newer_run_still_wins(s3):
    write_candidate(s3, BUCKET, "run-oldest", replace(OLDER, time_max="2026-11-07T00:00:00Z"))
    write_candidate(s3, BUCKET, "run-older", OLDER)
    write_candidate(s3, BUCKET, "run-newer", NEWER)
    promote(s3, "run-oldest")
    # the newer run's IfMatch write loses to the older run, which changed the reference after the newer one read it
    racing = RacingS3(s3, rival=lambda: promote(s3, "run-older"))

    promotion = promote_candidate(racing, BUCKET, run_id="run-newer", status="succeeded")

    assert promotion.result == "promoted" and promotion.attempts == 2 and racing.puts == 2
    assert reference(s3) == NEWER


def test_a_late_outcome_of_older_data_leaves_the_newer_reference(s3):
    write_candidate(s3, BUCKET, "run-newer", NEWER)
    write_candidate(s3, BUCKET, "run-older", OLDER)
    promote(s3, "run-newer")

    assert promote(s3, "run-older").result == "kept" and reference(s3) == NEWER


@pytest.mark.parametrize("status", ["failed", "gated_out", "quarantined"])
def test_a_run_that_did_not_register_a_model_never_promotes(s3, status):
    write_candidate(s3, BUCKET, "run-1", NEWER)

    assert promote(s3, "run-1", status=status).result == "not_promoting"
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="reference/").get("KeyCount") == 0


def test_a_registered_run_without_a_candidate_promotes_nothing(s3):
    assert promote(s3, "run-never-validated").result == "not_promoting"


def test_a_reference_that_changes_under_every_attempt_is_reported_not_overwritten(s3):
    write_candidate(s3, BUCKET, "run-newer", NEWER)
    write_candidate(s3, BUCKET, "run-older", OLDER)
    promote(s3, "run-older")

    class Churning(RacingS3):
        def put_object(self, **request: Any) -> Any:
            if request["Key"] == REFERENCE:
                # someone rewrites the (still older) reference between every read and write: a new ETag each time
                self.puts += 1
                churned = replace(OLDER, label_rate=0.02 + self.puts / 1000)
                self._s3.put_object(Bucket=BUCKET, Key=REFERENCE, Body=churned.to_json().encode())
            return self._s3.put_object(**request)

    with pytest.raises(ReferenceContention, match="changed under each of 3 attempts"):
        promote_candidate(Churning(s3, None), BUCKET, run_id="run-newer", status="succeeded", attempts=3)
    assert reference(s3).time_max == OLDER.time_max
