"""The retraining storm guard (issue 11 §4), as plain values: whether a `RetrainingRequested` starts a run or is
dropped, and why. Monitoring breaches, schedules and quality alarms all ask; a storm of them (every window of a
drift episode breaches, an alarm flaps, a schedule fires beside a breach) must give one run:

- **one run in flight**: a request while a run is in flight is dropped (`in_flight`), unless that run has been
  in flight longer than `stale_after_s`: its end was lost (a run that no longer reports), so the lock is taken over;
- **a cooldown** after each start (`cooldown_s`, e.g. 24 h in prod): a request within it is dropped (`cooldown`);
- **one run per episode**: a request naming an episode already acted on is dropped (`episode_handled`), whenever
  it comes (a drift episode is named by the monitor, e.g. the first window that breached).

The state is one item per model package group; `cd4ml_shared.aws.retraining` reads it, judges with `judge`, and
writes it back conditionally, so concurrent requests cannot both start a run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from .environment import environment, required, whole_number

REASONS = ("drift", "quality", "schedule", "alarm", "manual")
KEPT_EPISODES = 50  # the episodes remembered per group (older ones cannot come back: their windows are long gone)
Drop = Literal["in_flight", "cooldown", "episode_handled", "no_accepted_dataset"]


class InvalidRequest(ValueError):
    """A RetrainingRequested event without what the guard needs (a reason of REASONS, a group)."""


@dataclass(frozen=True)
class RetrainingRequest:
    group: str
    reason: str
    requested_at: float  # epoch seconds
    episode: str | None = None  # e.g. the drift episode's first breaching window; None: no episode
    detail: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_event(cls, event: Mapping[str, Any], requested_at: float) -> RetrainingRequest:
        """From the EventBridge event (`source: cd4ml.monitoring`, `detail-type: RetrainingRequested`)."""
        detail = event.get("detail")
        if not isinstance(detail, Mapping):
            raise InvalidRequest("the event has no detail object")
        reason, group = detail.get("reason"), detail.get("model_package_group")
        if reason not in REASONS:
            raise InvalidRequest(f"detail.reason must be one of {list(REASONS)}, got {reason!r}")
        if not isinstance(group, str) or not group:
            raise InvalidRequest("detail.model_package_group is missing")
        episode = detail.get("episode")
        if episode is not None and (not isinstance(episode, str) or not episode):
            raise InvalidRequest(f"detail.episode must be a non-empty string when given, got {episode!r}")
        return cls(group, str(reason), requested_at, episode, dict(detail))


@dataclass(frozen=True)
class GuardPolicy:
    cooldown_s: float
    stale_after_s: float  # a run in flight longer than this is taken to have ended without saying so

    def __post_init__(self) -> None:
        if self.cooldown_s < 0 or self.stale_after_s <= 0:
            raise ValueError(f"cooldown_s must be >= 0 and stale_after_s > 0, got {self}")


@dataclass(frozen=True)
class GuardState:
    """One group's guard: the run in flight (id and start), the last start, the episodes acted on (oldest first),
    and a counter that every write bumps (the condition of the next write)."""

    in_flight: str | None = None
    in_flight_since: float | None = None
    last_started_at: float | None = None
    episodes: tuple[str, ...] = ()
    version: int = 0


@dataclass(frozen=True)
class Verdict:
    start: bool
    why: str  # a sentence for the record and the notification
    dropped: Drop | None = None


def judge(state: GuardState, request: RetrainingRequest, policy: GuardPolicy) -> Verdict:
    """Start, or drop with the reason, by the three rules in the module's docstring (in that order)."""
    now = request.requested_at
    if state.in_flight is not None:
        age = now - (state.in_flight_since or now)
        if age < policy.stale_after_s:
            return Verdict(False, f"run {state.in_flight} is in flight (since {age:.0f} s)", "in_flight")
    if state.last_started_at is not None and now - state.last_started_at < policy.cooldown_s:
        left = policy.cooldown_s - (now - state.last_started_at)
        return Verdict(False, f"within the cooldown after the last start ({left:.0f} s left)", "cooldown")
    if request.episode is not None and request.episode in state.episodes:
        return Verdict(False, f"episode {request.episode} already had its run", "episode_handled")
    taken = f" (run {state.in_flight} went stale)" if state.in_flight is not None else ""
    return Verdict(True, f"retraining for {request.reason}{taken}")


def started(state: GuardState, request: RetrainingRequest, run_id: str) -> GuardState:
    """The state once `run_id` started for `request`."""
    episodes: Sequence[str] = state.episodes
    if request.episode is not None and request.episode not in episodes:
        episodes = (*episodes, request.episode)[-KEPT_EPISODES:]
    return GuardState(run_id, request.requested_at, request.requested_at, tuple(episodes), state.version + 1)


def ended(state: GuardState, run_id: str) -> GuardState | None:
    """The state once `run_id` ended (None when that run is not the one in flight: nothing to release)."""
    if state.in_flight != run_id:
        return None
    return replace(state, in_flight=None, in_flight_since=None, version=state.version + 1)


# ---- what asks for a retraining, and what ends one ------------------------------------------------------------
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
SCHEDULED = "Scheduled Event"
EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
RETRAINING_REQUESTED = "RetrainingRequested"
ENDED_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
RETRAIN_FILE_PREFIX = "retrain-"  # datasets/<dataset>/<date>/retrain-<request id>.parquet (retraining_data.py)


@dataclass(frozen=True)
class RunEnded:
    """The training pipeline's run of a retraining dataset ended: its lock is released."""

    request_id: str
    status: str
    execution_arn: str


def _moment(event: Mapping[str, Any], fallback: float) -> float:
    raw = event.get("time")
    if not isinstance(raw, str):
        return fallback
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return fallback


def request_id_of(event: Mapping[str, Any], requested_at: float) -> str:
    """The retraining's id, from the event that asked (`<UTC time>-<event id's first 8>`): a redelivered event gets
    the same id, so its run is resumed, never started twice, and its dataset keeps one key."""
    stamp = datetime.fromtimestamp(requested_at, UTC).strftime("%Y%m%dT%H%M%SZ")
    tail = "".join(c for c in str(event.get("id", "")) if c.isalnum())[:8].lower() or "noid"
    return f"{stamp}-{tail}"


def request_of(event: Mapping[str, Any], *, group: str, now: float) -> RetrainingRequest | RunEnded | None:
    """What an event delivered to `request_retraining` means: a request (monitoring's RetrainingRequested, the
    retraining schedule, the quality alarm going into ALARM), the end of a retraining run (the training pipeline's
    status change for a `retrain-<id>` dataset), or None (an alarm leaving ALARM, another dataset's run)."""
    kind = event.get("detail-type")
    at = _moment(event, now)
    raw = event.get("detail")
    detail: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    if kind == RETRAINING_REQUESTED:
        return RetrainingRequest.from_event(event, at)
    if kind == SCHEDULED:
        rule = (event.get("resources") or ["the schedule"])[0]
        return RetrainingRequest(group, "schedule", at, None, {"rule": rule})
    if kind == ALARM_STATE_CHANGE:
        state = detail.get("state") or {}
        if state.get("value") != "ALARM":
            return None
        name = str(detail.get("alarmName", "alarm"))
        # one episode per time the alarm went into ALARM: a flapping alarm's next episode meets the cooldown
        episode = f"alarm:{name}:{state.get('timestamp', event.get('time', ''))}"
        return RetrainingRequest(group, "alarm", at, episode, {"alarm": name, "why": state.get("reason", "")})
    if kind == EXECUTION_STATUS_CHANGE:
        return _run_ended(detail)
    raise InvalidRequest(f"request_retraining does not handle {kind!r} events")


def _run_ended(detail: Mapping[str, Any]) -> RunEnded | None:
    if detail.get("status") not in ENDED_STATUSES:
        return None
    try:
        run_input = json.loads(detail.get("input") or "{}")
    except ValueError:
        return None
    key = ((run_input.get("dataset") or {}) if isinstance(run_input, Mapping) else {}).get("key")
    name = str(key or "").rsplit("/", 1)[-1]
    if not (name.startswith(RETRAIN_FILE_PREFIX) and name.endswith(".parquet")):
        return None
    request_id = name.removeprefix(RETRAIN_FILE_PREFIX).removesuffix(".parquet")
    return RunEnded(request_id, str(detail["status"]), str(detail.get("executionArn", "")))


@dataclass(frozen=True)
class RetrainingSettings:
    """request_retraining's settings (template.yaml's environment), read once per cold start."""

    artifacts_bucket: str
    raw_data_bucket: str
    model_package_group: str
    guard_table: str
    policy: GuardPolicy
    lookback_s: int  # the production data a retraining takes: decisions logged (and labelled) this long back

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> RetrainingSettings:
        env = environment(environ)
        return cls(
            artifacts_bucket=required(env, "ARTIFACTS_BUCKET"),
            raw_data_bucket=required(env, "RAW_DATA_BUCKET"),
            model_package_group=required(env, "MODEL_PACKAGE_GROUP"),
            guard_table=required(env, "GUARD_TABLE"),
            policy=GuardPolicy(
                cooldown_s=whole_number(env, "RETRAINING_COOLDOWN_S"),
                stale_after_s=whole_number(env, "RETRAINING_STALE_AFTER_S"),
            ),
            lookback_s=whole_number(env, "RETRAINING_LOOKBACK_S"),
        )


def request_record_key(group: str, request_id: str, requested_at: float) -> str:
    """Where every request is recorded, started or dropped with why: `retraining/<group>/requests/<date>/<id>.json`."""
    day = datetime.fromtimestamp(requested_at, UTC).strftime("%Y-%m-%d")
    return f"retraining/{group}/requests/{day}/{request_id}.json"


def request_record(
    request: RetrainingRequest, request_id: str, verdict: Verdict, *, dataset: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "group": request.group,
        "reason": request.reason,
        "episode": request.episode,
        "requested_at": datetime.fromtimestamp(request.requested_at, UTC).isoformat(),
        "detail": dict(request.detail),
        "started": verdict.start,
        "dropped": verdict.dropped,
        "why": verdict.why,
        "dataset": dict(dataset) if dataset else None,
    }


_LINEAGE_KEYS = {
    "retraining-request-id": "cd4ml:retraining_request_id",
    "retraining-reason": "cd4ml:retraining_reason",
    "retraining-episode": "cd4ml:retraining_episode",
    "retraining-windows": "cd4ml:retraining_windows",
    "source-dataset": "cd4ml:retraining_source_dataset",
    "production-rows": "cd4ml:retraining_production_rows",
}
MAX_METADATA_VALUE = 1024  # a model package's CustomerMetadataProperties value


def retraining_lineage(dataset_key: str, object_metadata: Mapping[str, str]) -> dict[str, str]:
    """The model package metadata saying a version was a retraining, why and from which windows: from the S3
    metadata request_retraining wrote on its dataset. Empty for any other dataset."""
    if not dataset_key.rsplit("/", 1)[-1].startswith(RETRAIN_FILE_PREFIX):
        return {}
    lineage = {"cd4ml:retraining": "true"}
    for key, name in _LINEAGE_KEYS.items():
        value = object_metadata.get(key)
        if value:
            lineage[name] = value[:MAX_METADATA_VALUE]
    return lineage
