"""The storm guard's lock in DynamoDB: one item per model package group (key `group`), read consistently, judged
by `cd4ml_shared.retraining.judge`, and written back on the condition that nobody wrote it meanwhile (its
`version`); a lost condition reads again and judges again, so of concurrent requests exactly one starts a run and
the others see it in flight."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from ..retraining import GuardPolicy, GuardState, RetrainingRequest, Verdict, ended, judge, started
from .client_errors import error_code

KEY = "group"
ATTEMPTS = 10  # lost conditions in a row before giving up (each means another request decided meanwhile)


class GuardContended(Exception):
    """The guard's item changed under `ATTEMPTS` writes in a row."""


def read_guard(dynamodb: Any, table: str, group: str) -> GuardState:
    item = dynamodb.get_item(TableName=table, Key={KEY: {"S": group}}, ConsistentRead=True).get("Item")
    if not item:
        return GuardState()

    def number(name: str) -> float | None:
        value = item.get(name, {}).get("N")
        return float(value) if value is not None else None

    return GuardState(
        in_flight=item.get("in_flight", {}).get("S"),
        in_flight_since=number("in_flight_since"),
        last_started_at=number("last_started_at"),
        episodes=tuple(entry["S"] for entry in item.get("episodes", {}).get("L", [])),
        version=int(number("version") or 0),
    )


def _write(dynamodb: Any, table: str, group: str, before: GuardState, after: GuardState) -> bool:
    item: dict[str, Any] = {
        KEY: {"S": group},
        "version": {"N": str(after.version)},
        "episodes": {"L": [{"S": e} for e in after.episodes]},
    }
    if after.in_flight is not None:
        item["in_flight"] = {"S": after.in_flight}
        item["in_flight_since"] = {"N": repr(after.in_flight_since)}
    if after.last_started_at is not None:
        item["last_started_at"] = {"N": repr(after.last_started_at)}
    try:
        dynamodb.put_item(
            TableName=table,
            Item=item,
            ConditionExpression="attribute_not_exists(#key) OR #version = :version",
            ExpressionAttributeNames={"#key": KEY, "#version": "version"},
            ExpressionAttributeValues={":version": {"N": str(before.version)}},
        )
    except ClientError as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def claim(
    dynamodb: Any,
    table: str,
    request: RetrainingRequest,
    policy: GuardPolicy,
    new_run_id: Callable[[], str],
    *,
    resume: str | None = None,
) -> tuple[Verdict, str | None]:
    """Judge the request against the group's guard; when it starts a run, take the lock for a new run id first.
    Returns the verdict and the run id (None when dropped). A request whose own run (`resume`, the id its event
    gives) holds the lock is that run redelivered: it resumes, so a crash after the claim loses nothing."""
    for _ in range(ATTEMPTS):
        state = read_guard(dynamodb, table, request.group)
        if resume is not None and state.in_flight == resume:
            return Verdict(True, f"run {resume} resumed (its request was delivered again)"), resume
        verdict = judge(state, request, policy)
        if not verdict.start:
            return verdict, None
        run_id = new_run_id()
        if _write(dynamodb, table, request.group, state, started(state, request, run_id)):
            return verdict, run_id
    raise GuardContended(f"the retraining guard of {request.group} changed under {ATTEMPTS} writes in a row")


def release(dynamodb: Any, table: str, group: str, run_id: str) -> bool:
    """Release the lock `run_id` holds (its run ended); False when it no longer holds it (released, taken over)."""
    for _ in range(ATTEMPTS):
        state = read_guard(dynamodb, table, group)
        after = ended(state, run_id)
        if after is None:
            return False
        if _write(dynamodb, table, group, state, after):
            return True
    raise GuardContended(f"the retraining guard of {group} changed under {ATTEMPTS} writes in a row")
