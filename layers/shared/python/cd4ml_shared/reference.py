"""Which dataset profile is a dataset's reference (the baseline the next upload is checked against), decided from
plain values: a run's candidate profile replaces the reference only when the run ended well and its data is newer.
The S3 side (the candidate under the run, the conditional write of the reference) is `aws.reference`."""

from __future__ import annotations

from typing import Literal

from .drift import Profile
from .layout import RunLayout

# A registered model is the only outcome whose data becomes the baseline. A gated-out challenger's data passed
# validation, but nothing trained on it is in service: the champion's data stays the reference, so monitoring and
# the next upload are compared with what the served model learnt from (docs/training-pipeline.md).
PROMOTING_STATUSES: frozenset[str] = frozenset({"succeeded"})

Promotion = Literal["promoted", "first", "kept", "not_promoting"]


def candidate_profile_key(run_id: str, bucket: str = "") -> str:
    """Where validation leaves an accepted dataset's profile until the run's outcome decides its fate."""
    return RunLayout(bucket, run_id).key("reference-candidate.json")


def promotes(status: str) -> bool:
    return status in PROMOTING_STATUSES


def _order(profile: Profile) -> tuple[bool, str, int, str]:
    # Newest data first (ISO 8601 UTC strings order as times; a profile without a time column orders before any
    # with one), then more rows, then the document itself: two racing runs agree on the winner whatever their order.
    return (profile.time_max is not None, profile.time_max or "", profile.rows, profile.to_json())


def supersedes(candidate: Profile, current: Profile | None) -> bool:
    """Whether the candidate should replace the current reference: there is none yet, or its data is strictly newer
    (the same profile again, as a retried outcome brings it, changes nothing: a reference moves once)."""
    return current is None or _order(candidate) > _order(current)
