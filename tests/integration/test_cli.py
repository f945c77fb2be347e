"""The `cd4ml local` commands, driven as a user drives them: in subprocesses, through stdout, stderr and exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from local_up import ROOT, Running, cli_env, client, free_port, start_local_up

pytestmark = pytest.mark.integration

CORE = ROOT / "tests" / "integration" / "stacks" / "core" / "template.yaml"
UNSUPPORTED = ROOT / "tests" / "integration" / "stacks" / "cli" / "unsupported.yaml"
S3_EVENT = ROOT / "events" / "s3_object_created.json"
REGION = "us-east-1"
READY_TIMEOUT_S = 60.0
COMMAND_TIMEOUT_S = 60.0
SLEEP_S = 60  # what the sleeper is asked to sleep, far past its 1 s Timeout


# ---- helpers ----------------------------------------------------------------------------------------------
def cd4ml(*args: str | Path, timeout: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run `cd4ml ARGS...` to completion from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "cd4ml.cli", *map(str, args)],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def invoke(function: str, *extra: str | Path, template: Path = CORE) -> subprocess.CompletedProcess[str]:
    return cd4ml("local", "invoke", function, "--template", template, *extra)


class Ran:
    """A finished `cd4ml local invoke` and how long it took."""

    def __init__(self, result: subprocess.CompletedProcess[str], elapsed_s: float) -> None:
        self.returncode = result.returncode
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.elapsed_s = elapsed_s


def _timed(function: str, *extra: str | Path, template: Path = CORE, timeout: float = COMMAND_TIMEOUT_S) -> Ran:
    started = time.monotonic()
    result = cd4ml("local", "invoke", function, "--template", template, *extra, timeout=timeout)
    return Ran(result, time.monotonic() - started)


@pytest.fixture(scope="module")
def invocations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[Ran]]]:
    """Each `local invoke` deploys the whole stack in a fresh process (seconds): start them all at once."""
    events = tmp_path_factory.mktemp("events")
    (events / "sleep.json").write_text(json.dumps({"seconds": SLEEP_S}), encoding="utf-8")
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="cd4ml-invoke") as pool:
        yield {
            # slowest first
            "sleeper": pool.submit(_timed, "SleeperFunction", "--event", events / "sleep.json", timeout=SLEEP_S + 30),
            "echo": pool.submit(_timed, "EchoFunction", "--event", S3_EVENT.relative_to(ROOT)),
            "failer": pool.submit(_timed, "FailerFunction"),
            "unknown": pool.submit(_timed, "NoSuchFunction"),
            "not_a_function": pool.submit(_timed, "DataBucket"),
            "unsupported": pool.submit(_timed, "Box", template=UNSUPPORTED),
            "missing_template": pool.submit(_timed, "EchoFunction", template=events / "no-such-template.yaml"),
        }


@pytest.fixture
def local_up(tmp_path: Path) -> Iterator[tuple[Running, int, Path]]:
    port = free_port()
    work_dir = tmp_path / "work"
    running = start_local_up(
        "--template", CORE.relative_to(ROOT), "--port", port, "--parameter", "Greeting=bonjour", "--work-dir", work_dir
    )
    try:
        yield running, port, work_dir
    finally:
        running.kill()  # its function workers read their requests from its pipes: they end with it


def last_json_line(text: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
    return document


# ---- cd4ml local up ---------------------------------------------------------------------------------------
def test_local_up_serves_the_deployed_stack_until_interrupted(local_up: tuple[Running, int, Path]) -> None:
    running, port, work_dir = local_up
    endpoint = f"http://127.0.0.1:{port}"
    running.wait_for_line(rf"^Local cloud ready on {re.escape(endpoint)}\b", READY_TIMEOUT_S)
    output = running.output

    # the resource listing names each resource by type, logical id and physical id
    echo_name = re.search(r"AWS::Lambda::Function\s+EchoFunction\s+(\S+)", output)
    bucket_name = re.search(r"AWS::S3::Bucket\s+DataBucket\s+(\S+)", output)
    pipeline_arn = re.search(r"AWS::StepFunctions::StateMachine\s+Pipeline\s+(arn:aws:states:\S+)", output)
    assert echo_name and bucket_name and pipeline_arn, output
    assert re.search(r"^Stack cd4ml \(\d+ resources, region us-east-1, account \d{12}\)$", output, re.M), output
    assert f"output BucketName = {bucket_name[1]}" in output
    assert f"export AWS_ENDPOINT_URL={endpoint}" in output
    assert f"Function logs: {work_dir.resolve() / 'logs' / 'lambda'}" in output

    # Lambda: the deployed function is listed under its physical name and runs with the overridden parameter
    lam = client("lambda", port)
    names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    assert echo_name[1] in names
    response = lam.invoke(FunctionName=echo_name[1], Payload=json.dumps({"from": "boto3"}).encode())
    assert "FunctionError" not in response
    result = json.loads(response["Payload"].read())
    assert result["shout"] == "BONJOUR!"
    assert result["event"] == {"from": "boto3"}
    assert result["function_name"] == echo_name[1]
    assert (work_dir / "logs" / "lambda" / f"{echo_name[1]}.log").read_text().count("REPORT RequestId") >= 1

    # S3 -> EventBridge -> Step Functions: an upload under datasets/ runs the Pipeline to success
    sfn = client("stepfunctions", port)
    machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    assert pipeline_arn[1] in machines.values()
    assert sfn.list_executions(stateMachineArn=pipeline_arn[1])["executions"] == []
    client("s3", port).put_object(Bucket=bucket_name[1], Key="datasets/cli/orders.csv", Body=b"id,total\n1,9.5\n")

    deadline = time.monotonic() + 30
    while True:
        executions = sfn.list_executions(stateMachineArn=pipeline_arn[1])["executions"]
        if executions and all(e["status"] != "RUNNING" for e in executions):
            break
        assert time.monotonic() < deadline, f"Pipeline executions after 30s: {executions}\n{running.output}"
        time.sleep(0.1)
    assert [e["status"] for e in executions] == ["SUCCEEDED"]
    detail = sfn.describe_execution(executionArn=executions[0]["executionArn"])
    assert json.loads(detail["input"])["object"]["key"] == "datasets/cli/orders.csv"  # InputPath: $.detail
    assert json.loads(detail["output"])["echo"]["echoed"]["object"]["key"] == "datasets/cli/orders.csv"

    running.wait_for_line(
        rf"^\[events\] aws\.s3 / Object Created -> \S+ -> {re.escape(pipeline_arn[1])}: delivered$", 15
    )

    # Ctrl-C stops it cleanly
    code = running.stop(30)
    assert code == 0, running.output
    assert any(line.startswith("Stopping the local cloud") for line in running.lines), running.output
    assert "Traceback" not in running.output
    assert (work_dir / "logs" / "lambda").is_dir()  # a --work-dir given by the user is kept after stopping


def _up_with_state(state_dir: Path, port: int) -> Running:
    running = start_local_up("--template", CORE, "--port", port, "--state-dir", state_dir)
    running.wait_for_line(r"^Local cloud ready on ", READY_TIMEOUT_S)
    return running


def _stop(running: Running) -> None:
    assert running.stop(30) == 0, running.output


def test_local_up_with_a_state_dir_keeps_the_objects_across_a_restart(tmp_path: Path) -> None:
    state_dir, port = tmp_path / "state", free_port()
    first = _up_with_state(state_dir, port)
    try:
        assert "restored: nothing" in first.output
        bucket = re.search(r"output BucketName = (\S+)", first.output)
        assert bucket, first.output
        client("s3", port).put_object(Bucket=bucket[1], Key="notes/kept.txt", Body=b"still here")
    finally:
        _stop(first)

    second = _up_with_state(state_dir, port)
    try:
        assert re.search(r"^State: kept in .*; restored: 1 objects\b", second.output, re.M), second.output
        body = client("s3", port).get_object(Bucket=bucket[1], Key="notes/kept.txt")["Body"].read()
        assert body == b"still here"
    finally:
        _stop(second)


# ---- cd4ml local invoke -----------------------------------------------------------------------------------
def test_invoke_prints_the_handler_result_on_stdout_and_the_function_log_on_stderr(
    invocations: dict[str, Future[Ran]],
) -> None:
    result = invocations["echo"].result()

    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)  # stdout holds the result and nothing else
    expected_key = json.loads(S3_EVENT.read_text())["detail"]["object"]["key"]
    assert payload["event"]["detail"]["object"]["key"] == expected_key
    assert payload["shout"] == "HELLO!"  # the template's default Greeting
    request_id = payload["request_id"]
    assert f"START RequestId: {request_id} Version: $LATEST" in result.stderr
    assert f"END RequestId: {request_id}" in result.stderr
    assert re.search(rf"^REPORT RequestId: {request_id}\tDuration: [\d.]+ ms", result.stderr, re.M), result.stderr
    assert "FunctionError" not in result.stderr


def test_invoke_of_a_failing_function_prints_the_aws_error_shape_and_exits_1(
    invocations: dict[str, Future[Ran]],
) -> None:
    result = invocations["failer"].result()

    assert result.returncode == 1, result.stdout + result.stderr
    error = last_json_line(result.stdout)
    assert error["errorType"] == "RuntimeError"
    assert error["errorMessage"] == "failure for ?"
    assert isinstance(error["stackTrace"], list)
    assert any("failer/app.py" in frame and "in handler" in frame for frame in error["stackTrace"])
    assert result.stderr.rstrip().splitlines()[-1] == "FunctionError: Unhandled"
    assert "[ERROR] RuntimeError: failure for ?" in result.stderr


def test_invoke_of_a_function_that_outlives_its_timeout_is_cut_off(invocations: dict[str, Future[Ran]]) -> None:
    # The handler is asked to sleep 60 s; its Timeout is 1 s. The command also deploys the stack (seconds, more
    # while the other invocations run beside it), so only a sleep far longer than that tells a cut-off invocation
    # from one that ran to its end.
    result = invocations["sleeper"].result()

    assert result.returncode == 1, result.stdout + result.stderr
    error = last_json_line(result.stdout)
    assert error["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(r"RequestId: \S+ Error: Task timed out after 1\.00 seconds", error["errorMessage"]), error
    assert "Task timed out after 1.00 seconds" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == "FunctionError: Unhandled"
    assert result.elapsed_s < SLEEP_S / 2, f"took {result.elapsed_s:.1f}s: the sleep was not cut off at 1 s"


def test_invoke_of_an_unknown_function_exits_2_and_names_the_functions(invocations: dict[str, Future[Ran]]) -> None:
    result = invocations["unknown"].result()

    assert result.returncode == 2, result.stdout + result.stderr
    assert "'NoSuchFunction' is not a function of the template" in result.stderr
    for name in ("EchoFunction", "FailerFunction", "RecorderFunction", "SleeperFunction"):
        assert name in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_invoke_of_a_resource_that_is_not_a_function_exits_2(invocations: dict[str, Future[Ran]]) -> None:
    result = invocations["not_a_function"].result()

    assert result.returncode == 2, result.stdout + result.stderr
    assert "'DataBucket' is not a function of the template" in result.stderr
    assert "EchoFunction" in result.stderr


def test_invoke_on_a_template_with_an_unsupported_resource_exits_2_naming_it(
    invocations: dict[str, Future[Ran]],
) -> None:
    result = invocations["unsupported"].result()

    assert result.returncode == 2, result.stdout + result.stderr
    assert re.search(r"^error: .*'Box'.*'AWS::EC2::Instance'.*not support", result.stderr, re.M), result.stderr
    assert "Traceback" not in result.stderr


def test_invoke_with_an_event_file_that_is_not_json_fails_clearly(tmp_path: Path) -> None:
    event = tmp_path / "broken.json"
    event.write_text('{"seconds": 5,', encoding="utf-8")

    result = invoke("EchoFunction", "--event", event)

    assert result.returncode != 0
    assert f"{event}: not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_invoke_with_a_missing_event_file_fails_clearly(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-event.json"

    result = invoke("EchoFunction", "--event", missing)

    assert result.returncode != 0
    assert str(missing) in result.stderr
    assert "Traceback" not in result.stderr


def test_invoke_with_a_missing_template_exits_2_naming_it(invocations: dict[str, Future[Ran]]) -> None:
    result = invocations["missing_template"].result()

    assert result.returncode == 2, result.stderr
    assert "no-such-template.yaml" in result.stderr
    assert "Traceback" not in result.stderr
