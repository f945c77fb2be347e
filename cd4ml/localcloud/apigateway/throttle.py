"""Throttling of HTTP API routes: a token bucket per stage and route, holding `ThrottlingBurstLimit` tokens and
refilled at `ThrottlingRateLimit` per second, as API Gateway's limits work. A request finding it empty is 429."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# API Gateway's account-level defaults per region, used where a stage sets no limit.
ACCOUNT_RATE_LIMIT = 10000.0
ACCOUNT_BURST_LIMIT = 5000


@dataclass(frozen=True)
class Limits:
    rate_per_s: float
    burst: int


def limits_of(default_settings: dict[str, object] | None, route_settings: dict[str, object] | None) -> Limits:
    """A route's limits: its own route settings over the stage's default route settings over the account's.

    Settings are in the API's field names (`throttlingRateLimit`, `throttlingBurstLimit`)."""

    def pick(name: str, fallback: float) -> float:
        for settings in (route_settings, default_settings):
            if settings and settings.get(name) is not None:
                return float(settings[name])  # type: ignore[arg-type]
        return fallback

    return Limits(
        pick("throttlingRateLimit", ACCOUNT_RATE_LIMIT), int(pick("throttlingBurstLimit", ACCOUNT_BURST_LIMIT))
    )


class TokenBucket:
    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._tokens = float(limits.burst)
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Take one token if there is one (True), else False: the request is throttled."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.limits.burst), self._tokens + (now - self._last) * self.limits.rate_per_s)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


class Throttles:
    """The buckets of every (API, stage, route); a bucket is made again when its stage's limits change."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def admit(self, api_id: str, stage: str, route_key: str, limits: Limits) -> bool:
        key = (api_id, stage, route_key)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None or bucket.limits != limits:
                bucket = self._buckets[key] = TokenBucket(limits, self._clock)
        return bucket.take()
