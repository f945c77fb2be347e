"""Starting a state machine once per name: the starters name each execution after what triggered it (an object
version, a model package version), so a duplicated or replayed event finds the name taken and starts nothing."""

from __future__ import annotations

from typing import Any


def start_once(sfn: Any, state_machine_arn: str, name: str, document: str) -> str | None:
    """The new execution's ARN; None when an execution of that name exists (its run is already under way or done)."""
    try:
        started = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=document)
    except sfn.exceptions.ExecutionAlreadyExists:
        return None
    return str(started["executionArn"])
