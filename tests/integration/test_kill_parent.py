"""A `cd4ml local up` killed with SIGKILL takes its processes with it, and its port can be served again at once.

Each test runs the real CLI in a subprocess, as a user (or a crashed terminal) does, and looks at the machine's
processes through /proc: a function worker, SageMaker jobs, a model server and what each of them started must all
be gone a few seconds after the kill, without the local cloud having had any chance to clean up.
"""

from __future__ import annotations

import io
import json
import socket
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from local_up import ROOT, Running, client, start_local_up

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds processes through Linux's /proc"),
]

STACK = ROOT / "tests" / "integration" / "stacks" / "lifetime" / "template.yaml"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
READY_TIMEOUT_S = 60.0
GONE_WITHIN_S = 5.0
HOLD_S = 300  # how long the children are asked to live: far longer than the test


def local_up(work_dir: Path, *, port: int = 0, marker: str = "none") -> Running:
    """`cd4ml local up` of the lifetime stack, its children marked (CD4ML_TEST_MARKER) so that /proc finds them."""
    return start_local_up(
        "--template", STACK, "--port", port, "--parameter", f"Marker={marker}", "--work-dir", work_dir
    )


@pytest.fixture
def local_ups(tmp_path: Path) -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for up in started:
        up.kill()


def marked_processes(marker: str) -> dict[int, str]:
    """Live processes (pid -> command line) whose environment carries the marker; zombies have none and are dead."""
    found = {}
    needle = f"CD4ML_TEST_MARKER={marker}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def wait_for(condition: Any, timeout: float, message: Any) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(message())
        time.sleep(0.1)
    return value


def sockets_on_port(port: int) -> list[str]:
    """TCP states (hex, as /proc/net/tcp writes them; 0A is LISTEN) of the sockets whose local end is 127.0.0.1:port."""
    states = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}":
            states.append(fields[3])
    return states


def start_sleeping_training_job(port: int, marker: str) -> None:
    """A training job whose script starts a process of its own (a grandchild of the local cloud) and waits on it."""
    client("s3", port).create_bucket(Bucket="lifetime-artifacts")
    script = f"import subprocess; subprocess.run(['sleep', '{HOLD_S}'])"
    client("sagemaker", port).create_training_job(
        TrainingJobName=f"hold-{marker[:8]}",
        AlgorithmSpecification={
            "TrainingImage": SKLEARN,
            "TrainingInputMode": "File",
            "ContainerEntrypoint": ["python3", "-c", script],
        },
        RoleArn="arn:aws:iam::123456789012:role/SageMakerExecution",
        OutputDataConfig={"S3OutputPath": "s3://lifetime-artifacts/models"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": HOLD_S},
        Environment={"CD4ML_TEST_MARKER": marker},
    )


def start_sleeping_shell_processing_job(port: int, marker: str) -> None:
    """A processing job whose entrypoint is not Python (the local cloud's code cannot run inside it)."""
    client("sagemaker", port).create_processing_job(
        ProcessingJobName=f"hold-sh-{marker[:8]}",
        AppSpecification={"ImageUri": SKLEARN, "ContainerEntrypoint": ["/bin/sh", "-c", f"sleep {HOLD_S}; true"]},
        RoleArn="arn:aws:iam::123456789012:role/SageMakerExecution",
        ProcessingResources={
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 10}
        },
        StoppingCondition={"MaxRuntimeInSeconds": HOLD_S},
        Environment={"CD4ML_TEST_MARKER": marker},
    )


def start_endpoint_whose_model_starts_a_process(port: int, marker: str) -> None:
    """An endpoint whose model_fn starts a process of its own (a grandchild of the local cloud, through the server)."""
    inference = (
        f"import subprocess\n\ndef model_fn(model_dir):\n    subprocess.Popen(['sleep', '{HOLD_S}'])\n    return {{}}\n"
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("code/inference.py")
        info.size = len(inference.encode())
        archive.addfile(info, io.BytesIO(inference.encode()))
    client("s3", port).put_object(Bucket="lifetime-artifacts", Key="model.tar.gz", Body=buffer.getvalue())
    sagemaker = client("sagemaker", port)
    sagemaker.create_model(
        ModelName="holder",
        PrimaryContainer={
            "Image": SKLEARN,
            "ModelDataUrl": "s3://lifetime-artifacts/model.tar.gz",
            "Environment": {"CD4ML_TEST_MARKER": marker},
        },
        ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerExecution",
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="holder",
        ProductionVariants=[
            {"VariantName": "only", "ModelName": "holder", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
    )
    sagemaker.create_endpoint(EndpointName="holder", EndpointConfigName="holder")


def test_a_killed_local_cloud_leaves_no_worker_job_server_or_grandchild_running(
    local_ups: list[Running], tmp_path: Path
) -> None:
    marker = uuid.uuid4().hex
    up = local_up(tmp_path / "work", marker=marker)
    local_ups.append(up)
    port = up.ready_port()
    function = up.wait_for_line(r"output FunctionName = (\S+)")[1]

    client("lambda", port).invoke(
        FunctionName=function, InvocationType="Event", Payload=json.dumps({"hold_s": HOLD_S}).encode()
    )
    start_sleeping_training_job(port, marker)
    start_sleeping_shell_processing_job(port, marker)
    start_endpoint_whose_model_starts_a_process(port, marker)

    def all_started() -> dict[int, str] | None:
        running = marked_processes(marker)
        commands = list(running.values())
        worker = any("lambda_bootstrap.py" in c for c in commands)
        job = any("sagemaker_container.py" in c for c in commands)
        shell_job = any(c.startswith("/bin/sh -c sleep") for c in commands)
        server = any("sagemaker_serving.py" in c for c in commands)
        sleeps = sum(c == f"sleep {HOLD_S}" for c in commands)
        return running if worker and job and shell_job and server and sleeps >= 4 else None

    before = wait_for(all_started, 30, lambda: f"children not all started: {marked_processes(marker)}\n{up.output}")

    up.kill()  # SIGKILL: no handler, no atexit, no finally runs in the local cloud

    left = wait_for(
        lambda: not marked_processes(marker),
        GONE_WITHIN_S,
        lambda: f"still running {GONE_WITHIN_S}s after the kill: {marked_processes(marker)} (of {before})",
    )
    assert left


def test_a_local_cloud_serves_again_at_once_on_the_port_of_a_killed_one(
    local_ups: list[Running], tmp_path: Path
) -> None:
    first = local_up(tmp_path / "first")
    local_ups.append(first)
    port = first.ready_port()
    lam = client("lambda", port)
    function = first.wait_for_line(r"output FunctionName = (\S+)")[1]
    lam.invoke(FunctionName=function, Payload=b"{}")
    # A client that keeps its connection open, as SDKs do: the server's end of it is closed first by the kill and
    # lingers on the port (FIN_WAIT2 while the client holds on, then TIME_WAIT for about a minute).
    with socket.create_connection(("127.0.0.1", port), timeout=5) as kept:
        kept.sendall(b"GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n")
        assert kept.recv(65536).startswith(b"HTTP/1.1 ")
        first.kill()
        lingering = wait_for(lambda: sockets_on_port(port), 2, lambda: "the served connection left nothing")
        assert "0A" not in lingering, f"the killed server still listens: {lingering}"

        second = local_up(tmp_path / "second", port=port)
        local_ups.append(second)
        assert second.ready_port() == port
    names = [f["FunctionName"] for f in client("lambda", port).list_functions()["Functions"]]
    assert function in names

    # two live local clouds on one port are still refused, and clearly
    third = local_up(tmp_path / "third", port=port)
    local_ups.append(third)
    assert third.wait_exit() == 2, third.output
    assert f"cannot serve on 127.0.0.1:{port}" in third.output
    assert "Address already in use" in third.output
