"""The reference profile on S3: validation keeps an accepted dataset's profile under its run, and a run that ended
well promotes it to `reference/<dataset>/profile.json` with a conditional write, so that of two runs racing the
newer data wins and a lost condition is read, compared and tried again. Decisions are `cd4ml_shared.reference`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..drift import Profile
from ..layout import reference_profile_key
from ..reference import Promotion, candidate_profile_key, promotes, supersedes
from .client_errors import error_code

# S3's answers when the object changed between the read and the conditional write (412), a concurrent conditional
# write is in flight (409), or the object read was deleted meanwhile (If-Match on a missing key).
LOST_CONDITION = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"})
ATTEMPTS = 5


class ReferenceContention(RuntimeError):
    """The reference changed under every attempt to promote a candidate: too many runs of one dataset at once."""


@dataclass(frozen=True)
class PromotionResult:
    result: Promotion
    reference_uri: str | None  # None when the run has nothing to promote
    attempts: int = 0


def write_candidate(s3: Any, bucket: str, run_id: str, profile: Profile) -> str:
    """Keep an accepted dataset's profile under its run (it becomes the reference only if the run ends well)."""
    key = candidate_profile_key(run_id)
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=profile.to_json().encode("utf-8"),
        ContentType="application/json",
        Metadata={"cd4ml-run": run_id},
    )
    return f"s3://{bucket}/{key}"


def _read(s3: Any, bucket: str, key: str) -> tuple[Profile, str] | None:
    try:
        answer = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error_code(error) == "NoSuchKey":
            return None
        raise
    return Profile.from_json(answer["Body"].read()), str(answer["ETag"])


def promote_candidate(s3: Any, bucket: str, *, run_id: str, status: str, attempts: int = ATTEMPTS) -> PromotionResult:
    """Make the run's candidate profile its dataset's reference (the profile names the dataset) if the run ended
    well and its data is newer than the reference's. The write is conditional on the reference read (`IfMatch` its
    ETag, or `IfNoneMatch="*"` for the first): a run that lost the race reads the winner's reference, decides again."""
    if not promotes(status):
        return PromotionResult("not_promoting", None)
    read = _read(s3, bucket, candidate_profile_key(run_id))
    if read is None:
        return PromotionResult("not_promoting", None)  # a run whose data was never accepted has no candidate
    candidate, _ = read
    reference_key = reference_profile_key(candidate.dataset)
    uri = f"s3://{bucket}/{reference_key}"
    body = candidate.to_json().encode("utf-8")
    for attempt in range(1, attempts + 1):
        current = _read(s3, bucket, reference_key)
        if not supersedes(candidate, current[0] if current else None):
            return PromotionResult("kept", uri, attempt)
        condition = {"IfMatch": current[1]} if current else {"IfNoneMatch": "*"}
        try:
            s3.put_object(
                Bucket=bucket,
                Key=reference_key,
                Body=body,
                ContentType="application/json",
                Metadata={"cd4ml-run": run_id},
                **condition,
            )
        except ClientError as error:
            if error_code(error) not in LOST_CONDITION:
                raise
            continue  # another run wrote it first: read the winner and compare again
        return PromotionResult("first" if current is None else "promoted", uri, attempt)
    raise ReferenceContention(
        f"{uri} changed under each of {attempts} attempts to promote run {run_id!r}'s profile; it was not promoted"
    )
