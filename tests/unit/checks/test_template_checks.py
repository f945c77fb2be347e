"""The project's own template rules: every Task of its state machines retries, catches and times out."""

import json

from cd4ml.template_checks import check_template, main, task_problems


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


def test_the_transformed_template_checkov_reads_holds_sams_resources_and_the_template_s_skips(root, tmp_path, capsys):
    out = tmp_path / "transformed.json"
    assert main(["--write-transformed", str(out), str(root / "template.yaml")]) == 0
    document = json.loads(out.read_text())
    function = document["Resources"]["StartPipelineFunction"]
    assert function["Type"] == "AWS::Lambda::Function"  # after the SAM transform
    assert document["Resources"]["StartPipelineFunctionRole"]["Type"] == "AWS::IAM::Role"
    skipped = {skip["id"] for skip in function["Metadata"]["checkov"]["skip"]}
    assert skipped == {"CKV_AWS_115", "CKV_AWS_117", "CKV_AWS_173"}  # it has a DLQ: CKV_AWS_116 passes
    assert function["Properties"]["DeadLetterConfig"] == {
        "TargetArn": {"Fn::GetAtt": ["FunctionDeadLetterQueue", "Arn"]}
    }
    assert "transformed into" in capsys.readouterr().out


def test_every_checkov_skip_in_the_template_has_a_one_line_reason(root):
    from cd4ml.localcloud.deploy.template import load_template

    for name in ("template.yaml", "ci/bootstrap.yaml"):
        for logical_id, resource in load_template(root / name).get("Resources", {}).items():
            for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", []):
                assert skip["id"].startswith("CKV_"), (name, logical_id, skip)
                comment = skip.get("comment", "")
                assert 20 <= len(comment) <= 160 and "\n" not in comment, (name, logical_id, skip)


def test_write_transformed_wants_an_output_and_a_template(capsys):
    assert main(["--write-transformed", "out.json"]) == 2
    assert "usage" in capsys.readouterr().err
