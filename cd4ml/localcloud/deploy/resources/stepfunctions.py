"""Step Functions state machines, their definition substitutions checked."""

from __future__ import annotations

import json
import logging
from typing import Any

from ...errors import TemplateError, UnsupportedResourceError
from ..base import DeployContext, DeployedResource, env_value, handles, tags

log = logging.getLogger(__name__)


@handles("AWS::StepFunctions::StateMachine")
def _state_machine(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    if "DefinitionS3Location" in p:
        raise UnsupportedResourceError(
            logical_id,
            "AWS::StepFunctions::StateMachine",
            "use a local DefinitionUri (SAM) or an inline Definition",
        )
    definition = p.get("DefinitionString") or json.dumps(p.get("Definition", {}))
    for key, value in (p.get("DefinitionSubstitutions") or {}).items():
        definition = definition.replace("${" + key + "}", env_value(value))
    import re

    left = sorted(set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", definition)))
    if left:
        raise TemplateError(f"{logical_id}: definition placeholders without a DefinitionSubstitutions entry: {left}")
    name = p.get("StateMachineName") or d.name_for(logical_id, 80)
    created = d.clients("stepfunctions").create_state_machine(
        name=name,
        definition=definition,
        roleArn=p["RoleArn"],
        type=p.get("StateMachineType", "STANDARD"),
        tags=[{"key": t["Key"], "value": t["Value"]} for t in tags(p)],
    )
    state_machine_arn = created["stateMachineArn"]
    return DeployedResource(
        logical_id,
        "AWS::StepFunctions::StateMachine",
        state_machine_arn,
        state_machine_arn,
        {"Arn": state_machine_arn, "Name": name},
    )
