"""The project's own template rules: every Task of its state machines retries, catches and times out."""

import json

from cd4ml.template_checks import check_template, task_problems


def test_the_training_pipeline_has_retry_catch_and_a_timeout_on_every_task(root):
    assert check_template(root / "template.yaml", resilient_tasks=True) == []
    definition = json.loads((root / "statemachines" / "training_pipeline.asl.json").read_text())
    assert task_problems(definition["States"]) == []


def test_a_task_without_retry_catch_or_timeout_is_named_even_inside_a_parallel_branch():
    bare = {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f", "End": True}
    caught_elsewhere = {**bare, "Retry": [{"ErrorEquals": ["X"]}], "Catch": [{"ErrorEquals": ["X"], "Next": "F"}]}
    states = {
        "Outer": {"Type": "Parallel", "Branches": [{"StartAt": "Inner", "States": {"Inner": bare}}], "End": True},
        "Partial": {**caught_elsewhere, "TimeoutSecondsPath": "$.t"},
    }

    assert task_problems(states) == [
        "task Outer/Inner has no Retry",
        "task Outer/Inner has no Catch of States.ALL",
        "task Outer/Inner has no TimeoutSeconds or TimeoutSecondsPath",
        "task Partial has no Catch of States.ALL",
    ]
