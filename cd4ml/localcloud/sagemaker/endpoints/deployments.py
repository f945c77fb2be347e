"""UpdateEndpoint as a blue/green deployment: the new fleet starts beside the old one, traffic shifts (ALL_AT_ONCE,
CANARY, LINEAR) while the auto-rollback alarms are watched, then the old fleet is retired, or traffic goes back to
it: InService again on the old EndpointConfigName, with a FailureReason, as AWS does."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ...cloudwatch_alarms import ALARM
from .capture import capture_summary
from .config import ConfigSpec, rollback_alarms, set_variants, traffic_steps
from .fleet import Endpoint, Fleet
from .invoke import INVOCATION_TIMEOUT_S, Cancelled, EndpointFailure
from .launch import FleetLauncher
from .publishing import Publisher
from .status import EndpointStatus

log = logging.getLogger(__name__)


class BlueGreenUpdate:
    def __init__(
        self, status: EndpointStatus, launcher: FleetLauncher, publisher: Publisher, closed: Callable[[], bool]
    ) -> None:
        self.status = status
        self.launcher = launcher
        self.publisher = publisher
        self.closed = closed
        self.drain_timeout_s = INVOCATION_TIMEOUT_S  # requests in flight on a fleet being retired

    def run(self, endpoint: Endpoint, spec: ConfigSpec, deployment: dict[str, Any]) -> None:
        started = time.monotonic()
        started_at = datetime.now(UTC)
        policy = deployment.get("BlueGreenUpdatePolicy") or {}
        routing = policy.get("TrafficRoutingConfiguration") or {}
        timeout = policy.get("MaximumExecutionTimeoutInSeconds")
        deadline = started + float(timeout) if timeout else None
        alarms = rollback_alarms(deployment)
        wait_s = float(routing.get("WaitIntervalInSeconds") or 0)
        self.status.stage(endpoint, spec, started_at, 0.0, "Creating", f"Launching {spec.instance_count} instance(s).")
        try:
            fleet = self.launcher.launch(endpoint, spec)
        except Cancelled:
            return
        except EndpointFailure as failure:
            self._roll_back(endpoint, None, f"Updating to endpoint config {spec.name} failed: {failure.reason}")
            return
        with endpoint.lock:
            if endpoint.deleted:
                fleet.stop()
                return
            endpoint.pending, endpoint.pending_share = fleet, 0.0
        steps = traffic_steps(routing, spec.instance_count)
        for share in steps:
            with endpoint.lock:
                endpoint.pending_share = share
            message = (
                f"Baking for {wait_s:g} seconds (WaitIntervalInSeconds) with {share:.0%} of traffic on the new fleet."
            )
            self.status.stage(endpoint, spec, started_at, share, "Baking", message)
            problem = self._bake(endpoint, wait_s, alarms, deadline)
            if problem is not None:
                self._roll_back(endpoint, fleet, problem)
                return
        termination_s = float(policy.get("TerminationWaitInSeconds") or 0)
        if termination_s:
            message = (
                f"Baking for {termination_s:g} seconds (TerminationWaitInSeconds) with all traffic on the new fleet."
            )
            self.status.stage(endpoint, spec, started_at, 1.0, "Baking", message)
            problem = self._bake(endpoint, termination_s, alarms, deadline)
            if problem is not None:
                self._roll_back(endpoint, fleet, problem)
                return
        with endpoint.lock:
            if endpoint.deleted:
                return  # the delete retires both fleets
            old, endpoint.live, endpoint.pending, endpoint.pending_share = endpoint.live, fleet, None, 0.0
        fake = endpoint.fake
        fake.endpoint_config_name = spec.name
        fake.data_capture_config = capture_summary(spec.capture)
        fake.pending_deployment_summary = None
        set_variants(fake, spec)
        if old is not None:
            self.retire_fleet(old)
        self.status.set(endpoint, "InService")

    def _bake(self, endpoint: Endpoint, seconds: float, alarms: list[str], deadline: float | None) -> str | None:
        """Wait `seconds` watching the alarms; the reason to roll back, or None when the period passed cleanly."""
        end = time.monotonic() + seconds
        while True:
            if endpoint.deleted or self.closed():
                return "the endpoint was deleted during the update"
            if alarms:
                tripped = self._tripped(alarms)
                if tripped:
                    return (
                        f"Rolled back the update: CloudWatch alarm(s) {', '.join(tripped)} of the "
                        f"AutoRollbackConfiguration went into ALARM while baking ({'; '.join(tripped.values())})"
                    )
            if deadline is not None and time.monotonic() > deadline:
                return "Rolled back the update: it exceeded MaximumExecutionTimeoutInSeconds"
            remaining = end - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(self.publisher.alarm_interval_s, remaining))

    def _tripped(self, alarms: list[str]) -> dict[str, str]:
        self.publisher.publish_metrics()
        try:
            outcomes = self.publisher.alarm_evaluator().evaluate(alarms)
        except Exception:
            log.exception("evaluating the auto-rollback alarms %s failed", alarms)
            return {}
        return {name: outcome.reason for name, outcome in outcomes.items() if outcome.state == ALARM}

    def _roll_back(self, endpoint: Endpoint, fleet: Fleet | None, reason: str) -> None:
        """Traffic back to the old fleet, the new one stopped; InService on the old config, as AWS does."""
        log.warning("endpoint %s: %s", endpoint.name, reason)
        with endpoint.lock:
            endpoint.pending, endpoint.pending_share = None, 0.0
        if fleet is not None:
            self.retire_fleet(fleet)
        if endpoint.deleted:
            return
        endpoint.fake.failure_reason = reason[:1024]
        endpoint.fake.pending_deployment_summary = None
        self.status.set(endpoint, "InService")

    def retire_fleet(self, fleet: Fleet) -> None:
        if not fleet.drain(self.drain_timeout_s):
            log.warning("fleet %s still had requests in flight after %ss", fleet.spec.name, self.drain_timeout_s)
        fleet.stop()

    def retire(self, endpoint: Endpoint) -> None:
        with endpoint.lock:
            fleets = [f for f in (endpoint.live, endpoint.pending) if f is not None]
            endpoint.live = endpoint.pending = None
        for fleet in fleets:
            fleet.stop()
