"""Checks cfn-lint cannot make: ASL files lint, their `${...}` placeholders match DefinitionSubstitutions, the SAM
transform accepts the template, and every local code path exists; for the project's own template, its rules for
tasks (retry, catch, timeout) and for events and queues (dead letters, encryption) on the transformed template."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from .localcloud.deploy.template import load_template, transform_template
from .localcloud.errors import LocalCloudError

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
# statelint checks that Resource fields are URIs; a placeholder stands in for an ARN, so lint it as one.
PLACEHOLDER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:placeholder"


def task_problems(states: dict[str, Any], where: str = "") -> list[str]:
    """The project's rules for its own pipelines: every Task retries transient errors, catches every failure into a
    failure path, and has a timeout (a lost callback or a hung function must fail loudly, never wait forever)."""
    problems: list[str] = []
    for name, state in states.items():
        label = f"{where}{name}"
        if state.get("Type") == "Task":
            if not state.get("Retry"):
                problems.append(f"task {label} has no Retry")
            if not any("States.ALL" in c.get("ErrorEquals", []) for c in state.get("Catch") or []):
                problems.append(f"task {label} has no Catch of States.ALL")
            if "TimeoutSeconds" not in state and "TimeoutSecondsPath" not in state:
                problems.append(f"task {label} has no TimeoutSeconds or TimeoutSecondsPath")
        for branch in state.get("Branches") or []:
            problems += task_problems(branch.get("States", {}), f"{label}/")
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            problems += task_problems(processor.get("States", {}), f"{label}/")
    return problems


def delivery_problems(resources: dict[str, Any]) -> list[str]:
    """The project's rules for what SAM generates too: an EventBridge target that retries has a dead-letter queue (a
    lost event otherwise costs a waiting task its whole timeout, silently), and every queue is encrypted (SAM's own
    `DeadLetterConfig: Type: SQS` queues are not, so the template declares its dead-letter queues)."""
    problems: list[str] = []
    for logical_id, resource in resources.items():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Events::Rule":
            for target in props.get("Targets") or []:
                if target.get("RetryPolicy") and not target.get("DeadLetterConfig"):
                    problems.append(f"rule {logical_id} target {target.get('Id')} retries but has no DeadLetterConfig")
        encrypted = str(props.get("SqsManagedSseEnabled", "")).lower() == "true" or props.get("KmsMasterKeyId")
        if resource.get("Type") == "AWS::SQS::Queue" and not encrypted:
            problems.append(f"queue {logical_id} is not encrypted (SqsManagedSseEnabled or KmsMasterKeyId)")
    return problems


def check_state_machine(
    logical_id: str, props: dict[str, Any], base: Path, *, resilient_tasks: bool = False
) -> list[str]:
    problems: list[str] = []
    uri = props.get("DefinitionUri")
    if not isinstance(uri, str):
        return problems
    path = (base / uri).resolve()
    if not path.is_file():
        return [f"{logical_id}: DefinitionUri {uri} does not exist"]
    text = path.read_text(encoding="utf-8")
    try:
        json.loads(text)
    except ValueError as exc:
        return [f"{path}: not valid JSON: {exc}"]
    used = set(PLACEHOLDER.findall(text))
    given = set((props.get("DefinitionSubstitutions") or {}).keys())
    for name in sorted(used - given):
        problems.append(f"{path.name}: ${{{name}}} has no DefinitionSubstitutions entry in {logical_id}")
    for name in sorted(given - used):
        problems.append(f"{logical_id}: DefinitionSubstitutions entry {name} is not used by {path.name}")
    if resilient_tasks:
        problems += [f"{path.name}: {p}" for p in task_problems(json.loads(text).get("States", {}))]
    linted = PLACEHOLDER.sub(PLACEHOLDER_ARN, text)
    result = subprocess.run(
        [str(Path(sys.executable).with_name("statelint")), linted],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        problems.append(f"{path.name}: statelint: {(result.stdout + result.stderr).strip()}")
    return problems


def check_template(path: Path, *, resilient_tasks: bool = False) -> list[str]:
    problems: list[str] = []
    try:
        document = load_template(path)
    except LocalCloudError as exc:
        return [str(exc)]
    for logical_id, resource in document.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::StateMachine":
            problems += check_state_machine(
                logical_id, resource.get("Properties") or {}, path.parent, resilient_tasks=resilient_tasks
            )
    if not problems:
        try:
            transformed = transform_template(document, {}, path.parent, "us-east-1")
        except LocalCloudError as exc:
            problems.append(str(exc))
        else:
            if resilient_tasks:
                problems += delivery_problems(transformed.resources)
    return problems


def transformed_document(path: Path) -> dict[str, Any]:
    """The template after the SAM transform, with its parameters' defaults, as CloudFormation would receive it (what
    checkov reads for the resources SAM generates: roles, permissions, event source mappings)."""
    transformed = transform_template(load_template(path), {}, path.parent, "us-east-1")
    document: dict[str, Any] = {"AWSTemplateFormatVersion": "2010-09-09"}
    for section, value in (
        ("Parameters", transformed.parameters),
        ("Mappings", transformed.mappings),
        ("Conditions", transformed.conditions),
        ("Resources", transformed.resources),
        ("Outputs", transformed.outputs),
    ):
        if value:
            document[section] = value
    return document


def main(argv: list[str] | None = None) -> int:
    """`python -m cd4ml.template_checks [--resilient-tasks] TEMPLATE...`; --resilient-tasks adds the project's own
    rules: Retry, Catch and a timeout for every Task of the templates' state machines, and a dead-letter queue for
    every retrying EventBridge target and encryption for every queue (`delivery_problems`).
    `--write-transformed OUT TEMPLATE` writes the SAM-transformed template as JSON instead."""
    arguments = list(argv if argv is not None else sys.argv[1:])
    if arguments[:1] == ["--write-transformed"]:
        if len(arguments) != 3:
            print("usage: python -m cd4ml.template_checks --write-transformed OUT.json TEMPLATE", file=sys.stderr)
            return 2
        out, template = Path(arguments[1]), Path(arguments[2])
        try:
            document = transformed_document(template)
        except LocalCloudError as exc:
            print(f"{template}: {exc}", file=sys.stderr)
            return 1
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        print(f"{template}: transformed into {out}")
        return 0
    resilient = "--resilient-tasks" in arguments
    paths = [Path(p) for p in arguments if p != "--resilient-tasks"] or [Path("template.yaml")]
    failed = 0
    for path in paths:
        problems = check_template(path, resilient_tasks=resilient)
        for problem in problems:
            print(f"{path}: {problem}", file=sys.stderr)
        failed += bool(problems)
        print(f"{path}: {'FAILED' if problems else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
